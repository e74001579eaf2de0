//! The policy document: what an organisation configures, as JSON.
//!
//! Every field has a default, so `{}` is a valid policy (the same as
//! [`ContentPolicy::default`]) and `{"mode": "require"}` changes only the mode.
//! Unknown fields are ignored, so a client that is older than its server
//! still reads newer policies.

use serde::{Deserialize, Serialize};

use crate::detect::keywords;

/// What the send-time check does with what it finds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// No check: every message is allowed.
    Off,
    /// Warn the sender, who may send anyway.
    #[default]
    Advise,
    /// Block the message until it is sent securely.
    Require,
}

/// A content detector that a policy can switch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// Dutch citizen service number (burgerservicenummer), 11-proof.
    Bsn,
    /// International bank account number, ISO 13616 mod 97.
    Iban,
    /// Payment card number: issuer prefix, length and Luhn.
    PaymentCard,
    /// Dutch passport or identity card number, ICAO 9303 check digit.
    NlIdDocument,
    /// E-mail address.
    Email,
}

impl DetectorKind {
    /// Every detector, in the order findings are reported.
    pub const ALL: [DetectorKind; 5] = [
        DetectorKind::Bsn,
        DetectorKind::Iban,
        DetectorKind::PaymentCard,
        DetectorKind::NlIdDocument,
        DetectorKind::Email,
    ];

    /// The JSON name (`"bsn"`, `"payment_card"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorKind::Bsn => "bsn",
            DetectorKind::Iban => "iban",
            DetectorKind::PaymentCard => "payment_card",
            DetectorKind::NlIdDocument => "nl_id_document",
            DetectorKind::Email => "email",
        }
    }
}

/// How sure a finding is, in the sense of Microsoft Purview's sensitive
/// information types: a valid checksum makes a number likely, a supporting
/// keyword near it makes it nearly certain. Ordered `Low < Medium < High`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// A valid but weak shape (for example a check digit that one random
    /// string in ten passes), or one keyword of a list.
    Low,
    /// A valid checksum with nothing around it to support it, or two
    /// different keywords of a list.
    #[default]
    Medium,
    /// A valid checksum with a supporting keyword nearby, or three or more
    /// different keywords of a list.
    High,
}

impl Confidence {
    /// The JSON name (`"low"`, `"medium"`, `"high"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// A named list of words or phrases, matched whole-word and case-insensitively.
///
/// A phrase matches the same words in the text with any non-letter,
/// non-digit characters between them: `"medisch dossier"` matches
/// `"Medisch  dossier"` and `"medisch-dossier"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordList {
    /// The name reported with findings (`"medical"`).
    pub name: String,
    /// The words and phrases.
    pub words: Vec<String>,
}

impl KeywordList {
    /// The built-in `"medical"` list (Dutch and English).
    pub fn medical() -> KeywordList {
        KeywordList::from_static("medical", keywords::MEDICAL)
    }

    /// The built-in `"financial"` list (Dutch and English).
    pub fn financial() -> KeywordList {
        KeywordList::from_static("financial", keywords::FINANCIAL)
    }

    fn from_static(name: &str, words: &[&str]) -> KeywordList {
        KeywordList { name: name.into(), words: words.iter().map(|w| (*w).to_owned()).collect() }
    }
}

/// The content part of an organisation's policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContentPolicy {
    /// Off, advise (warn) or require (block).
    pub mode: Mode,
    /// Which number and address detectors run.
    pub detectors: Vec<DetectorKind>,
    /// Keyword lists; each one reports its own finding.
    pub keyword_lists: Vec<KeywordList>,
    /// Findings below this confidence are ignored by [`decide`](crate::decide).
    pub min_confidence: Confidence,
    /// Domains whose recipients are internal (subdomains included). With
    /// none, every recipient is external.
    pub internal_domains: Vec<String>,
    /// Treat any attachment to an external recipient as needing a secure send.
    pub secure_external_attachments: bool,
}

impl Default for ContentPolicy {
    /// Advise; BSN, IBAN, payment cards and Dutch ID documents (not e-mail
    /// addresses); the built-in medical and financial lists; medium
    /// confidence; no internal domains; attachments not checked.
    fn default() -> Self {
        ContentPolicy {
            mode: Mode::Advise,
            detectors: vec![
                DetectorKind::Bsn,
                DetectorKind::Iban,
                DetectorKind::PaymentCard,
                DetectorKind::NlIdDocument,
            ],
            keyword_lists: vec![KeywordList::medical(), KeywordList::financial()],
            min_confidence: Confidence::Medium,
            internal_domains: Vec::new(),
            secure_external_attachments: false,
        }
    }
}

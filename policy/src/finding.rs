//! What a scan reports: kinds, confidences and counts, never content.

use serde::{Deserialize, Serialize};

use crate::document::{Confidence, DetectorKind};

/// What a finding is about: one of the detectors, or a keyword list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Dutch citizen service number.
    Bsn,
    /// International bank account number.
    Iban,
    /// Payment card number.
    PaymentCard,
    /// Dutch passport or identity card number.
    NlIdDocument,
    /// E-mail address.
    Email,
    /// Words of a keyword list ([`Finding::list`] names it).
    Keywords,
}

impl From<DetectorKind> for FindingKind {
    fn from(kind: DetectorKind) -> Self {
        match kind {
            DetectorKind::Bsn => FindingKind::Bsn,
            DetectorKind::Iban => FindingKind::Iban,
            DetectorKind::PaymentCard => FindingKind::PaymentCard,
            DetectorKind::NlIdDocument => FindingKind::NlIdDocument,
            DetectorKind::Email => FindingKind::Email,
        }
    }
}

/// How many matches of one kind were found at one confidence.
///
/// JSON: `{"kind":"bsn","confidence":"high","count":2}`, and for keyword
/// lists `{"kind":"keywords","list":"medical","confidence":"medium","count":3}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Finding {
    /// What was found.
    pub kind: FindingKind,
    /// The keyword list's name, for [`FindingKind::Keywords`] only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// How sure the detector is.
    pub confidence: Confidence,
    /// How many matches (for a keyword list: how many keyword occurrences).
    pub count: u32,
}

/// All findings of one scan, in a fixed order: detectors in the order of
/// [`DetectorKind::ALL`], each from high to low confidence, then keyword
/// lists in the policy's order. Serialises as a plain JSON array.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Findings(Vec<Finding>);

impl Findings {
    /// The findings as a vector.
    pub fn into_vec(self) -> Vec<Finding> {
        self.0
    }
}

impl From<Vec<Finding>> for Findings {
    fn from(findings: Vec<Finding>) -> Self {
        Findings(findings)
    }
}

impl std::ops::Deref for Findings {
    type Target = [Finding];
    fn deref(&self) -> &[Finding] {
        &self.0
    }
}

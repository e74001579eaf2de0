//! Which messages the relay secures (issue 15, "Policy and what happens to a
//! message"): the organisation's content policy, `kluis_policy`'s
//! [`Scanner`] and [`decide`], over the subject, every text and HTML body
//! and every text attachment, parsed with mail-parser (RFC 2045–2049,
//! encoded words of RFC 2047, any charset); and the triggers mail gateways
//! offer besides: a keyword in the subject (`[secure]`, `[beveiligd]`) and
//! the `Sensitivity` header Outlook sets (RFC 2156 §5.3.4), senders whose
//! mail is always secured, and recipient domains mail to which is.
//!
//! A policy in require mode that blocks the message secures it; advise mode
//! has no one to warn at the relay, so its warnings pass the message
//! through, with the reasons for the audit log. The result names rules and
//! finding kinds, never the text that matched.

use kluis_policy::{Action, ContentPolicy, Finding, MessageFacts, Reason as PolicyReason, Scanner, decide};
use mail_parser::{MessageParser, MimeHeaders};

/// The triggers besides the content policy.
#[derive(Debug, Clone)]
pub struct Triggers {
    /// Words in the subject that ask for a secure send, matched without
    /// regard to case: `[secure]`, `[beveiligd]`.
    pub subject_keywords: Vec<String>,
    /// `Sensitivity` values that ask for a secure send: `private`,
    /// `company-confidential`.
    pub sensitivity: Vec<String>,
    /// Senders (`MAIL FROM`) whose mail is always secured: an address, or a
    /// domain (no `@`) for every address in it; lowercase.
    pub senders: Vec<String>,
    /// Domains mail to which is always secured (a recipient's domain equal
    /// to one); lowercase.
    pub recipient_domains: Vec<String>,
}

impl Default for Triggers {
    fn default() -> Triggers {
        Triggers {
            subject_keywords: vec!["[secure]".into(), "[beveiligd]".into()],
            sensitivity: vec!["private".into(), "company-confidential".into()],
            senders: Vec::new(),
            recipient_domains: Vec::new(),
        }
    }
}

/// Why a message is secured (or would be, for advise mode's warnings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// This keyword of [`Triggers::subject_keywords`] is in the subject.
    SubjectKeyword(String),
    /// The `Sensitivity` header has this value of [`Triggers::sensitivity`].
    Sensitivity(String),
    /// The sender is (in) this entry of [`Triggers::senders`].
    Sender(String),
    /// A recipient is in this domain of [`Triggers::recipient_domains`].
    RecipientDomain(String),
    /// The content policy found these kinds of content (kinds, confidences
    /// and counts, never the text).
    Content(Vec<Finding>),
    /// The policy asks to secure attachments to external recipients.
    ExternalAttachments(u32),
    /// The message could not be parsed as MIME: secured to be safe.
    Unparsable,
}

/// What happens to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// Put it in a package; its recipients get a link.
    Secure(Vec<Reason>),
    /// Pass it on unchanged; `warnings` are advise mode's reasons, for the log.
    PassThrough { warnings: Vec<Reason> },
}

/// Classifies `message` (as received) from `from` to `recipients` (the
/// envelope's).
pub fn classify(
    policy: &ContentPolicy,
    triggers: &Triggers,
    from: &str,
    recipients: &[String],
    message: &[u8],
) -> Classification {
    let mut reasons = envelope_reasons(triggers, from, recipients);
    let Some(parsed) = MessageParser::default().parse(message) else {
        reasons.push(Reason::Unparsable);
        return Classification::Secure(reasons);
    };
    let subject = parsed.subject().unwrap_or_default();
    let lower = subject.to_lowercase();
    for keyword in &triggers.subject_keywords {
        if lower.contains(&keyword.to_lowercase()) {
            reasons.push(Reason::SubjectKeyword(keyword.clone()));
        }
    }
    if let Some(value) = parsed.header_raw("Sensitivity") {
        let value = value.trim().to_lowercase();
        if let Some(trigger) = triggers.sensitivity.iter().find(|t| t.to_lowercase() == value) {
            reasons.push(Reason::Sensitivity(trigger.clone()));
        }
    }

    let mut scanner = Scanner::new(policy);
    // Each piece on its own line: a number never runs from one into the next.
    let mut scan = |text: &[u8]| {
        scanner.push(text);
        scanner.push(b"\n");
    };
    scan(subject.as_bytes());
    for i in 0..parsed.text_body_count() {
        if let Some(text) = parsed.body_text(i) {
            scan(text.as_bytes());
        }
    }
    for i in 0..parsed.html_body_count() {
        // The HTML as text, so markup does not split what it shows. mail-parser
        // lists a text-only message's text as its HTML body too: scanned once above.
        let part = parsed.html_part(i as u32).filter(|p| p.is_text_html());
        if let Some(html) = part.and_then(|p| p.text_contents()) {
            scan(mail_parser::decoders::html::html_to_text(html).as_bytes());
        }
    }
    let mut attachments = 0;
    for attachment in parsed.attachments() {
        attachments += 1;
        let text = attachment.content_type().is_some_and(|t| t.ctype().eq_ignore_ascii_case("text"));
        if text {
            scan(attachment.contents());
        }
    }
    let findings = scanner.finish();
    let facts = MessageFacts { recipients: recipients.to_vec(), attachments, secured: false };
    let verdict = decide(policy, &facts, &findings);
    let content: Vec<Reason> = verdict
        .reasons
        .iter()
        .map(|reason| match reason {
            PolicyReason::SensitiveContent => Reason::Content(verdict.findings.clone()),
            PolicyReason::ExternalAttachments { count } => Reason::ExternalAttachments(*count),
        })
        .collect();
    match verdict.action {
        Action::Block => reasons.extend(content),
        Action::Warn | Action::Allow if reasons.is_empty() => return Classification::PassThrough { warnings: content },
        Action::Warn | Action::Allow => {}
    }
    Classification::Secure(reasons)
}

/// The triggers that need only the envelope: the sender and the recipients' domains.
fn envelope_reasons(triggers: &Triggers, from: &str, recipients: &[String]) -> Vec<Reason> {
    let domain_of = |address: &str| address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    let mut reasons = Vec::new();
    let from = from.to_ascii_lowercase();
    let from_domain = domain_of(&from);
    if let Some(entry) = triggers.senders.iter().find(|s| **s == from || Some(s.as_str()) == from_domain.as_deref()) {
        reasons.push(Reason::Sender(entry.clone()));
    }
    for domain in &triggers.recipient_domains {
        if recipients.iter().any(|r| domain_of(r).as_deref() == Some(domain.as_str())) {
            reasons.push(Reason::RecipientDomain(domain.clone()));
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use kluis_policy::{ContentPolicy, FindingKind, Mode};

    use super::{Classification, Reason, Triggers, classify};

    #[test]
    fn a_text_only_message_is_scanned_once() {
        let message = "Subject: Pay\r\n\r\nIBAN NL91 ABNA 0417 1643 00\r\n";
        let Classification::Secure(reasons) = run(&require(), message) else { panic!("not secured") };
        let [Reason::Content(findings)] = &reasons[..] else { panic!("{reasons:?}") };
        assert_eq!(findings.iter().map(|f| f.count).sum::<u32>(), 1, "{findings:?}");
    }

    fn require() -> ContentPolicy {
        ContentPolicy { mode: Mode::Require, internal_domains: vec!["example.org".into()], ..Default::default() }
    }

    fn run(policy: &ContentPolicy, message: &str) -> Classification {
        classify(
            policy,
            &Triggers::default(),
            "alice@example.org",
            &["bob@example.net".to_string()],
            message.as_bytes(),
        )
    }

    fn kinds(reasons: &[Reason]) -> Vec<FindingKind> {
        match reasons {
            [Reason::Content(findings)] => findings.iter().map(|f| f.kind).collect(),
            _ => panic!("{reasons:?}"),
        }
    }

    const HARMLESS: &str = "From: alice@example.org\r\nTo: bob@example.net\r\nSubject: Lunch\r\n\r\nAt noon?\r\n";

    #[test]
    fn a_harmless_message_passes_through() {
        assert_eq!(run(&require(), HARMLESS), Classification::PassThrough { warnings: vec![] });
    }

    #[test]
    fn an_iban_in_the_body_is_secured_under_require_and_warned_under_advise() {
        let message = "Subject: Invoice\r\n\r\nPlease pay to IBAN NL91 ABNA 0417 1643 00 today.\r\n";
        let Classification::Secure(reasons) = run(&require(), message) else { panic!("not secured") };
        assert!(kinds(&reasons).contains(&FindingKind::Iban), "{reasons:?}");
        let advise = ContentPolicy { mode: Mode::Advise, ..require() };
        let Classification::PassThrough { warnings } = run(&advise, message) else { panic!("advise secures nothing") };
        assert!(!warnings.is_empty());
    }

    #[test]
    fn content_is_found_in_encoded_html_and_text_attachments() {
        // A BSN (11-proof) in a base64 HTML part split by markup, and an IBAN
        // in a quoted-printable CSV attachment.
        let html = "<p>BSN <b>111222333</b></p>";
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, html);
        let message = format!(
            "Subject: Files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n\
             --b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=a.csv\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\nname,iban\r\njan,NL91ABNA0417=\r\n164300\r\n--b--\r\n"
        );
        let Classification::Secure(reasons) = run(&require(), &message) else { panic!("not secured") };
        let kinds = kinds(&reasons);
        assert!(kinds.contains(&FindingKind::Bsn) && kinds.contains(&FindingKind::Iban), "{kinds:?}");
    }

    #[test]
    fn a_subject_keyword_or_sensitivity_secures_whatever_the_policy() {
        let off = ContentPolicy { mode: Mode::Off, ..require() };
        let keyword = HARMLESS.replace("Subject: Lunch", "Subject: =?utf-8?q?Lunch_=5BBeveiligd=5D?=");
        assert_eq!(run(&off, &keyword), Classification::Secure(vec![Reason::SubjectKeyword("[beveiligd]".into())]));
        let private = HARMLESS.replace("Subject: Lunch", "Subject: Lunch\r\nSensitivity: Private");
        assert_eq!(run(&off, &private), Classification::Secure(vec![Reason::Sensitivity("private".into())]));
    }

    #[test]
    fn a_sender_or_a_recipient_domain_secures_whatever_the_content() {
        let off = ContentPolicy { mode: Mode::Off, ..require() };
        let triggers = Triggers {
            senders: vec!["legal.example.org".into(), "ceo@example.org".into()],
            recipient_domains: vec!["court.example".into()],
            ..Triggers::default()
        };
        let run = |from: &str, to: &str| {
            classify(&off, &triggers, from, &[to.to_string(), "x@y.example".into()], HARMLESS.as_bytes())
        };
        assert_eq!(
            run("CEO@example.org", "bob@example.net"),
            Classification::Secure(vec![Reason::Sender("ceo@example.org".into())])
        );
        assert_eq!(
            run("ann@legal.example.org", "bob@example.net"),
            Classification::Secure(vec![Reason::Sender("legal.example.org".into())])
        );
        assert_eq!(
            run("alice@example.org", "clerk@Court.example"),
            Classification::Secure(vec![Reason::RecipientDomain("court.example".into())])
        );
        assert_eq!(run("alice@example.org", "bob@sub.court.example"), Classification::PassThrough { warnings: vec![] });
        assert_eq!(run("", "bob@example.net"), Classification::PassThrough { warnings: vec![] }, "a bounce");
    }
}

//! The decision: what happens to a message, given the policy, what is known
//! about the message, and what the scan found.

use serde::{Deserialize, Serialize};

use crate::document::{ContentPolicy, Mode};
use crate::domains;
use crate::finding::Finding;

/// What is known about a message besides its text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageFacts {
    /// Every recipient address: to, cc and bcc. `Name <a@b.nl>` is accepted.
    pub recipients: Vec<String>,
    /// Number of attachments.
    pub attachments: u32,
    /// The message is already sent securely (through Kluis).
    pub secured: bool,
}

/// What to do with the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Send it.
    Allow,
    /// Tell the sender why, and let them send anyway (advise mode).
    Warn,
    /// Do not send it as is (require mode).
    Block,
}

/// Why a message is not simply allowed.
///
/// JSON: `{"kind":"sensitive_content"}` or
/// `{"kind":"external_attachments","count":2}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Findings at or above the policy's minimum confidence, with external recipients.
    SensitiveContent,
    /// Attachments to external recipients, with `secure_external_attachments` on.
    ExternalAttachments {
        /// Number of attachments.
        count: u32,
    },
}

/// The outcome of [`decide`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// What to do.
    pub action: Action,
    /// The findings at or above the policy's minimum confidence, whatever the action.
    pub findings: Vec<Finding>,
    /// How many recipients are outside the internal domains.
    pub external_recipients: u32,
    /// Why the action is not `allow` (empty when it is).
    pub reasons: Vec<Reason>,
}

/// Decides what happens to a message.
///
/// 1. Findings below `min_confidence` are dropped; the rest are reported
///    whatever the action.
/// 2. A recipient is external unless the domain of its address equals an
///    internal domain or is a subdomain of one (case-insensitive). With no
///    internal domains configured, every recipient is external; an address
///    without a domain is external.
/// 3. Mode `off`, or a message that is already secured: `allow`.
/// 4. Reasons, each only with at least one external recipient:
///    [`Reason::SensitiveContent`] when findings remain, and
///    [`Reason::ExternalAttachments`] when `secure_external_attachments` is
///    on and the message has attachments.
/// 5. Any reason: `block` in require mode, `warn` in advise mode; none: `allow`.
///    So purely internal mail is always allowed.
pub fn decide(policy: &ContentPolicy, facts: &MessageFacts, findings: &[Finding]) -> Verdict {
    let findings: Vec<Finding> = findings.iter().filter(|f| f.confidence >= policy.min_confidence).cloned().collect();
    let internal = domains::normalize_all(&policy.internal_domains);
    let external = facts.recipients.iter().filter(|r| !is_internal(r, &internal)).count();
    let external_recipients = u32::try_from(external).unwrap_or(u32::MAX);
    let mut reasons = Vec::new();
    if policy.mode != Mode::Off && !facts.secured && external_recipients > 0 {
        if !findings.is_empty() {
            reasons.push(Reason::SensitiveContent);
        }
        if policy.secure_external_attachments && facts.attachments > 0 {
            reasons.push(Reason::ExternalAttachments { count: facts.attachments });
        }
    }
    let action = match (reasons.is_empty(), policy.mode) {
        (true, _) | (_, Mode::Off) => Action::Allow,
        (false, Mode::Advise) => Action::Warn,
        (false, Mode::Require) => Action::Block,
    };
    Verdict { action, findings, external_recipients, reasons }
}

fn is_internal(recipient: &str, internal: &[String]) -> bool {
    domains::of(recipient).is_some_and(|d| domains::within(&d, internal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Confidence;
    use crate::finding::FindingKind;

    fn bsn(confidence: Confidence) -> Finding {
        Finding { kind: FindingKind::Bsn, list: None, confidence, count: 1 }
    }

    fn facts(recipients: &[&str]) -> MessageFacts {
        MessageFacts { recipients: recipients.iter().map(|r| (*r).to_owned()).collect(), ..MessageFacts::default() }
    }

    fn policy(mode: Mode, internal: &[&str]) -> ContentPolicy {
        ContentPolicy {
            mode,
            internal_domains: internal.iter().map(|d| (*d).to_owned()).collect(),
            ..ContentPolicy::default()
        }
    }

    #[test]
    fn internal_domains_and_subdomains() {
        let internal = vec!["example.nl".to_owned()];
        assert!(is_internal("a@example.nl", &internal));
        assert!(is_internal("A@Mail.Example.NL", &internal));
        assert!(is_internal("Jan <jan@example.nl>", &internal));
        assert!(!is_internal("a@badexample.nl", &internal));
        assert!(!is_internal("a@example.nl.evil.com", &internal));
        assert!(!is_internal("example.nl", &internal));
        assert!(!is_internal("a@", &internal));
    }

    #[test]
    fn sensitive_content_to_external_recipients() {
        let found = [bsn(Confidence::High)];
        let p = policy(Mode::Require, &["@Example.nl"]);
        let v = decide(&p, &facts(&["a@example.nl", "b@other.nl"]), &found);
        assert_eq!(v.action, Action::Block);
        assert_eq!(v.external_recipients, 1);
        assert_eq!(v.reasons, vec![Reason::SensitiveContent]);
        let v = decide(&p, &facts(&["a@example.nl", "b@sub.example.nl"]), &found);
        assert_eq!((v.action, v.external_recipients, v.findings.len()), (Action::Allow, 0, 1));
        let v = decide(&policy(Mode::Advise, &[]), &facts(&["a@example.nl"]), &found);
        assert_eq!(v.action, Action::Warn);
        let v = decide(&policy(Mode::Off, &[]), &facts(&["a@example.nl"]), &found);
        assert_eq!((v.action, v.reasons.len()), (Action::Allow, 0));
        let secured = MessageFacts { secured: true, ..facts(&["a@other.nl"]) };
        assert_eq!(decide(&p, &secured, &found).action, Action::Allow);
    }

    #[test]
    fn below_min_confidence_is_dropped() {
        let v = decide(&policy(Mode::Require, &[]), &facts(&["a@b.nl"]), &[bsn(Confidence::Low)]);
        assert_eq!((v.action, v.findings.len()), (Action::Allow, 0));
    }

    #[test]
    fn external_attachments() {
        let p = ContentPolicy { secure_external_attachments: true, ..policy(Mode::Require, &["example.nl"]) };
        let f = MessageFacts { attachments: 2, ..facts(&["a@other.nl"]) };
        let v = decide(&p, &f, &[]);
        assert_eq!((v.action, v.reasons), (Action::Block, vec![Reason::ExternalAttachments { count: 2 }]));
        let f = MessageFacts { attachments: 2, ..facts(&["a@example.nl"]) };
        assert_eq!(decide(&p, &f, &[]).action, Action::Allow);
    }
}

#[cfg(test)]
mod json {
    use super::*;
    use crate::document::{Confidence, DetectorKind};
    use crate::finding::FindingKind;

    #[test]
    fn document_shapes() {
        let p: ContentPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, ContentPolicy::default());
        assert_eq!(
            p.detectors,
            [DetectorKind::Bsn, DetectorKind::Iban, DetectorKind::PaymentCard, DetectorKind::NlIdDocument]
        );
        let names: Vec<_> = p.keyword_lists.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["medical", "financial"]);
        let p: ContentPolicy = serde_json::from_str(
            r#"{"mode":"require","detectors":["email","nl_id_document"],"min_confidence":"high","future":1}"#,
        )
        .unwrap();
        assert_eq!((p.mode, p.min_confidence, p.detectors.len()), (Mode::Require, Confidence::High, 2));
        let f = Finding {
            kind: FindingKind::Keywords,
            list: Some("medical".into()),
            confidence: Confidence::Medium,
            count: 3,
        };
        let v = Verdict {
            action: Action::Warn,
            findings: vec![Finding { kind: FindingKind::Bsn, list: None, confidence: Confidence::High, count: 2 }, f],
            external_recipients: 1,
            reasons: vec![Reason::SensitiveContent, Reason::ExternalAttachments { count: 2 }],
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"action":"warn","findings":[{"kind":"bsn","confidence":"high","count":2},{"kind":"keywords","list":"medical","confidence":"medium","count":3}],"external_recipients":1,"reasons":[{"kind":"sensitive_content"},{"kind":"external_attachments","count":2}]}"#
        );
        let facts: MessageFacts = serde_json::from_str(r#"{"recipients":["a@b.nl"]}"#).unwrap();
        assert_eq!((facts.attachments, facts.secured), (0, false));
    }
}

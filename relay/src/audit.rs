//! Each decision the relay takes, in the organisation's audit log on the
//! Kluis server (issue 15: "every decision is audited, which rule fired,
//! never the content"): a verdict (`POST /api/v1/policy/verdicts`, source
//! `relay`) with the content policy's findings (kinds, confidences and
//! counts), the relay's own triggers, the sender and the relay's id of the
//! message; the server adds that the relay saw the plaintext.
//!
//! A decision is recorded before it is carried out (a message passed
//! through) or as soon as its package exists (a message secured), and the
//! envelope notes it ([`Audited`]), so a retry does not record it twice; a
//! message whose decision cannot be recorded waits in the spool.

use kluis_client::Api;
use kluis_policy::{Action, Finding};
use kluis_protocol::PackageId;
use kluis_protocol::api::{CheckOutcome, CheckSource, RelayTrigger, VerdictReport};
use serde::{Deserialize, Serialize};

use crate::classify::{Classification, Reason};

/// The decision the audit log holds for a message (in its envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audited {
    Passed,
    Secured,
}

/// The verdict for `classification` of the message `reference` from `sender`.
pub fn verdict(
    classification: &Classification,
    sender: &str,
    reference: &str,
    package: Option<PackageId>,
) -> VerdictReport {
    let (action, outcome, reasons) = match classification {
        Classification::Secure(reasons) => (Action::Block, CheckOutcome::Secured, reasons),
        Classification::PassThrough { warnings } if warnings.is_empty() => {
            (Action::Allow, CheckOutcome::Sent, warnings)
        }
        // Advise mode: nobody at the relay to warn, so it went as it was.
        Classification::PassThrough { warnings } => (Action::Warn, CheckOutcome::SentAnyway, warnings),
    };
    let mut findings: Vec<Finding> = Vec::new();
    let mut triggers = Vec::new();
    for reason in reasons {
        match reason {
            Reason::Content(found) => findings.extend(found.iter().cloned()),
            Reason::SubjectKeyword(_) => triggers.push(RelayTrigger::SubjectKeyword),
            Reason::Sensitivity(_) => triggers.push(RelayTrigger::Sensitivity),
            Reason::Sender(_) => triggers.push(RelayTrigger::Sender),
            Reason::RecipientDomain(_) => triggers.push(RelayTrigger::RecipientDomain),
            Reason::ExternalAttachments(_) => triggers.push(RelayTrigger::ExternalAttachments),
            Reason::Unparsable => triggers.push(RelayTrigger::Unparsable),
        }
    }
    // The server takes at most 32 findings; more say nothing the first 32 do not.
    findings.truncate(32);
    VerdictReport {
        source: CheckSource::Relay,
        action,
        outcome,
        findings,
        package_id: package,
        triggers,
        sender: Some(sender.to_string()),
        reference: Some(reference.to_string()),
    }
}

/// Records `verdict` on the server (blocking: call it off the async threads).
pub fn record(api: &Api, verdict: &VerdictReport) -> Result<(), kluis_client::Error> {
    api.post_no_content("/policy/verdicts", verdict)
}

#[cfg(test)]
mod tests {
    use kluis_policy::{Action, Confidence, Finding, FindingKind};
    use kluis_protocol::api::{CheckOutcome, RelayTrigger};

    use super::verdict;
    use crate::classify::{Classification, Reason};

    #[test]
    fn a_verdict_names_rules_and_kinds_never_content() {
        let iban = Finding { kind: FindingKind::Iban, list: None, confidence: Confidence::High, count: 2 };
        let secured = Classification::Secure(vec![
            Reason::SubjectKeyword("[secure]".into()),
            Reason::Content(vec![iban.clone()]),
            Reason::Sender("example.org".into()),
        ]);
        let v = verdict(&secured, "alice@example.org", "019ac4e2f3a1b7c9d2e4f6a8", None);
        assert_eq!((v.action, v.outcome), (Action::Block, CheckOutcome::Secured));
        assert_eq!(v.findings, vec![iban.clone()]);
        assert_eq!(v.triggers, vec![RelayTrigger::SubjectKeyword, RelayTrigger::Sender]);
        assert_eq!(v.reference.as_deref(), Some("019ac4e2f3a1b7c9d2e4f6a8"));

        let passed = verdict(&Classification::PassThrough { warnings: vec![] }, "", "a1", None);
        assert_eq!((passed.action, passed.outcome), (Action::Allow, CheckOutcome::Sent));
        let advised = Classification::PassThrough { warnings: vec![Reason::Content(vec![iban])] };
        let advised = verdict(&advised, "alice@example.org", "a1", None);
        assert_eq!((advised.action, advised.outcome), (Action::Warn, CheckOutcome::SentAnyway));
    }
}

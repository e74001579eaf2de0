//! The organisation's policy: what senders may choose for a package (checked
//! here, from metadata, at creation) and the send-time content check, which
//! runs only where plaintext is (the add-in, the send page, the relay) and
//! reports its verdicts here for the audit log: kinds and counts of findings,
//! never content (docs/architecture.md, "Outlook add-in and content policy").

use kluis_policy::{Finding, FindingKind};
use kluis_protocol::api::{PolicyView, SendPolicy, VerdictReport};

use super::accounts::Caller;
use super::packages::{self, Request};
use super::{Actor, Domain, DomainResult, Event, invalid};

/// At most this many findings in one report (one per detector and keyword list is the norm).
const MAX_FINDINGS: usize = 32;
/// Keyword list names longer than this are cut in the audit log.
const MAX_LIST_NAME: usize = 64;

/// The policy as clients read it: for a signed-in caller with their
/// organisation's expiry settings, else the server's.
pub(crate) async fn view(domain: &Domain, caller: Option<&Caller>) -> DomainResult<PolicyView> {
    let p = &domain.policy;
    let org = match caller {
        Some(c) => domain.meta.organisation(c.user.org_id).await?,
        None => None,
    };
    let (default_expiry_days, max_expiry_days) = super::organisations::expiry(domain, org.as_ref());
    Ok(PolicyView {
        content: p.content.clone(),
        send: SendPolicy {
            default_expiry_days,
            max_expiry_days,
            include_message: p.include_message,
            require_verification: p.require_verification,
            require_password: p.require_password,
        },
    })
}

/// The rules a new package must meet that the server can see from its metadata.
pub(crate) fn check_package(domain: &Domain, req: &Request) -> DomainResult<()> {
    if domain.policy.require_verification && !req.verify_email {
        return Err(invalid(
            "policy_verification",
            "Your organisation requires recipients to confirm their address with a code.",
        ));
    }
    if domain.policy.require_password && !req.password {
        return Err(invalid("policy_password", "Your organisation requires a password on every package."));
    }
    Ok(())
}

/// Appends a verdict to the audit log. A package it names must be the caller's.
pub(crate) async fn record_verdict(domain: &Domain, caller: &Caller, report: VerdictReport) -> DomainResult<()> {
    if report.findings.len() > MAX_FINDINGS {
        return Err(invalid("too_many_findings", format!("A verdict names at most {MAX_FINDINGS} findings.")));
    }
    let package_id = match &report.package_id {
        Some(id) => Some(packages::owned(domain, caller, id.as_str()).await?.package.id),
        None => None,
    };
    let detail = serde_json::json!({
        "source": report.source,
        "action": report.action,
        "outcome": report.outcome,
        "findings": report.findings.iter().map(summary).collect::<Vec<_>>(),
    });
    let event = domain.event(
        caller.user.org_id,
        Event::SendChecked,
        Actor::User(&caller.user.email),
        package_id.as_deref(),
        Some(detail.to_string()),
    );
    domain.meta.record(event).await?;
    Ok(())
}

/// One finding as the audit log keeps it: `bsn:high×2`, `keywords/medical:medium×3`.
fn summary(f: &Finding) -> String {
    let kind = match (&f.kind, &f.list) {
        (FindingKind::Keywords, Some(list)) => {
            let list: String = list.chars().filter(|c| !c.is_control()).take(MAX_LIST_NAME).collect();
            format!("keywords/{list}")
        }
        _ => serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
    };
    format!("{kind}:{}×{}", f.confidence.as_str(), f.count)
}

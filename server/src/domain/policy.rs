//! The organisation's policy: what senders may choose for a package (checked
//! here, from metadata, at creation) and the send-time content check, which
//! runs only where plaintext is (the add-in, the send page, the relay) and
//! reports its verdicts here for the audit log: kinds and counts of findings,
//! never content (docs/architecture.md, "Outlook add-in and content policy").

use kluis_policy::{Breach, Change, Finding, FindingKind, PackagePlan, Policy};
use kluis_protocol::api::{CheckOutcome, CheckSource, PolicyView, SendPolicy, VerdictReport};

use super::accounts::{Caller, OrgAdmin};
use super::packages::{self, Request};
use super::{Actor, Domain, DomainError, DomainResult, Event, invalid};
use crate::store::StoredPolicy;

/// At most this many findings in one report (one per detector and keyword list is the norm).
const MAX_FINDINGS: usize = 32;
/// Keyword list names longer than this are cut in the audit log.
const MAX_LIST_NAME: usize = 64;
/// Versions the console lists.
const VERSIONS_SHOWN: i64 = 50;
/// Bounds on a document an admin saves (it is read at every send).
const MAX_DOCUMENT: usize = 256 * 1024;
const MAX_LIST: usize = 1000;

/// The server's `[policy]`, as the document of an organisation that saved none.
pub(crate) fn server_default(domain: &Domain) -> Policy {
    let p = &domain.policy;
    let mut policy = Policy { version: 0, content: p.content.clone(), ..Policy::default() };
    policy.send.verification =
        if p.require_verification { kluis_policy::Verification::Always } else { kluis_policy::Verification::Never };
    policy.send.password_required = p.require_password;
    policy.send.message =
        if p.include_message { kluis_policy::MessageRule::DefaultOn } else { kluis_policy::MessageRule::DefaultOff };
    policy
}

fn parse(domain: &Domain, stored: &StoredPolicy) -> Policy {
    match serde_json::from_str::<Policy>(&stored.document) {
        Ok(policy) => Policy { version: stored.version, ..policy },
        Err(e) => {
            // Only this server writes the column, after checking: a bad row was changed by hand.
            tracing::error!(version = stored.version, error = %e, "a stored policy does not parse: the server's default applies");
            server_default(domain)
        }
    }
}

/// The organisation's current policy, with when and by whom it was saved.
async fn current(domain: &Domain, org_id: i64) -> DomainResult<(Policy, Option<StoredPolicy>)> {
    Ok(match domain.meta.policy(org_id).await? {
        Some(stored) => (parse(domain, &stored), Some(stored)),
        None => (server_default(domain), None),
    })
}

/// The policy that applies to the organisation's packages: its current
/// document, with its mail domains among the internal ones.
async fn in_force(domain: &Domain, org_id: i64) -> DomainResult<Policy> {
    let (mut policy, _) = current(domain, org_id).await?;
    if let Some(org) = domain.meta.organisation(org_id).await? {
        for d in org.domains {
            if !policy.content.internal_domains.contains(&d) {
                policy.content.internal_domains.push(d);
            }
        }
    }
    Ok(policy)
}

/// The policy as clients read it: for a signed-in caller their
/// organisation's, else the server's.
pub(crate) async fn view(domain: &Domain, caller: Option<&Caller>) -> DomainResult<PolicyView> {
    let (policy, org) = match caller {
        Some(c) => (in_force(domain, c.user.org_id).await?, domain.meta.organisation(c.user.org_id).await?),
        None => (server_default(domain), None),
    };
    let (default_expiry_days, max_expiry_days) = super::organisations::expiry(domain, org.as_ref());
    let rules = &policy.send;
    Ok(PolicyView {
        version: policy.version,
        send: SendPolicy {
            default_expiry_days,
            max_expiry_days,
            include_message: rules.message != kluis_policy::MessageRule::DefaultOff,
            require_verification: rules.verification == kluis_policy::Verification::Always,
            require_password: rules.password_required,
        },
        rules: policy.send.clone(),
        content: policy.content,
    })
}

/// The rules of the caller's organisation a new package must meet, from
/// what the server sees of it and what the client declares (file types,
/// message): the first rule it breaks is the answer.
/// `recipients` are the request's, normalised; `bytes` the package's size.
pub(crate) async fn check_package(
    domain: &Domain,
    caller: &Caller,
    recipients: &[String],
    req: &Request,
    bytes: u64,
) -> DomainResult<()> {
    let policy = in_force(domain, caller.user.org_id).await?;
    let plan = PackagePlan {
        recipients: recipients.to_vec(),
        file_types: req.file_types.clone().unwrap_or_default(),
        bytes,
        max_downloads: req.max_downloads.and_then(|m| u32::try_from(m).ok()),
        verification: req.verify_email,
        password: req.password,
        // Not declared: the server cannot see it, and takes the client's word as it would a declared one.
        message: req.message.unwrap_or(true),
    };
    match kluis_policy::check(&policy, &plan).into_iter().next() {
        Some(breach) => Err(DomainError::Policy(breach)),
        None => Ok(()),
    }
}

/// The rules of organisation `org_id` that apply to files coming in: its
/// blocked file types and its largest package (the others are about sending:
/// recipients, downloads, passwords, the message).
pub(crate) async fn check_inbound(domain: &Domain, org_id: i64, file_types: &[String], bytes: u64) -> DomainResult<()> {
    let policy = in_force(domain, org_id).await?;
    let plan = PackagePlan {
        recipients: Vec::new(),
        file_types: file_types.to_vec(),
        bytes,
        max_downloads: Some(1),
        verification: true,
        password: true,
        message: true,
    };
    let inbound = |b: &Breach| matches!(b, Breach::FileTypeBlocked { .. } | Breach::TooLarge { .. });
    match kluis_policy::check(&policy, &plan).into_iter().find(inbound) {
        Some(breach) => Err(DomainError::Policy(breach)),
        None => Ok(()),
    }
}

/// The file types organisation `org_id` does not take, for the upload page.
pub(crate) async fn blocked_file_types(domain: &Domain, org_id: i64) -> DomainResult<Vec<String>> {
    Ok(in_force(domain, org_id).await?.send.blocked_file_types)
}

/// The policy as its admins edit it.
pub(crate) async fn for_admin(domain: &Domain, admin: &OrgAdmin) -> DomainResult<(Policy, Option<StoredPolicy>)> {
    current(domain, admin.org_id()).await
}

/// Saves `policy` as the organisation's next version, if `edited` is still
/// the current one; answers it and what changed (nothing saved when nothing did).
pub(crate) async fn save(
    domain: &Domain,
    admin: &OrgAdmin,
    edited: u32,
    policy: Policy,
) -> DomainResult<(Policy, Vec<Change>)> {
    let policy = checked(policy)?;
    let org_id = admin.org_id();
    let (before, _) = current(domain, org_id).await?;
    if before.version != edited {
        return Err(changed_meanwhile());
    }
    let changes = kluis_policy::diff(&before, &policy);
    if changes.is_empty() {
        return Ok((before, changes));
    }
    let version = edited + 1;
    let saved = Policy { version, ..policy };
    let document = serde_json::to_string(&saved).map_err(|e| DomainError::Store(e.to_string()))?;
    if document.len() > MAX_DOCUMENT {
        return Err(invalid("policy_too_large", "The policy is too large; keep keyword lists shorter."));
    }
    let detail = format!("version {version}: {}", describe(&changes));
    let event = domain.event(org_id, Event::Admin("policy_changed"), Actor::User(admin.email()), None, Some(detail));
    if !domain.meta.put_policy(org_id, edited, &document, &format!("user:{}", admin.email()), event).await? {
        return Err(changed_meanwhile());
    }
    Ok((saved, changes))
}

fn changed_meanwhile() -> DomainError {
    DomainError::Conflict {
        code: "policy_changed",
        message: "Another admin changed the policy meanwhile: reload it, then make your change again.".into(),
    }
}

/// `send.blocked_domains: [] → ["gmail.com"]; …`, cut to a sane length for the log.
fn describe(changes: &[Change]) -> String {
    let mut text =
        changes.iter().map(|c| format!("{}: {} → {}", c.field, c.before, c.after)).collect::<Vec<_>>().join("; ");
    if text.len() > 2000 {
        let cut = (0..=2000).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// A document as an admin gives it, checked: domains are domains, lists
/// bounded, limits within reason. Domains and file types are normalised.
fn checked(mut policy: Policy) -> DomainResult<Policy> {
    let send = &mut policy.send;
    for (field, list) in [
        ("allowed_domains", &mut send.allowed_domains),
        ("blocked_domains", &mut send.blocked_domains),
        ("internal_domains", &mut policy.content.internal_domains),
    ] {
        if list.len() > MAX_LIST {
            return Err(invalid("invalid_policy", format!("{field} has more than {MAX_LIST} domains.")));
        }
        let mut normal = Vec::with_capacity(list.len());
        for raw in list.iter() {
            let d = super::address::normalize_domain(raw.trim().trim_start_matches('@')).map_err(|_| {
                invalid("invalid_policy", format!("{field}: {raw:?} is not a mail domain (like example.org)."))
            })?;
            if !normal.contains(&d) {
                normal.push(d);
            }
        }
        *list = normal;
    }
    if send.blocked_file_types.len() > MAX_LIST {
        return Err(invalid("invalid_policy", format!("blocked_file_types has more than {MAX_LIST} types.")));
    }
    let mut types = Vec::new();
    for raw in &send.blocked_file_types {
        let t = kluis_policy::file_type::normalize(raw);
        if t.is_empty() || t.len() > 32 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(invalid(
                "invalid_policy",
                format!("blocked_file_types: {raw:?} is not a file type (like exe)."),
            ));
        }
        if !types.contains(&t) {
            types.push(t);
        }
    }
    send.blocked_file_types = types;
    if send.max_package_bytes == Some(0) {
        return Err(invalid("invalid_policy", "max_package_bytes is at least 1 (or absent: the server's)."));
    }
    if send.max_downloads.is_some_and(|m| !(1..=10_000).contains(&m)) {
        return Err(invalid("invalid_policy", "max_downloads is between 1 and 10000 (or absent: no limit)."));
    }
    let lists = &policy.content.keyword_lists;
    if lists.len() > 50
        || lists.iter().any(|l| l.name.trim().is_empty() || l.name.len() > MAX_LIST_NAME || l.words.len() > MAX_LIST)
    {
        return Err(invalid(
            "invalid_policy",
            format!(
                "At most 50 keyword lists, each with a name of 1 to {MAX_LIST_NAME} characters and at most {MAX_LIST} words."
            ),
        ));
    }
    Ok(policy)
}

/// The saved versions, newest first, each with what it changed.
pub(crate) async fn versions(domain: &Domain, admin: &OrgAdmin) -> DomainResult<Vec<(StoredPolicy, Vec<Change>)>> {
    // One more than shown, to diff the oldest shown against the one before it.
    let stored = domain.meta.policy_versions(admin.org_id(), VERSIONS_SHOWN + 1).await?;
    let parsed: Vec<Policy> = stored.iter().map(|s| parse(domain, s)).collect();
    let default = server_default(domain);
    Ok(stored
        .into_iter()
        .enumerate()
        .take(VERSIONS_SHOWN as usize)
        .map(|(i, s)| {
            let before = if s.version == 1 { &default } else { parsed.get(i + 1).unwrap_or(&default) };
            let changes = kluis_policy::diff(before, &parsed[i]);
            (s, changes)
        })
        .collect())
}

/// A breach as the API's error: its code, the sentence naming the rule, and its fields.
pub(crate) fn breach_fields(b: &Breach) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(b) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
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
    let mut detail = serde_json::json!({
        "source": report.source,
        "action": report.action,
        "outcome": report.outcome,
        "findings": report.findings.iter().map(summary).collect::<Vec<_>>(),
    });
    if report.source == CheckSource::Relay {
        relay_detail(&mut detail, &report)?;
    } else if !report.triggers.is_empty() || report.sender.is_some() || report.reference.is_some() {
        return Err(invalid("invalid_verdict", "triggers, sender and reference are for the SMTP relay's verdicts."));
    }
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

/// What a relay verdict adds to the audit row: the triggers, the sender, the
/// relay's id of the message, and, stated plainly, that the relay read the
/// message (issue 15): unlike the add-in, the relay holds the plaintext.
fn relay_detail(detail: &mut serde_json::Value, report: &VerdictReport) -> DomainResult<()> {
    if report.triggers.len() > 8 {
        return Err(invalid("invalid_verdict", "A verdict names at most 8 triggers."));
    }
    let sender = match &report.sender {
        // The null sender of a bounce is no address.
        Some(raw) if !raw.is_empty() => {
            Some(super::address::normalize(raw).map_err(|e| invalid("invalid_verdict", format!("sender: {e}.")))?)
        }
        _ => None,
    };
    if let Some(reference) = &report.reference {
        let ok = !reference.is_empty()
            && reference.len() <= 64
            && reference.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !ok {
            return Err(invalid("invalid_verdict", "reference: 1 to 64 lowercase letters and digits."));
        }
    }
    let mut triggers = report.triggers.clone();
    triggers.sort();
    triggers.dedup();
    let note = match report.outcome {
        CheckOutcome::Secured => "secured by relay: the relay saw the plaintext",
        _ => "decided by relay: the relay saw the plaintext",
    };
    if let serde_json::Value::Object(map) = detail {
        map.insert("triggers".into(), serde_json::json!(triggers));
        map.insert("sender".into(), serde_json::json!(sender));
        map.insert("reference".into(), serde_json::json!(report.reference));
        map.insert("note".into(), serde_json::json!(note));
    }
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

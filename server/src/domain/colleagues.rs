//! Packages to colleagues (docs/inbound.md, "Packages to colleagues";
//! DESIGN §3: users of one organisation send to each other's recipients
//! directly). The sender's client looks up which recipients are colleagues
//! with a key, encrypts every blob to their recipients too and declares
//! them at create; the server holds each declaration against the
//! colleague's current key, so neither a changed client nor a stale
//! directory answer routes a package to a key that is not theirs.

use kluis_protocol::inbound::{ColleagueKey, MAX_DIRECTORY_LOOKUP};

use super::accounts::Caller;
use super::{Domain, DomainError, DomainResult, address, invalid};
use crate::store::{PackageReceiver, User};

/// The caller's colleagues with a key among `emails`, in the order asked.
/// Malformed and unknown addresses, outsiders, colleagues without a key and
/// the caller are all left out alike: the answer says nothing else.
pub(crate) async fn lookup(domain: &Domain, caller: &Caller, emails: &[String]) -> DomainResult<Vec<(User, String)>> {
    if emails.len() > MAX_DIRECTORY_LOOKUP {
        let message = format!("At most {MAX_DIRECTORY_LOOKUP} addresses can be looked up at once.");
        return Err(invalid("too_many_emails", message));
    }
    let mut wanted: Vec<String> = Vec::with_capacity(emails.len());
    for email in emails.iter().filter_map(|raw| address::normalize(raw).ok()) {
        if email != caller.user.email && !wanted.contains(&email) {
            wanted.push(email);
        }
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    Ok(domain.meta.colleague_keys(caller.user.org_id, wanted).await?)
}

fn not_a_colleague(email: &str) -> DomainError {
    invalid(
        "not_a_colleague",
        format!("{email} is not a user of your organisation with a key: the package cannot go to their inbox."),
    )
}

/// The colleagues a new package is also encrypted to, from what the client
/// declared: every address must be one of the package's `recipients`
/// (normalised), a colleague of the caller with a key (not the caller), and
/// its recipient that colleague's current one.
pub(crate) async fn receivers(
    domain: &Domain,
    caller: &Caller,
    recipients: &[String],
    declared: &[ColleagueKey],
) -> DomainResult<Vec<PackageReceiver>> {
    // Capped before any lookup: each declared address costs one.
    if declared.len() > super::packages::MAX_RECIPIENTS {
        return Err(invalid("too_many_recipients", "More colleagues are declared than a package has recipients."));
    }
    let mut receivers: Vec<PackageReceiver> = Vec::with_capacity(declared.len());
    for entry in declared {
        let email = address::normalize(&entry.email).map_err(|_| not_a_colleague(&entry.email))?;
        if !recipients.contains(&email) {
            return Err(invalid(
                "colleague_not_recipient",
                format!("{email} is declared as a colleague but is not a recipient of the package."),
            ));
        }
        if email == caller.user.email {
            return Err(not_a_colleague(&email));
        }
        let found = domain.meta.colleague_keys(caller.user.org_id, vec![email.clone()]).await?;
        let Some((user, current)) = found.into_iter().next() else { return Err(not_a_colleague(&email)) };
        let declared_key = super::keys::parse_recipient(&entry.recipient).ok();
        if declared_key.as_deref() != Some(current.as_str()) {
            return Err(invalid(
                "wrong_recipient",
                format!("The key given for {email} is not their current key: look their key up again."),
            ));
        }
        let receiver = PackageReceiver { user_id: user.id, recipient: current };
        if !receivers.contains(&receiver) {
            receivers.push(receiver);
        }
    }
    Ok(receivers)
}

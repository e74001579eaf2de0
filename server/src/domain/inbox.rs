//! The inbox: deliveries that came in for a user, read and deleted only by
//! them, and live packages colleagues sent to their key (read only: the
//! sender revokes or deletes them). The server hands out ciphertext; the
//! user's client decrypts it with the identity it unlocked with their
//! passphrase.

use super::accounts::Caller;
use super::packages::parse_cursor;
use super::{Actor, Domain, DomainError, DomainResult, Event};
use crate::store::{Blob, PackageRecord, PackageState};

/// Items per page at most.
pub(crate) const MAX_PAGE: i64 = 100;

/// When an item arrived: a delivery's or a colleague's package's finalize.
pub(crate) fn received_at(record: &PackageRecord) -> Option<i64> {
    let package = &record.package;
    package.inbound.as_ref().and_then(|i| i.received_at).or(package.direct.as_ref().map(|d| d.received_at))
}

/// The cursor of the page after `record`: `received_at.id`.
fn cursor_of(record: &PackageRecord) -> String {
    format!("{}.{}", received_at(record).unwrap_or(0), record.package.id)
}

/// A page of what came in for the caller, newest first, and the next cursor.
pub(crate) async fn list(
    domain: &Domain,
    caller: &Caller,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> DomainResult<(Vec<PackageRecord>, Option<String>)> {
    let after = cursor.filter(|c| !c.is_empty()).map(parse_cursor).transpose()?;
    let limit = limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let records = domain.meta.inbox_page(caller.user.id, caller.user.org_id, after, limit + 1).await?;
    Ok(super::page(records, limit, cursor_of))
}

/// An item of the caller's inbox (anything else is "not found").
pub(crate) async fn item(domain: &Domain, caller: &Caller, id: &str) -> DomainResult<PackageRecord> {
    let not_found = || DomainError::NotFound("item");
    let record = domain.meta.package_record(id).await?.ok_or_else(not_found)?;
    // Revoked, expired and deleted packages leave their colleagues' inboxes with them.
    if record.package.state != PackageState::Ready || record.package.org_id != caller.user.org_id {
        return Err(not_found());
    }
    let receives = match (&record.package.inbound, &record.package.direct) {
        // Its request's receivers: the requester, a package's sender, a portal's receivers.
        (Some(inbound), _) if inbound.received_at.is_some() => {
            let request = domain.meta.request(&inbound.request_id, super::now()).await?.ok_or_else(not_found)?;
            request.receivers.contains(&caller.user.id)
        }
        // The colleagues the sender encrypted it to.
        (None, Some(_)) => domain.meta.is_package_receiver(id, caller.user.id).await?,
        _ => false,
    };
    if !receives {
        return Err(not_found());
    }
    Ok(record)
}

/// A blob of an item of the caller's inbox.
pub(crate) async fn blob(domain: &Domain, caller: &Caller, id: &str, idx: i64) -> DomainResult<Blob> {
    let record = item(domain, caller, id).await?;
    if super::now() >= record.package.expires_at {
        return Err(DomainError::NotFound("item"));
    }
    record.blobs.into_iter().find(|b| b.idx == idx && b.complete).ok_or(DomainError::NotFound("blob"))
}

/// Deletes an item (soft: an admin may restore it for a while, like a
/// package). A colleague's package is its sender's to revoke or delete.
pub(crate) async fn delete(domain: &Domain, caller: &Caller, id: &str) -> DomainResult<()> {
    let record = item(domain, caller, id).await?;
    if record.package.direct.is_some() {
        return Err(DomainError::Conflict {
            code: "not_yours",
            message: "A colleague sent this package: only they can revoke or delete it.".into(),
        });
    }
    super::lifecycle::delete(domain, &record.package, Actor::User(&caller.user.email)).await
}

/// A blob of the caller's inbox was read to its end.
pub(crate) async fn downloaded(domain: &Domain, caller: &Caller, id: &str, detail: String) -> DomainResult<()> {
    let user = &caller.user;
    let event = domain.event(user.org_id, Event::Downloaded, Actor::User(&user.email), Some(id), Some(detail));
    Ok(domain.meta.record(event).await?)
}

//! The inbox: deliveries that came in for a user, read and deleted only by
//! them. The server hands out ciphertext; the user's client decrypts it
//! with the identity it unlocked with their passphrase.

use super::accounts::Caller;
use super::packages::parse_cursor;
use super::{Actor, Domain, DomainError, DomainResult, Event};
use crate::store::{Blob, PackageRecord, PackageState};

/// Items per page at most.
pub(crate) const MAX_PAGE: i64 = 100;

/// The cursor of the page after `record`: `received_at.id`.
fn cursor_of(record: &PackageRecord) -> String {
    let received = record.package.inbound.as_ref().and_then(|i| i.received_at).unwrap_or(0);
    format!("{received}.{}", record.package.id)
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
    let inbound = record.package.inbound.as_ref().filter(|i| i.received_at.is_some()).ok_or_else(not_found)?;
    if record.package.state != PackageState::Ready || record.package.org_id != caller.user.org_id {
        return Err(not_found());
    }
    // Its request's receivers: the requester, a package's sender, a portal's receivers.
    let request = domain.meta.request(&inbound.request_id, super::now()).await?.ok_or_else(not_found)?;
    if !request.receivers.contains(&caller.user.id) {
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

/// Deletes an item (soft: an admin may restore it for a while, like a package).
pub(crate) async fn delete(domain: &Domain, caller: &Caller, id: &str) -> DomainResult<()> {
    let record = item(domain, caller, id).await?;
    super::lifecycle::delete(domain, &record.package, Actor::User(&caller.user.email)).await
}

/// A blob of the caller's inbox was read to its end.
pub(crate) async fn downloaded(domain: &Domain, caller: &Caller, id: &str, detail: String) -> DomainResult<()> {
    let user = &caller.user;
    let event = domain.event(user.org_id, Event::Downloaded, Actor::User(&user.email), Some(id), Some(detail));
    Ok(domain.meta.record(event).await?)
}

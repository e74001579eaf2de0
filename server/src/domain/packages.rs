//! The sender's side of a package's life: create (S is made here and handed
//! out once), finalize with the access and link verifiers, revoke, delete, expire.
//! Revoking or expiring drops S at once, so an unopened link is dead for
//! good; the blobs follow.

use kluis_crypto::package::{AccessVerifier, LinkVerifier};

use super::accounts::Caller;
use super::{Actor, Domain, DomainError, DomainResult, Event, Quota, Unavailable, address, invalid, now};
use crate::blobs::blob_key;
use crate::secrets::{random_bytes, random_id};
use crate::store::{
    AuditRow, Finalized, NewPackage, Package, PackageCursor, PackageRecord, PackageState, Usage, Verifiers,
};

/// Smallest possible age file: header with one stanza, nonce and one tag.
pub(crate) const MIN_BLOB_SIZE: u64 = 100;
/// Most recipients of one package, checked before anything else is done with the list.
pub(crate) const MAX_RECIPIENTS: usize = 100;
/// Events per page of a package's event list.
pub(crate) const EVENT_PAGE: i64 = 100;

/// What a sender asks for.
pub(crate) struct Request {
    pub recipients: Vec<String>,
    pub expires_in_days: Option<u32>,
    pub max_downloads: Option<i64>,
    pub verify_email: bool,
    pub password: bool,
    pub notify_on_download: bool,
    pub blob_sizes: Vec<u64>,
    /// Declared by the client for the policy (absent: not declared).
    pub file_types: Option<Vec<String>>,
    pub message: Option<bool>,
    /// Colleagues the client declares it encrypted every blob to as well.
    pub colleagues: Vec<kluis_protocol::inbound::ColleagueKey>,
}

/// What a recipient may do with the package at `at`.
pub(crate) fn availability(p: &Package, at: i64) -> Result<(), Unavailable> {
    match p.state {
        PackageState::Revoked => Err(Unavailable::Revoked),
        PackageState::Expired => Err(Unavailable::Expired),
        _ if at >= p.expires_at => Err(Unavailable::Expired),
        PackageState::Uploading => Err(Unavailable::NotReady),
        PackageState::Ready if p.max_downloads.is_some_and(|m| p.downloads >= m) => Err(Unavailable::LimitReached),
        PackageState::Ready => Ok(()),
    }
}

pub(crate) fn downloads_left(p: &Package) -> Option<i64> {
    p.max_downloads.map(|m| (m - p.downloads).max(0))
}

/// The state a sender sees (a ready package past its expiry is expired even before the janitor runs).
pub(crate) fn visible_state(p: &Package, at: i64) -> PackageState {
    if p.state == PackageState::Ready && at >= p.expires_at { PackageState::Expired } else { p.state }
}

/// Checks the quotas of a user against their usage including this request.
fn quota_rule(limits: crate::config::Limits) -> impl Fn(&Usage) -> Result<(), DomainError> + Send + Sync {
    move |u: &Usage| {
        let over = |quota, limit: u64| Err(DomainError::Quota { quota, limit });
        if u.reserved_bytes as u64 > limits.max_reserved_bytes_per_user {
            return over(Quota::ReservedBytes, limits.max_reserved_bytes_per_user);
        }
        if u.unfinished_packages as u64 > u64::from(limits.max_unfinished_packages_per_user) {
            return over(Quota::UnfinishedPackages, u64::from(limits.max_unfinished_packages_per_user));
        }
        if u.open_uploads as u64 > u64::from(limits.max_open_uploads_per_user) {
            return over(Quota::OpenUploads, u64::from(limits.max_open_uploads_per_user));
        }
        Ok(())
    }
}

pub(crate) fn upload_quota(domain: &Domain) -> crate::store::Rule<Usage> {
    Box::new(quota_rule(domain.limits.clone()))
}

/// Creates a package; returns it and S (handed to the sender this once).
pub(crate) async fn create(domain: &Domain, caller: &Caller, req: Request) -> DomainResult<(PackageRecord, [u8; 32])> {
    let limits = &domain.limits;
    // Capped before anything else looks at the list (de-duplication is quadratic in the worst case).
    if req.recipients.len() > MAX_RECIPIENTS {
        return Err(invalid("too_many_recipients", format!("A package can have at most {MAX_RECIPIENTS} recipients.")));
    }
    let mut recipients: Vec<String> = Vec::with_capacity(req.recipients.len());
    for raw in &req.recipients {
        let email = address::normalize(raw).map_err(|e| invalid("invalid_recipient", format!("{e}.")))?;
        if !recipients.contains(&email) {
            recipients.push(email);
        }
    }
    if req.verify_email && recipients.is_empty() {
        return Err(invalid("no_recipients", "E-mail verification needs at least one recipient address."));
    }
    let org = domain.meta.organisation(caller.user.org_id).await?;
    let (default_days, max_days) = super::organisations::expiry(domain, org.as_ref());
    let days = req.expires_in_days.unwrap_or(default_days);
    if days == 0 || days > max_days {
        return Err(invalid("invalid_expiry", format!("expires_in_days must be between 1 and {max_days}.")));
    }
    if req.max_downloads.is_some_and(|m| !(1..=10_000).contains(&m)) {
        return Err(invalid("invalid_max_downloads", "max_downloads must be between 1 and 10000."));
    }
    if req.blob_sizes.is_empty() || req.blob_sizes.len() > limits.max_blobs as usize {
        return Err(invalid(
            "invalid_blobs",
            format!("A package has 1 to {} blobs (the manifest and the files).", limits.max_blobs),
        ));
    }
    if req.blob_sizes.iter().any(|&s| s < MIN_BLOB_SIZE) {
        return Err(invalid("invalid_blob_size", "Every blob is an age file of at least 100 bytes."));
    }
    // Each size and the sum are checked without wrapping: [2^63-1, 2^63-1, 102] is not 100.
    // The store adds sizes up as i64, so no limit is above i64::MAX (whatever is configured).
    let max = limits.max_package_bytes.min(i64::MAX as u64);
    let total = req.blob_sizes.iter().try_fold(0u64, |sum, &s| sum.checked_add(s));
    let too_large = || DomainError::TooLarge {
        message: format!("The package is larger than the limit of {max} bytes."),
        limit: max,
    };
    let total = total.filter(|&t| t <= max).ok_or_else(too_large)?;
    let sizes: Vec<i64> =
        req.blob_sizes.iter().map(|&s| i64::try_from(s).map_err(|_| too_large())).collect::<Result<_, _>>()?;
    let receivers = super::colleagues::receivers(domain, caller, &recipients, &req.colleagues).await?;
    super::policy::check_package(domain, caller, &recipients, &req, total).await?;
    // The licence last: a request that breaks a rule takes no seat.
    super::licences::may_send(domain, caller).await?;

    let id = random_id();
    let share = random_bytes::<32>();
    let at = now();
    let mut detail = format!("{} blobs, {total} bytes, {} recipients", sizes.len(), recipients.len());
    if !receivers.is_empty() {
        detail.push_str(&format!(", {} to colleagues' keys", receivers.len()));
    }
    let new = NewPackage {
        id: id.clone(),
        org_id: caller.user.org_id,
        sender_id: caller.user.id,
        server_share: share.to_vec(),
        created_at: at,
        expires_at: at + i64::from(days) * 86_400,
        max_downloads: req.max_downloads,
        verify_email: req.verify_email,
        has_password: req.password,
        notify_on_download: req.notify_on_download,
        recipients,
        blob_sizes: sizes,
        receivers,
    };
    let event =
        domain.event(caller.user.org_id, Event::Created, Actor::User(&caller.user.email), Some(&id), Some(detail));
    domain.meta.create_package(new, upload_quota(domain), event).await?;
    let record = domain.meta.package_record(&id).await?.ok_or(DomainError::NotFound("package"))?;
    Ok((record, share))
}

/// A package of the caller (anyone else's is "not found").
pub(crate) async fn owned(domain: &Domain, caller: &Caller, id: &str) -> DomainResult<PackageRecord> {
    let record = domain.meta.package_record(id).await?.ok_or(DomainError::NotFound("package"))?;
    // A delivery is its owner's too, but it is read and deleted through the inbox.
    let sent = record.package.inbound.is_none();
    if !sent || record.package.sender_id != caller.user.id || record.package.org_id != caller.user.org_id {
        return Err(DomainError::NotFound("package"));
    }
    Ok(record)
}

/// A complete blob of one of the caller's live packages (not revoked or expired: their blobs are gone).
pub(crate) async fn own_blob(domain: &Domain, caller: &Caller, id: &str, idx: i64) -> DomainResult<crate::store::Blob> {
    let record = owned(domain, caller, id).await?;
    match visible_state(&record.package, now()) {
        PackageState::Revoked => return Err(DomainError::Unavailable(Unavailable::Revoked)),
        PackageState::Expired => return Err(DomainError::Unavailable(Unavailable::Expired)),
        _ => {}
    }
    record.blobs.into_iter().find(|b| b.idx == idx && b.complete).ok_or(DomainError::NotFound("blob"))
}

/// The cursor of the page after `record` in a list of packages (newest first): `created_at.id`.
pub(crate) fn cursor_of(record: &PackageRecord) -> String {
    format!("{}.{}", record.package.created_at, record.package.id)
}

pub(crate) fn parse_cursor(raw: &str) -> DomainResult<PackageCursor> {
    let bad = || invalid("invalid_cursor", "cursor must be the next value of a previous page.");
    let (at, id) = raw.split_once('.').ok_or_else(bad)?;
    let created_at = at.parse::<i64>().map_err(|_| bad())?;
    let id_ok =
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok || created_at < 0 {
        return Err(bad());
    }
    Ok(PackageCursor { created_at, id: id.to_string() })
}

pub(crate) async fn list(
    domain: &Domain,
    caller: &Caller,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> DomainResult<(Vec<PackageRecord>, Option<String>)> {
    let after = cursor.filter(|c| !c.is_empty()).map(parse_cursor).transpose()?;
    let limit = limit.unwrap_or(super::sent::MAX_PAGE).clamp(1, super::sent::MAX_PAGE);
    let records = domain.meta.packages_page(caller.user.id, caller.user.org_id, after, limit + 1).await?;
    Ok(super::page(records, limit, cursor_of))
}

/// A page of a package's events after position `after`, and the cursor of the next page.
pub(crate) async fn events(
    domain: &Domain,
    caller: &Caller,
    id: &str,
    after: i64,
    limit: Option<i64>,
) -> DomainResult<(Vec<AuditRow>, Option<i64>)> {
    owned(domain, caller, id).await?;
    let limit = limit.unwrap_or(EVENT_PAGE).clamp(1, EVENT_PAGE);
    let rows = domain.meta.events(id, after.max(0), limit + 1).await?;
    Ok(super::page(rows, limit, |r| r.id))
}

/// Makes the package visible to recipients, with the access verifier
/// `SHA-256(A)` and the link verifier `SHA-256(A_L)` (docs/architecture.md §3).
pub(crate) async fn finalize(
    domain: &Domain,
    caller: &Caller,
    id: &str,
    access_verifier: &str,
    link_verifier: &str,
) -> DomainResult<PackageRecord> {
    let record = owned(domain, caller, id).await?;
    if let Err(u @ (Unavailable::Revoked | Unavailable::Expired)) = availability(&record.package, now()) {
        return Err(DomainError::Unavailable(u));
    }
    let access = AccessVerifier::from_base64url(access_verifier)
        .map_err(|_| invalid("invalid_access_verifier", "access_verifier must be 32 bytes of unpadded base64url."))?;
    let link = LinkVerifier::from_base64url(link_verifier)
        .map_err(|_| invalid("invalid_link_verifier", "link_verifier must be 32 bytes of unpadded base64url."))?;
    let verifiers = Verifiers { access: *access.as_bytes(), link: *link.as_bytes() };
    if record.package.state == PackageState::Ready {
        // Finalizing twice is harmless, but the verifiers are fixed once set.
        let same = record.package.access_verifier.as_deref() == Some(verifiers.access.as_slice())
            && record.package.link_verifier.as_deref() == Some(verifiers.link.as_slice());
        return if same {
            Ok(record)
        } else {
            Err(invalid("already_finalized", "This package was finalized with other verifiers."))
        };
    }
    let event = domain.event(record.package.org_id, Event::Finalized, Actor::User(&caller.user.email), Some(id), None);
    match domain.meta.finalize(id, verifiers, event).await? {
        Finalized::Done(record) => Ok(*record),
        Finalized::Missing(missing) => Err(DomainError::UploadIncomplete(missing)),
    }
}

/// Ends a package: S is dropped at once, the blobs right after (the janitor retries failures).
pub(crate) async fn end(domain: &Domain, id: &str, state: PackageState, actor: Actor<'_>) -> DomainResult<bool> {
    let event = if state == PackageState::Expired { Event::Expired } else { Event::Revoked };
    let org_id = domain.meta.package(id).await?.map(|p| p.org_id);
    let ended = domain.meta.end_package(id, state, domain.event(org_id, event, actor, Some(id), None)).await?;
    purge_blobs(domain, id).await;
    Ok(ended)
}

pub(crate) async fn revoke(domain: &Domain, caller: &Caller, id: &str) -> DomainResult<()> {
    owned(domain, caller, id).await?;
    end(domain, id, PackageState::Revoked, Actor::User(&caller.user.email)).await?;
    Ok(())
}

/// The sender deletes a package (`lifecycle::delete`): a sent one cannot be
/// opened any more, and an admin may restore it for a while.
pub(crate) async fn delete(domain: &Domain, caller: &Caller, id: &str) -> DomainResult<()> {
    let record = owned(domain, caller, id).await?;
    super::lifecycle::delete(domain, &record.package, Actor::User(&caller.user.email)).await
}

/// Expires every live package past its expiry; returns how many.
pub(crate) async fn expire_overdue(domain: &Domain) -> DomainResult<usize> {
    let ids = domain.meta.overdue_packages(now()).await?;
    for id in &ids {
        end(domain, id, PackageState::Expired, Actor::System).await?;
    }
    Ok(ids.len())
}

/// Deletes the blobs (and unfinished uploads) of an ended package, then
/// their rows; blobs always go before the rows that point at them.
/// Failures are logged and retried by the janitor.
pub(crate) async fn purge_blobs(domain: &Domain, package_id: &str) {
    let (Ok(blobs), Ok(uploads)) =
        (domain.meta.blobs(package_id).await, domain.meta.uploads_of_package(package_id).await)
    else {
        return;
    };
    for up in uploads {
        if domain.blobs.discard(&up.id).await.is_ok() {
            let _ = domain.meta.delete_upload(&up.id).await;
        }
    }
    for blob in blobs {
        match domain.blobs.delete(&blob_key(package_id, blob.idx)).await {
            Ok(()) => {
                let _ = domain.meta.forget_blob(package_id, blob.idx).await;
            }
            Err(e) => tracing::warn!(package = %package_id, blob = blob.idx, error = %e, "cannot delete blob"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;
    use crate::store::PackageCursor;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let c = parse_cursor("1764252120.AbC-_09").unwrap();
        assert_eq!(c, PackageCursor { created_at: 1764252120, id: "AbC-_09".into() });
        for bad in ["", "x", "1.", ".abc", "-1.abc", "1.a b", "99999999999999999999.a", "1.a.b"] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}

//! Clean-up rules, run by the janitor task: expire packages (S first, then
//! the blobs), delete the blobs of ended packages, abandoned uploads, and
//! records that have run out; now and then, blobs nothing refers to.

use std::collections::HashSet;

use super::packages::{expire_overdue, purge_blobs};
use super::{Domain, DomainResult, Event, now};
use crate::blobs::blob_key;
use crate::store::NewEvent;

/// One round of clean-up.
pub(crate) async fn sweep(domain: &Domain) -> DomainResult<()> {
    let expired = expire_overdue(domain).await?;
    if expired > 0 {
        tracing::info!(count = expired, "packages expired");
    }
    for id in domain.meta.ended_with_blobs().await? {
        purge_blobs(domain, &id).await;
    }
    for up in domain.meta.abandoned_uploads(now()).await? {
        if let Err(e) = domain.blobs.discard(&up.id).await {
            tracing::warn!(upload = %up.id, error = %e, "cannot delete upload data");
            continue;
        }
        domain.meta.delete_upload(&up.id).await?;
    }
    let purged = super::lifecycle::purge_deleted(domain, now()).await?;
    if purged > 0 {
        tracing::info!(count = purged, "deleted packages purged after their restore window");
    }
    domain.meta.sweep(now()).await?;
    prune_audit_logs(domain, now()).await?;
    Ok(())
}

/// Deletes audit rows older than their organisation keeps them (default: for
/// ever). The chain stays verifiable: its anchor moves past the deleted rows,
/// and the deletion itself is a row of the log.
pub(crate) async fn prune_audit_logs(domain: &Domain, at: i64) -> DomainResult<u64> {
    let mut total = 0;
    for org in domain.meta.organisations().await? {
        let Some(days) = org.settings.audit_retention_days else { continue };
        let before = at - i64::from(days) * 86_400;
        let org_id = org.id;
        // The anchor goes into the chained row too, so a changed anchor shows.
        let pruned = Box::new(move |count: u64, first_id: i64, anchor: Vec<u8>| {
            let detail = format!(
                "{count} rows older than {days} days deleted (retention); the chain now starts at row {first_id}, \
                 after sha256 {}",
                hex::encode(anchor)
            );
            NewEvent {
                org_id: Some(org_id),
                event: Event::AuditPruned.as_str(),
                actor: "system".into(),
                package_id: None,
                detail: Some(detail),
            }
        });
        let deleted = domain.meta.prune_audit(org.id, before, pruned).await?;
        if deleted > 0 {
            tracing::info!(organisation = org.id, rows = deleted, days, "audit rows past their retention deleted");
        }
        total += deleted;
    }
    Ok(total)
}

/// Deletes blobs that no package refers to (left by a crash between
/// storing a blob and recording it). It lists the whole blob store, so it
/// runs at start and then rarely, not every round.
pub(crate) async fn remove_orphans(domain: &Domain) -> DomainResult<usize> {
    let stored = domain.blobs.list().await?;
    if stored.is_empty() {
        return Ok(0);
    }
    let known: HashSet<String> =
        domain.meta.blob_keys().await?.into_iter().map(|(id, idx)| blob_key(&id, idx)).collect();
    let mut removed = 0;
    for key in stored.into_iter().filter(|k| !known.contains(k)) {
        tracing::info!(blob = %key, "deleting orphaned blob");
        domain.blobs.delete(&key).await?;
        removed += 1;
    }
    Ok(removed)
}

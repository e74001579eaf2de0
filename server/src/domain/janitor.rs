//! Clean-up rules, run by the janitor task: expire packages (S first, then
//! the blobs), delete the blobs of ended packages, abandoned uploads, and
//! records that have run out; now and then, blobs nothing refers to.

use std::collections::HashSet;

use super::packages::{expire_overdue, purge_blobs};
use super::{Domain, DomainResult, now};
use crate::blobs::blob_key;

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
    domain.meta.sweep(now()).await?;
    Ok(())
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

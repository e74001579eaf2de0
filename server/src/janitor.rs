//! Background clean-up, once a minute: expire packages (S first, then the
//! blobs), delete the blobs of revoked packages, abandoned uploads, ended
//! download sessions, old rate-limit records, and blobs nothing refers to.
//! Blobs are always deleted before the rows that point at them.

use std::collections::HashSet;
use std::time::Duration;

use crate::State;
use crate::db;
use crate::db::models::audit::{self, Event};
use crate::db::models::package::{self, State as PackageState};
use crate::db::models::{session, upload};
use crate::db::now;
use crate::error::ApiResult;
use crate::storage::blob_key;

pub const INTERVAL: Duration = Duration::from_secs(60);

pub async fn run(state: State) {
    let mut ticker = tokio::time::interval(INTERVAL);
    loop {
        ticker.tick().await;
        if let Err(e) = sweep(&state).await {
            tracing::warn!(error = %e, "janitor sweep failed; retrying next round");
        }
    }
}

/// One round of clean-up.
pub async fn sweep(state: &State) -> ApiResult<()> {
    // Expire: S goes at once, blobs below.
    let expired = state
        .db
        .run(|c| {
            let tx = db::transaction(c)?;
            let ids = package::overdue(&tx, now())?;
            for id in &ids {
                if package::end(&tx, id, PackageState::Expired)? {
                    audit::record(&tx, Event::Expired, "system", Some(id), None)?;
                }
            }
            tx.commit()?;
            Ok(ids)
        })
        .await?;
    if !expired.is_empty() {
        tracing::info!(count = expired.len(), "packages expired");
    }

    // Blobs of every ended package (revoked or expired).
    let ended = state.db.run(|c| Ok(package::ended_with_blobs(c)?)).await?;
    let mut packages: Vec<String> = ended.into_iter().map(|(id, _)| id).collect();
    packages.dedup();
    for id in packages {
        purge_blobs(state, &id).await;
    }

    // Uploads nobody finished.
    let abandoned = state.db.run(|c| Ok(upload::abandoned(c, now())?)).await?;
    for up in abandoned {
        if let Err(e) = state.store.discard(&up.id).await {
            tracing::warn!(upload = %up.id, error = %e, "cannot delete upload data");
            continue;
        }
        let id = up.id.clone();
        state.db.run(move |c| Ok(upload::delete(c, &id)?)).await?;
    }

    state
        .db
        .run(|c| {
            session::delete_expired(c)?;
            c.execute("DELETE FROM code_sends WHERE sent_at < ?1", [now() - 86_400])?;
            c.execute("DELETE FROM codes WHERE expires_at < ?1", [now()])?;
            Ok(())
        })
        .await?;

    remove_orphans(state).await
}

/// Deletes the blobs (and unfinished uploads) of an ended package, then
/// their rows. Failures are logged and retried by the next sweep.
pub async fn purge_blobs(state: &State, package_id: &str) {
    let id = package_id.to_string();
    let rows = state.db.run(move |c| Ok((package::blobs(c, &id)?, upload::for_package(c, &id)?))).await;
    let Ok((blobs, uploads)) = rows else { return };
    for up in uploads {
        if state.store.discard(&up.id).await.is_ok() {
            let id = up.id.clone();
            let _ = state.db.run(move |c| Ok(upload::delete(c, &id)?)).await;
        }
    }
    for blob in blobs {
        match state.store.delete(&blob_key(package_id, blob.idx)).await {
            Ok(()) => {
                let id = package_id.to_string();
                let _ = state.db.run(move |c| Ok(package::forget_blob(c, &id, blob.idx)?)).await;
            }
            Err(e) => tracing::warn!(package = %package_id, blob = blob.idx, error = %e, "cannot delete blob"),
        }
    }
}

/// Blobs in the store that no package row refers to (left by a crash
/// between deleting a package and its files).
async fn remove_orphans(state: &State) -> ApiResult<()> {
    let stored = state.store.list().await?;
    if stored.is_empty() {
        return Ok(());
    }
    let known: HashSet<String> = state
        .db
        .run(|c| {
            let mut stmt = c.prepare("SELECT package_id, idx FROM blobs")?;
            let keys = stmt.query_map([], |r| Ok(blob_key(&r.get::<_, String>(0)?, r.get(1)?)))?;
            Ok(keys.collect::<rusqlite::Result<HashSet<_>>>()?)
        })
        .await?;
    for key in stored.into_iter().filter(|k| !known.contains(k)) {
        tracing::info!(blob = %key, "deleting orphaned blob");
        state.store.delete(&key).await?;
    }
    Ok(())
}

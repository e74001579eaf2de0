//! Resumable blob uploads (tus 1.0 underneath; the protocol lives in
//! `api/uploads.rs`). One upload per declared blob of an uploading package.
//! Offsets are recorded only after the bytes before them reached the blob
//! store, so they survive a crash. A writer holds a lease in the metadata
//! store (so it works across server nodes); a lease that is not renewed
//! lapses, and a new write at the recorded offset takes it over.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::accounts::Caller;
use super::packages::upload_quota;
use super::{Actor, Domain, DomainError, DomainResult, Event, now};
use crate::blobs::blob_key;
use crate::secrets::random_id;
use crate::store::{Lease, PackageState, Upload};
use crate::store::{Package, UploaderSession};

/// Checkpoint interval while writing: at most this much is sent again after a crash.
const CHECKPOINT: u64 = 16 << 20;

impl Domain {
    fn upload_expiry(&self) -> i64 {
        now() + i64::from(self.limits.upload_expiry_hours) * 3600
    }

    /// How long a lease lasts without renewal. A writer renews it every
    /// third of the body timeout while bytes arrive, and the HTTP layer ends
    /// a body that brings too little in a window of the body timeout (so
    /// bytes arrive at least once in two windows): a live writer never loses it.
    fn lease_seconds(&self) -> i64 {
        // A live body brings bytes at least once in every two windows.
        3 * i64::from(self.limits.body_timeout_seconds) + 5
    }
}

/// Who writes blobs: a signed-in sender into their own packages, or an
/// outsider into the delivery their uploader session made.
pub(crate) enum Writer {
    Sender(Caller),
    Uploader(UploaderSession),
}

impl Writer {
    fn may_write(&self, p: &Package) -> bool {
        match self {
            Writer::Sender(c) => p.inbound.is_none() && p.sender_id == c.user.id && p.org_id == c.user.org_id,
            Writer::Uploader(s) => p.inbound.as_ref().is_some_and(|i| i.session == s.hash),
        }
    }

    fn actor(&self) -> Actor<'_> {
        match self {
            Writer::Sender(c) => Actor::User(&c.user.email),
            Writer::Uploader(s) => Actor::Uploader(&s.email),
        }
    }
}

/// A package the writer may write to.
async fn writable(domain: &Domain, writer: &Writer, package_id: &str) -> DomainResult<Package> {
    let package = domain.meta.package(package_id).await?.filter(|p| writer.may_write(p));
    package.ok_or(DomainError::NotFound("package"))
}

/// Creates an upload for blob `blob_idx` of one of the writer's uploading
/// packages; returns its id and expiry.
pub(crate) async fn create(
    domain: &Domain,
    writer: &Writer,
    package_id: &str,
    blob_idx: i64,
    length: u64,
) -> DomainResult<(String, i64)> {
    let package = writable(domain, writer, package_id).await?;
    if package.state != PackageState::Uploading || now() >= package.expires_at {
        return Err(DomainError::NotUploading);
    }
    let blob = domain.meta.blobs(package_id).await?.into_iter().find(|b| b.idx == blob_idx);
    let blob = blob.ok_or(DomainError::NotFound("blob"))?;
    if blob.complete {
        return Err(DomainError::AlreadyUploaded);
    }
    if u64::try_from(blob.size).ok() != Some(length) {
        let message = format!("This blob was declared as {} bytes.", blob.size);
        return Err(if length > blob.size as u64 {
            DomainError::TooLarge { message, limit: blob.size as u64 }
        } else {
            super::invalid("length_mismatch", message)
        });
    }
    let upload = Upload {
        id: random_id(),
        package_id: package_id.to_string(),
        blob_idx,
        // Uploads count against the quotas of the package's owner (a delivery's requester).
        user_id: package.sender_id,
        length: blob.size,
        offset: 0,
        expires_at: domain.upload_expiry(),
    };
    if let Some(old) = domain.meta.create_upload(&upload, upload_quota(domain)).await? {
        domain.blobs.discard(&old).await?;
    }
    Ok((upload.id, upload.expires_at))
}

/// The writer's upload, its offset what the blob store really kept: its
/// length once its blob is complete (a client that lost the last answer
/// learns it is done). An upload whose every byte is stored but which the
/// server stopped before it became its blob is finished here, so asking
/// for the offset is enough to recover it.
pub(crate) async fn load(domain: &Domain, writer: &Writer, id: &str) -> DomainResult<Upload> {
    let (mut u, package) = live(domain, writer, id).await?;
    let blob = domain.meta.blobs(&u.package_id).await?.into_iter().find(|b| b.idx == u.blob_idx);
    if blob.is_some_and(|b| b.complete) {
        // Whole, and its blob now: the client may have lost the last answer.
        u.offset = u.length;
        return Ok(u);
    }
    // After a power cut the store may hold less than was recorded.
    let stored = domain.blobs.part_len(&u.id).await? as i64;
    u.offset = u.offset.min(stored);
    if u.offset == u.length && package.state == PackageState::Uploading {
        // Every byte is there, but the server stopped before the upload became its blob.
        finish(domain, writer, &u, package.org_id).await?;
    }
    Ok(u)
}

/// The writer's upload as recorded, with its package, unless it expired.
async fn live(domain: &Domain, writer: &Writer, id: &str) -> DomainResult<(Upload, Package)> {
    let Some(u) = domain.meta.upload(id).await? else { return Err(DomainError::NotFound("upload")) };
    let Ok(package) = writable(domain, writer, &u.package_id).await else {
        return Err(DomainError::NotFound("upload"));
    };
    if now() >= u.expires_at {
        return Err(DomainError::UploadExpired);
    }
    Ok((u, package))
}

/// Turns a whole upload into its blob and marks the blob complete. Both
/// steps may run again (after a crash between them, or on two nodes at
/// once): committing the same upload twice is no error, and the blob's
/// `Uploaded` event is recorded once. Callers make sure the blob is not
/// complete yet and every byte is in the upload.
async fn finish(domain: &Domain, writer: &Writer, upload: &Upload, org_id: i64) -> DomainResult<()> {
    domain.blobs.commit(&upload.id, &blob_key(&upload.package_id, upload.blob_idx)).await?;
    let detail = format!("blob {}, {} bytes", upload.blob_idx, upload.length);
    let event = domain.event(org_id, Event::Uploaded, writer.actor(), Some(&upload.package_id), Some(detail));
    domain.meta.complete_upload(&upload.id, event).await?;
    Ok(())
}

/// Appends `body` at `offset` under the upload's lease. The body ends
/// early when the client goes away or stalls (the HTTP layer ends idle
/// bodies): what arrived is kept and the lease released. Returns the
/// durable offset.
pub(crate) async fn append<S, E>(
    domain: &Domain,
    writer: &Writer,
    id: &str,
    offset: u64,
    mut body: S,
) -> DomainResult<u64>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let loaded = load(domain, writer, id).await?;
    if loaded.offset == loaded.length {
        // Whole already (its answer may have been lost): only an empty body at the end fits.
        let length = loaded.length as u64;
        if offset != length {
            return Err(DomainError::OffsetMismatch(loaded.length));
        }
        while let Some(Ok(chunk)) = body.next().await {
            if !chunk.is_empty() {
                let message = "The body goes past Upload-Length.".into();
                return Err(DomainError::TooLarge { message, limit: length });
            }
        }
        return Ok(length);
    }
    let owner = random_id();
    let at = now();
    let upload = match domain.meta.acquire_lease(id, &owner, at + domain.lease_seconds(), at).await? {
        Lease::Acquired(u) => u,
        Lease::Busy { until } => return Err(DomainError::UploadBusy { retry_after: (until - now()).max(1) as u64 }),
        Lease::Missing => return Err(DomainError::NotFound("upload")),
    };
    let result = write(domain, &upload, &owner, offset, body).await;
    let _ = domain.meta.release_lease(id, &owner).await;
    let durable = result?;
    if durable == upload.length as u64 {
        let org_id = writable(domain, writer, &upload.package_id).await?.org_id;
        finish(domain, writer, &upload, org_id).await?;
    }
    Ok(durable)
}

async fn write<S, E>(domain: &Domain, upload: &Upload, owner: &str, offset: u64, mut body: S) -> DomainResult<u64>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let recorded = upload.offset.min(domain.blobs.part_len(&upload.id).await? as i64) as u64;
    if offset != recorded {
        return Err(DomainError::OffsetMismatch(recorded as i64));
    }
    let mut writer = domain.blobs.append(&upload.id, recorded).await?;
    let length = upload.length as u64;
    let (mut written, mut checkpoint) = (recorded, recorded);
    let mut renewed = Instant::now();
    let renew_every = Duration::from_secs(u64::from(domain.limits.body_timeout_seconds / 3).max(1));
    let mut failure = None;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                // The client went away or stalled: keep what arrived.
                tracing::info!(upload = %upload.id, error = %e, "upload interrupted");
                break;
            }
        };
        if written.checked_add(chunk.len() as u64).is_none_or(|end| end > length) {
            failure =
                Some(DomainError::TooLarge { message: "The body goes past Upload-Length.".into(), limit: length });
            break;
        }
        writer.write(&chunk).await?;
        written += chunk.len() as u64;
        if written - checkpoint >= CHECKPOINT || renewed.elapsed() >= renew_every {
            checkpoint = writer.checkpoint().await?;
            record(domain, upload, owner, checkpoint).await?;
            renewed = Instant::now();
        }
    }
    let durable = writer.checkpoint().await?;
    drop(writer);
    record(domain, upload, owner, durable).await?;
    match failure {
        Some(e) => Err(e),
        None => Ok(durable),
    }
}

/// Records a durable offset and renews the lease; a lost lease stops the writer.
async fn record(domain: &Domain, upload: &Upload, owner: &str, offset: u64) -> DomainResult<()> {
    let lease_until = now() + domain.lease_seconds();
    if domain.meta.record_offset(&upload.id, owner, offset as i64, domain.upload_expiry(), lease_until).await? {
        Ok(())
    } else {
        Err(DomainError::UploadBusy { retry_after: 1 })
    }
}

/// Drops an unfinished upload (tus termination): what it holds is discarded,
/// even when every byte is there (it is not made the blob first).
pub(crate) async fn terminate(domain: &Domain, writer: &Writer, id: &str) -> DomainResult<()> {
    live(domain, writer, id).await?;
    let owner = random_id();
    let at = now();
    match domain.meta.acquire_lease(id, &owner, at + domain.lease_seconds(), at).await? {
        Lease::Acquired(_) => {}
        Lease::Busy { until } => return Err(DomainError::UploadBusy { retry_after: (until - now()).max(1) as u64 }),
        Lease::Missing => return Err(DomainError::NotFound("upload")),
    }
    domain.meta.delete_upload(id).await?;
    domain.blobs.discard(id).await?;
    Ok(())
}

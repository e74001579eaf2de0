//! Blob storage behind one trait, so nothing above it assumes a local disk
//! (docs/architecture.md, "Scale"). The file-system implementation is the
//! default; [`memory::MemoryBlobStore`] keeps everything in memory (tests,
//! and a model of an object store's semantics); object stores (S3, Azure
//! Blob) plug in behind the same trait. Every implementation passes the one
//! conformance suite in `conformance.rs`.
//!
//! Blobs arrive in parts: an unfinished upload grows by appends, reaches the
//! store at checkpoints, and becomes a blob only by [`BlobStore::commit`],
//! which makes it durable and is atomic: a reader never sees a half blob
//! under a blob's name. Checkpoints are not synced to the disk (that halved
//! upload speed); after a power cut an upload resumes from what the store
//! really kept ([`BlobStore::part_len`]).

pub(crate) mod fs;
pub(crate) mod memory;
pub(crate) mod object;

#[cfg(test)]
pub(crate) mod conformance;

use std::io;
use std::ops::Range;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

/// Opens the blob store named `kind` (`blob_store`'s values) as `config` describes it.
/// The one place that chooses the store.
pub(crate) fn open(config: &crate::config::Config, kind: &str) -> anyhow::Result<std::sync::Arc<dyn BlobStore>> {
    use std::sync::Arc;
    Ok(match kind {
        "memory" => Arc::new(memory::MemoryBlobStore::default()),
        "s3" => Arc::new(object::s3(&config.s3)?),
        "azure" => Arc::new(object::azure(&config.azure)?),
        "gcs" => Arc::new(object::gcs(&config.gcs)?),
        "fs" => Arc::new(fs::FsBlobStore::open(&config.data_dir)?),
        other => {
            anyhow::bail!("no blob store {other:?}: blob_store is \"fs\", \"s3\", \"azure\", \"gcs\" or \"memory\"")
        }
    })
}

/// Bytes read from a blob, in pieces.
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Appends to one unfinished upload.
#[async_trait]
pub(crate) trait PartWriter: Send {
    /// Appends bytes (buffered).
    async fn write(&mut self, data: &[u8]) -> io::Result<()>;
    /// Hands everything written so far to the store, so that it survives the
    /// end of this process (not necessarily a power cut: [`BlobStore::part_len`]
    /// tells what really survived); returns the length.
    async fn checkpoint(&mut self) -> io::Result<u64>;
}

#[async_trait]
pub(crate) trait BlobStore: Send + Sync + 'static {
    /// Opens upload `upload` for appending at `offset`, its durable length as
    /// recorded by the caller. Anything stored past `offset` (bytes written
    /// before a crash but never recorded) is dropped first.
    async fn append(&self, upload: &str, offset: u64) -> io::Result<Box<dyn PartWriter>>;
    /// Bytes of unfinished upload `upload` that are stored (0 if none).
    async fn part_len(&self, upload: &str) -> io::Result<u64>;
    /// Makes the complete upload durable and turns it into blob `key`, atomically.
    /// Committing it to the same key again succeeds (a crash may have come
    /// between the commit and its record), to another key fails.
    async fn commit(&self, upload: &str, key: &str) -> io::Result<()>;
    /// Deletes an unfinished upload (no error if it does not exist).
    async fn discard(&self, upload: &str) -> io::Result<()>;
    /// Reads `range` of blob `key`.
    async fn read(&self, key: &str, range: Range<u64>) -> io::Result<ByteStream>;
    /// Deletes blob `key` (no error if it does not exist).
    async fn delete(&self, key: &str) -> io::Result<()>;
    /// All blob keys. This lists the whole store: callers run it rarely.
    async fn list(&self) -> io::Result<Vec<String>>;
    /// Whether the store takes writes now (readiness): a small probe
    /// written, read back and removed.
    async fn ready(&self) -> io::Result<()>;
}

/// The key of blob `idx` of package `package_id`.
pub(crate) fn blob_key(package_id: &str, idx: i64) -> String {
    format!("{package_id}/{idx}")
}

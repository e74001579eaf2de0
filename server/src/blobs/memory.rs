//! Blobs in memory. Nothing survives the process, so "durable" means
//! "stored"; otherwise it behaves as every store must (the conformance
//! suite): commits are atomic, reads are ranged, deletes are idempotent.

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream;

use super::{BlobStore, ByteStream, PartWriter};

/// Pieces a read is served in.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Default)]
struct Inner {
    parts: BTreeMap<String, Vec<u8>>,
    blobs: BTreeMap<String, Bytes>,
}

/// A blob store in memory.
#[derive(Default, Clone)]
pub(crate) struct MemoryBlobStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryBlobStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct MemoryPartWriter {
    store: MemoryBlobStore,
    upload: String,
    pending: Vec<u8>,
    len: u64,
}

#[async_trait]
impl PartWriter for MemoryPartWriter {
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(data);
        self.len += data.len() as u64;
        Ok(())
    }

    async fn checkpoint(&mut self) -> io::Result<u64> {
        let mut inner = self.store.lock();
        let part = inner.parts.entry(self.upload.clone()).or_default();
        part.append(&mut self.pending);
        Ok(self.len)
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn ready(&self) -> io::Result<()> {
        Ok(())
    }

    async fn append(&self, upload: &str, offset: u64) -> io::Result<Box<dyn PartWriter>> {
        let mut inner = self.lock();
        let part = inner.parts.entry(upload.to_string()).or_default();
        if (part.len() as u64) < offset {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "upload data is shorter than its recorded offset",
            ));
        }
        part.truncate(offset as usize);
        Ok(Box::new(MemoryPartWriter {
            store: self.clone(),
            upload: upload.to_string(),
            pending: Vec::new(),
            len: offset,
        }))
    }

    async fn part_len(&self, upload: &str) -> io::Result<u64> {
        Ok(self.lock().parts.get(upload).map_or(0, |p| p.len() as u64))
    }

    async fn commit(&self, upload: &str, key: &str) -> io::Result<()> {
        let mut inner = self.lock();
        let Some(part) = inner.parts.remove(upload) else {
            // Committed already: the blob a key holds is its one upload's.
            return if inner.blobs.contains_key(key) {
                Ok(())
            } else {
                Err(io::Error::new(io::ErrorKind::NotFound, "no such upload"))
            };
        };
        inner.blobs.insert(key.to_string(), Bytes::from(part));
        Ok(())
    }

    async fn discard(&self, upload: &str) -> io::Result<()> {
        self.lock().parts.remove(upload);
        Ok(())
    }

    async fn read(&self, key: &str, range: Range<u64>) -> io::Result<ByteStream> {
        let blob = self
            .lock()
            .blobs
            .get(key)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such blob"))?;
        let end = range.end.min(blob.len() as u64) as usize;
        let start = (range.start as usize).min(end);
        if (range.end as usize) > blob.len() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "range past the end of the blob"));
        }
        let pieces: Vec<io::Result<Bytes>> =
            (start..end).step_by(READ_CHUNK).map(|at| Ok(blob.slice(at..(at + READ_CHUNK).min(end)))).collect();
        Ok(Box::pin(stream::iter(pieces)))
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        self.lock().blobs.remove(key);
        Ok(())
    }

    async fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.lock().blobs.keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    #[actix_web::test]
    async fn conformance() {
        crate::blobs::conformance::run(&super::MemoryBlobStore::default()).await;
    }
}

//! Blobs as files: `<root>/blobs/<package>/<index>`, unfinished uploads as
//! `<root>/uploads/<upload>.part`. Commit fsyncs the part file, renames it
//! into place and fsyncs the directory, so a crash at any moment leaves
//! either the whole blob or no blob under its name.

use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::stream;
use tokio::fs::{self, File};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};

use super::{BlobStore, ByteStream, PartWriter};

/// Bytes per read when serving a blob.
const READ_CHUNK: usize = 256 * 1024;

pub(crate) struct FsBlobStore {
    blobs: PathBuf,
    uploads: PathBuf,
}

impl FsBlobStore {
    pub(crate) fn open(root: &Path) -> io::Result<FsBlobStore> {
        let blobs = root.join("blobs");
        let uploads = root.join("uploads");
        crate::files::create_private_dir(&blobs)?;
        crate::files::create_private_dir(&uploads)?;
        Ok(FsBlobStore { blobs, uploads })
    }

    fn part(&self, upload: &str) -> io::Result<PathBuf> {
        check_name(upload)?;
        Ok(self.uploads.join(format!("{upload}.part")))
    }

    fn blob(&self, key: &str) -> io::Result<PathBuf> {
        let mut path = self.blobs.clone();
        for segment in key.split('/') {
            check_name(segment)?;
            path.push(segment);
        }
        Ok(path)
    }
}

/// Names are ours (random ids, indexes), but never let one escape the root.
fn check_name(name: &str) -> io::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid storage name {name:?}"))) }
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).await?.sync_all().await
}

struct FsPartWriter {
    file: BufWriter<File>,
    len: u64,
}

#[async_trait]
impl PartWriter for FsPartWriter {
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data).await?;
        self.len += data.len() as u64;
        Ok(())
    }

    async fn checkpoint(&mut self) -> io::Result<u64> {
        self.file.flush().await?;
        Ok(self.len)
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn ready(&self) -> io::Result<()> {
        // Among the uploads (never a blob), under a name no upload id has (they never start with a dot).
        let probe = self.uploads.join(format!(".ready-{}", hex::encode(crate::secrets::random_bytes::<8>())));
        tokio::fs::write(&probe, b"kluis").await?;
        let read = tokio::fs::read(&probe).await;
        tokio::fs::remove_file(&probe).await?;
        if read? != b"kluis" {
            return Err(io::Error::other("the blob store's probe read back different bytes"));
        }
        Ok(())
    }

    async fn append(&self, upload: &str, offset: u64) -> io::Result<Box<dyn PartWriter>> {
        let path = self.part(upload)?;
        let mut file = crate::files::private_options().create(true).truncate(false).write(true).open(&path).await?;
        let on_disk = file.metadata().await?.len();
        if on_disk < offset {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "upload data is shorter than its recorded offset",
            ));
        }
        if on_disk > offset {
            // Written before a crash but never recorded: drop it.
            file.set_len(offset).await?;
        }
        file.seek(SeekFrom::Start(offset)).await?;
        Ok(Box::new(FsPartWriter { file: BufWriter::with_capacity(1 << 20, file), len: offset }))
    }

    async fn part_len(&self, upload: &str) -> io::Result<u64> {
        match fs::metadata(self.part(upload)?).await {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    async fn commit(&self, upload: &str, key: &str) -> io::Result<()> {
        let part = self.part(upload)?;
        let target = self.blob(key)?;
        let file = match File::open(&part).await {
            Ok(file) => file,
            // Renamed already (a crash cut short what followed, or another node committed it):
            // a blob key has one upload at a time, so the blob there is this upload's.
            Err(e) if e.kind() == io::ErrorKind::NotFound && fs::try_exists(&target).await? => return Ok(()),
            Err(e) => return Err(e),
        };
        file.sync_all().await?;
        let dir = target.parent().expect("blob paths have a parent");
        let parent = dir.to_path_buf();
        tokio::task::spawn_blocking(move || crate::files::create_private_dir(&parent))
            .await
            .map_err(io::Error::other)??;
        match fs::rename(&part, &target).await {
            Ok(()) => {}
            // Another request finishing the same upload renamed it first.
            Err(e) if e.kind() == io::ErrorKind::NotFound && fs::try_exists(&target).await? => return Ok(()),
            Err(e) => return Err(e),
        }
        sync_dir(dir).await?;
        sync_dir(&self.uploads).await
    }

    async fn discard(&self, upload: &str) -> io::Result<()> {
        match fs::remove_file(self.part(upload)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    async fn read(&self, key: &str, range: Range<u64>) -> io::Result<ByteStream> {
        let mut file = File::open(self.blob(key)?).await?;
        file.seek(SeekFrom::Start(range.start)).await?;
        let remaining = range.end.saturating_sub(range.start);
        let chunks = stream::try_unfold((file, remaining), |(mut file, remaining)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = remaining.min(READ_CHUNK as u64) as usize;
            let mut buf = BytesMut::zeroed(want);
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob shorter than expected"));
            }
            buf.truncate(n);
            Ok(Some((Bytes::from(buf), (file, remaining - n as u64))))
        });
        Ok(Box::pin(chunks))
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        let path = self.blob(key)?;
        match fs::remove_file(&path).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        // Remove the package folder once empty; ignore "not empty".
        if let Some(dir) = path.parent() {
            let _ = fs::remove_dir(dir).await;
        }
        Ok(())
    }

    async fn list(&self) -> io::Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut packages = fs::read_dir(&self.blobs).await?;
        while let Some(p) = packages.next_entry().await? {
            if !p.file_type().await?.is_dir() {
                continue;
            }
            let mut blobs = fs::read_dir(p.path()).await?;
            while let Some(b) = blobs.next_entry().await? {
                keys.push(format!("{}/{}", p.file_name().to_string_lossy(), b.file_name().to_string_lossy()));
            }
        }
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        crate::blobs::conformance::run(&FsBlobStore::open(dir.path()).unwrap()).await;
    }

    /// What a crash between writing and recording leaves behind is dropped on the next append.
    #[actix_web::test]
    async fn bytes_past_the_recorded_offset_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let mut w = store.append("up1", 0).await.unwrap();
        w.write(b"hello lost in a crash").await.unwrap();
        w.checkpoint().await.unwrap();
        drop(w);
        let mut w = store.append("up1", 6).await.unwrap();
        w.write(b"world").await.unwrap();
        assert_eq!(w.checkpoint().await.unwrap(), 11);
        drop(w);
        assert_eq!(store.part_len("up1").await.unwrap(), 11);
    }

    #[actix_web::test]
    async fn names_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        assert!(store.append("../x", 0).await.is_err());
        assert!(store.read("../../etc/passwd", 0..1).await.is_err());
    }

    #[cfg(unix)]
    #[actix_web::test]
    async fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let mut w = store.append("up1", 0).await.unwrap();
        w.write(b"x").await.unwrap();
        w.checkpoint().await.unwrap();
        drop(w);
        store.commit("up1", "pkg/0").await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("blobs/pkg/0")), 0o600);
        assert_eq!(mode(&dir.path().join("blobs/pkg")), 0o700);
        assert_eq!(mode(&dir.path().join("uploads")), 0o700);
    }
}

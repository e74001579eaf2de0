//! Blobs in an object store: S3 and the services that speak its API, Azure
//! Blob Storage and Google Cloud Storage (issue 16), through the
//! `object_store` crate, so any node can continue any upload and serve any
//! blob. An object store has neither appends nor
//! renames, so an upload is kept as immutable pieces and a blob is a small
//! manifest naming them:
//!
//! - An unfinished upload is a run of *segments*,
//!   `uploads/<upload>/<start>-<length>` (20 digits each, so they sort by
//!   position), one per checkpoint and one per [`SEGMENT`] bytes between
//!   checkpoints. Every offset the metadata store records is a checkpoint's,
//!   hence a segment boundary: resuming there deletes the segments from
//!   there on (written after the last recorded checkpoint, before a crash).
//! - [`commit`](BlobStore::commit) writes the blob's manifest,
//!   `blobs/<package>/<idx>`: the upload and its segments, as JSON. One PUT:
//!   a blob is visible only whole. A marker, `uploads/<upload>/committed`,
//!   then keeps the segments from being taken for a new upload or
//!   discarded: they are the blob's now.
//! - Reads follow the manifest, one ranged GET per segment they overlap,
//!   streamed. Deleting a blob removes its segments, then its manifest, so
//!   a crash in between leaves a manifest the orphan sweep deletes again.
//!
//! Memory: an upload holds at most [`SEGMENT`] bytes before they are
//! written; a read holds what the object store has sent and not yet been
//! passed on.

use std::io;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};

use super::{BlobStore, ByteStream, PartWriter};

/// The most bytes an upload keeps in memory before writing them as a segment.
pub(crate) const SEGMENT: usize = 8 << 20;

/// The name of the marker of a committed upload.
const COMMITTED: &str = "committed";

pub(crate) struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    /// Prepended to every object name (`kluis/`), so a bucket can be shared.
    prefix: String,
}

/// What `blobs/<key>` holds.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    upload: String,
    size: u64,
    /// `(start, length)` of each segment, in order, without gaps.
    segments: Vec<(u64, u64)>,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// `object_store`'s errors as I/O errors: "not found" stays recognisable.
fn io_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        e => other(e),
    }
}

/// Upload ids and blob keys are the server's own (random ids, `<id>/<n>`);
/// anything else here is a bug, not a path to follow.
fn check_name(name: &str) -> io::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        });
    if ok { Ok(()) } else { Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not a blob name: {name:?}"))) }
}

impl ObjectBlobStore {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> ObjectBlobStore {
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        ObjectBlobStore { store, prefix }
    }

    fn path(&self, name: &str) -> Path {
        Path::from(format!("{}{name}", self.prefix))
    }

    fn upload_dir(&self, upload: &str) -> io::Result<Path> {
        check_name(upload)?;
        Ok(self.path(&format!("uploads/{upload}")))
    }

    fn segment(&self, upload: &str, start: u64, len: u64) -> Path {
        segment(&self.prefix, upload, start, len)
    }

    fn manifest_path(&self, key: &str) -> io::Result<Path> {
        check_name(key)?;
        Ok(self.path(&format!("blobs/{key}")))
    }

    async fn exists(&self, path: &Path) -> io::Result<bool> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(io_error(e)),
        }
    }

    async fn committed(&self, upload: &str) -> io::Result<bool> {
        self.exists(&self.upload_dir(upload)?.child(COMMITTED)).await
    }

    /// The upload's segments, `(start, length)`, in order.
    async fn segments(&self, upload: &str) -> io::Result<Vec<(u64, u64)>> {
        let dir = self.upload_dir(upload)?;
        let objects: Vec<_> = self.store.list(Some(&dir)).try_collect().await.map_err(io_error)?;
        let mut segments: Vec<(u64, u64)> = objects
            .iter()
            .filter_map(|o| {
                let (start, len) = o.location.filename()?.split_once('-')?;
                Some((start.parse().ok()?, len.parse().ok()?))
            })
            .collect();
        segments.sort_unstable();
        Ok(segments)
    }

    async fn manifest(&self, key: &str) -> io::Result<Manifest> {
        let bytes =
            self.store.get(&self.manifest_path(key)?).await.map_err(io_error)?.bytes().await.map_err(io_error)?;
        serde_json::from_slice(&bytes).map_err(|e| other(format!("the manifest of blob {key} is damaged: {e}")))
    }

    async fn delete_quietly(&self, path: &Path) -> io::Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }
}

/// The name of the segment of `upload` from `start`, `len` bytes long.
fn segment(prefix: &str, upload: &str, start: u64, len: u64) -> Path {
    Path::from(format!("{prefix}uploads/{upload}/{start:020}-{len:020}"))
}

/// The bytes of `segments` that run from 0 without a gap.
fn contiguous(segments: &[(u64, u64)]) -> u64 {
    let mut end = 0;
    for &(start, len) in segments {
        if start != end {
            break;
        }
        end += len;
    }
    end
}

struct SegmentWriter {
    store: Arc<dyn ObjectStore>,
    /// The store's prefix.
    prefix: String,
    upload: String,
    /// Where the bytes in `buffer` start.
    start: u64,
    buffer: Vec<u8>,
}

impl SegmentWriter {
    async fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let len = self.buffer.len() as u64;
        let path = segment(&self.prefix, &self.upload, self.start, len);
        let bytes = Bytes::from(std::mem::take(&mut self.buffer));
        self.store.put(&path, PutPayload::from(bytes)).await.map_err(io_error)?;
        self.start += len;
        Ok(())
    }
}

#[async_trait]
impl PartWriter for SegmentWriter {
    async fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = SEGMENT - self.buffer.len();
            let (now, rest) = data.split_at(room.min(data.len()));
            self.buffer.extend_from_slice(now);
            data = rest;
            if self.buffer.len() == SEGMENT {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn checkpoint(&mut self) -> io::Result<u64> {
        self.flush().await?;
        Ok(self.start)
    }
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    async fn append(&self, upload: &str, offset: u64) -> io::Result<Box<dyn PartWriter>> {
        if self.committed(upload).await? {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the upload is a blob already"));
        }
        let segments = self.segments(upload).await?;
        let stored = contiguous(&segments);
        if offset > stored {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "offset past the stored data"));
        }
        // Written after the recorded offset (before a crash): dropped.
        for &(start, len) in &segments {
            if start >= offset {
                self.delete_quietly(&self.segment(upload, start, len)).await?;
            } else if start + len > offset {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the offset is not a checkpoint of this upload",
                ));
            }
        }
        Ok(Box::new(SegmentWriter {
            store: self.store.clone(),
            prefix: self.prefix.clone(),
            upload: upload.to_string(),
            start: offset,
            buffer: Vec::new(),
        }))
    }

    async fn part_len(&self, upload: &str) -> io::Result<u64> {
        if self.committed(upload).await? {
            return Ok(0);
        }
        Ok(contiguous(&self.segments(upload).await?))
    }

    async fn commit(&self, upload: &str, key: &str) -> io::Result<()> {
        let manifest_path = self.manifest_path(key)?;
        if self.committed(upload).await? {
            // Committed before a crash cut short what followed: the same blob again is fine.
            return match self.manifest(key).await {
                Ok(m) if m.upload == upload => Ok(()),
                _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "the upload is a blob already")),
            };
        }
        let mut segments = self.segments(upload).await?;
        let size = contiguous(&segments);
        segments.retain(|&(start, _)| start < size);
        // Two writers' segments from one offset (a write that outlived its lease, landing after the
        // next writer's): which bytes are the upload's is unknown, so no blob is made of them.
        if segments.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(other(format!("upload {upload} has overlapping segments: it cannot become a blob")));
        }
        let manifest = Manifest { upload: upload.to_string(), size, segments };
        let json = serde_json::to_vec(&manifest).map_err(other)?;
        self.store.put(&manifest_path, PutPayload::from(json)).await.map_err(io_error)?;
        let marker = self.upload_dir(upload)?.child(COMMITTED);
        self.store.put(&marker, PutPayload::from(key.as_bytes().to_vec())).await.map_err(io_error)?;
        Ok(())
    }

    async fn discard(&self, upload: &str) -> io::Result<()> {
        if self.committed(upload).await? {
            return Ok(());
        }
        for (start, len) in self.segments(upload).await? {
            self.delete_quietly(&self.segment(upload, start, len)).await?;
        }
        Ok(())
    }

    async fn read(&self, key: &str, range: Range<u64>) -> io::Result<ByteStream> {
        let manifest = self.manifest(key).await?;
        if range.end > manifest.size || range.start > range.end {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "range outside the blob"));
        }
        let pieces: Vec<(Path, Range<u64>)> = manifest
            .segments
            .iter()
            .filter_map(|&(start, len)| {
                let from = range.start.max(start);
                let to = range.end.min(start + len);
                (from < to).then(|| (self.segment(&manifest.upload, start, len), from - start..to - start))
            })
            .collect();
        let store = self.store.clone();
        let chunks = stream::iter(pieces)
            .then(move |(path, within)| {
                let store = store.clone();
                async move {
                    let options = GetOptions { range: Some(GetRange::Bounded(within)), ..GetOptions::default() };
                    let got = store.get_opts(&path, options).await.map_err(io_error)?;
                    Ok::<_, io::Error>(got.into_stream().map_err(io_error))
                }
            })
            .try_flatten();
        Ok(Box::pin(chunks))
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        let manifest = match self.manifest(key).await {
            Ok(manifest) => manifest,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let dir = self.upload_dir(&manifest.upload)?;
        let objects: Vec<_> = self.store.list(Some(&dir)).try_collect().await.map_err(io_error)?;
        for object in objects {
            self.delete_quietly(&object.location).await?;
        }
        self.delete_quietly(&self.manifest_path(key)?).await
    }

    async fn list(&self) -> io::Result<Vec<String>> {
        let dir = self.path("blobs");
        let objects: Vec<_> = self.store.list(Some(&dir)).try_collect().await.map_err(io_error)?;
        let skip = format!("{}/", dir.as_ref()).len();
        let mut keys: Vec<String> =
            objects.iter().filter_map(|o| o.location.as_ref().get(skip..).map(str::to_string)).collect();
        keys.sort();
        Ok(keys)
    }

    async fn ready(&self) -> io::Result<()> {
        let probe = self.path(&format!("probes/{}", hex::encode(crate::secrets::random_bytes::<8>())));
        self.store.put(&probe, PutPayload::from_static(b"kluis")).await.map_err(io_error)?;
        let read = self.store.get(&probe).await.map_err(io_error)?.bytes().await.map_err(io_error);
        self.delete_quietly(&probe).await?;
        if read?.as_ref() != b"kluis" {
            return Err(other("the object store's probe read back different bytes"));
        }
        Ok(())
    }
}

/// The store of `blob_store = "s3"`: `[s3]`, and the credentials from the environment.
pub(crate) fn s3(config: &crate::config::S3) -> anyhow::Result<ObjectBlobStore> {
    use object_store::aws::AmazonS3Builder;
    // The HTTP client's TLS needs a process-wide provider: ring, as everywhere in Kluis.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(&config.bucket);
    if let Some(region) = &config.region {
        builder = builder.with_region(region);
    }
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
    }
    if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
        builder = builder.with_access_key_id(id).with_secret_access_key(secret);
    }
    let store = builder.build().map_err(|e| anyhow::anyhow!("cannot use the S3 bucket {:?}: {e}", config.bucket))?;
    Ok(ObjectBlobStore::new(Arc::new(store), &config.prefix))
}

/// The store of `blob_store = "azure"`: `[azure]`, and the credentials from
/// the environment unless `[azure]` names one (then the environment is not
/// read: a key left there would take precedence over a SAS given here).
pub(crate) fn azure(config: &crate::config::Azure) -> anyhow::Result<ObjectBlobStore> {
    use object_store::azure::MicrosoftAzureBuilder;
    // The HTTP client's TLS needs a process-wide provider: ring, as everywhere in Kluis.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = match (&config.access_key, &config.sas_token) {
        (Some(key), _) => MicrosoftAzureBuilder::new().with_access_key(key),
        (None, Some(sas)) => {
            MicrosoftAzureBuilder::new().with_config(object_store::azure::AzureConfigKey::SasKey, sas.as_str())
        }
        (None, None) => MicrosoftAzureBuilder::from_env(),
    };
    builder = builder.with_account(&config.account).with_container_name(&config.container);
    if let Some(endpoint) = &config.endpoint {
        // The container is appended as a path segment: a trailing slash would make an empty one.
        let endpoint = endpoint.trim_end_matches('/');
        builder = builder.with_endpoint(endpoint.to_string()).with_allow_http(endpoint.starts_with("http://"));
    }
    let store = builder.build().map_err(|e| {
        anyhow::anyhow!("cannot use the Azure container {:?} of account {:?}: {e}", config.container, config.account)
    })?;
    Ok(ObjectBlobStore::new(Arc::new(store), &config.prefix))
}

/// The store of `blob_store = "gcs"`: `[gcs]`, with the key file named there,
/// else the credentials from the environment (not both: a key in the
/// environment next to the file would be refused as ambiguous).
pub(crate) fn gcs(config: &crate::config::Gcs) -> anyhow::Result<ObjectBlobStore> {
    use object_store::gcp::GoogleCloudStorageBuilder;
    // The HTTP client's TLS needs a process-wide provider: ring, as everywhere in Kluis.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = match &config.service_account_file {
        Some(file) => GoogleCloudStorageBuilder::new().with_service_account_path(file.to_string_lossy()),
        None => GoogleCloudStorageBuilder::from_env(),
    };
    let store = builder
        .with_bucket_name(&config.bucket)
        .build()
        .map_err(|e| anyhow::anyhow!("cannot use the Google Cloud Storage bucket {:?}: {e}", config.bucket))?;
    Ok(ObjectBlobStore::new(Arc::new(store), &config.prefix))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::{ObjectBlobStore, SEGMENT};
    use crate::blobs::BlobStore;

    #[actix_web::test]
    async fn conformance() {
        let store = ObjectBlobStore::new(Arc::new(InMemory::new()), "kluis");
        crate::blobs::conformance::run(&store).await;
    }

    /// A real S3 API: `s3s-fs` (crates.io; `.ci/run` installs it) on a
    /// loopback port, over a temporary folder; stopped when dropped.
    struct S3sFs {
        child: std::process::Child,
        endpoint: String,
        _root: tempfile::TempDir,
    }

    impl S3sFs {
        fn start() -> S3sFs {
            let root = tempfile::tempdir().unwrap();
            std::fs::create_dir(root.path().join("kluis-test")).unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let child = std::process::Command::new("s3s-fs")
                .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", "kluis", "--secret-key"])
                .arg("kluis-secret")
                .arg(root.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("s3s-fs is missing: cargo install s3s-fs --version 0.14.1 --features binary (.ci/run does)");
            let started = std::time::Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(started.elapsed() < std::time::Duration::from_secs(20), "s3s-fs did not start");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            S3sFs { child, endpoint: format!("http://127.0.0.1:{port}"), _root: root }
        }
    }

    impl Drop for S3sFs {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[actix_web::test]
    async fn conformance_against_a_real_s3_api() {
        let server = S3sFs::start();
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name("kluis-test")
            .with_region("us-east-1")
            .with_endpoint(&server.endpoint)
            .with_allow_http(true)
            .with_access_key_id("kluis")
            .with_secret_access_key("kluis-secret")
            .build()
            .unwrap();
        let store = ObjectBlobStore::new(Arc::new(store), "kluis");
        store.ready().await.unwrap();
        crate::blobs::conformance::run(&store).await;
    }

    /// Azure Blob Storage's emulator, Azurite (npm; `npm ci` installs it, as
    /// `.ci/run` does), on a loopback port, in memory, with the container
    /// `kluis-test`; stopped when dropped.
    struct Azurite {
        child: std::process::Child,
        /// The account's URL (path style: the account is the first segment).
        endpoint: String,
        _cwd: tempfile::TempDir,
    }

    /// Azurite's well-known account and key (published with it).
    const AZURITE_ACCOUNT: &str = "devstoreaccount1";
    const AZURITE_KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    /// An account SAS of that account, signed with that key as Azure documents
    /// (services `b`, resource types `sco`, permissions `rwdlac`, until 2099):
    /// creates the container. A wrong one makes Azurite answer 403.
    const AZURITE_SAS: &str = "sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00%3A00%3A00Z&spr=https%2Chttp\
                               &sig=kV1%2FDJNn7340SUtIltqF6L9gEwifTOYTqBxfQeMSrhM%3D";

    impl Azurite {
        fn start() -> Azurite {
            let program = concat!(env!("CARGO_MANIFEST_DIR"), "/../node_modules/.bin/azurite-blob");
            let cwd = tempfile::tempdir().unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let child = std::process::Command::new(program)
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .args(["--inMemoryPersistence", "--disableTelemetry", "--silent"])
                .current_dir(cwd.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("Azurite is missing: npm ci in the repository's root (package.json; .ci/run does)");
            let started = std::time::Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(started.elapsed() < std::time::Duration::from_secs(30), "Azurite did not start");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let endpoint = format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}");
            ureq::put(format!("{endpoint}/kluis-test?restype=container&{AZURITE_SAS}"))
                .send_empty()
                .expect("Azurite makes the container");
            Azurite { child, endpoint, _cwd: cwd }
        }
    }

    impl Drop for Azurite {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[actix_web::test]
    async fn conformance_against_azurite() {
        let server = Azurite::start();
        let config = crate::config::Azure {
            account: AZURITE_ACCOUNT.into(),
            container: "kluis-test".into(),
            endpoint: Some(format!("{}/", server.endpoint)),
            prefix: "kluis".into(),
            access_key: Some(AZURITE_KEY.into()),
            sas_token: None,
        };
        let store = super::azure(&config).unwrap();
        store.ready().await.unwrap();
        crate::blobs::conformance::run(&store).await;
        let wrong = crate::config::Azure { container: "missing".into(), ..config };
        let e = super::azure(&wrong).unwrap().ready().await.expect_err("a container that does not exist");
        assert!(e.to_string().contains("ContainerNotFound"), "{e}");
    }

    /// No GCS emulator runs here (fake-gcs-server, the one on PyPI, answers
    /// the XML-API upload object_store makes with 400 "invalid uploadType"),
    /// so only what Kluis adds is tested: a service account's key file is
    /// read and its RSA key taken, and a bad file is named in a clear error.
    #[test]
    fn gcs_takes_a_service_account_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("key.pem");
        let made = std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
            .arg(&pem)
            .status()
            .expect("openssl (apt-get install openssl; .ci/run does)");
        assert!(made.success());
        let key = serde_json::json!({
            "type": "service_account",
            "private_key_id": "1",
            "private_key": std::fs::read_to_string(&pem).unwrap(),
            "client_email": "kluis@example.iam.gserviceaccount.com",
        });
        let file = dir.path().join("service-account.json");
        std::fs::write(&file, key.to_string()).unwrap();
        let config = crate::config::Gcs {
            bucket: "kluis".into(),
            prefix: "kluis".into(),
            service_account_file: Some(file.clone()),
        };
        let store = super::gcs(&config).expect("a store");
        assert_eq!(store.prefix, "kluis/");

        let broken = serde_json::json!({ "private_key_id": "1", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "client_email": "x" });
        std::fs::write(&file, broken.to_string()).unwrap();
        let e = super::gcs(&config).err().expect("a key that is no RSA key").to_string();
        assert!(e.starts_with("cannot use the Google Cloud Storage bucket \"kluis\""), "{e}");
        let missing = crate::config::Gcs { service_account_file: Some(dir.path().join("none.json")), ..config };
        let e = super::gcs(&missing).err().expect("no file").to_string();
        assert!(e.contains("none.json"), "the file is named: {e}");
    }

    #[actix_web::test]
    async fn an_upload_is_segments_until_its_commit_makes_a_manifest() {
        let memory = Arc::new(InMemory::new());
        let store = ObjectBlobStore::new(memory.clone(), "");
        let data: Vec<u8> = (0..(SEGMENT as u32 * 2 + 1000)).map(|i| (i % 253) as u8).collect();
        let mut w = store.append("up", 0).await.unwrap();
        w.write(&data[..SEGMENT + 10]).await.unwrap();
        assert_eq!(store.segments("up").await.unwrap(), [(0, SEGMENT as u64)], "a full segment is written at once");
        assert_eq!(w.checkpoint().await.unwrap(), SEGMENT as u64 + 10);
        w.write(&data[SEGMENT + 10..]).await.unwrap();
        assert_eq!(w.checkpoint().await.unwrap(), data.len() as u64);
        drop(w);
        // A resume inside a segment (never a recorded offset) is refused, not silently cut.
        assert!(store.append("up", 5).await.is_err());
        // A late write of another writer from the same offset: the upload cannot become a blob.
        let late = super::segment("", "up", SEGMENT as u64, 7);
        object_store::ObjectStore::put(&*memory, &late, object_store::PutPayload::from_static(b"0123456"))
            .await
            .unwrap();
        assert!(store.commit("up", "pkg/1").await.is_err(), "overlapping segments");
        object_store::ObjectStore::delete(&*memory, &late).await.unwrap();
        store.commit("up", "pkg/1").await.unwrap();
        store.commit("up", "pkg/1").await.unwrap();
        assert!(store.discard("up").await.is_ok() && store.part_len("up").await.unwrap() == 0);
        let read: Vec<u8> = futures_util::TryStreamExt::try_collect::<Vec<_>>(
            store.read("pkg/1", SEGMENT as u64 - 3..SEGMENT as u64 + 20).await.unwrap(),
        )
        .await
        .unwrap()
        .concat();
        assert_eq!(read, &data[SEGMENT - 3..SEGMENT + 20], "a read across segments");
        store.delete("pkg/1").await.unwrap();
        let left: Vec<_> =
            futures_util::TryStreamExt::try_collect::<Vec<_>>(object_store::ObjectStore::list(&*memory, None))
                .await
                .unwrap();
        assert!(left.is_empty(), "nothing left: {left:?}");
    }
}

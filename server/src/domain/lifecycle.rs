//! The data lifecycle (DESIGN §9, issue 12): an online backup and its
//! restore, the export of everything an organisation owns, and its deletion
//! at the end of a contract with a signed certificate (`certificate.rs`).
//!
//! Everything here streams: blobs (many GB each) are copied in bounded
//! pieces and hashed while they are copied; lists are read in pages. What is
//! held in memory grows only with the number of files (their names), never
//! with their size.

use std::io;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

use super::certificate::{self, DeletedBlobs, DeletedOrganisation, DeletionRecord};
use super::{Actor, Domain, DomainError, DomainResult, Event, now};
use crate::blobs::{ByteStream, blob_key};
use crate::store::{self, NewEvent, StoredBlob};

/// Rows or blobs read per page.
const PAGE: i64 = 500;
/// Bytes per read when copying a file.
const CHUNK: usize = 256 * 1024;
/// The checksum file of a backup and of an export (`sha256sum -c` reads it).
pub(crate) const MANIFEST: &str = "MANIFEST.sha256";
/// What a backup says about itself.
const BACKUP_INFO: &str = "backup.json";
/// The server key's file in a data directory (and a backup).
pub(crate) const SERVER_KEY: &str = "secret.key";

/// RFC 3339 in UTC, as every file of an export writes times.
fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// `name` of a sibling of `path`: `<parent>/<file name><suffix>`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!("{name}{suffix}"))
}

/// Whether `dir` exists and holds anything.
fn has_contents(dir: &Path) -> io::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// A folder to write into before it is renamed into place: refused if a
/// folder of that name is there already (a run that failed, or someone's).
fn work_dir(target: &Path, suffix: &str) -> Result<PathBuf> {
    let work = sibling(target, suffix);
    if work.exists() {
        bail!("{} exists (left by an earlier run that did not finish?): remove it first", work.display());
    }
    crate::files::create_private_dir(&work).with_context(|| format!("cannot create {}", work.display()))?;
    Ok(work)
}

/// Removes a work folder when dropped unless it was renamed into place.
struct Cleanup(Option<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Writes `stream` to `out`, hashing it; its length and SHA-256 (hex).
async fn write_hashed(mut stream: ByteStream, out: &mut (impl AsyncWriteExt + Unpin)) -> io::Result<(u64, String)> {
    let mut hash = Sha256::new();
    let mut len = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hash.update(&chunk);
        out.write_all(&chunk).await?;
        len += chunk.len() as u64;
    }
    out.flush().await?;
    Ok((len, hex::encode(hash.finalize())))
}

/// Copies file `from` to a new private file `to`, hashing it, synced.
async fn copy_file(from: &Path, to: &Path) -> io::Result<(u64, String)> {
    let mut input = fs::File::open(from).await?;
    if let Some(parent) = to.parent() {
        crate::files::create_private_dir(parent)?;
    }
    let file = crate::files::private_options().write(true).create_new(true).open(to).await?;
    let mut out = BufWriter::with_capacity(CHUNK, file);
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0u64;
    loop {
        let n = input.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        out.write_all(&buf[..n]).await?;
        len += n as u64;
    }
    out.flush().await?;
    out.into_inner().sync_all().await?;
    Ok((len, hex::encode(hash.finalize())))
}

/// SHA-256 (hex) and length of a file.
async fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut input = fs::File::open(path).await?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0u64;
    loop {
        let n = input.read(&mut buf).await?;
        if n == 0 {
            return Ok((len, hex::encode(hash.finalize())));
        }
        hash.update(&buf[..n]);
        len += n as u64;
    }
}

/// A blob's contents, or `None` when it is gone (its package ended meanwhile).
async fn read_blob(domain: &Domain, blob: &StoredBlob) -> io::Result<Option<ByteStream>> {
    let size = u64::try_from(blob.size).unwrap_or(0);
    match domain.blobs.read(&blob_key(&blob.package_id, blob.idx), 0..size).await {
        Ok(stream) => Ok(Some(stream)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// One line of a sha256sum file.
fn manifest_line(sha256: &str, path: &str) -> String {
    format!("{sha256}  {path}\n")
}

/// A relative path of a manifest: plain names only, nothing that leaves the folder.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    let ok = !path.is_empty() && !path.contains('\\') && p.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then(|| p.to_path_buf())
}

/// A sha256sum file's lines as (hash, path).
fn parse_manifest(text: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parsed = line.split_once("  ").and_then(|(hash, path)| {
            let ok = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
            Some((hash.to_ascii_lowercase(), safe_relative(path)?)).filter(|_| ok)
        });
        let Some(entry) = parsed else { bail!("{MANIFEST} line {} is not `<sha256>  <path>`: {line:?}", n + 1) };
        entries.push(entry);
    }
    Ok(entries)
}

// ---------------------------------------------------------------- backup

/// What `backup.json` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BackupInfo {
    /// `kluis-backup`.
    format: String,
    version: u32,
    created_at: String,
    software: String,
    /// Blobs copied, and their bytes.
    blobs: u64,
    bytes: u64,
    /// Packages the snapshot had live whose files were deleted before they
    /// were copied (they ended while the backup ran): ended in the backup too.
    ended_during_backup: Vec<String>,
}

const BACKUP_FORMAT: &str = "kluis-backup";
const BACKUP_VERSION: u32 = 1;

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    /// Files in the manifest (database, key, blobs, backup.json).
    pub files: u64,
    /// Blobs copied and their bytes.
    pub blobs: u64,
    pub bytes: u64,
    /// Packages that ended while the backup ran (see [`BackupInfo`]).
    pub ended: Vec<String>,
}

/// Makes a backup of the running server's data in `dest` (which must not
/// exist, or be empty): first a consistent snapshot of the metadata store,
/// then exactly the blobs that snapshot has complete, then the server key,
/// with a SHA-256 manifest. Blobs are immutable once complete, so a copy made
/// after the snapshot is the blob the snapshot names; one deleted before it
/// was copied belongs to a package that ended meanwhile, and is ended in the
/// backup too. Uploads in progress are not in a backup (clients start them
/// again). Written in `<dest>.partial`, renamed into place at the end.
pub(crate) async fn backup(domain: &Domain, key_file: &Path, dest: &Path) -> Result<BackupReport> {
    if has_contents(dest)? {
        bail!("{} is not empty: a backup goes into a new or empty folder", dest.display());
    }
    let work = work_dir(dest, ".partial")?;
    let mut cleanup = Cleanup(Some(work.clone()));
    domain.meta.snapshot(&work).await.map_err(|e| anyhow!("{e}")).context("cannot copy the database")?;
    let mut manifest = Vec::new();
    let (mut blobs, mut bytes) = (0u64, 0u64);
    let mut ended = Vec::new();
    {
        // The snapshot says which blobs the backup holds.
        let snapshot = store::open_local(&work)?;
        let mut after = None;
        loop {
            let page = snapshot.complete_blobs(None, true, after, PAGE).await.map_err(|e| anyhow!("{e}"))?;
            let Some(last) = page.last() else { break };
            after = Some((last.package_id.clone(), last.idx));
            for blob in &page {
                let Some(stream) = read_blob(domain, blob).await? else {
                    if ended.last() != Some(&blob.package_id) {
                        ended.push(blob.package_id.clone());
                    }
                    continue;
                };
                let relative = format!("blobs/{}/{}", blob.package_id, blob.idx);
                let path = work.join(&relative);
                crate::files::create_private_dir(path.parent().expect("a parent"))?;
                let file = crate::files::private_options().write(true).create_new(true).open(&path).await?;
                let mut out = BufWriter::with_capacity(CHUNK, file);
                let (len, sha256) =
                    write_hashed(stream, &mut out).await.with_context(|| format!("cannot copy blob {relative}"))?;
                out.into_inner().sync_all().await?;
                if len != u64::try_from(blob.size).unwrap_or(0) {
                    bail!("blob {relative} has {len} bytes, the database says {}", blob.size);
                }
                manifest.push(manifest_line(&sha256, &relative));
                blobs += 1;
                bytes += len;
            }
        }
    }
    store::seal_snapshot(&work, &ended)?;
    let (_, db_sum) = hash_file(&work.join(store::DATABASE)).await?;
    manifest.push(manifest_line(&db_sum, store::DATABASE));
    let (_, key_sum) = copy_file(key_file, &work.join(SERVER_KEY))
        .await
        .with_context(|| format!("cannot copy {}", key_file.display()))?;
    manifest.push(manifest_line(&key_sum, SERVER_KEY));
    let info = BackupInfo {
        format: BACKUP_FORMAT.into(),
        version: BACKUP_VERSION,
        created_at: rfc3339(now()),
        software: env!("CARGO_PKG_VERSION").into(),
        blobs,
        bytes,
        ended_during_backup: ended.clone(),
    };
    let info_json = serde_json::to_vec_pretty(&info)?;
    crate::files::write_private(&work.join(BACKUP_INFO), &info_json).await?;
    manifest.push(manifest_line(&hex::encode(Sha256::digest(&info_json)), BACKUP_INFO));
    crate::files::write_private(&work.join(MANIFEST), manifest.concat().as_bytes()).await?;
    if dest.exists() {
        fs::remove_dir(dest).await.with_context(|| format!("cannot replace the empty folder {}", dest.display()))?;
    }
    fs::rename(&work, dest).await.with_context(|| format!("cannot rename {} to {}", work.display(), dest.display()))?;
    cleanup.0 = None;
    Ok(BackupReport { files: manifest.len() as u64, blobs, bytes, ended })
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// Files restored (all checked against the manifest).
    pub files: u64,
    pub bytes: u64,
    /// Where the data directory as it was before went (`--force`).
    pub previous: Option<PathBuf>,
}

/// Restores the backup in `src` as the data directory `data` (the server
/// stopped). Every file of the manifest is copied into a new folder beside
/// `data` and checked against its SHA-256 as it is copied; only when all
/// match is the folder renamed into place, so a damaged backup changes
/// nothing. A data directory with contents is refused unless `force`, and
/// then kept beside it as `<data>.before-restore-<time>`, not deleted.
pub(crate) async fn restore(src: &Path, data: &Path, force: bool) -> Result<RestoreReport> {
    let manifest_path = src.join(MANIFEST);
    let text = fs::read_to_string(&manifest_path)
        .await
        .with_context(|| format!("{} is not a Kluis backup: cannot read {}", src.display(), manifest_path.display()))?;
    let entries = parse_manifest(&text)?;
    for required in [store::DATABASE, SERVER_KEY, BACKUP_INFO] {
        if !entries.iter().any(|(_, p)| p == Path::new(required)) {
            bail!("{} is not a Kluis backup: its {MANIFEST} lists no {required}", src.display());
        }
    }
    let info: BackupInfo = serde_json::from_slice(
        &fs::read(src.join(BACKUP_INFO)).await.with_context(|| format!("cannot read {BACKUP_INFO}"))?,
    )
    .with_context(|| format!("{BACKUP_INFO} cannot be read"))?;
    if info.format != BACKUP_FORMAT || info.version != BACKUP_VERSION {
        bail!(
            "{BACKUP_INFO} names format {} version {}, which this server does not restore",
            info.format,
            info.version
        );
    }
    let nonempty = has_contents(data)?;
    if nonempty && !force {
        bail!(
            "the data directory {} is not empty; stop the server and add --force to replace it \
             (what is there now is kept beside it, renamed)",
            data.display()
        );
    }
    let work = work_dir(data, ".restoring")?;
    let mut cleanup = Cleanup(Some(work.clone()));
    let mut bytes = 0;
    for (expected, relative) in &entries {
        let (len, sha256) = copy_file(&src.join(relative), &work.join(relative))
            .await
            .with_context(|| format!("cannot copy {} from the backup", relative.display()))?;
        if !crate::secrets::digests_equal(&sha256, expected) {
            bail!(
                "{} in the backup is damaged: its SHA-256 is {sha256}, the manifest says {expected}; nothing was restored",
                relative.display()
            );
        }
        bytes += len;
    }
    let previous = if nonempty {
        let aside = sibling(data, &format!(".before-restore-{}", now()));
        fs::rename(data, &aside).await.with_context(|| format!("cannot move {} aside", data.display()))?;
        Some(aside)
    } else {
        if data.exists() {
            fs::remove_dir(data).await?;
        }
        None
    };
    fs::rename(&work, data).await.with_context(|| format!("cannot rename {} to {}", work.display(), data.display()))?;
    cleanup.0 = None;
    Ok(RestoreReport { files: entries.len() as u64, bytes, previous })
}

// ---------------------------------------------------------------- export

/// Where an export goes, one file after the other: a folder (the command
/// line) or a tar stream (the admin API). Each file is announced with its
/// size, then its bytes come in pieces.
#[async_trait::async_trait]
pub(crate) trait ExportSink: Send {
    async fn begin(&mut self, name: &str, size: u64) -> io::Result<()>;
    async fn write(&mut self, data: &[u8]) -> io::Result<()>;
    async fn end(&mut self) -> io::Result<()>;
}

/// An export into a folder: each file private, synced.
pub(crate) struct DirSink {
    root: PathBuf,
    current: Option<BufWriter<fs::File>>,
}

impl DirSink {
    pub(crate) fn new(root: &Path) -> DirSink {
        DirSink { root: root.to_path_buf(), current: None }
    }
}

#[async_trait::async_trait]
impl ExportSink for DirSink {
    async fn begin(&mut self, name: &str, _size: u64) -> io::Result<()> {
        let relative = safe_relative(name).ok_or_else(|| io::Error::other(format!("bad export path {name}")))?;
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            crate::files::create_private_dir(parent)?;
        }
        let file = crate::files::private_options().write(true).create_new(true).open(&path).await?;
        self.current = Some(BufWriter::with_capacity(CHUNK, file));
        Ok(())
    }
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.current.as_mut().ok_or_else(|| io::Error::other("no file begun"))?.write_all(data).await
    }
    async fn end(&mut self) -> io::Result<()> {
        let mut out = self.current.take().ok_or_else(|| io::Error::other("no file begun"))?;
        out.flush().await?;
        out.into_inner().sync_all().await
    }
}

/// What an export holds.
#[derive(Debug, Clone, Default)]
pub struct ExportSummary {
    pub users: u64,
    pub packages: u64,
    pub audit_rows: u64,
    /// Encrypted files (age) and their bytes.
    pub blobs: u64,
    pub bytes: u64,
    /// Files of live packages deleted while the export ran (their packages ended).
    pub vanished: u64,
    /// Files in the manifest.
    pub files: u64,
}

/// Lines written to a private spool file, to be handed to the sink with
/// its size once complete (a tar header needs the size first).
struct Spool {
    path: PathBuf,
    out: BufWriter<fs::File>,
}

impl Spool {
    async fn create(dir: &Path, name: &str) -> io::Result<Spool> {
        let path = dir.join(name);
        let file = crate::files::private_options().write(true).create_new(true).open(&path).await?;
        Ok(Spool { path, out: BufWriter::with_capacity(CHUNK, file) })
    }
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data).await
    }
    async fn line(&mut self, value: &impl Serialize) -> io::Result<()> {
        let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line).await
    }
    async fn finish(mut self) -> io::Result<PathBuf> {
        self.out.flush().await?;
        Ok(self.path)
    }
}

/// A CSV record as bytes (CRLF, quoted where needed), cells that Excel
/// would run as formulas made text (`admin::inert`).
fn csv_record(fields: &[String]) -> io::Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    writer.write_record(fields.iter().map(|f| super::admin::inert(f))).map_err(io::Error::other)?;
    writer.into_inner().map_err(|e| io::Error::other(e.to_string()))
}

/// Hands `path` (a spool file) to the sink as `name`, hashing it: its manifest line.
async fn send_file(sink: &mut dyn ExportSink, name: &str, path: &Path) -> io::Result<String> {
    let mut input = fs::File::open(path).await?;
    let size = input.metadata().await?.len();
    sink.begin(name, size).await?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = input.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        sink.write(&buf[..n]).await?;
    }
    sink.end().await?;
    Ok(manifest_line(&hex::encode(hash.finalize()), name))
}

#[derive(Serialize)]
struct UserLine<'a> {
    id: i64,
    email: &'a str,
    name: Option<&'a str>,
    role: &'a str,
    state: &'a str,
    seat: bool,
    created_at: String,
    removed_at: Option<String>,
    last_active_at: Option<String>,
}

#[derive(Serialize)]
struct FileLine {
    index: i64,
    size: i64,
    /// The age file in the export, if the package still has it.
    file: Option<String>,
}

#[derive(Serialize)]
struct PackageLine<'a> {
    id: &'a str,
    sender: &'a str,
    recipients: &'a [String],
    state: &'a str,
    created_at: String,
    expires_at: String,
    max_downloads: Option<i64>,
    downloads: i64,
    verify_email: bool,
    has_password: bool,
    notify_on_download: bool,
    files: Vec<FileLine>,
}

#[derive(Serialize)]
struct AuditLine<'a> {
    id: i64,
    at: String,
    event: &'a str,
    actor: &'a str,
    package_id: Option<&'a str>,
    detail: Option<&'a str>,
    prev_hash: Option<String>,
    hash: Option<String>,
}

fn state_name(state: crate::store::PackageState) -> &'static str {
    use crate::store::PackageState::*;
    match state {
        Uploading => "uploading",
        Ready => "ready",
        Revoked => "revoked",
        Expired => "expired",
    }
}

/// Writes everything organisation `org_id` owns to `sink`, in open formats
/// (README.txt says which): its settings and licence, users (JSON Lines and
/// CSV), packages' metadata (JSON Lines), audit log with its hash chain
/// (JSON Lines and CSV), each encrypted file as the age file it is, and
/// `MANIFEST.sha256` last. Generated files are spooled in `spool` (a private
/// folder the caller removes) to know their size first. Allowed whatever the
/// licence says (DESIGN §8: admins export). The export is an audit event of
/// the organisation, recorded first, so the export holds its own record.
pub(crate) async fn export(
    domain: &Domain,
    org_id: i64,
    actor: Actor<'_>,
    how: &str,
    spool: &Path,
    sink: &mut dyn ExportSink,
) -> DomainResult<ExportSummary> {
    let org = domain.meta.organisation(org_id).await?.ok_or(DomainError::NotFound("organisation"))?;
    let started = now();
    domain.meta.record(domain.event(org_id, Event::Admin("exported"), actor, None, Some(how.to_string()))).await?;
    let mut summary = ExportSummary::default();
    let mut manifest = Spool::create(spool, MANIFEST).await?;

    // Users.
    let (mut jsonl, mut csv) = (Spool::create(spool, "users.jsonl").await?, Spool::create(spool, "users.csv").await?);
    let header = ["id", "email", "name", "role", "state", "seat", "created_at", "removed_at", "last_active_at"];
    csv.write(&csv_record(&header.map(String::from))?).await?;
    let mut after = 0;
    loop {
        let page = domain.meta.export_users(org_id, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for u in &page {
            let state = if u.removed_at.is_some() {
                "removed"
            } else if u.disabled {
                "disabled"
            } else {
                "active"
            };
            let line = UserLine {
                id: u.id,
                email: &u.email,
                name: u.name.as_deref(),
                role: u.role.as_str(),
                state,
                seat: u.seat,
                created_at: rfc3339(u.created_at),
                removed_at: u.removed_at.map(rfc3339),
                last_active_at: u.last_active_at.map(rfc3339),
            };
            jsonl.line(&line).await?;
            let fields = [
                u.id.to_string(),
                u.email.clone(),
                u.name.clone().unwrap_or_default(),
                line.role.to_string(),
                state.to_string(),
                u.seat.to_string(),
                line.created_at.clone(),
                line.removed_at.clone().unwrap_or_default(),
                line.last_active_at.clone().unwrap_or_default(),
            ];
            csv.write(&csv_record(&fields)?).await?;
            summary.users += 1;
        }
    }
    let mut lines = vec![
        send_file(sink, "users.jsonl", &jsonl.finish().await?).await?,
        send_file(sink, "users.csv", &csv.finish().await?).await?,
    ];

    // Packages' metadata, newest first.
    let mut jsonl = Spool::create(spool, "packages.jsonl").await?;
    let mut before = None;
    loop {
        let page = domain.meta.org_packages(org_id, before.clone(), PAGE).await?;
        let Some(last) = page.last() else { break };
        before = Some(crate::store::PackageCursor {
            created_at: last.record.package.created_at,
            id: last.record.package.id.clone(),
        });
        for p in &page {
            let pkg = &p.record.package;
            let files = p
                .record
                .blobs
                .iter()
                .map(|b| FileLine {
                    index: b.idx,
                    size: b.size,
                    file: b.complete.then(|| format!("blobs/{}/{}.age", pkg.id, b.idx)),
                })
                .collect();
            jsonl
                .line(&PackageLine {
                    id: &pkg.id,
                    sender: &p.sender,
                    recipients: &p.record.recipients,
                    state: state_name(pkg.state),
                    created_at: rfc3339(pkg.created_at),
                    expires_at: rfc3339(pkg.expires_at),
                    max_downloads: pkg.max_downloads,
                    downloads: pkg.downloads,
                    verify_email: pkg.verify_email,
                    has_password: pkg.has_password,
                    notify_on_download: pkg.notify_on_download,
                    files,
                })
                .await?;
            summary.packages += 1;
        }
    }
    lines.push(send_file(sink, "packages.jsonl", &jsonl.finish().await?).await?);

    // The audit log with its chain, oldest first.
    let (mut jsonl, mut csv) = (Spool::create(spool, "audit.jsonl").await?, Spool::create(spool, "audit.csv").await?);
    let header = ["id", "at", "event", "actor", "package_id", "detail", "prev_hash", "hash"];
    csv.write(&csv_record(&header.map(String::from))?).await?;
    let mut after = 0;
    loop {
        let page = domain.meta.audit_chain(Some(org_id), after, None, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for r in &page {
            let line = AuditLine {
                id: r.id,
                at: rfc3339(r.at),
                event: &r.event,
                actor: &r.actor,
                package_id: r.package_id.as_deref(),
                detail: r.detail.as_deref(),
                prev_hash: r.prev_hash.as_ref().map(hex::encode),
                hash: r.hash.as_ref().map(hex::encode),
            };
            jsonl.line(&line).await?;
            let fields = [
                r.id.to_string(),
                line.at.clone(),
                r.event.clone(),
                r.actor.clone(),
                r.package_id.clone().unwrap_or_default(),
                r.detail.clone().unwrap_or_default(),
                line.prev_hash.clone().unwrap_or_default(),
                line.hash.clone().unwrap_or_default(),
            ];
            csv.write(&csv_record(&fields)?).await?;
            summary.audit_rows += 1;
        }
    }
    lines.push(send_file(sink, "audit.jsonl", &jsonl.finish().await?).await?);
    lines.push(send_file(sink, "audit.csv", &csv.finish().await?).await?);

    // The organisation: settings, single sign-on (never its secret), licence.
    let sso = domain.meta.sso_settings(org_id).await?;
    let licence = domain.meta.licence(org_id).await?;
    if let Some(l) = &licence {
        let mut file = Spool::create(spool, "licence.txt").await?;
        file.write(l.text.as_bytes()).await?;
        lines.push(send_file(sink, "licence.txt", &file.finish().await?).await?);
    }
    // Every version of its policy, oldest first: the document as saved, who saved it and when.
    let mut versions = domain.meta.policy_versions(org_id, i64::MAX).await?;
    versions.reverse();
    if !versions.is_empty() {
        let mut file = Spool::create(spool, "policies.jsonl").await?;
        for v in &versions {
            let document: serde_json::Value = serde_json::from_str(&v.document).unwrap_or(serde_json::Value::Null);
            let line = serde_json::json!({
                "version": v.version,
                "saved_at": rfc3339(v.saved_at),
                "saved_by": v.saved_by,
                "policy": document,
            });
            file.write(format!("{line}\n").as_bytes()).await?;
        }
        lines.push(send_file(sink, "policies.jsonl", &file.finish().await?).await?);
    }
    let s = org.settings;
    let organisation = serde_json::json!({
        "id": org.id,
        "name": org.name,
        "domains": org.domains,
        "created_at": rfc3339(org.created_at),
        "settings": {
            "default_expiry_days": s.default_expiry_days,
            "max_expiry_days": s.max_expiry_days,
            "audit_retention_days": s.audit_retention_days,
            "replies": s.replies.unwrap_or(true),
        },
        "single_sign_on": sso.map(|s| serde_json::json!({
            "issuer": s.issuer,
            "client_id": s.client_id,
            "create_users": s.create_users,
            "trust_email": s.trust_email,
            "updated_at": rfc3339(s.updated_at),
        })),
        "licence": licence.map(|l| serde_json::json!({
            "file": "licence.txt",
            "installed_at": rfc3339(l.installed_at),
            "installed_by": l.installed_by,
        })),
        "exported_at": rfc3339(started),
        "server": domain.public_url,
        "software": env!("CARGO_PKG_VERSION"),
    });
    let mut file = Spool::create(spool, "organisation.json").await?;
    file.write(&serde_json::to_vec_pretty(&organisation).map_err(io::Error::other)?).await?;
    lines.push(send_file(sink, "organisation.json", &file.finish().await?).await?);
    for line in &lines {
        manifest.write(line.as_bytes()).await?;
    }
    summary.files = lines.len() as u64;

    // The encrypted files, as they are stored: age files.
    let mut after = None;
    loop {
        let page = domain.meta.complete_blobs(Some(org_id), false, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.package_id.clone(), last.idx));
        for blob in &page {
            let Some(mut stream) = read_blob(domain, blob).await? else {
                summary.vanished += 1;
                continue;
            };
            let name = format!("blobs/{}/{}.age", blob.package_id, blob.idx);
            let size = u64::try_from(blob.size).unwrap_or(0);
            sink.begin(&name, size).await?;
            let mut hash = Sha256::new();
            let mut len = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                len += chunk.len() as u64;
                if len > size {
                    return Err(DomainError::Blob(io::Error::other(format!("{name} is longer than recorded"))));
                }
                hash.update(&chunk);
                sink.write(&chunk).await?;
            }
            if len != size {
                return Err(DomainError::Blob(io::Error::other(format!("{name} is shorter than recorded"))));
            }
            sink.end().await?;
            manifest.write(manifest_line(&hex::encode(hash.finalize()), &name).as_bytes()).await?;
            summary.blobs += 1;
            summary.bytes += len;
            summary.files += 1;
        }
    }

    let mut readme = Spool::create(spool, "README.txt").await?;
    readme.write(readme_text(&org.name, org.id, &rfc3339(started), &summary).as_bytes()).await?;
    let line = send_file(sink, "README.txt", &readme.finish().await?).await?;
    manifest.write(line.as_bytes()).await?;
    summary.files += 1;
    send_file(sink, MANIFEST, &manifest.finish().await?).await?;
    Ok(summary)
}

fn readme_text(name: &str, id: i64, at: &str, s: &ExportSummary) -> String {
    let vanished = if s.vanished > 0 {
        format!(
            "\n{} encrypted file(s) were deleted while the export ran (their packages ended); they are not here.\n",
            s.vanished
        )
    } else {
        String::new()
    };
    format!(
        "Kluis export of the organisation {name} (id {id}), made {at}.\n\
         {users} users, {packages} packages, {audit} audit log rows, {blobs} encrypted files ({bytes} bytes).\n{vanished}\n\
         Files\n\
         -----\n\
         organisation.json  The organisation: name, mail domains, settings, single sign-on (never its\n\
         \x20                  secret), the licence's file, when this export was made and by which server.\n\
         licence.txt        The licence as installed (the vendor's signed text), if there is one.\n\
         policies.jsonl     Every saved version of the organisation's policy, oldest first (JSON): version,\n\
         \x20                  saved_at, saved_by and the document (send rules and content check). Absent\n\
         \x20                  when none was saved (the server's default applied).\n\
         users.jsonl        One user per line (JSON): id, email, name, role (user, admin), state (active,\n\
         \x20                  disabled, removed), seat, created_at, removed_at, last_active_at.\n\
         users.csv          The same as CSV (UTF-8, comma, header row).\n\
         packages.jsonl     One package per line, newest first: id, sender, recipients, state (uploading,\n\
         \x20                  ready, revoked, expired), times, download limits and counts, verification and\n\
         \x20                  password flags, and its files (index, size in bytes, and the age file here).\n\
         \x20                  Metadata only: subjects, messages and file names are inside the encrypted files.\n\
         \x20                  Packages deleted (and still restorable by an admin) are not in an export.\n\
         audit.jsonl        The audit log, oldest first: id, at, event, actor, package_id, detail, and the\n\
         \x20                  hash chain (prev_hash, hash: SHA-256, hex; how it is computed is described in\n\
         \x20                  the Kluis source, server/src/domain/audit.rs). This export is in it too, as\n\
         \x20                  an 'exported' row near the end.\n\
         audit.csv          The same as CSV. In both CSV files a cell that a spreadsheet would run as a\n\
         \x20                  formula (starting with = + - @) starts with an apostrophe; the JSON Lines files\n\
         \x20                  hold every value exactly.\n\
         blobs/<package>/<index>.age\n\
         \x20                  Each encrypted file of each package that still has them, exactly as stored: an\n\
         \x20                  age v1 file (https://c2sp.org/age). They open with the package's key (from its\n\
         \x20                  link), with the reference `age` tool or Kluis; the server never had that key.\n\
         MANIFEST.sha256    SHA-256 of every other file; check with `sha256sum -c MANIFEST.sha256`.\n\
         \n\
         Times are RFC 3339 in UTC.\n",
        users = s.users,
        packages = s.packages,
        audit = s.audit_rows,
        blobs = s.blobs,
        bytes = s.bytes,
    )
}

/// `export` into a new folder `dest` (via `<dest>.partial`, renamed at the end).
pub(crate) async fn export_to_dir(domain: &Domain, org_id: i64, dest: &Path) -> Result<ExportSummary> {
    if has_contents(dest)? {
        bail!("{} is not empty: an export goes into a new or empty folder", dest.display());
    }
    let work = work_dir(dest, ".partial")?;
    let mut cleanup = Cleanup(Some(work.clone()));
    let spool = work_dir(dest, ".spool")?;
    let _spool_cleanup = Cleanup(Some(spool.clone()));
    let how = format!("by the operator on the server's command line, to {}", dest.display());
    let summary = export(domain, org_id, Actor::System, &how, &spool, &mut DirSink::new(&work))
        .await
        .map_err(|e| anyhow!("{e}"))?;
    if dest.exists() {
        fs::remove_dir(dest).await?;
    }
    fs::rename(&work, dest).await.with_context(|| format!("cannot rename {} to {}", work.display(), dest.display()))?;
    cleanup.0 = None;
    Ok(summary)
}

// ---------------------------------------------------------------- deletion

/// What deleting an organisation gave: the certificate's text and record.
pub struct DeletionOutcome {
    /// The signed certificate (armored text).
    pub certificate: String,
    pub summary: String,
}

/// Deletes everything organisation `org_id` owns and returns the signed
/// certificate. First every blob is read and hashed (the certificate's blob
/// digest), then the metadata goes in one transaction — its audit chain
/// whole, other organisations' chains untouched (each has its own), and a
/// tombstone row in the chain of rows without an organisation names what
/// went — then the blobs and unfinished uploads. A crash after the
/// transaction leaves only blobs no package refers to, which the orphan
/// sweep removes.
pub(crate) async fn delete_organisation(domain: &Domain, org_id: i64) -> Result<DeletionOutcome> {
    let org = domain.meta.organisation(org_id).await.map_err(|e| anyhow!("{e}"))?;
    let org = org.ok_or_else(|| anyhow!("there is no organisation {org_id}"))?;
    let mut digest = Sha256::new();
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut keys = Vec::new();
    let mut after = None;
    loop {
        let page = domain.meta.complete_blobs(Some(org_id), true, after, PAGE).await.map_err(|e| anyhow!("{e}"))?;
        let Some(last) = page.last() else { break };
        after = Some((last.package_id.clone(), last.idx));
        for blob in &page {
            let key = blob_key(&blob.package_id, blob.idx);
            let Some(stream) = read_blob(domain, blob).await? else { continue };
            let (len, sha256) = write_hashed(stream, &mut tokio::io::sink()).await?;
            digest.update(format!("{key} {len} {sha256}\n"));
            count += 1;
            bytes += len;
            keys.push(key);
        }
    }
    let blobs_sha256 = hex::encode(digest.finalize());
    let deleted_at = now();
    let (name, digest_for_row) = (org.name.clone(), blobs_sha256.clone());
    let tombstone = Box::new(move |d: &crate::store::Deleted| {
        let rows: Vec<String> = d.rows.iter().map(|(t, n)| format!("{t}={n}")).collect();
        NewEvent {
            org_id: None,
            event: "organisation_deleted",
            actor: "operator".into(),
            package_id: None,
            detail: Some(format!(
                "organisation {org_id} ({name}) deleted with all its data: rows {}; {count} encrypted files, \
                 {bytes} bytes, sha256 {digest_for_row}; its audit chain ended at sha256 {}",
                rows.join(" "),
                d.audit_head.as_ref().map(hex::encode).unwrap_or_else(|| "-".into())
            )),
        }
    });
    let deleted = domain
        .meta
        .delete_organisation(org_id, tombstone)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .ok_or_else(|| anyhow!("organisation {org_id} was deleted by someone else meanwhile"))?;
    let mut not_deleted = 0;
    for key in &keys {
        if let Err(e) = domain.blobs.delete(key).await {
            tracing::warn!(blob = %key, error = %e, "cannot delete a blob; the orphan sweep will");
            not_deleted += 1;
        }
    }
    for upload in &deleted.uploads {
        if let Err(e) = domain.blobs.discard(upload).await {
            tracing::warn!(upload = %upload, error = %e, "cannot delete an unfinished upload");
        }
    }
    let record = DeletionRecord {
        kind: "kluis-deletion-certificate".into(),
        organisation: DeletedOrganisation { id: org.id, name: org.name, domains: org.domains },
        deleted_at: rfc3339(deleted_at),
        server: domain.public_url.clone(),
        software: env!("CARGO_PKG_VERSION").into(),
        rows: deleted.rows.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        audit_chain_head: deleted.audit_head.as_ref().map(hex::encode),
        blobs: DeletedBlobs { count, bytes, sha256: blobs_sha256, not_deleted },
    };
    let summary = format!(
        "deleted organisation {} ({}): {} users, {} packages, {} audit rows, {count} encrypted files ({bytes} bytes){}",
        record.organisation.id,
        record.organisation.name,
        record.rows.get("users").unwrap_or(&0),
        record.rows.get("packages").unwrap_or(&0),
        record.rows.get("audit").unwrap_or(&0),
        if not_deleted > 0 { format!("; {not_deleted} files could not be deleted yet") } else { String::new() },
    );
    Ok(DeletionOutcome { certificate: certificate::sign(&domain.key, &record), summary })
}

/// A certificate's record in words, and whether its key is `ours` (this
/// server's, when the data directory is known).
pub(crate) fn verify_certificate(text: &str, ours: Option<&crate::secrets::ServerKey>) -> Result<String> {
    let (record, public) = certificate::verify(text).map_err(|e| anyhow!("{e}"))?;
    let whose = match ours {
        Some(key) if certificate::public_key(key) == public => "this server's key (derived from its secret.key)",
        Some(_) => "NOT this server's key: another server signed it",
        None => "no data directory to compare with: whose key it is cannot be said here",
    };
    Ok(format!("signature valid\nsigned by: {public} ({whose})\n{}", serde_json::to_string_pretty(&record)?))
}

// ---------------------------------------------------------------- soft delete

/// The last moment a package deleted at `deleted_at` can be restored.
pub(crate) fn purge_at(domain: &Domain, deleted_at: i64) -> i64 {
    deleted_at + i64::from(domain.limits.restore_days) * 86_400
}

/// Deletes a package (its sender or an admin). One never finalized (a send
/// cancelled on the page: no link went out) goes at once; any other is
/// soft-deleted ([`soft_delete`]), restorable for a while.
pub(crate) async fn delete(domain: &Domain, package: &store::Package, actor: Actor<'_>) -> DomainResult<()> {
    if package.state != store::PackageState::Uploading {
        return soft_delete(domain, package.org_id, &package.id, actor).await;
    }
    let name = actor.name();
    super::packages::end(domain, &package.id, store::PackageState::Revoked, actor).await?;
    let detail = Some("never sent: deleted at once".to_string());
    let event = store::NewEvent {
        org_id: Some(package.org_id),
        event: Event::Deleted.as_str(),
        actor: name,
        package_id: Some(package.id.clone()),
        detail,
    };
    domain.meta.delete_package(&package.id, event).await?;
    Ok(())
}

/// Soft-deletes package `id` of organisation `org_id`: from now on nothing
/// opens, lists or counts it, but S and its blobs stay for
/// `limits.restore_days`, in which an admin may restore it; then the janitor
/// purges it ([`purge_deleted`]).
pub(crate) async fn soft_delete(domain: &Domain, org_id: i64, id: &str, actor: Actor<'_>) -> DomainResult<()> {
    let by = actor.name();
    let until = rfc3339(purge_at(domain, now()));
    let detail = format!("restorable by an admin until {until}");
    let event = domain.event(org_id, Event::Deleted, actor, Some(id), Some(detail));
    if !domain.meta.soft_delete_package(id, &by, event).await? {
        return Err(DomainError::NotFound("package"));
    }
    // Unfinished uploads cannot go on (nothing finds the package): they go now, not held against quotas.
    for up in domain.meta.uploads_of_package(id).await? {
        domain.blobs.discard(&up.id).await?;
        domain.meta.delete_upload(&up.id).await?;
    }
    Ok(())
}

/// The organisation's deleted packages that can still be restored.
pub(crate) async fn deleted_packages(
    domain: &Domain,
    admin: &super::accounts::OrgAdmin,
) -> DomainResult<Vec<store::DeletedPackage>> {
    Ok(domain.meta.deleted_packages(admin.org_id(), super::admin::PAGE).await?)
}

/// Restores a deleted package of the admin's organisation as it was (an
/// expiry that passed meanwhile ends it at the janitor's next round).
pub(crate) async fn restore_package(domain: &Domain, admin: &super::accounts::OrgAdmin, id: &str) -> DomainResult<()> {
    let event = domain.event(admin.org_id(), Event::Admin("restored"), Actor::User(admin.email()), Some(id), None);
    if !domain.meta.restore_package(admin.org_id(), id, event).await? {
        return Err(DomainError::NotFound("package"));
    }
    Ok(())
}

/// Purges packages deleted more than `limits.restore_days` before `at`:
/// blobs first, then the row (S with it), with a `purged` audit row.
pub(crate) async fn purge_deleted(domain: &Domain, at: i64) -> DomainResult<usize> {
    let before = at - i64::from(domain.limits.restore_days) * 86_400;
    let due = domain.meta.deleted_before(before).await?;
    for (id, org_id) in &due {
        super::packages::purge_blobs(domain, id).await;
        let detail = format!("deleted more than {} days ago", domain.limits.restore_days);
        let event = domain.event(*org_id, Event::Admin("purged"), Actor::System, Some(id), Some(detail));
        domain.meta.delete_package(id, event).await?;
    }
    Ok(due.len())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::blobs::memory::MemoryBlobStore;
    use crate::store::{NewPackage, NewUser, PackageState};

    fn domain(dir: &Path) -> Domain {
        Domain {
            meta: store::open_local(dir).unwrap(),
            blobs: Arc::new(MemoryBlobStore::default()),
            key: crate::secrets::ServerKey::load_or_create(&dir.join(SERVER_KEY)).unwrap(),
            limits: Default::default(),
            public_url: "http://kluis.test".into(),
            policy: Default::default(),
            licence: Default::default(),
        }
    }

    async fn put_blob(d: &Domain, key: &str, bytes: &[u8]) {
        let mut w = d.blobs.append("up", 0).await.unwrap();
        w.write(bytes).await.unwrap();
        w.checkpoint().await.unwrap();
        drop(w);
        d.blobs.commit("up", key).await.unwrap();
    }

    /// A live package whose blob was deleted between the snapshot and its
    /// copy (it ended meanwhile) is ended in the backup too, with a chained
    /// audit row; the other package's blobs are in the backup and its manifest.
    #[actix_web::test]
    async fn a_package_that_ends_while_the_backup_runs_is_ended_in_the_backup() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let d = domain(&data);
        let org = d.meta.ensure_organisation("Org").await.unwrap();
        let user = NewUser { org_id: org, email: "a@example.org".into(), name: None, role: None };
        let user = d.meta.add_user(user).await.unwrap().unwrap();
        for (id, blobs) in [("AAAAAAAAAAAAAAAAAAAAAA", 2), ("BBBBBBBBBBBBBBBBBBBBBB", 1)] {
            let new = NewPackage {
                id: id.into(),
                org_id: org,
                sender_id: user.id,
                server_share: vec![1; 32],
                created_at: now(),
                expires_at: now() + 86_400,
                max_downloads: None,
                verify_email: false,
                has_password: false,
                notify_on_download: false,
                recipients: vec![],
                blob_sizes: vec![3; blobs],
                receivers: vec![],
            };
            let event = d.event(org, Event::Created, Actor::System, Some(id), None);
            d.meta.create_package(new, Box::new(|_| Ok(())), event).await.unwrap();
        }
        // Every blob complete in the database; B's file is gone (its package ended after the snapshot).
        let conn = rusqlite::Connection::open(data.join(store::DATABASE)).unwrap();
        conn.execute("UPDATE blobs SET complete = 1", []).unwrap();
        conn.execute("UPDATE packages SET state = 'ready'", []).unwrap();
        put_blob(&d, "AAAAAAAAAAAAAAAAAAAAAA/0", b"abc").await;
        put_blob(&d, "AAAAAAAAAAAAAAAAAAAAAA/1", b"def").await;

        let dest = dir.path().join("backup");
        let report = backup(&d, &data.join(SERVER_KEY), &dest).await.unwrap();
        assert_eq!((report.blobs, report.bytes), (2, 6));
        assert_eq!(report.ended, ["BBBBBBBBBBBBBBBBBBBBBB"]);
        let manifest = std::fs::read_to_string(dest.join(MANIFEST)).unwrap();
        assert!(
            manifest.contains(&manifest_line(&hex::encode(Sha256::digest(b"def")), "blobs/AAAAAAAAAAAAAAAAAAAAAA/1"))
        );
        assert!(!dest.join("kluis.db-wal").exists(), "the database is one file");

        // Restored, every file checked (opening the backup itself would change it: restore first);
        // a second restore into it needs force.
        let restored = dir.path().join("restored");
        let r = restore(&dest, &restored, false).await.unwrap();
        assert_eq!((r.files, r.previous), (5, None));
        assert!(restore(&dest, &restored, false).await.unwrap_err().to_string().contains("--force"));

        let copy = store::open_local(&restored).unwrap();
        let a = copy.package("AAAAAAAAAAAAAAAAAAAAAA").await.unwrap().unwrap();
        let b = copy.package("BBBBBBBBBBBBBBBBBBBBBB").await.unwrap().unwrap();
        assert_eq!((a.state, a.server_share.is_some()), (PackageState::Ready, true));
        assert_eq!((b.state, b.server_share), (PackageState::Expired, None));
        let check = super::super::audit::verify(copy.as_ref()).await.unwrap();
        assert!(check.intact(), "{check}");
        let events = copy.events("BBBBBBBBBBBBBBBBBBBBBB", 0, 10).await.unwrap();
        assert_eq!(events.last().map(|e| e.event.as_str()), Some("expired"));
        assert_eq!(std::fs::read(restored.join("blobs/AAAAAAAAAAAAAAAAAAAAAA/1")).unwrap(), b"def");

        // A backup changed afterwards (here: opened by a store, which writes) is refused whole.
        let elsewhere = dir.path().join("elsewhere");
        drop(store::open_local(&dest).unwrap());
        let refused = restore(&dest, &elsewhere, false).await.unwrap_err().to_string();
        assert!(refused.contains("kluis.db in the backup is damaged"), "{refused}");
        assert!(!elsewhere.exists() && !dir.path().join("elsewhere.restoring").exists());
    }

    #[test]
    fn manifests_name_only_files_inside_the_folder() {
        let sum = "a".repeat(64);
        assert_eq!(parse_manifest(&format!("{sum}  blobs/x/0\n")).unwrap()[0].1, PathBuf::from("blobs/x/0"));
        for bad in ["../secret", "/etc/passwd", "blobs/../../x", "a\\b", ""] {
            assert!(parse_manifest(&format!("{sum}  {bad}\n")).is_err(), "{bad:?}");
        }
        assert!(parse_manifest("xyz  kluis.db\n").is_err());
    }
}

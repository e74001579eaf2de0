//! `kluis-server migrate`: moves a single-machine install (SQLite and blobs
//! on local disk) to PostgreSQL and, if asked, an object store (issue 16).
//!
//! 1. The data directory's lock is taken alone (every server and command
//!    on it holds it shared: a server still running is refused, and none
//!    starts during the run); the SQLite database is brought to the current
//!    schema and held in a write transaction for the whole run.
//! 2. Every row is copied into PostgreSQL in one transaction and compared
//!    table by table (`store::import_into_postgres`); the audit chains are
//!    then verified in PostgreSQL.
//! 3. Every complete blob is copied to the object store, one at a time,
//!    each resuming where an interrupted run left it, and is compared by
//!    length and SHA-256 with the original.
//!
//! A second run after an interruption skips what is done and checks it
//! again; after a complete run it only checks. Uploads in progress are not
//! moved: their clients start those files again (the rows say so: the new
//! store holds none of their bytes).

use std::fmt;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::blobs::fs::FsBlobStore;
use crate::blobs::{BlobStore, blob_key};
use crate::config::Config;
use crate::store::{self, Imported};

/// How often a blob's copy is made durable in the object store (a resumed run goes on from there).
const CHECKPOINT: u64 = 64 << 20;

/// What a run did and found; [`Report::ok`] says whether the copy is whole and identical.
#[derive(Debug)]
pub struct Report {
    imported: Imported,
    audit: AuditSummary,
    blobs: Option<BlobSummary>,
}

#[derive(Debug)]
struct AuditSummary {
    rows: u64,
    chains: usize,
    broken: usize,
}

#[derive(Debug, Default)]
struct BlobSummary {
    /// The object store's name in the configuration (`s3`).
    store: String,
    total: u64,
    bytes: u64,
    copied_now: u64,
    /// Blobs of ended packages whose files were already gone (the janitor deletes them anyway).
    gone: u64,
    /// `package/idx: why`, for every blob not in the object store as it is on disk.
    failures: Vec<String>,
}

impl Report {
    /// Whether every table is identical, every audit chain intact and every blob copied unchanged.
    pub fn ok(&self) -> bool {
        self.imported.identical() && self.audit.broken == 0 && self.blobs.as_ref().is_none_or(|b| b.failures.is_empty())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let copied = if self.imported.copied_now { "copied now" } else { "copied by an earlier run" };
        writeln!(f, "Metadata ({copied}), SQLite → PostgreSQL:")?;
        for t in &self.imported.tables {
            let verdict = if t.identical { "identical" } else { "DIFFERENT" };
            writeln!(f, "  {:<24} {:>9} rows → {:>9} rows  {verdict}", t.name, t.source_rows, t.target_rows)?;
        }
        let a = &self.audit;
        let state = if a.broken == 0 { "intact".to_string() } else { format!("{} BROKEN", a.broken) };
        writeln!(f, "Audit log in PostgreSQL: {} rows in {} chains, {state}", a.rows, a.chains)?;
        match &self.blobs {
            None => writeln!(f, "Blobs: not moved (they stay in the data directory; blob_store stays \"fs\")")?,
            Some(b) => {
                writeln!(
                    f,
                    "Blobs → {}: {} of {} ({}) identical by length and SHA-256, {} copied now",
                    b.store,
                    b.total - b.failures.len() as u64,
                    b.total,
                    human_bytes(b.bytes),
                    b.copied_now
                )?;
                if b.gone > 0 {
                    writeln!(f, "  {} blobs of ended packages were already deleted: nothing to copy", b.gone)?;
                }
                for failure in &b.failures {
                    writeln!(f, "  NOT COPIED {failure}")?;
                }
            }
        }
        if self.ok() {
            writeln!(f, "The copy is complete. Now, with every server on this data directory still stopped:")?;
            writeln!(f, "  - set database_url (or KLUIS_DATABASE_URL) to the database given to --to;")?;
            if let Some(b) = &self.blobs {
                writeln!(f, "  - set blob_store = \"{}\";", b.store)?;
            }
            writeln!(f, "  - give every node this data directory's secret.key (the server key);")?;
            write!(f, "  - start the servers. This data directory stays as it was: keep it until all is well.")
        } else {
            write!(f, "The copy is NOT complete: fix what is named above and run the migration again.")
        }
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n => format!("{n} bytes"),
    }
}

/// Migrates the install of `config` (SQLite, blobs in its data directory)
/// to PostgreSQL at `to` and, with `blobs_to` (`"s3"`, `"azure"` or
/// `"gcs"`, as configured in `config`), its blobs to that object store. `progress` hears of each step.
pub async fn migrate(
    config: &Config,
    to: &str,
    blobs_to: Option<&str>,
    mut progress: impl FnMut(&str),
) -> Result<Report> {
    if config.database_url.is_some() {
        bail!("this install's metadata is in PostgreSQL already (database_url is set): there is nothing to migrate");
    }
    let data = &config.data_dir;
    let database = data.join(store::DATABASE);
    if !database.is_file() {
        bail!("no Kluis database at {} (point --data at the server's data directory)", database.display());
    }
    let target: Option<(String, Arc<dyn BlobStore>)> = match blobs_to {
        None => None,
        Some(kind @ ("s3" | "azure" | "gcs")) => Some((kind.into(), crate::blobs::open(config, kind)?)),
        Some(other) => {
            bail!("--blobs-to takes \"s3\", \"azure\" or \"gcs\" (configured in [s3], [azure], [gcs]), not {other:?}")
        }
    };
    // No server or command may use the database meanwhile: they hold the lock shared.
    let _lock = crate::files::lock_data_dir(data, crate::files::DataLock::Alone)?.ok_or_else(|| {
        anyhow::anyhow!(
            "a kluis-server (or one of its commands) is using {}: stop every server on it, then run again",
            data.display()
        )
    })?;
    // Brings the database to this version's schema, which PostgreSQL's mirrors.
    drop(store::open_local(data)?);
    let sqlite = rusqlite::Connection::open(&database)?;
    sqlite.busy_timeout(std::time::Duration::from_secs(5))?;
    sqlite.execute_batch("BEGIN IMMEDIATE").map_err(|e| {
        anyhow::anyhow!("cannot lock {} ({e}): stop every server using it, then run again", database.display())
    })?;

    progress("copying the metadata to PostgreSQL");
    let (meta, imported) = store::import_into_postgres(to, config.database_ca_file.as_deref(), &sqlite).await?;
    progress("verifying the audit chains in PostgreSQL");
    let check = crate::domain::audit::verify(&*meta).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let audit = AuditSummary { rows: check.rows, chains: check.organisations, broken: check.breaks.len() };

    let blobs = match target {
        None => None,
        Some((name, target)) => {
            let source = FsBlobStore::open(data)?;
            Some(copy_blobs(&sqlite, &source, &*target, name, &mut progress).await?)
        }
    };
    sqlite.execute_batch("ROLLBACK")?;
    Ok(Report { imported, audit, blobs })
}

/// A complete blob, as the SQLite database lists it.
struct SourceBlob {
    package_id: String,
    idx: i64,
    size: u64,
    /// Whether its package ended (revoked, expired): its file may be gone already.
    ended: bool,
}

async fn copy_blobs(
    sqlite: &rusqlite::Connection,
    source: &dyn BlobStore,
    target: &dyn BlobStore,
    store: String,
    progress: &mut impl FnMut(&str),
) -> Result<BlobSummary> {
    let mut stmt = sqlite.prepare(
        "SELECT b.package_id, b.idx, b.size, p.state IN ('revoked', 'expired')
         FROM blobs b JOIN packages p ON p.id = b.package_id WHERE b.complete = 1 ORDER BY b.package_id, b.idx",
    )?;
    let blobs = stmt
        .query_map([], |r| Ok(SourceBlob { package_id: r.get(0)?, idx: r.get(1)?, size: r.get(2)?, ended: r.get(3)? }))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut summary = BlobSummary { store, total: blobs.len() as u64, ..BlobSummary::default() };
    for (n, blob) in blobs.iter().enumerate() {
        let key = blob_key(&blob.package_id, blob.idx);
        let what = format!("blob {}/{} ({key}, {})", n + 1, blobs.len(), human_bytes(blob.size));
        let original = match sha256_of(source, &key, blob.size).await {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && blob.ended => {
                summary.gone += 1;
                summary.total -= 1;
                continue;
            }
            Err(e) => {
                summary.failures.push(format!("{key}: cannot read it in the data directory: {e}"));
                continue;
            }
        };
        summary.bytes += blob.size;
        if sha256_of(target, &key, blob.size).await.ok() == Some(original) {
            progress(&format!("{what}: there already"));
            continue;
        }
        let upload = migration_upload(&key);
        let resumed = target.part_len(&upload).await.unwrap_or(0).min(blob.size);
        if resumed > 0 {
            progress(&format!("copying {what}, going on from {}", human_bytes(resumed)));
        } else {
            progress(&format!("copying {what}"));
        }
        if let Err(e) = copy_blob(source, target, &key, blob.size).await {
            summary.failures.push(format!("{key}: {e:#}"));
            continue;
        }
        summary.copied_now += 1;
        let differs = match sha256_of(target, &key, blob.size).await {
            Ok(h) if h == original => None,
            Ok(_) => Some("the copy differs from the original".to_string()),
            Err(e) => Some(format!("cannot read the copy back: {e}")),
        };
        if let Some(why) = differs {
            // Gone, so that the next run copies it afresh rather than finding a blob there.
            let _ = target.delete(&key).await;
            summary.failures.push(format!("{key}: {why}; deleted from the object store, run again"));
        }
    }
    Ok(summary)
}

/// Copies blob `key` into `target` as an upload of its own, going on from
/// what an interrupted run left there, then makes it the blob.
async fn copy_blob(source: &dyn BlobStore, target: &dyn BlobStore, key: &str, size: u64) -> Result<()> {
    let upload = migration_upload(key);
    let mut at = target.part_len(&upload).await?;
    if at > size {
        target.discard(&upload).await?;
        at = 0;
    }
    let mut writer = target.append(&upload, at).await?;
    let mut chunks = source.read(key, at..size).await.context("cannot read the blob")?;
    let mut since_checkpoint = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.context("cannot read the blob")?;
        writer.write(&chunk).await?;
        since_checkpoint += chunk.len() as u64;
        if since_checkpoint >= CHECKPOINT {
            writer.checkpoint().await?;
            since_checkpoint = 0;
        }
    }
    let written = writer.checkpoint().await?;
    drop(writer);
    if written != size {
        bail!("{written} bytes copied of {size}");
    }
    target.commit(&upload, key).await.context("cannot make the copy the blob")?;
    Ok(())
}

/// The upload a blob is copied as: one per blob, named after it, so that a
/// second run finds the first one's bytes.
fn migration_upload(key: &str) -> String {
    format!("migrate-{}", key.replace('/', "-"))
}

/// SHA-256 of blob `key`, which must be `size` bytes long.
async fn sha256_of(store: &dyn BlobStore, key: &str, size: u64) -> std::io::Result<[u8; 32]> {
    let mut chunks = store.read(key, 0..size).await?;
    let (mut hash, mut read) = (Sha256::new(), 0u64);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        read += chunk.len() as u64;
        hash.update(&chunk);
    }
    if read != size {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("{read} bytes of {size}")));
    }
    Ok(hash.finalize().into())
}

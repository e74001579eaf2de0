//! The SQLite metadata store: an r2d2 pool, WAL journal, foreign keys on,
//! migrations from `migrations/sqlite/` applied at start (tracked with
//! `PRAGMA user_version`). Every unit of work runs off the async runtime in
//! one `BEGIN IMMEDIATE` transaction (see [`transaction`]).

mod accounts;
mod admin;
mod chain;
mod codes;
mod inbound;
mod licences;
mod lifecycle;
mod packages;
mod policies;
mod queue;
mod sso;
mod uploads;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use async_trait::async_trait;

use super::{
    ActivityRow, AuditHead, AuditQuery, AuditRow, Blob, ChainedRow, CodeKey, Counter, Deleted, DeletedPackage, EventOf,
    ExportUser, Finalized, Grant, Lease, LicenceWarning, MetaStore, NewDelivery, NewEvent, NewPackage, NewUser,
    OrgPackage, OrgSettings, OrgStats, Organisation, Package, PackageCursor, PackageRecord, PackageState, QueuedMail,
    Rule, SeatClaim, SendHistory, StoreError, StoreResult, StoredBlob, StoredCode, StoredKey, StoredLicence,
    StoredPolicy, TokenRecord, Upload, UploadRequest, UploaderSession, Usage, User, UserChange, UserQuery, UserRecord,
    Verifiers,
};

/// Migrations in order; entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../migrations/sqlite/0002_hardening.sql"),
    include_str!("../../../migrations/sqlite/0003_sessions.sql"),
    include_str!("../../../migrations/sqlite/0004_link_verifier.sql"),
    include_str!("../../../migrations/sqlite/0005_audit_chain.sql"),
    include_str!("../../../migrations/sqlite/0006_organisations.sql"),
    include_str!("../../../migrations/sqlite/0007_sso.sql"),
    include_str!("../../../migrations/sqlite/0008_org_settings.sql"),
    include_str!("../../../migrations/sqlite/0009_licences.sql"),
    include_str!("../../../migrations/sqlite/0010_licence_warnings.sql"),
    include_str!("../../../migrations/sqlite/0011_policies.sql"),
    include_str!("../../../migrations/sqlite/0012_soft_delete.sql"),
    include_str!("../../../migrations/sqlite/0013_inbound.sql"),
    include_str!("../../../migrations/sqlite/0014_colleagues.sql"),
    include_str!("../../../migrations/sqlite/0015_job_leases.sql"),
    include_str!("../../../migrations/sqlite/0016_rate_windows.sql"),
];

/// What a version needs beyond its SQL, run after it in the same transaction.
fn migration_step(version: usize) -> Option<fn(&Connection) -> rusqlite::Result<()>> {
    match version {
        // SQLite has no SHA-256: the rows written before the chain are chained here.
        5 => Some(chain::backfill),
        _ => None,
    }
}

#[derive(Clone)]
pub(crate) struct SqliteStore {
    pool: r2d2::Pool<SqliteConnectionManager>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(format!("sqlite: {e}"))
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Backend(format!("sqlite pool: {e}"))
    }
}

impl SqliteStore {
    /// Opens (creating if needed, mode 0600) the database at `path` and migrates it.
    pub(crate) fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        let manager = SqliteConnectionManager::file(path).with_init(|c| {
            c.busy_timeout(Duration::from_secs(10))?;
            // secure_delete: overwritten and deleted rows (mail that held a
            // code, ended sessions) are zeroed, not left in free space.
            c.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA secure_delete = ON;",
            )
        });
        let pool = r2d2::Pool::builder()
            .max_size(8)
            // Connections are opened when needed: eight opened at once at start raced
            // for the lock that switching to WAL takes ("database is locked" in the log).
            .min_idle(Some(1))
            .build(manager)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        let mut conn = pool.get()?;
        migrate(&mut conn).context("database migration failed")?;
        crate::files::restrict_siblings(path)?;
        Ok(SqliteStore { pool })
    }

    /// Runs `f` on a pooled connection off the async runtime.
    async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task: {e}")))?
    }

    /// Runs `f` in one write transaction, committed if it returns `Ok`.
    async fn unit<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> StoreResult<T> + Send + 'static,
    {
        self.run(move |c| {
            let tx = transaction(c)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }
}

/// Starts a transaction that takes the write lock at once (`BEGIN IMMEDIATE`),
/// waiting up to the busy timeout for it. Every unit of work here writes or
/// must see one consistent state: a deferred transaction that reads first
/// cannot wait when it comes to write, as in WAL mode SQLite then answers
/// "database is locked" straight away whenever another connection committed
/// in between (concurrent uploads did that).
fn transaction(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = transaction(conn)?;
        tx.execute_batch(sql)?;
        if let Some(step) = migration_step(i + 1) {
            step(&tx)?;
        }
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database migrated");
    }
    Ok(())
}

/// Appends an audit event, chained onto its organisation's newest row
/// (inside the caller's transaction; `chain.rs`).
fn audit(conn: &Connection, at: i64, e: &NewEvent) -> rusqlite::Result<()> {
    chain::append(conn, at, e)
}

fn now() -> i64 {
    crate::domain::now()
}

#[async_trait]
impl MetaStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.run(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())?)).await
    }

    async fn ensure_organisation(&self, name: &str) -> StoreResult<i64> {
        let name = name.to_string();
        self.unit(move |c| Ok(accounts::ensure_organisation(c, &name, now())?)).await
    }
    async fn create_organisation(&self, name: &str, domains: &[String]) -> StoreResult<Organisation> {
        let (name, domains) = (name.to_string(), domains.to_vec());
        self.unit(move |c| Ok(accounts::create_organisation(c, &name, &domains, now())?)).await
    }
    async fn organisation(&self, id: i64) -> StoreResult<Option<Organisation>> {
        self.run(move |c| Ok(accounts::organisation(c, id)?)).await
    }
    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        self.run(move |c| Ok(accounts::organisations(c)?)).await
    }
    async fn organisation_of_domain(&self, domain: &str) -> StoreResult<Option<Organisation>> {
        let domain = domain.to_string();
        self.run(move |c| Ok(accounts::organisation_of_domain(c, &domain)?)).await
    }
    async fn add_user(&self, user: NewUser) -> StoreResult<Option<User>> {
        self.unit(move |c| Ok(accounts::add_user(c, &user, now())?)).await
    }
    async fn users(&self, query: UserQuery) -> StoreResult<Vec<UserRecord>> {
        self.run(move |c| Ok(admin::users(c, &query)?)).await
    }
    async fn org_user(&self, org_id: i64, id: i64) -> StoreResult<Option<UserRecord>> {
        self.run(move |c| Ok(admin::user(c, org_id, id)?)).await
    }
    async fn change_user(
        &self,
        org_id: i64,
        id: i64,
        change: UserChange,
        rule: Rule<i64>,
    ) -> StoreResult<Option<UserRecord>> {
        self.unit(move |c| {
            let (user, admins) = admin::change_user(c, org_id, id, &change, now())?;
            rule(&admins).map_err(|e| StoreError::Refused(Box::new(e)))?;
            Ok(user)
        })
        .await
    }
    async fn org_packages(
        &self,
        org_id: i64,
        before: Option<PackageCursor>,
        limit: i64,
    ) -> StoreResult<Vec<OrgPackage>> {
        self.run(move |c| Ok(admin::packages(c, org_id, before.as_ref(), limit)?)).await
    }
    async fn audit_page(&self, query: AuditQuery) -> StoreResult<Vec<AuditRow>> {
        self.run(move |c| Ok(admin::audit(c, &query)?)).await
    }
    async fn org_stats(&self, org_id: i64, since: i64) -> StoreResult<OrgStats> {
        self.run(move |c| Ok(admin::stats(c, org_id, since, now())?)).await
    }
    async fn update_organisation(
        &self,
        org_id: i64,
        name: &str,
        domains: &[String],
        rule: Rule<Vec<(String, String)>>,
    ) -> StoreResult<Organisation> {
        let (name, domains) = (name.to_string(), domains.to_vec());
        self.unit(move |c| match admin::update_organisation(c, org_id, &name, &domains)? {
            Ok(org) => Ok(org),
            Err(taken) => {
                rule(&taken).map_err(|e| StoreError::Refused(Box::new(e)))?;
                Err(StoreError::Backend("a rule accepted mail domains of another organisation".into()))
            }
        })
        .await
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.to_string();
        self.run(move |c| Ok(accounts::user_by_email(c, &email)?)).await
    }
    async fn user(&self, id: i64) -> StoreResult<Option<User>> {
        self.run(move |c| Ok(accounts::user(c, id)?)).await
    }
    async fn create_token(
        &self,
        user_id: i64,
        hash: &str,
        label: &str,
        now: i64,
        expires_at: Option<i64>,
    ) -> StoreResult<i64> {
        let (hash, label) = (hash.to_string(), label.to_string());
        self.unit(move |c| Ok(accounts::create_token(c, user_id, &hash, &label, now, expires_at)?)).await
    }
    async fn use_token(&self, hash: &str, now: i64, unused_since: i64) -> StoreResult<Option<(User, i64)>> {
        let hash = hash.to_string();
        self.unit(move |c| Ok(accounts::use_token(c, &hash, now, unused_since)?)).await
    }
    async fn tokens(&self, user_id: i64, now: i64, unused_since: i64) -> StoreResult<Vec<TokenRecord>> {
        self.run(move |c| Ok(accounts::tokens(c, user_id, now, unused_since)?)).await
    }
    async fn revoke_token(&self, user_id: i64, token_id: i64, now: i64) -> StoreResult<bool> {
        self.unit(move |c| Ok(accounts::revoke_token(c, user_id, token_id, now)?)).await
    }

    async fn sso_settings(&self, org_id: i64) -> StoreResult<Option<super::SsoSettings>> {
        self.run(move |c| Ok(sso::settings(c, org_id)?)).await
    }
    async fn put_sso_settings(&self, settings: super::SsoSettings) -> StoreResult<()> {
        self.unit(move |c| Ok(sso::put_settings(c, &settings)?)).await
    }
    async fn remove_sso_settings(&self, org_id: i64) -> StoreResult<bool> {
        self.unit(move |c| Ok(sso::remove_settings(c, org_id)?)).await
    }
    async fn start_sso_flow(
        &self,
        state_hash: &str,
        org_id: i64,
        browser_hash: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let (state_hash, browser_hash) = (state_hash.to_string(), browser_hash.to_string());
        self.unit(move |c| Ok(sso::start_flow(c, &state_hash, org_id, &browser_hash, expires_at, now())?)).await
    }
    async fn take_sso_flow(&self, state_hash: &str, now: i64) -> StoreResult<Option<(i64, String)>> {
        let state_hash = state_hash.to_string();
        self.unit(move |c| Ok(sso::take_flow(c, &state_hash, now)?)).await
    }
    async fn sso_user(&self, org_id: i64, email: &str, create: bool) -> StoreResult<super::SsoUser> {
        let email = email.to_string();
        self.unit(move |c| Ok(sso::user(c, org_id, &email, create, now())?)).await
    }
    async fn put_sso_handoff(&self, hash: &str, user_id: i64, expires_at: i64) -> StoreResult<()> {
        let hash = hash.to_string();
        self.unit(move |c| Ok(sso::put_handoff(c, &hash, user_id, expires_at, now())?)).await
    }
    async fn take_sso_handoff(&self, hash: &str, now: i64) -> StoreResult<Option<User>> {
        let hash = hash.to_string();
        self.unit(move |c| Ok(sso::take_handoff(c, &hash, now)?)).await
    }

    async fn put_code(&self, key: &CodeKey, hash: &str, expires_at: i64) -> StoreResult<()> {
        let (key, hash) = (key.clone(), hash.to_string());
        self.unit(move |c| Ok(codes::put_code(c, &key, &hash, expires_at)?)).await
    }
    async fn code(&self, key: &CodeKey) -> StoreResult<Option<StoredCode>> {
        let key = key.clone();
        self.run(move |c| Ok(codes::code(c, &key)?)).await
    }
    async fn spend_code(&self, key: &CodeKey, hash: &str) -> StoreResult<bool> {
        let (key, hash) = (key.clone(), hash.to_string());
        self.unit(move |c| Ok(codes::spend_code(c, &key, &hash)?)).await
    }
    async fn record_send(&self, subject: &str, now: i64) -> StoreResult<()> {
        let subject = subject.to_string();
        self.unit(move |c| Ok(codes::record_send(c, &subject, now)?)).await
    }
    async fn send_history(&self, subject: &str, now: i64) -> StoreResult<SendHistory> {
        let subject = subject.to_string();
        self.run(move |c| Ok(codes::send_history(c, &subject, now)?)).await
    }
    async fn count_failure(&self, counters: &[Counter], now: i64) -> StoreResult<Vec<i64>> {
        let counters = counters.to_vec();
        self.unit(move |c| Ok(codes::count_failure(c, &counters, now)?)).await
    }
    async fn failures(&self, counters: &[Counter]) -> StoreResult<Vec<i64>> {
        let counters = counters.to_vec();
        self.run(move |c| Ok(codes::failures(c, &counters)?)).await
    }
    async fn lock_verification(&self, package_id: &str) -> StoreResult<bool> {
        let id = package_id.to_string();
        self.unit(move |c| {
            Ok(c.execute(
                "UPDATE packages SET verification_locked = 1 WHERE id = ?1 AND verification_locked = 0",
                [&id],
            )? == 1)
        })
        .await
    }

    async fn create_package(&self, new: NewPackage, quota: Rule<Usage>, event: NewEvent) -> StoreResult<()> {
        self.unit(move |c| {
            let mut usage = packages::usage(c, new.sender_id)?;
            usage.unfinished_packages += 1;
            usage.reserved_bytes = usage.reserved_bytes.saturating_add(new.blob_sizes.iter().sum::<i64>());
            quota(&usage).map_err(|e| StoreError::Refused(Box::new(e)))?;
            packages::create(c, &new)?;
            audit(c, now(), &event)?;
            Ok(())
        })
        .await
    }
    async fn package(&self, id: &str) -> StoreResult<Option<Package>> {
        let id = id.to_string();
        self.run(move |c| Ok(packages::get(c, &id)?)).await
    }
    async fn package_record(&self, id: &str) -> StoreResult<Option<PackageRecord>> {
        let id = id.to_string();
        self.run(move |c| {
            let tx = transaction(c)?;
            let record = packages::get(&tx, &id)?.map(|p| packages::record(&tx, p)).transpose()?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }
    async fn licence(&self, org_id: i64) -> StoreResult<Option<StoredLicence>> {
        self.run(move |c| Ok(licences::get(c, org_id)?)).await
    }
    async fn put_licence(&self, org_id: i64, text: &str, installed_by: &str, event: NewEvent) -> StoreResult<()> {
        let (text, by) = (text.to_string(), installed_by.to_string());
        self.unit(move |c| {
            let at = now();
            licences::put(c, org_id, &text, at, &by)?;
            Ok(audit(c, at, &event)?)
        })
        .await
    }
    async fn policy(&self, org_id: i64) -> StoreResult<Option<StoredPolicy>> {
        self.run(move |c| Ok(policies::current(c, org_id)?)).await
    }
    async fn policy_versions(&self, org_id: i64, limit: i64) -> StoreResult<Vec<StoredPolicy>> {
        self.run(move |c| Ok(policies::versions(c, org_id, limit)?)).await
    }
    async fn put_policy(
        &self,
        org_id: i64,
        after: u32,
        document: &str,
        by: &str,
        event: NewEvent,
    ) -> StoreResult<bool> {
        let (document, by) = (document.to_string(), by.to_string());
        self.unit(move |c| {
            let at = now();
            if !policies::put(c, org_id, after, &document, at, &by)? {
                return Ok(false);
            }
            audit(c, at, &event)?;
            Ok(true)
        })
        .await
    }
    async fn holds_seat(&self, org_id: i64, user_id: i64) -> StoreResult<bool> {
        self.run(move |c| Ok(licences::holds_seat(c, org_id, user_id)?)).await
    }
    async fn licence_warned(&self, org_id: i64, warning: LicenceWarning) -> StoreResult<bool> {
        self.unit(move |c| {
            if !licences::move_warned(c, org_id, warning.before.as_deref(), &warning.stage)? {
                return Ok(false);
            }
            let at = now();
            for (to, subject, body) in &warning.mails {
                queue::enqueue(c, to, subject, body, at)?;
            }
            audit(c, at, &warning.event)?;
            Ok(true)
        })
        .await
    }
    async fn seats_used(&self, org_id: i64) -> StoreResult<i64> {
        self.run(move |c| Ok(licences::seats_used(c, org_id)?)).await
    }
    async fn claim_seat(&self, org_id: i64, user_id: i64, total: u32, event: NewEvent) -> StoreResult<SeatClaim> {
        self.unit(move |c| {
            let claim = licences::claim(c, org_id, user_id, total)?;
            if claim == SeatClaim::Claimed {
                audit(c, now(), &event)?;
            }
            Ok(claim)
        })
        .await
    }
    async fn release_seat(&self, org_id: i64, user_id: i64, event: NewEvent) -> StoreResult<bool> {
        self.unit(move |c| {
            let released = licences::release(c, org_id, user_id)?;
            if released {
                audit(c, now(), &event)?;
            }
            Ok(released)
        })
        .await
    }
    async fn packages_page(
        &self,
        sender_id: i64,
        org_id: i64,
        after: Option<PackageCursor>,
        limit: i64,
    ) -> StoreResult<Vec<PackageRecord>> {
        self.run(move |c| Ok(packages::sent_page(c, sender_id, org_id, after.as_ref(), limit)?)).await
    }
    async fn sent_page(
        &self,
        sender_id: i64,
        org_id: i64,
        after: Option<PackageCursor>,
        limit: i64,
    ) -> StoreResult<(Vec<PackageRecord>, Vec<ActivityRow>)> {
        self.run(move |c| {
            // Only reads: a deferred transaction gives one consistent snapshot
            // without taking the write lock (it never comes to write).
            let tx = c.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let records = packages::sent_page(&tx, sender_id, org_id, after.as_ref(), limit)?;
            let ids: Vec<&str> = records.iter().map(|r| r.package.id.as_str()).collect();
            let activity = packages::activity(&tx, &ids)?;
            tx.commit()?;
            Ok((records, activity))
        })
        .await
    }
    async fn activity(&self, package_id: &str) -> StoreResult<Vec<ActivityRow>> {
        let id = package_id.to_string();
        self.run(move |c| Ok(packages::activity(c, &[id.as_str()])?)).await
    }
    async fn is_recipient(&self, id: &str, email: &str) -> StoreResult<bool> {
        let (id, email) = (id.to_string(), email.to_string());
        self.run(move |c| Ok(packages::is_recipient(c, &id, &email)?)).await
    }
    async fn blobs(&self, id: &str) -> StoreResult<Vec<Blob>> {
        let id = id.to_string();
        self.run(move |c| Ok(packages::blobs(c, &id)?)).await
    }
    async fn finalize(&self, id: &str, verifiers: Verifiers, event: NewEvent) -> StoreResult<Finalized> {
        let id = id.to_string();
        self.unit(move |c| {
            let blobs = packages::blobs(c, &id)?;
            let missing: Vec<i64> = blobs.iter().filter(|b| !b.complete).map(|b| b.idx).collect();
            if !missing.is_empty() {
                return Ok(Finalized::Missing(missing));
            }
            let at = now();
            let first_time = packages::set_ready(c, &id, &verifiers, at)?;
            if first_time {
                audit(c, at, &event)?;
            }
            let package = packages::get(c, &id)?.ok_or_else(|| StoreError::Backend("package vanished".into()))?;
            Ok(Finalized::Done(Box::new(packages::record(c, package)?)))
        })
        .await
    }
    async fn end_package(&self, id: &str, state: PackageState, event: NewEvent) -> StoreResult<bool> {
        let id = id.to_string();
        self.unit(move |c| {
            let ended = packages::end(c, &id, state)?;
            if ended {
                audit(c, now(), &event)?;
            }
            Ok(ended)
        })
        .await
    }
    async fn delete_package(&self, id: &str, event: NewEvent) -> StoreResult<()> {
        let id = id.to_string();
        self.unit(move |c| {
            c.execute("DELETE FROM packages WHERE id = ?1", [&id])?;
            audit(c, now(), &event)?;
            Ok(())
        })
        .await
    }
    async fn grant_access(
        &self,
        id: &str,
        rule: Rule<Package>,
        session_hash: &str,
        session_email: Option<&str>,
        session_expires_at: i64,
        event: NewEvent,
    ) -> StoreResult<Grant> {
        let (id, hash, email) = (id.to_string(), session_hash.to_string(), session_email.map(str::to_string));
        self.unit(move |c| {
            // Checked inside the transaction: two recipients racing for the last download.
            let package = packages::get(c, &id)?.ok_or_else(|| StoreError::Backend("package vanished".into()))?;
            rule(&package).map_err(|e| StoreError::Refused(Box::new(e)))?;
            let first = packages::count_download(c, &id)?;
            packages::create_session(c, &hash, &id, email.as_deref(), session_expires_at.min(package.expires_at))?;
            audit(c, now(), &event)?;
            let notify = if first {
                let sender = accounts::user(c, package.sender_id)?.map(|u| u.email).unwrap_or_default();
                Some((sender, packages::recipients(c, &id)?))
            } else {
                None
            };
            let blobs = packages::blobs(c, &id)?;
            Ok(Grant { package, blobs, notify })
        })
        .await
    }
    async fn session(&self, hash: &str, package_id: &str, now: i64) -> StoreResult<Option<Option<String>>> {
        let (hash, id) = (hash.to_string(), package_id.to_string());
        self.run(move |c| Ok(packages::session(c, &hash, &id, now)?)).await
    }
    async fn overdue_packages(&self, now: i64) -> StoreResult<Vec<String>> {
        self.run(move |c| Ok(packages::overdue(c, now)?)).await
    }
    async fn ended_with_blobs(&self) -> StoreResult<Vec<String>> {
        self.run(|c| Ok(packages::ended_with_blobs(c)?)).await
    }
    async fn forget_blob(&self, id: &str, idx: i64) -> StoreResult<()> {
        let id = id.to_string();
        self.unit(move |c| {
            Ok(c.execute("DELETE FROM blobs WHERE package_id = ?1 AND idx = ?2", params![id, idx]).map(|_| ())?)
        })
        .await
    }
    async fn blob_keys(&self) -> StoreResult<Vec<(String, i64)>> {
        self.run(|c| {
            let mut stmt = c.prepare("SELECT package_id, idx FROM blobs")?;
            let keys = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(keys)
        })
        .await
    }

    async fn create_upload(&self, upload: &Upload, quota: Rule<Usage>) -> StoreResult<Option<String>> {
        let upload = upload.clone();
        self.unit(move |c| {
            let old = uploads::for_blob(c, &upload.package_id, upload.blob_idx)?;
            let mut usage = packages::usage(c, upload.user_id)?;
            if old.is_none() {
                usage.open_uploads += 1;
            }
            quota(&usage).map_err(|e| StoreError::Refused(Box::new(e)))?;
            // A new upload for the same blob supersedes an unfinished one.
            if let Some(old) = &old {
                uploads::delete(c, &old.id)?;
            }
            uploads::create(c, &upload, now())?;
            Ok(old.map(|o| o.id))
        })
        .await
    }
    async fn upload(&self, id: &str) -> StoreResult<Option<Upload>> {
        let id = id.to_string();
        self.run(move |c| Ok(uploads::get(c, &id)?)).await
    }
    async fn acquire_lease(&self, id: &str, owner: &str, until: i64, now: i64) -> StoreResult<Lease> {
        let (id, owner) = (id.to_string(), owner.to_string());
        self.unit(move |c| {
            if uploads::get(c, &id)?.is_none() {
                return Ok(Lease::Missing);
            }
            if !uploads::acquire(c, &id, &owner, until, now)? {
                let held: Option<i64> =
                    c.query_row("SELECT lease_until FROM uploads WHERE id = ?1", [&id], |r| r.get(0))?;
                return Ok(Lease::Busy { until: held.unwrap_or(now) });
            }
            Ok(uploads::get(c, &id)?.map_or(Lease::Missing, Lease::Acquired))
        })
        .await
    }
    async fn record_offset(
        &self,
        id: &str,
        owner: &str,
        offset: i64,
        expires_at: i64,
        lease_until: i64,
    ) -> StoreResult<bool> {
        let (id, owner) = (id.to_string(), owner.to_string());
        self.unit(move |c| Ok(uploads::record_offset(c, &id, &owner, offset, expires_at, lease_until)?)).await
    }
    async fn release_lease(&self, id: &str, owner: &str) -> StoreResult<()> {
        let (id, owner) = (id.to_string(), owner.to_string());
        self.unit(move |c| Ok(uploads::release(c, &id, &owner)?)).await
    }
    async fn complete_upload(&self, id: &str, event: NewEvent) -> StoreResult<()> {
        let id = id.to_string();
        self.unit(move |c| {
            let Some(up) = uploads::get(c, &id)? else { return Ok(()) };
            let marked = c.execute(
                "UPDATE blobs SET complete = 1 WHERE package_id = ?1 AND idx = ?2 AND complete = 0",
                params![up.package_id, up.blob_idx],
            )?;
            if marked == 1 {
                audit(c, now(), &event)?;
            }
            Ok(())
        })
        .await
    }
    async fn delete_upload(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.unit(move |c| Ok(uploads::delete(c, &id)?)).await
    }
    async fn abandoned_uploads(&self, now: i64) -> StoreResult<Vec<Upload>> {
        self.run(move |c| Ok(uploads::abandoned(c, now)?)).await
    }
    async fn uploads_of_package(&self, id: &str) -> StoreResult<Vec<Upload>> {
        let id = id.to_string();
        self.run(move |c| Ok(uploads::of_package(c, &id)?)).await
    }

    async fn record(&self, event: NewEvent) -> StoreResult<()> {
        self.unit(move |c| Ok(audit(c, now(), &event)?)).await
    }
    async fn events(&self, package_id: &str, after: i64, limit: i64) -> StoreResult<Vec<AuditRow>> {
        let id = package_id.to_string();
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, at, event, actor, package_id, detail FROM audit WHERE package_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(params![id, after, limit], admin::audit_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }
    async fn audit_heads(&self) -> StoreResult<Vec<AuditHead>> {
        // One snapshot: the organisations and their heads as of the same moment.
        self.run(|c| {
            let tx = transaction(c)?;
            let heads = chain::heads(&tx)?;
            tx.commit()?;
            Ok(heads)
        })
        .await
    }
    async fn prune_audit(
        &self,
        org_id: i64,
        before: i64,
        pruned: Box<dyn Fn(u64, i64, Vec<u8>) -> NewEvent + Send + Sync>,
    ) -> StoreResult<u64> {
        self.unit(move |c| match chain::prune(c, org_id, before)? {
            Some((deleted, first_id, anchor)) => {
                audit(c, now(), &pruned(deleted, first_id, anchor))?;
                Ok(deleted)
            }
            None => Ok(0),
        })
        .await
    }
    async fn set_org_settings(&self, org_id: i64, settings: OrgSettings) -> StoreResult<()> {
        self.unit(move |c| Ok(accounts::set_settings(c, org_id, &settings)?)).await
    }
    async fn audit_chain(
        &self,
        org_id: Option<i64>,
        after: i64,
        until: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<ChainedRow>> {
        self.run(move |c| Ok(chain::rows(c, org_id, after, until, limit)?)).await
    }

    async fn enqueue_mail(&self, to: &str, subject: &str, body: &str, now: i64) -> StoreResult<()> {
        let (to, subject, body) = (to.to_string(), subject.to_string(), body.to_string());
        self.unit(move |c| Ok(queue::enqueue(c, &to, &subject, &body, now)?)).await
    }
    async fn claim_due_mail(&self, now: i64, until: i64) -> StoreResult<Option<QueuedMail>> {
        self.unit(move |c| Ok(queue::claim_due(c, now, until)?)).await
    }
    async fn mail_sent(&self, id: i64) -> StoreResult<()> {
        self.unit(move |c| Ok(queue::sent(c, id, now())?)).await
    }
    async fn mail_failed(&self, id: i64, retry_at: Option<i64>, error: &str) -> StoreResult<()> {
        let error = error.to_string();
        self.unit(move |c| Ok(queue::failed(c, id, retry_at, &error, now())?)).await
    }
    async fn mail_queue_length(&self) -> StoreResult<i64> {
        self.run(|c| Ok(queue::waiting(c)?)).await
    }
    async fn take_job_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> StoreResult<bool> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.unit(move |c| Ok(queue::take_job_lease(c, &name, &holder, now, until)?)).await
    }

    async fn count_request(&self, client: &str, window_start: i64) -> StoreResult<i64> {
        let client = client.to_string();
        self.unit(move |c| Ok(codes::count_request(c, &client, window_start)?)).await
    }

    async fn sweep(&self, now: i64) -> StoreResult<()> {
        self.unit(move |c| {
            // A window counts for a minute; one that ended is not looked at again.
            c.execute("DELETE FROM rate_windows WHERE window_start < ?1", [now - 120])?;
            c.execute("DELETE FROM download_sessions WHERE expires_at <= ?1", [now])?;
            c.execute("DELETE FROM uploader_sessions WHERE expires_at <= ?1", [now])?;
            c.execute("DELETE FROM code_sends WHERE sent_at < ?1", [now - 86_400])?;
            c.execute("DELETE FROM codes WHERE expires_at < ?1", [now])?;
            // Windowed counters end with their window (at most a day); lifetime ones with their package.
            c.execute("DELETE FROM failures WHERE window_start > 0 AND updated_at < ?1", [now - 2 * 86_400])?;
            // Lifetime counters belong to packages, which live at most max_expiry_days (bounded by config).
            c.execute("DELETE FROM failures WHERE window_start = 0 AND updated_at < ?1", [now - 400 * 86_400])?;
            c.execute("DELETE FROM mail_queue WHERE sent_at IS NOT NULL AND sent_at < ?1", [now - 7 * 86_400])?;
            Ok(())
        })
        .await
    }

    async fn snapshot(&self, dir: &Path) -> StoreResult<()> {
        let dest = dir.join(super::DATABASE);
        self.run(move |c| Ok(lifecycle::snapshot(c, &dest)?)).await
    }
    async fn complete_blobs(
        &self,
        org_id: Option<i64>,
        deleted: bool,
        after: Option<(String, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<StoredBlob>> {
        self.run(move |c| Ok(lifecycle::complete_blobs(c, org_id, deleted, after.as_ref(), limit)?)).await
    }
    async fn soft_delete_package(&self, id: &str, by: &str, event: NewEvent) -> StoreResult<bool> {
        let (id, by) = (id.to_string(), by.to_string());
        self.unit(move |c| {
            let at = now();
            let deleted = lifecycle::soft_delete(c, &id, at, &by)?;
            if deleted {
                audit(c, at, &event)?;
            }
            Ok(deleted)
        })
        .await
    }
    async fn deleted_packages(&self, org_id: i64, limit: i64) -> StoreResult<Vec<DeletedPackage>> {
        self.run(move |c| Ok(lifecycle::deleted_packages(c, org_id, limit)?)).await
    }
    async fn restore_package(&self, org_id: i64, id: &str, event: NewEvent) -> StoreResult<bool> {
        let id = id.to_string();
        self.unit(move |c| {
            let restored = lifecycle::restore(c, org_id, &id)?;
            if restored {
                audit(c, now(), &event)?;
            }
            Ok(restored)
        })
        .await
    }
    async fn deleted_before(&self, before: i64) -> StoreResult<Vec<(String, i64)>> {
        self.run(move |c| Ok(lifecycle::deleted_before(c, before)?)).await
    }
    async fn export_users(&self, org_id: i64, after: i64, limit: i64) -> StoreResult<Vec<ExportUser>> {
        self.run(move |c| Ok(lifecycle::export_users(c, org_id, after, limit)?)).await
    }
    async fn user_key(&self, user_id: i64) -> StoreResult<Option<StoredKey>> {
        self.run(move |c| Ok(inbound::key(c, user_id)?)).await
    }
    async fn put_user_key(&self, key: StoredKey, rule: Rule<Option<StoredKey>>, event: NewEvent) -> StoreResult<()> {
        self.unit(move |c| {
            let kept = inbound::key(c, key.user_id)?;
            rule(&kept).map_err(|e| StoreError::Refused(Box::new(e)))?;
            inbound::put_key(c, &key)?;
            audit(c, now(), &event)?;
            Ok(())
        })
        .await
    }
    async fn recovery_recipient(&self, org_id: i64) -> StoreResult<Option<String>> {
        self.run(move |c| Ok(inbound::recovery_recipient(c, org_id)?)).await
    }
    async fn set_recovery_recipient(&self, org_id: i64, recipient: Option<String>, event: NewEvent) -> StoreResult<()> {
        self.unit(move |c| {
            inbound::set_recovery_recipient(c, org_id, recipient.as_deref())?;
            audit(c, now(), &event)?;
            Ok(())
        })
        .await
    }
    async fn colleague(&self, org_id: i64, email: &str) -> StoreResult<Option<(User, Option<String>)>> {
        let email = email.to_string();
        self.run(move |c| Ok(inbound::colleague(c, org_id, &email)?)).await
    }
    async fn colleague_keys(&self, org_id: i64, emails: Vec<String>) -> StoreResult<Vec<(User, String)>> {
        self.run(move |c| Ok(inbound::colleague_keys(c, org_id, &emails)?)).await
    }
    async fn is_package_receiver(&self, package_id: &str, user_id: i64) -> StoreResult<bool> {
        let id = package_id.to_string();
        self.run(move |c| Ok(packages::is_receiver(c, &id, user_id)?)).await
    }
    async fn create_request(&self, request: UploadRequest, event: NewEvent) -> StoreResult<()> {
        self.unit(move |c| {
            inbound::create_request(c, &request)?;
            audit(c, now(), &event)?;
            Ok(())
        })
        .await
    }
    async fn request(&self, id: &str, now: i64) -> StoreResult<Option<UploadRequest>> {
        let id = id.to_string();
        self.run(move |c| Ok(inbound::request(c, &id, now)?)).await
    }
    async fn reply_request(&self, package_id: &str, make: UploadRequest, now: i64) -> StoreResult<UploadRequest> {
        let package_id = package_id.to_string();
        self.unit(move |c| {
            if let Some(kept) = inbound::reply_request(c, &package_id, now)? {
                return Ok(kept);
            }
            inbound::create_request(c, &make)?;
            inbound::reply_request(c, &package_id, now)?
                .ok_or_else(|| StoreError::Backend("reply request vanished".into()))
        })
        .await
    }
    async fn portal(&self, name: &str, now: i64) -> StoreResult<Option<UploadRequest>> {
        let name = name.to_string();
        self.run(move |c| Ok(inbound::portal(c, &name, now)?)).await
    }
    async fn portals(&self, org_id: i64, now: i64) -> StoreResult<Vec<UploadRequest>> {
        self.run(move |c| Ok(inbound::portals(c, org_id, now)?)).await
    }
    async fn requests(&self, user_id: i64, now: i64, limit: i64) -> StoreResult<Vec<UploadRequest>> {
        self.run(move |c| Ok(inbound::requests(c, user_id, now, limit)?)).await
    }
    async fn close_request(&self, id: &str, at: i64, event: NewEvent) -> StoreResult<bool> {
        let id = id.to_string();
        self.unit(move |c| {
            let closed = inbound::close_request(c, &id, at)?;
            if closed {
                audit(c, at, &event)?;
            }
            Ok(closed)
        })
        .await
    }
    async fn create_uploader_session(
        &self,
        session: UploaderSession,
        expires_at: i64,
        supersede: Option<EventOf>,
    ) -> StoreResult<Vec<String>> {
        self.unit(move |c| {
            let mut ended = Vec::new();
            if let Some(event) = supersede {
                for id in inbound::superseded(c, &session.request_id, &session.email, &session.hash)? {
                    if inbound::abandon(c, &id, None)? {
                        audit(c, now(), &event(&id))?;
                        ended.push(id);
                    }
                }
            }
            inbound::create_session(c, &session, expires_at)?;
            Ok(ended)
        })
        .await
    }
    async fn abandon_delivery(&self, id: &str, session: &str, event: NewEvent) -> StoreResult<bool> {
        let (id, session) = (id.to_string(), session.to_string());
        self.unit(move |c| {
            let ended = inbound::abandon(c, &id, Some(&session))?;
            if ended {
                audit(c, now(), &event)?;
            }
            Ok(ended)
        })
        .await
    }
    async fn uploader_session(&self, hash: &str, now: i64) -> StoreResult<Option<UploaderSession>> {
        let hash = hash.to_string();
        self.run(move |c| Ok(inbound::session(c, &hash, now)?)).await
    }
    async fn create_delivery(
        &self,
        new: NewDelivery,
        rule: Rule<UploadRequest>,
        quota: Rule<Usage>,
        event: NewEvent,
    ) -> StoreResult<()> {
        self.unit(move |c| {
            // Counted inside the transaction: two uploaders racing for the last place.
            let request = inbound::request(c, &new.inbound.request_id, new.created_at)?
                .ok_or_else(|| StoreError::Backend("request vanished".into()))?;
            rule(&request).map_err(|e| StoreError::Refused(Box::new(e)))?;
            let mut usage = packages::usage(c, new.owner_id)?;
            usage.unfinished_packages += 1;
            usage.reserved_bytes = usage.reserved_bytes.saturating_add(new.blob_sizes.iter().sum::<i64>());
            quota(&usage).map_err(|e| StoreError::Refused(Box::new(e)))?;
            inbound::create_delivery(c, &new)?;
            audit(c, new.created_at, &event)?;
            Ok(())
        })
        .await
    }
    async fn finalize_delivery(&self, id: &str, at: i64, keep_until: i64, event: NewEvent) -> StoreResult<Finalized> {
        let id = id.to_string();
        self.unit(move |c| {
            let blobs = packages::blobs(c, &id)?;
            let missing: Vec<i64> = blobs.iter().filter(|b| !b.complete).map(|b| b.idx).collect();
            if !missing.is_empty() {
                return Ok(Finalized::Missing(missing));
            }
            if inbound::set_received(c, &id, at, keep_until)? {
                audit(c, at, &event)?;
            }
            let package = packages::get(c, &id)?.ok_or_else(|| StoreError::Backend("delivery vanished".into()))?;
            Ok(Finalized::Done(Box::new(packages::record(c, package)?)))
        })
        .await
    }
    async fn inbox_page(
        &self,
        owner_id: i64,
        org_id: i64,
        after: Option<PackageCursor>,
        limit: i64,
    ) -> StoreResult<Vec<PackageRecord>> {
        self.run(move |c| Ok(inbound::inbox(c, owner_id, org_id, after.as_ref(), limit)?)).await
    }
    async fn delete_organisation(
        &self,
        org_id: i64,
        tombstone: Box<dyn for<'d> Fn(&'d Deleted) -> NewEvent + Send + Sync>,
    ) -> StoreResult<Option<Deleted>> {
        let deleted = self
            .unit(move |c| {
                let Some(deleted) = lifecycle::delete_organisation(c, org_id)? else { return Ok(None) };
                audit(c, now(), &tombstone(&deleted))?;
                Ok(Some(deleted))
            })
            .await?;
        // The deleted rows are zeroed in the pages written (secure_delete);
        // the old pages must not wait in the journal either: checkpoint now.
        self.run(|c| Ok(c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?)).await?;
        Ok(deleted)
    }
}

/// See [`super::seal_snapshot`].
pub(super) fn seal_snapshot(path: &Path, ended: &[String]) -> anyhow::Result<()> {
    lifecycle::seal_snapshot(path, ended, now()).with_context(|| format!("cannot prepare {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_audit_is_append_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kluis.db");
        drop(SqliteStore::open(&path).unwrap());
        let store = SqliteStore::open(&path).unwrap();
        let conn = store.pool.get().unwrap();
        let v: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, MIGRATIONS.len());
        assert!(conn.execute("INSERT INTO audit (at, event, actor) VALUES (1, 'x', 'y')", []).is_err(), "unchained");
        let event = NewEvent { org_id: Some(1), event: "x", actor: "y".into(), package_id: None, detail: None };
        audit(&conn, 1, &event).unwrap();
        assert!(conn.execute("UPDATE audit SET event = 'z'", []).is_err());
        assert!(conn.execute("UPDATE audit SET hash = x'00'", []).is_err());
        assert!(conn.execute("DELETE FROM audit", []).is_err());
    }

    /// Rows written before version 5 are chained by its migration step, per
    /// organisation, and the chain goes on from them.
    #[test]
    fn the_chain_migration_chains_older_rows_per_organisation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kluis.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            for (i, sql) in MIGRATIONS.iter().enumerate().take(4) {
                let tx = transaction(&mut conn).unwrap();
                tx.execute_batch(sql).unwrap();
                tx.pragma_update(None, "user_version", i + 1).unwrap();
                tx.commit().unwrap();
            }
            conn.execute_batch(
                "INSERT INTO audit (at, event, actor, org_id) VALUES (1, 'a', 'x', NULL), (2, 'b', 'x', 1), \
                 (3, 'c', 'x', 2), (4, 'd', 'x', 1);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let conn = store.pool.get().unwrap();
        let event = NewEvent { org_id: Some(1), event: "e", actor: "x".into(), package_id: None, detail: None };
        audit(&conn, 5, &event).unwrap();
        let prev_of = |id: i64| -> Vec<u8> {
            conn.query_row("SELECT prev_hash FROM audit WHERE id = ?1", [id], |r| r.get(0)).unwrap()
        };
        let hash_of = |id: i64| -> Vec<u8> {
            conn.query_row("SELECT hash FROM audit WHERE id = ?1", [id], |r| r.get(0)).unwrap()
        };
        for first in [1, 2, 3] {
            assert_eq!(prev_of(first), vec![0; 32], "row {first} starts its organisation's chain");
        }
        assert_eq!(prev_of(4), hash_of(2));
        assert_eq!(prev_of(5), hash_of(4));
        let heads = chain::heads(&conn).unwrap();
        let summary: Vec<_> = heads.iter().map(|h| (h.org_id, h.head.as_ref().map(|(id, _)| *id))).collect();
        assert_eq!(summary, [(None, Some(1)), (Some(1), Some(5)), (Some(2), Some(3))]);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let check = rt.block_on(crate::domain::audit::verify(&store)).unwrap();
        assert!(check.intact(), "{check}");
        assert_eq!((check.rows, check.organisations), (5, 3));
    }

    /// The store conformance suite (`store/conformance.rs`), as on PostgreSQL.
    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kluis.db")).unwrap();
        crate::store::conformance::run(&store).await;
    }

    /// Read-then-write transactions on several connections at once: each
    /// must wait for the lock, none may fail with "database is locked".
    #[test]
    fn concurrent_read_then_write_transactions_wait_for_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kluis.db")).unwrap();
        store
            .pool
            .get()
            .unwrap()
            .execute_batch("CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0);")
            .unwrap();
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    let mut conn = store.pool.get().unwrap();
                    for _ in 0..50 {
                        let tx = transaction(&mut conn).unwrap();
                        let n: i64 = tx.query_row("SELECT n FROM counter", [], |r| r.get(0)).unwrap();
                        tx.execute("UPDATE counter SET n = ?1", [n + 1]).unwrap();
                        tx.commit().unwrap();
                    }
                });
            }
        });
        let n: i64 = store.pool.get().unwrap().query_row("SELECT n FROM counter", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 300, "an update was lost");
    }
}

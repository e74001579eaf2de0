//! The PostgreSQL metadata store (`database_url = "postgres://…"`): a
//! deadpool pool of tokio-postgres connections, migrations from
//! `migrations/postgres/` applied at start under an advisory lock (so nodes
//! starting together migrate once), TLS through rustls when the URL asks
//! for it (`sslmode=require`).
//!
//! Concurrency: every unit of work is one SERIALIZABLE transaction, run
//! again when PostgreSQL reports a serialization failure or a deadlock, that
//! time alone (`unit!`). That gives each rule the guarantee SQLite's single
//! writer gave (the outcome is that of some order of the units, one at a
//! time) while units that touch different rows run in parallel on any
//! number of nodes. A retried unit runs again from the start, its rules
//! included: rules are pure checks (`Rule` is `Fn`). Reads that need one consistent view run in a
//! REPEATABLE READ READ ONLY transaction, which never fails that way.
//!
//! Each file here mirrors its namesake in `../sqlite/`: the same functions,
//! taking a transaction ([`Tx`]) and returning [`PgResult`].

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::IsolationLevel;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;

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
    include_str!("../../../migrations/postgres/0001_schema.sql"),
    include_str!("../../../migrations/postgres/0002_rate_windows.sql"),
];

/// Connections per process: PostgreSQL's default limit is 100 in all, shared by the nodes.
const POOL_SIZE: usize = 16;
/// How often a unit of work runs before a serialization failure is reported as an
/// error: the second attempt runs alone (see `unit!`), so one retry is the rule.
const ATTEMPTS: u32 = 4;
/// The writers' advisory lock ("kluiswr" in ASCII): shared by first attempts, held
/// alone by a unit running again after a serialization failure.
pub(super) const WRITERS: i64 = 0x006b_6c75_6973_7772;
/// The key of the advisory lock held while migrating ("kluis" in ASCII).
const MIGRATION_LOCK: i64 = 0x6b6c756973;

/// A transaction every function of this module runs in.
pub(super) type Tx<'a> = tokio_postgres::Transaction<'a>;
/// What those functions return: PostgreSQL's own error, so that a serialization
/// failure can be told apart and the unit retried.
pub(super) type PgResult<T> = Result<T, tokio_postgres::Error>;

/// Why an attempt at a unit of work failed: PostgreSQL (perhaps retryable) or the store's own answer.
pub(super) enum Failure {
    Db(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => StoreError::Backend(format!("postgres: {} ({})", db.message(), db.code().code())),
            None => StoreError::Backend(format!("postgres: {e}")),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Backend(format!("postgres pool: {e}"))
    }
}

/// Whether running the unit again may succeed: serialization failures and deadlocks.
fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// A pooled connection for a unit of work, holding the writers' lock (a
/// session-level advisory lock, [`WRITERS`]) shared or alone, taken before
/// the transaction begins so that its snapshot comes after the wait. Dropped
/// while it may hold the lock (the request was cancelled mid-unit), the
/// connection is closed instead of going back to the pool: closing it
/// releases the lock.
pub(super) struct Writer {
    client: Option<deadpool_postgres::Object>,
    exclusive: bool,
    may_hold_lock: bool,
}

impl Writer {
    /// A connection holding the writers' lock: alone with `exclusive`, else shared.
    pub(super) async fn get(pool: &Pool, exclusive: bool) -> StoreResult<Writer> {
        let mut writer = Writer { client: Some(pool.get().await?), exclusive, may_hold_lock: false };
        // Set first: a cancellation while the lock is being granted must close the connection too.
        writer.may_hold_lock = true;
        let lock = if exclusive { "SELECT pg_advisory_lock($1)" } else { "SELECT pg_advisory_lock_shared($1)" };
        writer.client().execute(lock, &[&WRITERS]).await?;
        Ok(writer)
    }

    pub(super) fn client(&mut self) -> &mut deadpool_postgres::Object {
        self.client.as_mut().expect("a writer keeps its connection until dropped")
    }

    /// Gives the lock back (if held) and the connection to the pool.
    pub(super) async fn release(mut self) {
        let unlock =
            if self.exclusive { "SELECT pg_advisory_unlock($1)" } else { "SELECT pg_advisory_unlock_shared($1)" };
        if self.may_hold_lock && self.client().execute(unlock, &[&WRITERS]).await.is_ok() {
            self.may_hold_lock = false;
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.may_hold_lock
            && let Some(client) = self.client.take()
        {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// Runs `$body` (an expression using the transaction `$tx`, with `?` on
/// [`PgResult`]s and [`StoreResult`]s; `return Ok(v)` ends it early) in one
/// SERIALIZABLE transaction, committed if it succeeds.
///
/// The first attempt runs beside other units (holding the writers' lock
/// shared). After a serialization failure the unit runs
/// again holding the lock alone: it waits until the units in flight have
/// ended, units that start meanwhile wait behind it, and, running by itself,
/// it cannot collide again. Units that touch different rows run in parallel;
/// those that collide (audited events of one organisation, which all move its
/// chain's head) queue, as SQLite's writers do, instead of failing.
macro_rules! unit {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            let exclusive = attempt > 0;
            let mut writer = $crate::store::postgres::Writer::get(&$store.pool, exclusive).await?;
            let outcome: Result<_, $crate::store::postgres::Failure> = async {
                let $tx = writer
                    .client()
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::Serializable)
                    .start()
                    .await?;
                // Its own block: a `return Ok(..)` in the body ends the body, not the unit, and commits.
                let out = async { Ok::<_, $crate::store::postgres::Failure>({ $body }) }.await?;
                $tx.commit().await?;
                Ok(out)
            }
            .await;
            writer.release().await;
            match outcome {
                Ok(out) => break Ok(out),
                Err($crate::store::postgres::Failure::Db(e))
                    if $crate::store::postgres::retryable(&e) && attempt + 1 < $crate::store::postgres::ATTEMPTS =>
                {
                    attempt += 1;
                }
                Err($crate::store::postgres::Failure::Db(e)) => break Err($crate::store::StoreError::from(e)),
                Err($crate::store::postgres::Failure::Store(e)) => break Err(e),
            }
        }
    }};
}

/// Runs `$body` in one REPEATABLE READ READ ONLY transaction: one consistent
/// snapshot, no locks, never a serialization failure.
macro_rules! read {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.pool.get().await?;
        let outcome: Result<_, $crate::store::postgres::Failure> = async {
            let $tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            // Its own block: a `return Ok(..)` in the body ends the body, not the unit, and commits.
            let out = async { Ok::<_, $crate::store::postgres::Failure>({ $body }) }.await?;
            $tx.commit().await?;
            Ok(out)
        }
        .await;
        match outcome {
            Ok(out) => Ok(out),
            Err($crate::store::postgres::Failure::Db(e)) => Err($crate::store::StoreError::from(e)),
            Err($crate::store::postgres::Failure::Store(e)) => Err(e),
        }
    }};
}

// After the macros, which are in scope only below their definitions.
mod accounts;
mod admin;
mod chain;
mod codes;
pub(super) mod import;
mod inbound;
mod licences;
mod lifecycle;
mod packages;
mod policies;
mod queue;
mod sso;
mod uploads;

/// Connects to and migrates the database at `url`.
pub(crate) async fn open(
    url: &str,
    ca_file: Option<&std::path::Path>,
) -> anyhow::Result<std::sync::Arc<dyn super::MetaStore>> {
    let store = PostgresStore::open(url, ca_file).await?;
    Ok(std::sync::Arc::new(store))
}

#[derive(Clone)]
pub(crate) struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL or key=value
    /// string, as libpq takes) and migrates it.
    pub(crate) async fn open(url: &str, ca_file: Option<&std::path::Path>) -> anyhow::Result<PostgresStore> {
        let config: tokio_postgres::Config =
            url.parse().context("database_url is not a PostgreSQL connection string")?;
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match config.get_ssl_mode() {
            SslMode::Disable | SslMode::Prefer => {
                // Prefer would fall back to plain text silently; plain text only when asked for.
                if config.get_ssl_mode() == SslMode::Prefer && !only_local_sockets(&config) {
                    anyhow::bail!(
                        "database_url: say sslmode=require to connect over TCP with TLS, or sslmode=disable for plain text"
                    );
                }
                Manager::from_config(config, tokio_postgres::NoTls, manager_config)
            }
            _ => Manager::from_config(config, tls(ca_file)?, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .context("cannot make the PostgreSQL pool")?;
        let store = PostgresStore { pool };
        store.migrate().await.context("database migration failed")?;
        Ok(store)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let mut client = self.pool.get().await.context("cannot connect to PostgreSQL")?;
        let tx = client.build_transaction().isolation_level(IsolationLevel::ReadCommitted).start().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS kluis_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let version: i64 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM kluis_schema", &[]).await?.get(0);
        let known = MIGRATIONS.len() as i64;
        if version > known {
            anyhow::bail!("the database is at schema version {version}, newer than this kluis-server knows ({known})");
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(sql).await.with_context(|| format!("migration {}", i + 1))?;
            tx.execute("INSERT INTO kluis_schema (version, applied_at) VALUES ($1, $2)", &[&(i as i64 + 1), &now()])
                .await?;
            tracing::info!(version = i + 1, "database migrated");
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Whether every host of `config` is a Unix socket (no network to encrypt).
fn only_local_sockets(config: &tokio_postgres::Config) -> bool {
    !config.get_hosts().is_empty()
        && config.get_hosts().iter().all(|h| matches!(h, tokio_postgres::config::Host::Unix(_)))
}

/// The certificates of `database_ca_file`: a private CA (as managed databases
/// use), trusted instead of the web's roots.
fn private_roots(path: &std::path::Path) -> anyhow::Result<rustls::RootCertStore> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).with_context(|| format!("cannot read database_ca_file {}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| anyhow::anyhow!("database_ca_file {} is not valid PEM: {e}", path.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("database_ca_file {}: a certificate rustls refuses", path.display()))?;
    }
    if roots.is_empty() {
        anyhow::bail!("no certificate (-----BEGIN CERTIFICATE-----) in database_ca_file {}", path.display());
    }
    Ok(roots)
}

/// TLS to the database: rustls on ring, which always checks the server's
/// certificate and name (libpq's verify-full), against the web's roots or
/// the certificates of `database_ca_file`.
fn tls(ca_file: Option<&std::path::Path>) -> anyhow::Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let roots = match ca_file {
        None => rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() },
        Some(path) => private_roots(path)?,
    };
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS to PostgreSQL")?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

fn now() -> i64 {
    crate::domain::now()
}

/// Appends an audit event, chained onto its organisation's newest row
/// (inside the caller's transaction; `chain.rs`).
async fn audit(tx: &Tx<'_>, at: i64, e: &NewEvent) -> PgResult<()> {
    chain::append(tx, at, e).await
}

#[async_trait]
impl MetaStore for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        read!(self, |tx| {
            tx.query_one("SELECT 1", &[]).await?;
        })
    }

    async fn ensure_organisation(&self, name: &str) -> StoreResult<i64> {
        unit!(self, |tx| accounts::ensure_organisation(&tx, name, now()).await?)
    }
    async fn create_organisation(&self, name: &str, domains: &[String]) -> StoreResult<Organisation> {
        unit!(self, |tx| accounts::create_organisation(&tx, name, domains, now()).await?)
    }
    async fn organisation(&self, id: i64) -> StoreResult<Option<Organisation>> {
        read!(self, |tx| accounts::organisation(&tx, id).await?)
    }
    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        read!(self, |tx| accounts::organisations(&tx).await?)
    }
    async fn organisation_of_domain(&self, domain: &str) -> StoreResult<Option<Organisation>> {
        read!(self, |tx| accounts::organisation_of_domain(&tx, domain).await?)
    }
    async fn add_user(&self, user: NewUser) -> StoreResult<Option<User>> {
        unit!(self, |tx| accounts::add_user(&tx, &user, now()).await?)
    }
    async fn users(&self, query: UserQuery) -> StoreResult<Vec<UserRecord>> {
        read!(self, |tx| admin::users(&tx, &query).await?)
    }
    async fn org_user(&self, org_id: i64, id: i64) -> StoreResult<Option<UserRecord>> {
        read!(self, |tx| admin::user(&tx, org_id, id).await?)
    }
    async fn change_user(
        &self,
        org_id: i64,
        id: i64,
        change: UserChange,
        rule: Rule<i64>,
    ) -> StoreResult<Option<UserRecord>> {
        unit!(self, |tx| {
            let (user, admins) = admin::change_user(&tx, org_id, id, &change, now()).await?;
            rule(&admins).map_err(|e| StoreError::Refused(Box::new(e)))?;
            user
        })
    }
    async fn org_packages(
        &self,
        org_id: i64,
        before: Option<PackageCursor>,
        limit: i64,
    ) -> StoreResult<Vec<OrgPackage>> {
        read!(self, |tx| admin::packages(&tx, org_id, before.as_ref(), limit).await?)
    }
    async fn audit_page(&self, query: AuditQuery) -> StoreResult<Vec<AuditRow>> {
        read!(self, |tx| admin::audit(&tx, &query).await?)
    }
    async fn org_stats(&self, org_id: i64, since: i64) -> StoreResult<OrgStats> {
        read!(self, |tx| admin::stats(&tx, org_id, since, now()).await?)
    }
    async fn update_organisation(
        &self,
        org_id: i64,
        name: &str,
        domains: &[String],
        rule: Rule<Vec<(String, String)>>,
    ) -> StoreResult<Organisation> {
        unit!(self, |tx| match admin::update_organisation(&tx, org_id, name, domains).await? {
            Ok(org) => org,
            Err(taken) => {
                rule(&taken).map_err(|e| StoreError::Refused(Box::new(e)))?;
                Err(StoreError::Backend("a rule accepted mail domains of another organisation".into()))?
            }
        })
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        read!(self, |tx| accounts::user_by_email(&tx, email).await?)
    }
    async fn user(&self, id: i64) -> StoreResult<Option<User>> {
        read!(self, |tx| accounts::user(&tx, id).await?)
    }
    async fn create_token(
        &self,
        user_id: i64,
        hash: &str,
        label: &str,
        now: i64,
        expires_at: Option<i64>,
    ) -> StoreResult<i64> {
        unit!(self, |tx| accounts::create_token(&tx, user_id, hash, label, now, expires_at).await?)
    }
    async fn use_token(&self, hash: &str, now: i64, unused_since: i64) -> StoreResult<Option<(User, i64)>> {
        unit!(self, |tx| accounts::use_token(&tx, hash, now, unused_since).await?)
    }
    async fn tokens(&self, user_id: i64, now: i64, unused_since: i64) -> StoreResult<Vec<TokenRecord>> {
        read!(self, |tx| accounts::tokens(&tx, user_id, now, unused_since).await?)
    }
    async fn revoke_token(&self, user_id: i64, token_id: i64, now: i64) -> StoreResult<bool> {
        unit!(self, |tx| accounts::revoke_token(&tx, user_id, token_id, now).await?)
    }

    async fn sso_settings(&self, org_id: i64) -> StoreResult<Option<super::SsoSettings>> {
        read!(self, |tx| sso::settings(&tx, org_id).await?)
    }
    async fn put_sso_settings(&self, settings: super::SsoSettings) -> StoreResult<()> {
        unit!(self, |tx| sso::put_settings(&tx, &settings).await?)
    }
    async fn remove_sso_settings(&self, org_id: i64) -> StoreResult<bool> {
        unit!(self, |tx| sso::remove_settings(&tx, org_id).await?)
    }
    async fn start_sso_flow(
        &self,
        state_hash: &str,
        org_id: i64,
        browser_hash: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        unit!(self, |tx| sso::start_flow(&tx, state_hash, org_id, browser_hash, expires_at, now()).await?)
    }
    async fn take_sso_flow(&self, state_hash: &str, now: i64) -> StoreResult<Option<(i64, String)>> {
        unit!(self, |tx| sso::take_flow(&tx, state_hash, now).await?)
    }
    async fn sso_user(&self, org_id: i64, email: &str, create: bool) -> StoreResult<super::SsoUser> {
        unit!(self, |tx| sso::user(&tx, org_id, email, create, now()).await?)
    }
    async fn put_sso_handoff(&self, hash: &str, user_id: i64, expires_at: i64) -> StoreResult<()> {
        unit!(self, |tx| sso::put_handoff(&tx, hash, user_id, expires_at, now()).await?)
    }
    async fn take_sso_handoff(&self, hash: &str, now: i64) -> StoreResult<Option<User>> {
        unit!(self, |tx| sso::take_handoff(&tx, hash, now).await?)
    }

    async fn put_code(&self, key: &CodeKey, hash: &str, expires_at: i64) -> StoreResult<()> {
        unit!(self, |tx| codes::put_code(&tx, key, hash, expires_at).await?)
    }
    async fn code(&self, key: &CodeKey) -> StoreResult<Option<StoredCode>> {
        read!(self, |tx| codes::code(&tx, key).await?)
    }
    async fn spend_code(&self, key: &CodeKey, hash: &str) -> StoreResult<bool> {
        unit!(self, |tx| codes::spend_code(&tx, key, hash).await?)
    }
    async fn record_send(&self, subject: &str, now: i64) -> StoreResult<()> {
        unit!(self, |tx| codes::record_send(&tx, subject, now).await?)
    }
    async fn send_history(&self, subject: &str, now: i64) -> StoreResult<SendHistory> {
        read!(self, |tx| codes::send_history(&tx, subject, now).await?)
    }
    async fn count_failure(&self, counters: &[Counter], now: i64) -> StoreResult<Vec<i64>> {
        unit!(self, |tx| codes::count_failure(&tx, counters, now).await?)
    }
    async fn failures(&self, counters: &[Counter]) -> StoreResult<Vec<i64>> {
        read!(self, |tx| codes::failures(&tx, counters).await?)
    }
    async fn lock_verification(&self, package_id: &str) -> StoreResult<bool> {
        unit!(self, |tx| {
            tx.execute(
                "UPDATE packages SET verification_locked = TRUE WHERE id = $1 AND verification_locked = FALSE",
                &[&package_id],
            )
            .await?
                == 1
        })
    }

    async fn create_package(&self, new: NewPackage, quota: Rule<Usage>, event: NewEvent) -> StoreResult<()> {
        unit!(self, |tx| {
            let mut usage = packages::usage(&tx, new.sender_id).await?;
            usage.unfinished_packages += 1;
            usage.reserved_bytes = usage.reserved_bytes.saturating_add(new.blob_sizes.iter().sum::<i64>());
            quota(&usage).map_err(|e| StoreError::Refused(Box::new(e)))?;
            packages::create(&tx, &new).await?;
            audit(&tx, now(), &event).await?;
        })
    }
    async fn package(&self, id: &str) -> StoreResult<Option<Package>> {
        read!(self, |tx| packages::get(&tx, id).await?)
    }
    async fn package_record(&self, id: &str) -> StoreResult<Option<PackageRecord>> {
        // One snapshot: the package and its blobs and recipients as of the same moment.
        read!(self, |tx| match packages::get(&tx, id).await? {
            Some(p) => Some(packages::record(&tx, p).await?),
            None => None,
        })
    }
    async fn licence(&self, org_id: i64) -> StoreResult<Option<StoredLicence>> {
        read!(self, |tx| licences::get(&tx, org_id).await?)
    }
    async fn put_licence(&self, org_id: i64, text: &str, installed_by: &str, event: NewEvent) -> StoreResult<()> {
        unit!(self, |tx| {
            let at = now();
            licences::put(&tx, org_id, text, at, installed_by).await?;
            audit(&tx, at, &event).await?;
        })
    }
    async fn policy(&self, org_id: i64) -> StoreResult<Option<StoredPolicy>> {
        read!(self, |tx| policies::current(&tx, org_id).await?)
    }
    async fn policy_versions(&self, org_id: i64, limit: i64) -> StoreResult<Vec<StoredPolicy>> {
        read!(self, |tx| policies::versions(&tx, org_id, limit).await?)
    }
    async fn put_policy(
        &self,
        org_id: i64,
        after: u32,
        document: &str,
        by: &str,
        event: NewEvent,
    ) -> StoreResult<bool> {
        unit!(self, |tx| {
            let at = now();
            let saved = policies::put(&tx, org_id, after, document, at, by).await?;
            if saved {
                audit(&tx, at, &event).await?;
            }
            saved
        })
    }
    async fn holds_seat(&self, org_id: i64, user_id: i64) -> StoreResult<bool> {
        read!(self, |tx| licences::holds_seat(&tx, org_id, user_id).await?)
    }
    async fn licence_warned(&self, org_id: i64, warning: LicenceWarning) -> StoreResult<bool> {
        unit!(self, |tx| {
            let moved = licences::move_warned(&tx, org_id, warning.before.as_deref(), &warning.stage).await?;
            if moved {
                let at = now();
                for (to, subject, body) in &warning.mails {
                    queue::enqueue(&tx, to, subject, body, at).await?;
                }
                audit(&tx, at, &warning.event).await?;
            }
            moved
        })
    }
    async fn seats_used(&self, org_id: i64) -> StoreResult<i64> {
        read!(self, |tx| licences::seats_used(&tx, org_id).await?)
    }
    async fn claim_seat(&self, org_id: i64, user_id: i64, total: u32, event: NewEvent) -> StoreResult<SeatClaim> {
        unit!(self, |tx| {
            let claim = licences::claim(&tx, org_id, user_id, total).await?;
            if claim == SeatClaim::Claimed {
                audit(&tx, now(), &event).await?;
            }
            claim
        })
    }
    async fn release_seat(&self, org_id: i64, user_id: i64, event: NewEvent) -> StoreResult<bool> {
        unit!(self, |tx| {
            let released = licences::release(&tx, org_id, user_id).await?;
            if released {
                audit(&tx, now(), &event).await?;
            }
            released
        })
    }
    async fn packages_page(
        &self,
        sender_id: i64,
        org_id: i64,
        after: Option<PackageCursor>,
        limit: i64,
    ) -> StoreResult<Vec<PackageRecord>> {
        read!(self, |tx| packages::sent_page(&tx, sender_id, org_id, after.as_ref(), limit).await?)
    }
    async fn sent_page(
        &self,
        sender_id: i64,
        org_id: i64,
        after: Option<PackageCursor>,
        limit: i64,
    ) -> StoreResult<(Vec<PackageRecord>, Vec<ActivityRow>)> {
        // One snapshot: the page and its activity as of the same moment.
        read!(self, |tx| {
            let records = packages::sent_page(&tx, sender_id, org_id, after.as_ref(), limit).await?;
            let ids: Vec<&str> = records.iter().map(|r| r.package.id.as_str()).collect();
            let activity = packages::activity(&tx, &ids).await?;
            (records, activity)
        })
    }
    async fn activity(&self, package_id: &str) -> StoreResult<Vec<ActivityRow>> {
        read!(self, |tx| packages::activity(&tx, &[package_id]).await?)
    }
    async fn is_recipient(&self, id: &str, email: &str) -> StoreResult<bool> {
        read!(self, |tx| packages::is_recipient(&tx, id, email).await?)
    }
    async fn blobs(&self, id: &str) -> StoreResult<Vec<Blob>> {
        read!(self, |tx| packages::blobs(&tx, id).await?)
    }
    async fn finalize(&self, id: &str, verifiers: Verifiers, event: NewEvent) -> StoreResult<Finalized> {
        unit!(self, |tx| {
            let blobs = packages::blobs(&tx, id).await?;
            let missing: Vec<i64> = blobs.iter().filter(|b| !b.complete).map(|b| b.idx).collect();
            if !missing.is_empty() {
                Finalized::Missing(missing)
            } else {
                let at = now();
                let first_time = packages::set_ready(&tx, id, &verifiers, at).await?;
                if first_time {
                    audit(&tx, at, &event).await?;
                }
                let package =
                    packages::get(&tx, id).await?.ok_or_else(|| StoreError::Backend("package vanished".into()))?;
                Finalized::Done(Box::new(packages::record(&tx, package).await?))
            }
        })
    }
    async fn end_package(&self, id: &str, state: PackageState, event: NewEvent) -> StoreResult<bool> {
        unit!(self, |tx| {
            let ended = packages::end(&tx, id, state).await?;
            if ended {
                audit(&tx, now(), &event).await?;
            }
            ended
        })
    }
    async fn delete_package(&self, id: &str, event: NewEvent) -> StoreResult<()> {
        unit!(self, |tx| {
            tx.execute("DELETE FROM packages WHERE id = $1", &[&id]).await?;
            audit(&tx, now(), &event).await?;
        })
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
        unit!(self, |tx| {
            // Checked inside the transaction: two recipients racing for the last download.
            let package =
                packages::get(&tx, id).await?.ok_or_else(|| StoreError::Backend("package vanished".into()))?;
            rule(&package).map_err(|e| StoreError::Refused(Box::new(e)))?;
            let first = packages::count_download(&tx, id).await?;
            packages::create_session(&tx, session_hash, id, session_email, session_expires_at.min(package.expires_at))
                .await?;
            audit(&tx, now(), &event).await?;
            let notify = if first {
                let sender = accounts::user(&tx, package.sender_id).await?.map(|u| u.email).unwrap_or_default();
                Some((sender, packages::recipients(&tx, id).await?))
            } else {
                None
            };
            let blobs = packages::blobs(&tx, id).await?;
            Grant { package, blobs, notify }
        })
    }
    async fn session(&self, hash: &str, package_id: &str, now: i64) -> StoreResult<Option<Option<String>>> {
        read!(self, |tx| packages::session(&tx, hash, package_id, now).await?)
    }
    async fn overdue_packages(&self, now: i64) -> StoreResult<Vec<String>> {
        read!(self, |tx| packages::overdue(&tx, now).await?)
    }
    async fn ended_with_blobs(&self) -> StoreResult<Vec<String>> {
        read!(self, |tx| packages::ended_with_blobs(&tx).await?)
    }
    async fn forget_blob(&self, id: &str, idx: i64) -> StoreResult<()> {
        unit!(self, |tx| {
            tx.execute("DELETE FROM blobs WHERE package_id = $1 AND idx = $2", &[&id, &idx]).await?;
        })
    }
    async fn blob_keys(&self) -> StoreResult<Vec<(String, i64)>> {
        read!(self, |tx| {
            let rows = tx.query("SELECT package_id, idx FROM blobs", &[]).await?;
            rows.iter().map(|r| (r.get(0), r.get(1))).collect::<Vec<(String, i64)>>()
        })
    }

    async fn create_upload(&self, upload: &Upload, quota: Rule<Usage>) -> StoreResult<Option<String>> {
        unit!(self, |tx| {
            let old = uploads::for_blob(&tx, &upload.package_id, upload.blob_idx).await?;
            let mut usage = packages::usage(&tx, upload.user_id).await?;
            if old.is_none() {
                usage.open_uploads += 1;
            }
            quota(&usage).map_err(|e| StoreError::Refused(Box::new(e)))?;
            // A new upload for the same blob supersedes an unfinished one.
            if let Some(old) = &old {
                uploads::delete(&tx, &old.id).await?;
            }
            uploads::create(&tx, upload, now()).await?;
            old.map(|o| o.id)
        })
    }
    async fn upload(&self, id: &str) -> StoreResult<Option<Upload>> {
        read!(self, |tx| uploads::get(&tx, id).await?)
    }
    async fn acquire_lease(&self, id: &str, owner: &str, until: i64, now: i64) -> StoreResult<Lease> {
        unit!(self, |tx| {
            if uploads::get(&tx, id).await?.is_none() {
                Lease::Missing
            } else if !uploads::acquire(&tx, id, owner, until, now).await? {
                let held: Option<i64> =
                    tx.query_one("SELECT lease_until FROM uploads WHERE id = $1", &[&id]).await?.get(0);
                Lease::Busy { until: held.unwrap_or(now) }
            } else {
                uploads::get(&tx, id).await?.map_or(Lease::Missing, Lease::Acquired)
            }
        })
    }
    async fn record_offset(
        &self,
        id: &str,
        owner: &str,
        offset: i64,
        expires_at: i64,
        lease_until: i64,
    ) -> StoreResult<bool> {
        unit!(self, |tx| uploads::record_offset(&tx, id, owner, offset, expires_at, lease_until).await?)
    }
    async fn release_lease(&self, id: &str, owner: &str) -> StoreResult<()> {
        unit!(self, |tx| uploads::release(&tx, id, owner).await?)
    }
    async fn complete_upload(&self, id: &str, event: NewEvent) -> StoreResult<()> {
        unit!(self, |tx| {
            if let Some(up) = uploads::get(&tx, id).await? {
                let marked = tx
                    .execute(
                        "UPDATE blobs SET complete = TRUE WHERE package_id = $1 AND idx = $2 AND NOT complete",
                        &[&up.package_id, &up.blob_idx],
                    )
                    .await?;
                if marked == 1 {
                    audit(&tx, now(), &event).await?;
                }
            }
        })
    }
    async fn delete_upload(&self, id: &str) -> StoreResult<()> {
        unit!(self, |tx| uploads::delete(&tx, id).await?)
    }
    async fn abandoned_uploads(&self, now: i64) -> StoreResult<Vec<Upload>> {
        read!(self, |tx| uploads::abandoned(&tx, now).await?)
    }
    async fn uploads_of_package(&self, id: &str) -> StoreResult<Vec<Upload>> {
        read!(self, |tx| uploads::of_package(&tx, id).await?)
    }

    async fn record(&self, event: NewEvent) -> StoreResult<()> {
        unit!(self, |tx| audit(&tx, now(), &event).await?)
    }
    async fn events(&self, package_id: &str, after: i64, limit: i64) -> StoreResult<Vec<AuditRow>> {
        read!(self, |tx| {
            let rows = tx
                .query(
                    "SELECT id, at, event, actor, package_id, detail FROM audit WHERE package_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                    &[&package_id, &after, &limit],
                )
                .await?;
            rows.iter().map(admin::audit_row).collect::<Vec<_>>()
        })
    }
    async fn audit_heads(&self) -> StoreResult<Vec<AuditHead>> {
        // One snapshot: the organisations and their heads as of the same moment.
        read!(self, |tx| chain::heads(&tx).await?)
    }
    async fn prune_audit(
        &self,
        org_id: i64,
        before: i64,
        pruned: Box<dyn Fn(u64, i64, Vec<u8>) -> NewEvent + Send + Sync>,
    ) -> StoreResult<u64> {
        unit!(self, |tx| match chain::prune(&tx, org_id, before).await? {
            Some((deleted, first_id, anchor)) => {
                audit(&tx, now(), &pruned(deleted, first_id, anchor)).await?;
                deleted
            }
            None => 0,
        })
    }
    async fn set_org_settings(&self, org_id: i64, settings: OrgSettings) -> StoreResult<()> {
        unit!(self, |tx| accounts::set_settings(&tx, org_id, &settings).await?)
    }
    async fn audit_chain(
        &self,
        org_id: Option<i64>,
        after: i64,
        until: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<ChainedRow>> {
        read!(self, |tx| chain::rows(&tx, org_id, after, until, limit).await?)
    }

    async fn enqueue_mail(&self, to: &str, subject: &str, body: &str, now: i64) -> StoreResult<()> {
        unit!(self, |tx| queue::enqueue(&tx, to, subject, body, now).await?)
    }
    async fn claim_due_mail(&self, now: i64, until: i64) -> StoreResult<Option<QueuedMail>> {
        unit!(self, |tx| queue::claim_due(&tx, now, until).await?)
    }
    async fn mail_sent(&self, id: i64) -> StoreResult<()> {
        unit!(self, |tx| queue::sent(&tx, id, now()).await?)
    }
    async fn mail_failed(&self, id: i64, retry_at: Option<i64>, error: &str) -> StoreResult<()> {
        unit!(self, |tx| queue::failed(&tx, id, retry_at, error, now()).await?)
    }
    async fn mail_queue_length(&self) -> StoreResult<i64> {
        read!(self, |tx| queue::waiting(&tx).await?)
    }
    async fn take_job_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> StoreResult<bool> {
        unit!(self, |tx| queue::take_job_lease(&tx, name, holder, now, until).await?)
    }

    async fn count_request(&self, client: &str, window_start: i64) -> StoreResult<i64> {
        // Not a SERIALIZABLE unit: one upsert is atomic on its own, and requests
        // of one client racing for its row would only fail and retry there.
        let connection = self.pool.get().await?;
        Ok(codes::count_request(&connection, client, window_start).await?)
    }

    async fn sweep(&self, now: i64) -> StoreResult<()> {
        unit!(self, |tx| {
            // A window counts for a minute; one that ended is not looked at again.
            tx.execute("DELETE FROM rate_windows WHERE window_start < $1", &[&(now - 120)]).await?;
            tx.execute("DELETE FROM download_sessions WHERE expires_at <= $1", &[&now]).await?;
            tx.execute("DELETE FROM uploader_sessions WHERE expires_at <= $1", &[&now]).await?;
            tx.execute("DELETE FROM code_sends WHERE sent_at < $1", &[&(now - 86_400)]).await?;
            tx.execute("DELETE FROM codes WHERE expires_at < $1", &[&now]).await?;
            // Windowed counters end with their window (at most a day); lifetime ones with their package.
            tx.execute("DELETE FROM failures WHERE window_start > 0 AND updated_at < $1", &[&(now - 2 * 86_400)])
                .await?;
            // Lifetime counters belong to packages, which live at most max_expiry_days (bounded by config).
            tx.execute("DELETE FROM failures WHERE window_start = 0 AND updated_at < $1", &[&(now - 400 * 86_400)])
                .await?;
            tx.execute("DELETE FROM mail_queue WHERE sent_at IS NOT NULL AND sent_at < $1", &[&(now - 7 * 86_400)])
                .await?;
        })
    }

    /// Not ported: the SQLite backup API copies a database file; PostgreSQL is backed up with pg_dump.
    async fn snapshot(&self, _dir: &Path) -> StoreResult<()> {
        Err(StoreError::Backend(
            "a PostgreSQL store is backed up with pg_dump; kluis-server backup covers SQLite installs".into(),
        ))
    }
    async fn complete_blobs(
        &self,
        org_id: Option<i64>,
        deleted: bool,
        after: Option<(String, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<StoredBlob>> {
        read!(self, |tx| lifecycle::complete_blobs(&tx, org_id, deleted, after.as_ref(), limit).await?)
    }
    async fn soft_delete_package(&self, id: &str, by: &str, event: NewEvent) -> StoreResult<bool> {
        unit!(self, |tx| {
            let at = now();
            let deleted = lifecycle::soft_delete(&tx, id, at, by).await?;
            if deleted {
                audit(&tx, at, &event).await?;
            }
            deleted
        })
    }
    async fn deleted_packages(&self, org_id: i64, limit: i64) -> StoreResult<Vec<DeletedPackage>> {
        read!(self, |tx| lifecycle::deleted_packages(&tx, org_id, limit).await?)
    }
    async fn restore_package(&self, org_id: i64, id: &str, event: NewEvent) -> StoreResult<bool> {
        unit!(self, |tx| {
            let restored = lifecycle::restore(&tx, org_id, id).await?;
            if restored {
                audit(&tx, now(), &event).await?;
            }
            restored
        })
    }
    async fn deleted_before(&self, before: i64) -> StoreResult<Vec<(String, i64)>> {
        read!(self, |tx| lifecycle::deleted_before(&tx, before).await?)
    }
    async fn export_users(&self, org_id: i64, after: i64, limit: i64) -> StoreResult<Vec<ExportUser>> {
        read!(self, |tx| lifecycle::export_users(&tx, org_id, after, limit).await?)
    }
    async fn user_key(&self, user_id: i64) -> StoreResult<Option<StoredKey>> {
        read!(self, |tx| inbound::key(&tx, user_id).await?)
    }
    async fn put_user_key(&self, key: StoredKey, rule: Rule<Option<StoredKey>>, event: NewEvent) -> StoreResult<()> {
        unit!(self, |tx| {
            let kept = inbound::key(&tx, key.user_id).await?;
            rule(&kept).map_err(|e| StoreError::Refused(Box::new(e)))?;
            inbound::put_key(&tx, &key).await?;
            audit(&tx, now(), &event).await?;
        })
    }
    async fn recovery_recipient(&self, org_id: i64) -> StoreResult<Option<String>> {
        read!(self, |tx| inbound::recovery_recipient(&tx, org_id).await?)
    }
    async fn set_recovery_recipient(&self, org_id: i64, recipient: Option<String>, event: NewEvent) -> StoreResult<()> {
        unit!(self, |tx| {
            inbound::set_recovery_recipient(&tx, org_id, recipient.as_deref()).await?;
            audit(&tx, now(), &event).await?;
        })
    }
    async fn colleague(&self, org_id: i64, email: &str) -> StoreResult<Option<(User, Option<String>)>> {
        read!(self, |tx| inbound::colleague(&tx, org_id, email).await?)
    }
    async fn colleague_keys(&self, org_id: i64, emails: Vec<String>) -> StoreResult<Vec<(User, String)>> {
        read!(self, |tx| inbound::colleague_keys(&tx, org_id, &emails).await?)
    }
    async fn is_package_receiver(&self, package_id: &str, user_id: i64) -> StoreResult<bool> {
        read!(self, |tx| packages::is_receiver(&tx, package_id, user_id).await?)
    }
    async fn create_request(&self, request: UploadRequest, event: NewEvent) -> StoreResult<()> {
        unit!(self, |tx| {
            inbound::create_request(&tx, &request).await?;
            audit(&tx, now(), &event).await?;
        })
    }
    async fn request(&self, id: &str, now: i64) -> StoreResult<Option<UploadRequest>> {
        read!(self, |tx| inbound::request(&tx, id, now).await?)
    }
    async fn reply_request(&self, package_id: &str, make: UploadRequest, now: i64) -> StoreResult<UploadRequest> {
        unit!(self, |tx| match inbound::reply_request(&tx, package_id, now).await? {
            Some(kept) => kept,
            None => {
                inbound::create_request(&tx, &make).await?;
                inbound::reply_request(&tx, package_id, now)
                    .await?
                    .ok_or_else(|| StoreError::Backend("reply request vanished".into()))?
            }
        })
    }
    async fn portal(&self, name: &str, now: i64) -> StoreResult<Option<UploadRequest>> {
        read!(self, |tx| inbound::portal(&tx, name, now).await?)
    }
    async fn portals(&self, org_id: i64, now: i64) -> StoreResult<Vec<UploadRequest>> {
        read!(self, |tx| inbound::portals(&tx, org_id, now).await?)
    }
    async fn requests(&self, user_id: i64, now: i64, limit: i64) -> StoreResult<Vec<UploadRequest>> {
        read!(self, |tx| inbound::requests(&tx, user_id, now, limit).await?)
    }
    async fn close_request(&self, id: &str, at: i64, event: NewEvent) -> StoreResult<bool> {
        unit!(self, |tx| {
            let closed = inbound::close_request(&tx, id, at).await?;
            if closed {
                audit(&tx, at, &event).await?;
            }
            closed
        })
    }
    async fn create_uploader_session(
        &self,
        session: UploaderSession,
        expires_at: i64,
        supersede: Option<EventOf>,
    ) -> StoreResult<Vec<String>> {
        unit!(self, |tx| {
            let mut ended = Vec::new();
            if let Some(event) = &supersede {
                for id in inbound::superseded(&tx, &session.request_id, &session.email, &session.hash).await? {
                    if inbound::abandon(&tx, &id, None).await? {
                        audit(&tx, now(), &event(&id)).await?;
                        ended.push(id);
                    }
                }
            }
            inbound::create_session(&tx, &session, expires_at).await?;
            ended
        })
    }
    async fn abandon_delivery(&self, id: &str, session: &str, event: NewEvent) -> StoreResult<bool> {
        unit!(self, |tx| {
            let ended = inbound::abandon(&tx, id, Some(session)).await?;
            if ended {
                audit(&tx, now(), &event).await?;
            }
            ended
        })
    }
    async fn uploader_session(&self, hash: &str, now: i64) -> StoreResult<Option<UploaderSession>> {
        read!(self, |tx| inbound::session(&tx, hash, now).await?)
    }
    async fn create_delivery(
        &self,
        new: NewDelivery,
        rule: Rule<UploadRequest>,
        quota: Rule<Usage>,
        event: NewEvent,
    ) -> StoreResult<()> {
        unit!(self, |tx| {
            // Counted inside the transaction: two uploaders racing for the last place.
            let request = inbound::request(&tx, &new.inbound.request_id, new.created_at)
                .await?
                .ok_or_else(|| StoreError::Backend("request vanished".into()))?;
            rule(&request).map_err(|e| StoreError::Refused(Box::new(e)))?;
            let mut usage = packages::usage(&tx, new.owner_id).await?;
            usage.unfinished_packages += 1;
            usage.reserved_bytes = usage.reserved_bytes.saturating_add(new.blob_sizes.iter().sum::<i64>());
            quota(&usage).map_err(|e| StoreError::Refused(Box::new(e)))?;
            inbound::create_delivery(&tx, &new).await?;
            audit(&tx, new.created_at, &event).await?;
        })
    }
    async fn finalize_delivery(&self, id: &str, at: i64, keep_until: i64, event: NewEvent) -> StoreResult<Finalized> {
        unit!(self, |tx| {
            let blobs = packages::blobs(&tx, id).await?;
            let missing: Vec<i64> = blobs.iter().filter(|b| !b.complete).map(|b| b.idx).collect();
            if !missing.is_empty() {
                Finalized::Missing(missing)
            } else {
                if inbound::set_received(&tx, id, at, keep_until).await? {
                    audit(&tx, at, &event).await?;
                }
                let package =
                    packages::get(&tx, id).await?.ok_or_else(|| StoreError::Backend("delivery vanished".into()))?;
                Finalized::Done(Box::new(packages::record(&tx, package).await?))
            }
        })
    }
    async fn inbox_page(
        &self,
        owner_id: i64,
        org_id: i64,
        after: Option<PackageCursor>,
        limit: i64,
    ) -> StoreResult<Vec<PackageRecord>> {
        read!(self, |tx| inbound::inbox(&tx, owner_id, org_id, after.as_ref(), limit).await?)
    }
    async fn delete_organisation(
        &self,
        org_id: i64,
        tombstone: Box<dyn for<'d> Fn(&'d Deleted) -> NewEvent + Send + Sync>,
    ) -> StoreResult<Option<Deleted>> {
        // SQLite zeroes the deleted rows (secure_delete) and checkpoints its WAL here;
        // PostgreSQL has neither: the old row versions stay until VACUUM reuses their space.
        unit!(self, |tx| match lifecycle::delete_organisation(&tx, org_id).await? {
            Some(deleted) => {
                audit(&tx, now(), &tombstone(&deleted)).await?;
                Some(deleted)
            }
            None => None,
        })
    }
}

// `seal_snapshot` (of a SQLite backup file) is not ported: PostgreSQL has no snapshot file to seal.

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_ca_file_is_read_and_one_without_certificates_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["db.internal".into()]).unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, ca.cert.pem()).unwrap();
        assert_eq!(private_roots(&good).unwrap().len(), 1);
        assert!(tls(Some(&good)).is_ok());

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = private_roots(&empty).unwrap_err().to_string();
        assert!(e.contains("no certificate") && e.contains("empty.pem"), "{e}");
        let e = private_roots(&dir.path().join("missing.pem")).unwrap_err().to_string();
        assert!(e.contains("cannot read database_ca_file"), "{e}");
    }

    /// Over TCP with TLS to the test cluster (Debian's has `ssl = on` with its
    /// snakeoil certificate): trusted through `database_ca_file`, refused
    /// against the web's roots. A role with a password of its own, made here.
    #[tokio::test]
    async fn tls_to_the_database_checks_its_certificate_against_the_ca_file() {
        let Ok(admin) = std::env::var("KLUIS_TEST_DATABASE_URL") else { return };
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
        if ssl != "on" {
            eprintln!("skipped: the test cluster serves no TLS (ssl = {ssl})");
            return;
        }
        let cert_file: String = client.query_one("SHOW ssl_cert_file", &[]).await.unwrap().get(0);
        let port: String = client.query_one("SHOW port", &[]).await.unwrap().get(0);
        let subject = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "multiline", "-in", &cert_file])
            .output()
            .unwrap();
        let subject = String::from_utf8_lossy(&subject.stdout).into_owned();
        let name =
            subject.lines().find_map(|l| l.trim().strip_prefix("commonName")).unwrap().trim_start_matches([' ', '=']);
        if rustls::pki_types::ServerName::try_from(name.to_string()).is_err() {
            eprintln!("skipped: the test cluster's certificate names {name:?}, not a host name");
            return;
        }
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).unwrap();
        let role = format!("kluis_tls_{}", hex::encode(id));
        // One statement each: CREATE DATABASE cannot run in a transaction.
        for sql in
            [format!("CREATE ROLE {role} LOGIN PASSWORD 'tls-test'"), format!("CREATE DATABASE {role} OWNER {role}")]
        {
            client.batch_execute(&sql).await.unwrap();
        }
        let url = format!(
            "host={name} hostaddr=127.0.0.1 port={port} user={role} password=tls-test dbname={role} sslmode=require"
        );
        let trusted = PostgresStore::open(&url, Some(std::path::Path::new(&cert_file))).await;
        let refused = PostgresStore::open(&url, None).await.err().map(|e| format!("{e:#}"));
        if let Ok(store) = &trusted {
            store.pool.close();
        }
        for sql in [format!("DROP DATABASE {role} WITH (FORCE)"), format!("DROP ROLE {role}")] {
            client.batch_execute(&sql).await.unwrap();
        }
        assert!(trusted.is_ok(), "{:#}", trusted.err().unwrap());
        let refused = refused.expect("connected without trusting the database's certificate");
        assert!(refused.contains("certificate") || refused.contains("TLS") || refused.contains("tls"), "{refused}");
        assert!(!refused.contains("tls-test"), "the password in an error: {refused}");
    }

    /// The store conformance suite (`store/conformance.rs`), as on SQLite, in
    /// a database of its own whose default collation is ICU's en-US where the
    /// server has it (PostgreSQL 15 or later): its order is not the bytes'
    /// (`a A a_b a-b a.b a0 ab b B` there, `A B a a-b a.b a0 a_b ab b` in
    /// bytes), so a comparison that misses the columns' COLLATE "C" shows. On
    /// PostgreSQL when `KLUIS_TEST_DATABASE_URL` names a server; skipped
    /// otherwise. A server it cannot reach fails it.
    #[tokio::test]
    async fn conformance() {
        use futures_util::FutureExt;
        let Some(admin) = std::env::var("KLUIS_TEST_DATABASE_URL").ok().filter(|v| !v.trim().is_empty()) else {
            return;
        };
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).unwrap();
        let name = format!("kluis_conformance_{}", hex::encode(id));
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let icu = format!("CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'");
        if let Err(e) = client.batch_execute(&icu).await {
            eprintln!("no ICU collation for the conformance database ({e}): the server's default instead");
            client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        }
        let store = PostgresStore::open(&format!("{admin} dbname={name}"), None).await.unwrap();
        let outcome = std::panic::AssertUnwindSafe(crate::store::conformance::run(&store)).catch_unwind().await;
        store.pool.close();
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    #[tokio::test]
    async fn plain_text_over_tcp_only_when_asked() {
        let e = PostgresStore::open("host=db.internal user=kluis dbname=kluis", None).await.err().unwrap();
        assert!(format!("{e:#}").contains("sslmode=require"), "{e:#}");
        let e = PostgresStore::open("not a connection string", None).await.err().unwrap();
        assert!(format!("{e:#}").contains("not a PostgreSQL connection string"), "{e:#}");
    }
}

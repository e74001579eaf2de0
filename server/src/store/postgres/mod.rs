//! The PostgreSQL metadata store (`database_url = "postgres://…"`): a
//! deadpool pool of tokio-postgres connections, migrations from
//! `migrations/postgres/` applied at start under an advisory lock (so nodes
//! starting together migrate once), TLS through rustls when the URL asks
//! for it (`sslmode=require`).
//!
//! Concurrency: every unit of work is one SERIALIZABLE transaction, retried
//! when PostgreSQL reports a serialization failure or a deadlock. That gives
//! each rule the guarantee SQLite's single writer gave (the outcome is that
//! of some order of the units, one at a time) while units that touch
//! different rows run in parallel on any number of nodes. A retried unit
//! runs again from the start, its rules included: rules are pure checks
//! (`Rule` is `Fn`). Reads that need one consistent view run in a
//! REPEATABLE READ READ ONLY transaction, which never fails that way.
//!
//! Each file here mirrors its namesake in `../sqlite/`: the same functions,
//! taking a transaction ([`Tx`]) and returning [`PgResult`].

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

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::IsolationLevel;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;

use super::{StoreError, StoreResult};

/// Migrations in order; entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("../../../migrations/postgres/0001_schema.sql")];

/// Connections per process: PostgreSQL's default limit is 100 in all, shared by the nodes.
const POOL_SIZE: usize = 16;
/// How often a unit of work runs before a serialization failure is reported as an error.
const ATTEMPTS: u32 = 12;
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

/// The pause before attempt `attempt + 1`: grows from 2 ms, with jitter so that
/// the units that collided do not collide again.
async fn back_off(attempt: u32) {
    let base = 2u64 << attempt.min(7);
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    let jitter = u64::from(byte[0]) % base.max(1);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

/// Runs `$body` (an expression using the transaction `$tx`, with `?` on
/// [`PgResult`]s and [`StoreResult`]s) in one SERIALIZABLE transaction,
/// committed if it succeeds, and runs it again after a serialization failure.
macro_rules! unit {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            let mut client = $store.pool.get().await?;
            let outcome: Result<_, $crate::store::postgres::Failure> = async {
                let $tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::Serializable)
                    .start()
                    .await?;
                let out = { $body };
                $tx.commit().await?;
                Ok(out)
            }
            .await;
            match outcome {
                Ok(out) => break Ok(out),
                Err($crate::store::postgres::Failure::Db(e))
                    if $crate::store::postgres::retryable(&e) && attempt + 1 < $crate::store::postgres::ATTEMPTS =>
                {
                    attempt += 1;
                    $crate::store::postgres::back_off(attempt).await;
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
            let out = { $body };
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

/// Connects to and migrates the database at `url`.
pub(crate) async fn open(url: &str) -> anyhow::Result<std::sync::Arc<dyn super::MetaStore>> {
    let _store = PostgresStore::open(url).await?;
    // TODO(H4): Ok(std::sync::Arc::new(store)) once `impl MetaStore for PostgresStore` is complete.
    anyhow::bail!("the PostgreSQL store is not complete yet")
}

#[derive(Clone)]
pub(crate) struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL or key=value
    /// string, as libpq takes) and migrates it.
    pub(crate) async fn open(url: &str) -> anyhow::Result<PostgresStore> {
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
            _ => Manager::from_config(config, tls()?, manager_config),
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

/// TLS to the database: rustls on ring, trusting the web's roots.
fn tls() -> anyhow::Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS to PostgreSQL")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

fn now() -> i64 {
    crate::domain::now()
}

//! SQLite through an r2d2 pool: WAL journal, foreign keys on, and schema
//! migrations applied at start (tracked with `PRAGMA user_version`).

pub mod models;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{ApiError, ApiResult};

/// Migrations in order; entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/0001_init.sql")];

#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<SqliteConnectionManager>,
}

impl Db {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Db> {
        let manager = SqliteConnectionManager::file(path).with_init(|c| {
            c.busy_timeout(Duration::from_secs(10))?;
            c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
        });
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .build(manager)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        let mut conn = pool.get()?;
        migrate(&mut conn).context("database migration failed")?;
        Ok(Db { pool })
    }

    /// Runs `f` on a pooled connection off the async runtime.
    pub async fn run<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> ApiResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get().map_err(ApiError::from)?;
            f(&mut conn)
        })
        .await?
    }

    /// A connection for synchronous callers (command-line tasks, start-up).
    pub fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>> {
        Ok(self.pool.get()?)
    }
}

/// Starts a transaction that takes the write lock at once (`BEGIN IMMEDIATE`),
/// waiting up to the busy timeout for it. Every transaction here writes: a
/// deferred one that reads first cannot wait when it comes to write, as in
/// WAL mode SQLite then answers "database is locked" straight away whenever
/// another connection committed in between (concurrent uploads did that).
pub fn transaction(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = transaction(conn)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database migrated");
    }
    Ok(())
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_audit_is_append_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kluis.db");
        let db = Db::open(&path).unwrap();
        drop(db);
        let db = Db::open(&path).unwrap();
        let conn = db.conn().unwrap();
        let v: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, MIGRATIONS.len());
        conn.execute("INSERT INTO audit (at, event, actor) VALUES (1, 'x', 'y')", []).unwrap();
        assert!(conn.execute("UPDATE audit SET event = 'z'", []).is_err());
        assert!(conn.execute("DELETE FROM audit", []).is_err());
    }

    /// Read-then-write transactions on several connections at once: each
    /// must wait for the lock, none may fail with "database is locked".
    #[test]
    fn concurrent_read_then_write_transactions_wait_for_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("kluis.db")).unwrap();
        db.conn().unwrap().execute_batch("CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0);").unwrap();
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    let mut conn = db.conn().unwrap();
                    for _ in 0..50 {
                        let tx = transaction(&mut conn).unwrap();
                        let n: i64 = tx.query_row("SELECT n FROM counter", [], |r| r.get(0)).unwrap();
                        tx.execute("UPDATE counter SET n = ?1", [n + 1]).unwrap();
                        tx.commit().unwrap();
                    }
                });
            }
        });
        let n: i64 = db.conn().unwrap().query_row("SELECT n FROM counter", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 300, "an update was lost");
    }
}

//! SQLite through an r2d2 pool: WAL journal, foreign keys on, and schema
//! migrations applied at start (tracked with `PRAGMA user_version`).

pub mod models;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

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

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
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
}

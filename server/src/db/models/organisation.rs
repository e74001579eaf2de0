//! The organisation. Issue #3 has exactly one, created at first start.

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::now;

/// The organisation's id, creating it with `name` if none exists yet.
pub fn ensure(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    if let Some(id) = conn.query_row("SELECT id FROM organisation ORDER BY id LIMIT 1", [], |r| r.get(0)).optional()? {
        return Ok(id);
    }
    conn.execute("INSERT INTO organisation (name, created_at) VALUES (?1, ?2)", params![name, now()])?;
    Ok(conn.last_insert_rowid())
}

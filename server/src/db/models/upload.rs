//! tus uploads (one per blob). The offset survives restarts: it is written
//! here after the bytes before it are durable in the blob store.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::db::now;

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub package_id: String,
    pub blob_idx: i64,
    pub user_id: i64,
    pub length: i64,
    pub offset: i64,
    pub expires_at: i64,
}

fn from_row(r: &Row) -> rusqlite::Result<Upload> {
    Ok(Upload {
        id: r.get(0)?,
        package_id: r.get(1)?,
        blob_idx: r.get(2)?,
        user_id: r.get(3)?,
        length: r.get(4)?,
        offset: r.get(5)?,
        expires_at: r.get(6)?,
    })
}

const COLUMNS: &str = "id, package_id, blob_idx, user_id, length, offset, expires_at";

pub fn create(conn: &Connection, u: &Upload) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO uploads (id, package_id, blob_idx, user_id, length, offset, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)",
        params![u.id, u.package_id, u.blob_idx, u.user_id, u.length, now(), u.expires_at],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Upload>> {
    conn.query_row(&format!("SELECT {COLUMNS} FROM uploads WHERE id = ?1"), [id], from_row).optional()
}

pub fn for_blob(conn: &Connection, package_id: &str, idx: i64) -> rusqlite::Result<Option<Upload>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM uploads WHERE package_id = ?1 AND blob_idx = ?2"),
        params![package_id, idx],
        from_row,
    )
    .optional()
}

/// Records progress and pushes the expiry out.
pub fn set_offset(conn: &Connection, id: &str, offset: i64, expires_at: i64) -> rusqlite::Result<()> {
    conn.execute("UPDATE uploads SET offset = ?2, expires_at = ?3 WHERE id = ?1", params![id, offset, expires_at])?;
    Ok(())
}

pub fn delete(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM uploads WHERE id = ?1", [id])?;
    Ok(())
}

/// Uploads whose expiry has passed, or whose package has ended.
pub fn abandoned(conn: &Connection, at: i64) -> rusqlite::Result<Vec<Upload>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE expires_at <= ?1
         OR package_id IN (SELECT id FROM packages WHERE state IN ('revoked', 'expired'))"
    ))?;
    stmt.query_map([at], from_row)?.collect()
}

pub fn for_package(conn: &Connection, package_id: &str) -> rusqlite::Result<Vec<Upload>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM uploads WHERE package_id = ?1"))?;
    stmt.query_map([package_id], from_row)?.collect()
}

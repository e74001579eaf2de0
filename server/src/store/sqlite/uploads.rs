//! tus uploads (one per blob) and their write leases.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::Upload;

const COLUMNS: &str = "id, package_id, blob_idx, user_id, length, offset, expires_at";

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

pub(super) fn create(conn: &Connection, u: &Upload, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO uploads (id, package_id, blob_idx, user_id, length, offset, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)",
        params![u.id, u.package_id, u.blob_idx, u.user_id, u.length, now, u.expires_at],
    )?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Upload>> {
    conn.query_row(&format!("SELECT {COLUMNS} FROM uploads WHERE id = ?1"), [id], from_row).optional()
}

pub(super) fn for_blob(conn: &Connection, package_id: &str, idx: i64) -> rusqlite::Result<Option<Upload>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM uploads WHERE package_id = ?1 AND blob_idx = ?2"),
        params![package_id, idx],
        from_row,
    )
    .optional()
}

pub(super) fn delete(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM uploads WHERE id = ?1", [id])?;
    Ok(())
}

pub(super) fn acquire(conn: &Connection, id: &str, owner: &str, until: i64, now: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE uploads SET lease_owner = ?2, lease_until = ?3
         WHERE id = ?1 AND (lease_owner IS NULL OR lease_until <= ?4)",
        params![id, owner, until, now],
    )?;
    Ok(n == 1)
}

pub(super) fn record_offset(
    conn: &Connection,
    id: &str,
    owner: &str,
    offset: i64,
    expires_at: i64,
    lease_until: i64,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE uploads SET offset = ?3, expires_at = ?4, lease_until = ?5 WHERE id = ?1 AND lease_owner = ?2",
        params![id, owner, offset, expires_at, lease_until],
    )?;
    Ok(n == 1)
}

pub(super) fn release(conn: &Connection, id: &str, owner: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE uploads SET lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND lease_owner = ?2",
        params![id, owner],
    )?;
    Ok(())
}

pub(super) fn abandoned(conn: &Connection, now: i64) -> rusqlite::Result<Vec<Upload>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE expires_at <= ?1
         OR package_id IN (SELECT id FROM packages WHERE state IN ('revoked', 'expired'))"
    ))?;
    stmt.query_map([now], from_row)?.collect()
}

pub(super) fn of_package(conn: &Connection, package_id: &str) -> rusqlite::Result<Vec<Upload>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM uploads WHERE package_id = ?1"))?;
    stmt.query_map([package_id], from_row)?.collect()
}

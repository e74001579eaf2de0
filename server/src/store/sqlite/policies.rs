//! The organisation's policy, one row per saved version (migration 0011).

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::StoredPolicy;

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredPolicy> {
    Ok(StoredPolicy { version: r.get(0)?, document: r.get(1)?, saved_at: r.get(2)?, saved_by: r.get(3)? })
}

/// The highest version.
pub(super) fn current(conn: &Connection, org_id: i64) -> rusqlite::Result<Option<StoredPolicy>> {
    conn.query_row(
        "SELECT version, document, saved_at, saved_by FROM policies WHERE org_id = ?1 ORDER BY version DESC LIMIT 1",
        [org_id],
        row,
    )
    .optional()
}

/// The newest `limit` versions, newest first.
pub(super) fn versions(conn: &Connection, org_id: i64, limit: i64) -> rusqlite::Result<Vec<StoredPolicy>> {
    let mut stmt = conn.prepare(
        "SELECT version, document, saved_at, saved_by FROM policies WHERE org_id = ?1 ORDER BY version DESC LIMIT ?2",
    )?;
    stmt.query_map(params![org_id, limit], row)?.collect()
}

/// Saves `document` as version `after + 1` if the highest is still `after`
/// (0: none yet); false when another admin saved meanwhile.
pub(super) fn put(
    conn: &Connection,
    org_id: i64,
    after: u32,
    document: &str,
    at: i64,
    by: &str,
) -> rusqlite::Result<bool> {
    let highest: u32 =
        conn.query_row("SELECT COALESCE(MAX(version), 0) FROM policies WHERE org_id = ?1", [org_id], |r| r.get(0))?;
    if highest != after {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO policies (org_id, version, document, saved_at, saved_by) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![org_id, after + 1, document, at, by],
    )?;
    Ok(true)
}

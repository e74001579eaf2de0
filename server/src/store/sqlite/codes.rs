//! One-time codes (stored as keyed hashes), the history of code sends and
//! failure counters.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{CodeKey, Counter, SendHistory, StoredCode};

pub(super) fn put_code(conn: &Connection, key: &CodeKey, hash: &str, expires_at: i64) -> rusqlite::Result<()> {
    // tries_left is kept for the schema; budgets live in `failures` now.
    conn.execute(
        "INSERT INTO codes (purpose, scope, email, code_hash, expires_at, tries_left) VALUES (?1, ?2, ?3, ?4, ?5, 0)
         ON CONFLICT (purpose, scope, email) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at",
        params![key.purpose, key.scope, key.email, hash, expires_at],
    )?;
    Ok(())
}

pub(super) fn code(conn: &Connection, key: &CodeKey) -> rusqlite::Result<Option<StoredCode>> {
    conn.query_row(
        "SELECT code_hash, expires_at FROM codes WHERE purpose = ?1 AND scope = ?2 AND email = ?3",
        params![key.purpose, key.scope, key.email],
        |r| Ok(StoredCode { hash: r.get(0)?, expires_at: r.get(1)? }),
    )
    .optional()
}

pub(super) fn spend_code(conn: &Connection, key: &CodeKey, hash: &str) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "DELETE FROM codes WHERE purpose = ?1 AND scope = ?2 AND email = ?3 AND code_hash = ?4",
        params![key.purpose, key.scope, key.email, hash],
    )?;
    Ok(n == 1)
}

pub(super) fn record_send(conn: &Connection, subject: &str, now: i64) -> rusqlite::Result<()> {
    conn.execute("INSERT INTO code_sends (subject, sent_at) VALUES (?1, ?2)", params![subject, now])?;
    Ok(())
}

pub(super) fn send_history(conn: &Connection, subject: &str, now: i64) -> rusqlite::Result<SendHistory> {
    let last = conn.query_row("SELECT MAX(sent_at) FROM code_sends WHERE subject = ?1", [subject], |r| r.get(0))?;
    let (count_last_hour, oldest_last_hour) = conn.query_row(
        "SELECT COUNT(*), MIN(sent_at) FROM code_sends WHERE subject = ?1 AND sent_at > ?2",
        params![subject, now - 3600],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(SendHistory { last, count_last_hour, oldest_last_hour })
}

pub(super) fn count_failure(conn: &Connection, counters: &[Counter], now: i64) -> rusqlite::Result<Vec<i64>> {
    counters
        .iter()
        .map(|c| {
            conn.query_row(
                "INSERT INTO failures (key, window_start, count, updated_at) VALUES (?1, ?2, 1, ?3)
                 ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1, updated_at = excluded.updated_at
                 RETURNING count",
                params![c.key, c.window_start, now],
                |r| r.get(0),
            )
        })
        .collect()
}

pub(super) fn failures(conn: &Connection, counters: &[Counter]) -> rusqlite::Result<Vec<i64>> {
    counters
        .iter()
        .map(|c| {
            conn.query_row(
                "SELECT COALESCE((SELECT count FROM failures WHERE key = ?1 AND window_start = ?2), 0)",
                params![c.key, c.window_start],
                |r| r.get(0),
            )
        })
        .collect()
}

/// Counts one request of `client` in its window (`rate_windows`, migration 0016); the count so far.
pub(super) fn count_request(conn: &Connection, client: &str, window_start: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "INSERT INTO rate_windows (client, window_start, count) VALUES (?1, ?2, 1)
         ON CONFLICT (client, window_start) DO UPDATE SET count = rate_windows.count + 1
         RETURNING count",
        params![client, window_start],
        |r| r.get(0),
    )
}

//! The outgoing mail queue.

use rusqlite::{Connection, params};

use crate::store::QueuedMail;

pub(super) fn enqueue(conn: &Connection, to: &str, subject: &str, body: &str, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO mail_queue (to_addr, subject, body, created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![to, subject, body, now],
    )?;
    Ok(())
}

pub(super) fn due(conn: &Connection, now: i64, limit: i64) -> rusqlite::Result<Vec<QueuedMail>> {
    let mut stmt = conn.prepare(
        "SELECT id, to_addr, subject, body, attempts FROM mail_queue
         WHERE sent_at IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
    )?;
    stmt.query_map(params![now, limit], |r| {
        Ok(QueuedMail { id: r.get(0)?, to: r.get(1)?, subject: r.get(2)?, body: r.get(3)?, attempts: r.get(4)? })
    })?
    .collect()
}

pub(super) fn sent(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<()> {
    // The subject and body may hold a code: keep only that it was sent.
    conn.execute("UPDATE mail_queue SET sent_at = ?2, subject = '', body = '' WHERE id = ?1", params![id, now])?;
    Ok(())
}

pub(super) fn failed(conn: &Connection, id: i64, retry_at: Option<i64>, error: &str, now: i64) -> rusqlite::Result<()> {
    match retry_at {
        Some(at) => conn.execute(
            "UPDATE mail_queue SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
            params![id, at, error],
        )?,
        // Given up: marked done so it is not tried again, with the error kept.
        None => conn.execute(
            "UPDATE mail_queue SET attempts = attempts + 1, sent_at = ?2, subject = '', body = '', last_error = ?3
             WHERE id = ?1",
            params![id, now, format!("gave up: {error}")],
        )?,
    };
    Ok(())
}

/// Mails not yet sent, whether due now or later (one given up for good is marked sent).
pub(super) fn waiting(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM mail_queue WHERE sent_at IS NULL", [], |r| r.get(0))
}

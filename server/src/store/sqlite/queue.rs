//! The outgoing mail queue, and the leases of the background jobs that work through it and the rest.

use rusqlite::{Connection, params};

use crate::store::QueuedMail;

pub(super) fn enqueue(conn: &Connection, to: &str, subject: &str, body: &str, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO mail_queue (to_addr, subject, body, created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![to, subject, body, now],
    )?;
    Ok(())
}

/// Claims the mail due first at `now` until `until`: it is due again then,
/// for any process, unless it was sent or failed meanwhile, so two processes
/// never send one mail, and one that stopped mid-send leaves it to others.
pub(super) fn claim_due(conn: &Connection, now: i64, until: i64) -> rusqlite::Result<Option<QueuedMail>> {
    let mut stmt = conn.prepare(
        "UPDATE mail_queue SET next_attempt_at = ?2
         WHERE id = (SELECT id FROM mail_queue WHERE sent_at IS NULL AND next_attempt_at <= ?1
                     ORDER BY next_attempt_at, id LIMIT 1)
         RETURNING id, to_addr, subject, body, attempts",
    )?;
    let mut rows = stmt.query_map(params![now, until], |r| {
        Ok(QueuedMail { id: r.get(0)?, to: r.get(1)?, subject: r.get(2)?, body: r.get(3)?, attempts: r.get(4)? })
    })?;
    rows.next().transpose()
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

/// Takes or renews the lease `name` for `holder` until `until`, if it is
/// free at `now` or `holder`'s already; whether `holder` holds it now.
pub(super) fn take_job_lease(
    conn: &Connection,
    name: &str,
    holder: &str,
    now: i64,
    until: i64,
) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "INSERT INTO job_leases (name, holder, until) VALUES (?1, ?2, ?4)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
         WHERE job_leases.until <= ?3 OR job_leases.holder = excluded.holder",
        params![name, holder, now, until],
    )?;
    Ok(changed == 1)
}

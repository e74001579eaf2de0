//! The outgoing mail queue, and the leases of the background jobs that work
//! through it and the rest (`../sqlite/queue.rs`).

use super::{PgResult, Tx};
use crate::store::QueuedMail;

pub(super) async fn enqueue(tx: &Tx<'_>, to: &str, subject: &str, body: &str, now: i64) -> PgResult<()> {
    tx.execute(
        "INSERT INTO mail_queue (to_addr, subject, body, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $4)",
        &[&to, &subject, &body, &now],
    )
    .await?;
    Ok(())
}

/// Claims the mail due first at `now` until `until`: it is due again then,
/// for any process, unless it was sent or failed meanwhile, so two processes
/// never send one mail, and one that stopped mid-send leaves it to others.
/// One statement that claims and returns it; a mail another process is
/// claiming at this moment is skipped (`SKIP LOCKED`), not waited for.
pub(super) async fn claim_due(tx: &Tx<'_>, now: i64, until: i64) -> PgResult<Option<QueuedMail>> {
    let row = tx
        .query_opt(
            "UPDATE mail_queue SET next_attempt_at = $2
             WHERE id IN (SELECT id FROM mail_queue WHERE sent_at IS NULL AND next_attempt_at <= $1
                          ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id, to_addr, subject, body, attempts",
            &[&now, &until],
        )
        .await?;
    Ok(row.map(|r| QueuedMail { id: r.get(0), to: r.get(1), subject: r.get(2), body: r.get(3), attempts: r.get(4) }))
}

pub(super) async fn sent(tx: &Tx<'_>, id: i64, now: i64) -> PgResult<()> {
    // The subject and body may hold a code: keep only that it was sent.
    tx.execute("UPDATE mail_queue SET sent_at = $2, subject = '', body = '' WHERE id = $1", &[&id, &now]).await?;
    Ok(())
}

pub(super) async fn failed(tx: &Tx<'_>, id: i64, retry_at: Option<i64>, error: &str, now: i64) -> PgResult<()> {
    match retry_at {
        Some(at) => {
            tx.execute(
                "UPDATE mail_queue SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE id = $1",
                &[&id, &at, &error],
            )
            .await?
        }
        // Given up: marked done so it is not tried again, with the error kept.
        None => {
            tx.execute(
                "UPDATE mail_queue SET attempts = attempts + 1, sent_at = $2, subject = '', body = '', last_error = $3
                 WHERE id = $1",
                &[&id, &now, &format!("gave up: {error}")],
            )
            .await?
        }
    };
    Ok(())
}

/// Mails not yet sent, whether due now or later (one given up for good is marked sent).
pub(super) async fn waiting(tx: &Tx<'_>) -> PgResult<i64> {
    Ok(tx.query_one("SELECT COUNT(*) FROM mail_queue WHERE sent_at IS NULL", &[]).await?.get(0))
}

/// Takes or renews the lease `name` for `holder` until `until`, if it is
/// free at `now` or `holder`'s already; whether `holder` holds it now.
pub(super) async fn take_job_lease(tx: &Tx<'_>, name: &str, holder: &str, now: i64, until: i64) -> PgResult<bool> {
    let changed = tx
        .execute(
            "INSERT INTO job_leases (name, holder, until) VALUES ($1, $2, $4)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE job_leases.until <= $3 OR job_leases.holder = excluded.holder",
            &[&name, &holder, &now, &until],
        )
        .await?;
    Ok(changed == 1)
}

//! One-time codes (stored as keyed hashes), the history of code sends and
//! failure counters (`../sqlite/codes.rs`).

use super::{PgResult, Tx};
use crate::store::{CodeKey, Counter, SendHistory, StoredCode};

pub(super) async fn put_code(tx: &Tx<'_>, key: &CodeKey, hash: &str, expires_at: i64) -> PgResult<()> {
    // tries_left is kept for the schema; budgets live in `failures` now.
    tx.execute(
        "INSERT INTO codes (purpose, scope, email, code_hash, expires_at, tries_left) VALUES ($1, $2, $3, $4, $5, 0)
         ON CONFLICT (purpose, scope, email) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at",
        &[&key.purpose, &key.scope, &key.email, &hash, &expires_at],
    )
    .await?;
    Ok(())
}

pub(super) async fn code(tx: &Tx<'_>, key: &CodeKey) -> PgResult<Option<StoredCode>> {
    let row = tx
        .query_opt(
            "SELECT code_hash, expires_at FROM codes WHERE purpose = $1 AND scope = $2 AND email = $3",
            &[&key.purpose, &key.scope, &key.email],
        )
        .await?;
    Ok(row.map(|r| StoredCode { hash: r.get(0), expires_at: r.get(1) }))
}

pub(super) async fn spend_code(tx: &Tx<'_>, key: &CodeKey, hash: &str) -> PgResult<bool> {
    let n = tx
        .execute(
            "DELETE FROM codes WHERE purpose = $1 AND scope = $2 AND email = $3 AND code_hash = $4",
            &[&key.purpose, &key.scope, &key.email, &hash],
        )
        .await?;
    Ok(n == 1)
}

pub(super) async fn record_send(tx: &Tx<'_>, subject: &str, now: i64) -> PgResult<()> {
    tx.execute("INSERT INTO code_sends (subject, sent_at) VALUES ($1, $2)", &[&subject, &now]).await?;
    Ok(())
}

pub(super) async fn send_history(tx: &Tx<'_>, subject: &str, now: i64) -> PgResult<SendHistory> {
    let last = tx.query_one("SELECT MAX(sent_at) FROM code_sends WHERE subject = $1", &[&subject]).await?.get(0);
    let row = tx
        .query_one(
            "SELECT COUNT(*), MIN(sent_at) FROM code_sends WHERE subject = $1 AND sent_at > $2",
            &[&subject, &(now - 3600)],
        )
        .await?;
    Ok(SendHistory { last, count_last_hour: row.get(0), oldest_last_hour: row.get(1) })
}

pub(super) async fn count_failure(tx: &Tx<'_>, counters: &[Counter], now: i64) -> PgResult<Vec<i64>> {
    let mut counts = Vec::with_capacity(counters.len());
    for c in counters {
        let row = tx
            .query_one(
                "INSERT INTO failures (key, window_start, count, updated_at) VALUES ($1, $2, 1, $3)
                 ON CONFLICT (key, window_start) DO UPDATE SET count = failures.count + 1, updated_at = excluded.updated_at
                 RETURNING count",
                &[&c.key, &c.window_start, &now],
            )
            .await?;
        counts.push(row.get(0));
    }
    Ok(counts)
}

pub(super) async fn failures(tx: &Tx<'_>, counters: &[Counter]) -> PgResult<Vec<i64>> {
    let mut counts = Vec::with_capacity(counters.len());
    for c in counters {
        let row = tx
            .query_one(
                "SELECT COALESCE((SELECT count FROM failures WHERE key = $1 AND window_start = $2), 0)",
                &[&c.key, &c.window_start],
            )
            .await?;
        counts.push(row.get(0));
    }
    Ok(counts)
}

/// Counts one request of `client` in its window (`rate_windows`); the count so far.
/// One statement, atomic at any isolation level: run outside a unit (see `MetaStore::count_request`).
pub(super) async fn count_request(client: &tokio_postgres::Client, who: &str, window_start: i64) -> PgResult<i64> {
    let row = client
        .query_one(
            "INSERT INTO rate_windows (client, window_start, count) VALUES ($1, $2, 1)
             ON CONFLICT (client, window_start) DO UPDATE SET count = rate_windows.count + 1
             RETURNING count",
            &[&who, &window_start],
        )
        .await?;
    Ok(row.get(0))
}

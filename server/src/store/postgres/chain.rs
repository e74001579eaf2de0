//! The audit table, hash-chained per organisation (`../sqlite/chain.rs`):
//! what is hashed and how a chain is verified are in `domain/audit.rs`; this
//! file writes and reads the rows. `audit_head` keeps each chain's newest row
//! and hash; its `org_id` 0 stands for the rows without an organisation.
//! The plpgsql triggers of the schema keep the table append-only, as
//! SQLite's triggers do; the hashing is the same, so a chain verifies alike
//! on both backends.

use std::collections::BTreeMap;

use tokio_postgres::Row;

use super::{PgResult, Tx};
use crate::domain::audit::{Entry, GENESIS, Hash, row_hash};
use crate::store::{AuditHead, ChainedRow, NewEvent};

fn head_key(org_id: Option<i64>) -> i64 {
    org_id.unwrap_or(0)
}

/// The hash a new row of `org_id` chains onto: the recorded head's, so rows
/// deleted at the end leave a gap before the next row ([`GENESIS`] for an
/// organisation's first row, or when the head is missing or damaged, which
/// verification reports).
async fn prev_hash(tx: &Tx<'_>, org_id: Option<i64>) -> PgResult<Hash> {
    let head = tx.query_opt("SELECT hash FROM audit_head WHERE org_id = $1", &[&head_key(org_id)]).await?;
    Ok(head.and_then(|r| r.get::<_, Vec<u8>>(0).try_into().ok()).unwrap_or(GENESIS))
}

async fn set_head(tx: &Tx<'_>, org_id: Option<i64>, id: i64, hash: &Hash) -> PgResult<()> {
    tx.execute(
        "INSERT INTO audit_head (org_id, last_id, hash) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id) DO UPDATE SET last_id = excluded.last_id, hash = excluded.hash",
        &[&head_key(org_id), &id, &&hash[..]],
    )
    .await?;
    Ok(())
}

/// Appends an event, chained onto its organisation's head. Runs inside the
/// caller's SERIALIZABLE unit: two units chaining onto the same head both
/// write that head's row, so one of them fails to serialize and runs again,
/// onto the new head. Units of different organisations do not meet.
pub(super) async fn append(tx: &Tx<'_>, at: i64, e: &NewEvent) -> PgResult<()> {
    let org_id = e.org_id;
    let prev = prev_hash(tx, org_id).await?;
    // The id the identity column would give, taken here because it is hashed.
    // Taken after the head was read: a row chained onto this one later always
    // gets a higher id, so id order is chain order within an organisation.
    // (A sequence value is not given back when a unit rolls back: ids may
    // have gaps, which verification does not mind.)
    let id: i64 = tx.query_one("SELECT nextval(pg_get_serial_sequence('audit', 'id'))", &[]).await?.get(0);
    let entry = Entry {
        id,
        org_id,
        at,
        event: e.event,
        actor: &e.actor,
        package_id: e.package_id.as_deref(),
        detail: e.detail.as_deref(),
    };
    let hash = row_hash(&prev, &entry);
    tx.execute(
        "INSERT INTO audit (id, at, event, actor, package_id, detail, org_id, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[&id, &at, &e.event, &e.actor, &e.package_id, &e.detail, &e.org_id, &&prev[..], &&hash[..]],
    )
    .await?;
    set_head(tx, org_id, id, &hash).await
}

// `backfill` (SQLite migration 5, chaining rows written before rows had
// hashes) is not ported: a PostgreSQL database starts with chained rows.

/// Every chain (organisations with rows or a head), `None` first, then by id.
pub(super) async fn heads(tx: &Tx<'_>) -> PgResult<Vec<AuditHead>> {
    let mut chains: BTreeMap<Option<i64>, Option<(i64, Vec<u8>)>> = BTreeMap::new();
    // The distinct organisations, one index lookup each (not a scan of every row).
    if tx.query_one("SELECT EXISTS (SELECT 1 FROM audit WHERE org_id IS NULL)", &[]).await?.get::<_, bool>(0) {
        chains.insert(None, None);
    }
    let mut org = i64::MIN;
    while let Some(next) =
        tx.query_one("SELECT MIN(org_id) FROM audit WHERE org_id > $1", &[&org]).await?.get::<_, Option<i64>>(0)
    {
        chains.insert(Some(next), None);
        org = next;
    }
    let mut anchors: BTreeMap<Option<i64>, Vec<u8>> = BTreeMap::new();
    for row in tx.query("SELECT org_id, prev_hash FROM audit_anchor", &[]).await? {
        let key: i64 = row.get(0);
        anchors.insert((key != 0).then_some(key), row.get(1));
    }
    for row in tx.query("SELECT org_id, last_id, hash FROM audit_head", &[]).await? {
        let key: i64 = row.get(0);
        let org_id = (key != 0).then_some(key);
        chains.insert(org_id, Some((row.get(1), row.get(2))));
    }
    Ok(chains.into_iter().map(|(org_id, head)| AuditHead { org_id, head, anchor: anchors.remove(&org_id) }).collect())
}

/// Deletes the rows of `org_id` up to its newest row older than `before`,
/// after moving the chain's anchor past them (the delete trigger allows
/// only rows before the anchor). Returns how many rows went, and the anchor:
/// the first id kept and the hash the chain now starts from.
pub(super) async fn prune(tx: &Tx<'_>, org_id: i64, before: i64) -> PgResult<Option<(u64, i64, Vec<u8>)>> {
    let last = tx
        .query_opt(
            "SELECT id, hash FROM audit WHERE org_id = $1 AND id = (SELECT MAX(id) FROM audit WHERE org_id = $1 AND at < $2)",
            &[&org_id, &before],
        )
        .await?;
    let Some(last) = last else { return Ok(None) };
    let (last_id, hash): (i64, Vec<u8>) = (last.get(0), last.get(1));
    tx.execute(
        "INSERT INTO audit_anchor (org_id, first_id, prev_hash) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id) DO UPDATE SET first_id = excluded.first_id, prev_hash = excluded.prev_hash",
        &[&head_key(Some(org_id)), &(last_id + 1), &hash],
    )
    .await?;
    let deleted = tx.execute("DELETE FROM audit WHERE org_id = $1 AND id <= $2", &[&org_id, &last_id]).await?;
    Ok(Some((deleted, last_id + 1, hash)))
}

/// A row of [`rows`]; the hash columns are BYTEA here, so a NULL (a row not
/// written by Kluis) is the only oddity they can hold.
fn chained_from_row(r: &Row) -> ChainedRow {
    ChainedRow {
        id: r.get(0),
        org_id: r.get(1),
        at: r.get(2),
        event: r.get(3),
        actor: r.get(4),
        package_id: r.get(5),
        detail: r.get(6),
        prev_hash: r.get(7),
        hash: r.get(8),
    }
}

/// Rows of one chain with `after < id <= until`, in order.
pub(super) async fn rows(
    tx: &Tx<'_>,
    org_id: Option<i64>,
    after: i64,
    until: Option<i64>,
    limit: i64,
) -> PgResult<Vec<ChainedRow>> {
    let until = until.unwrap_or(i64::MAX);
    // SQLite's `org_id IS ?1`, as two statements so that each can use the index.
    let rows = match org_id {
        Some(org_id) => {
            tx.query(
                "SELECT id, org_id, at, event, actor, package_id, detail, prev_hash, hash FROM audit \
                 WHERE org_id = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT $4",
                &[&org_id, &after, &until, &limit],
            )
            .await?
        }
        None => {
            tx.query(
                "SELECT id, org_id, at, event, actor, package_id, detail, prev_hash, hash FROM audit \
                 WHERE org_id IS NULL AND id > $1 AND id <= $2 ORDER BY id LIMIT $3",
                &[&after, &until, &limit],
            )
            .await?
        }
    };
    Ok(rows.iter().map(chained_from_row).collect())
}

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

/// On PostgreSQL when `KLUIS_TEST_DATABASE_URL` names a server (a database
/// is made for each test and dropped after it); skipped otherwise.
#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::StoreResult;
    use crate::store::postgres::PostgresStore;

    /// A scratch database on the test server, migrated; dropped by [`Scratch::drop_db`].
    pub(in crate::store::postgres) struct Scratch {
        pub store: PostgresStore,
        admin: String,
        name: String,
    }

    impl Scratch {
        pub(in crate::store::postgres) async fn new() -> Option<Scratch> {
            let admin = std::env::var("KLUIS_TEST_DATABASE_URL").ok().filter(|v| !v.trim().is_empty())?;
            let mut id = [0u8; 8];
            getrandom::fill(&mut id).unwrap();
            let name = format!("kluis_test_{}", hex::encode(id));
            let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
            let store = PostgresStore::open(&format!("{admin} dbname={name}"), None).await.unwrap();
            Some(Scratch { store, admin, name })
        }

        pub(in crate::store::postgres) async fn drop_db(self) {
            self.store.pool.close();
            let (client, conn) = tokio_postgres::connect(&self.admin, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await.unwrap();
        }
    }

    fn event(org: i64, i: usize) -> NewEvent {
        NewEvent { org_id: Some(org), event: "accessed", actor: format!("client:{i}"), package_id: None, detail: None }
    }

    async fn record(store: &PostgresStore, at: i64, e: &NewEvent) -> StoreResult<()> {
        unit!(store, |tx| append(&tx, at, e).await?)
    }

    /// Every chain intact: each row follows the one before it (or the anchor)
    /// and its hash is what `row_hash` gives; the head names the last row.
    async fn check(store: &PostgresStore) -> (usize, Vec<AuditHead>) {
        let read: StoreResult<(Vec<AuditHead>, Vec<Vec<ChainedRow>>)> = async {
            read!(store, |tx| {
                let heads = heads(&tx).await?;
                let mut chains = Vec::new();
                for h in &heads {
                    chains.push(rows(&tx, h.org_id, 0, None, i64::MAX).await?);
                }
                (heads, chains)
            })
        }
        .await;
        let (heads, chains) = read.unwrap();
        let mut n = 0;
        for (h, chain) in heads.iter().zip(&chains) {
            let mut prev: Hash = h.anchor.clone().map_or(GENESIS, |a| a.try_into().unwrap());
            for r in chain {
                let entry = Entry {
                    id: r.id,
                    org_id: r.org_id,
                    at: r.at,
                    event: &r.event,
                    actor: &r.actor,
                    package_id: r.package_id.as_deref(),
                    detail: r.detail.as_deref(),
                };
                assert_eq!(r.prev_hash.as_deref(), Some(&prev[..]), "row {}", r.id);
                prev = row_hash(&prev, &entry);
                assert_eq!(r.hash.as_deref(), Some(&prev[..]), "row {}", r.id);
                n += 1;
            }
            let last = chain.last().unwrap();
            assert_eq!(h.head, Some((last.id, prev.to_vec())));
        }
        (n, heads)
    }

    /// Units of work on several connections at once, two organisations
    /// interleaved: each row chains onto the one before it in its own
    /// organisation, none forks the chain (serialization failures retried).
    #[tokio::test]
    async fn concurrent_writers_never_fork_a_chain() {
        let Some(scratch) = Scratch::new().await else { return };
        let mut tasks = Vec::new();
        for t in 0..6usize {
            let store = scratch.store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..40 {
                    record(&store, 100 + i as i64, &event(1 + (t + i) as i64 % 2, i)).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let (n, heads) = check(&scratch.store).await;
        assert_eq!((n, heads.len()), (240, 2));
        // Retention: organisation 1's rows before the 20th go, the chain starts from the anchor.
        let pruned: StoreResult<_> = async { unit!(scratch.store, |tx| prune(&tx, 1, 120).await?) }.await;
        let pruned = pruned.unwrap().unwrap();
        let (n, heads) = check(&scratch.store).await;
        assert_eq!(n as u64 + pruned.0, 240);
        assert_eq!(heads[0].anchor.as_deref(), Some(&pruned.2[..]));
        // Rows after the anchor may not be deleted.
        let refused: StoreResult<u64> =
            async { unit!(scratch.store, |tx| tx.execute("DELETE FROM audit WHERE org_id = 1", &[]).await?) }.await;
        assert!(refused.is_err());
        scratch.drop_db().await;
    }

    /// The same rows hash alike on SQLite and PostgreSQL.
    #[tokio::test]
    async fn hashes_as_sqlite_does() {
        let Some(scratch) = Scratch::new().await else { return };
        let dir = tempfile::tempdir().unwrap();
        let sqlite = crate::store::open_local(dir.path()).unwrap();
        for i in 0..5 {
            let mut e = event(1, i);
            e.package_id = (i % 2 == 0).then(|| format!("pkg{i}"));
            e.detail = (i % 3 == 0).then(|| "détail".to_string());
            sqlite.record(e).await.unwrap();
        }
        let theirs = sqlite.audit_chain(Some(1), 0, None, 100).await.unwrap();
        for r in &theirs {
            let e = NewEvent {
                org_id: r.org_id,
                event: "accessed",
                actor: r.actor.clone(),
                package_id: r.package_id.clone(),
                detail: r.detail.clone(),
            };
            record(&scratch.store, r.at, &e).await.unwrap();
        }
        let ours: StoreResult<_> = async { read!(scratch.store, |tx| rows(&tx, Some(1), 0, None, 100).await?) }.await;
        let ours = ours.unwrap();
        assert_eq!(ours.len(), theirs.len());
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!((a.id, &a.prev_hash, &a.hash), (b.id, &b.prev_hash, &b.hash));
        }
        scratch.drop_db().await;
    }
}

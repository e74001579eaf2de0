//! The audit table, hash-chained per organisation: what is hashed and how a
//! chain is verified are in `domain/audit.rs`; this file writes and reads
//! the rows. `audit_head` keeps each chain's newest row and hash; its
//! `org_id` 0 stands for the rows without an organisation (before version 2).

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::audit::{Entry, GENESIS, Hash, row_hash};
use crate::store::{AuditHead, ChainedRow, NewEvent};

fn head_key(org_id: Option<i64>) -> i64 {
    org_id.unwrap_or(0)
}

/// The hash a new row of `org_id` chains onto: the recorded head's, so rows
/// deleted at the end leave a gap before the next row ([`GENESIS`] for an
/// organisation's first row, or when the head is missing or damaged, which
/// verification reports).
fn prev_hash(conn: &Connection, org_id: Option<i64>) -> rusqlite::Result<Hash> {
    let head: Option<Vec<u8>> =
        conn.query_row("SELECT hash FROM audit_head WHERE org_id = ?1", [head_key(org_id)], |r| r.get(0)).optional()?;
    Ok(head.and_then(|h| h.try_into().ok()).unwrap_or(GENESIS))
}

fn set_head(conn: &Connection, org_id: Option<i64>, id: i64, hash: &Hash) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit_head (org_id, last_id, hash) VALUES (?1, ?2, ?3) \
         ON CONFLICT (org_id) DO UPDATE SET last_id = excluded.last_id, hash = excluded.hash",
        params![head_key(org_id), id, &hash[..]],
    )?;
    Ok(())
}

/// Appends an event, chained onto its organisation's head. Runs inside the
/// caller's `BEGIN IMMEDIATE` transaction, which holds the write lock from
/// its start: no other writer can chain onto the same head meanwhile.
pub(super) fn append(conn: &Connection, at: i64, e: &NewEvent) -> rusqlite::Result<()> {
    let org_id = e.org_id;
    let prev = prev_hash(conn, org_id)?;
    // The id AUTOINCREMENT would give, chosen here because it is hashed.
    let id: i64 = conn.query_row(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0), \
                    COALESCE((SELECT MAX(id) FROM audit), 0)) + 1",
        [],
        |r| r.get(0),
    )?;
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
    conn.execute(
        "INSERT INTO audit (id, at, event, actor, package_id, detail, org_id, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![id, at, e.event, e.actor, e.package_id, e.detail, e.org_id, &prev[..], &hash[..]],
    )?;
    set_head(conn, org_id, id, &hash)
}

/// Chains the rows written before version 5 (SQLite has no SHA-256), in the
/// migration's transaction, page by page in id order.
pub(super) fn backfill(conn: &Connection) -> rusqlite::Result<()> {
    let mut heads: BTreeMap<Option<i64>, (i64, Hash)> = BTreeMap::new();
    let mut read = conn.prepare(
        "SELECT id, org_id, at, event, actor, package_id, detail FROM audit WHERE id > ?1 ORDER BY id LIMIT 1000",
    )?;
    let mut write = conn.prepare("UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE id = ?3")?;
    let mut after = 0;
    loop {
        let page = read
            .query_map([after], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let Some(last) = page.last() else { break };
        after = last.0;
        for (id, org_id, at, event, actor, package_id, detail) in &page {
            let prev = heads.get(org_id).map_or(GENESIS, |h| h.1);
            let entry = Entry {
                id: *id,
                org_id: *org_id,
                at: *at,
                event,
                actor,
                package_id: package_id.as_deref(),
                detail: detail.as_deref(),
            };
            let hash = row_hash(&prev, &entry);
            write.execute(params![&prev[..], &hash[..], id])?;
            heads.insert(*org_id, (*id, hash));
        }
    }
    for (org_id, (id, hash)) in heads {
        set_head(conn, org_id, id, &hash)?;
    }
    Ok(())
}

/// Every chain (organisations with rows or a head), `None` first, then by id.
pub(super) fn heads(conn: &Connection) -> rusqlite::Result<Vec<AuditHead>> {
    let mut chains: BTreeMap<Option<i64>, Option<(i64, Vec<u8>)>> = BTreeMap::new();
    // The distinct organisations, one index lookup each (not a scan of every row).
    if conn.query_row("SELECT EXISTS (SELECT 1 FROM audit WHERE org_id IS NULL)", [], |r| r.get(0))? {
        chains.insert(None, None);
    }
    let mut org = i64::MIN;
    while let Some(next) =
        conn.query_row("SELECT MIN(org_id) FROM audit WHERE org_id > ?1", [org], |r| r.get::<_, Option<i64>>(0))?
    {
        chains.insert(Some(next), None);
        org = next;
    }
    let mut anchors: BTreeMap<Option<i64>, Vec<u8>> = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT org_id, prev_hash FROM audit_anchor")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))? {
        let (key, hash) = row?;
        anchors.insert((key != 0).then_some(key), hash);
    }
    let mut stmt = conn.prepare("SELECT org_id, last_id, hash FROM audit_head")?;
    let recorded = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (key, last_id, hash) in recorded {
        let org_id = (key != 0).then_some(key);
        chains.insert(org_id, Some((last_id, hash)));
    }
    Ok(chains.into_iter().map(|(org_id, head)| AuditHead { org_id, head, anchor: anchors.remove(&org_id) }).collect())
}

/// Deletes the rows of `org_id` up to its newest row older than `before`,
/// after moving the chain's anchor past them (the delete trigger allows
/// only rows before the anchor). Returns how many rows went, and the anchor:
/// the first id kept and the hash the chain now starts from.
pub(super) fn prune(conn: &Connection, org_id: i64, before: i64) -> rusqlite::Result<Option<(u64, i64, Vec<u8>)>> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT id, hash FROM audit WHERE org_id = ?1 AND id = (SELECT MAX(id) FROM audit WHERE org_id = ?1 AND at < ?2)",
            params![org_id, before],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((last_id, hash)) = last else { return Ok(None) };
    conn.execute(
        "INSERT INTO audit_anchor (org_id, first_id, prev_hash) VALUES (?1, ?2, ?3) \
         ON CONFLICT (org_id) DO UPDATE SET first_id = excluded.first_id, prev_hash = excluded.prev_hash",
        params![head_key(Some(org_id)), last_id + 1, hash],
    )?;
    let deleted = conn.execute("DELETE FROM audit WHERE org_id = ?1 AND id <= ?2", params![org_id, last_id])?;
    Ok(Some((deleted as u64, last_id + 1, hash)))
}

/// A hash column as bytes, whatever was written into it by hand (`None`: NULL).
fn blob(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Option<Vec<u8>>> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(i)? {
        ValueRef::Null => None,
        ValueRef::Blob(b) | ValueRef::Text(b) => Some(b.to_vec()),
        ValueRef::Integer(_) | ValueRef::Real(_) => Some(Vec::new()),
    })
}

/// Rows of one chain with `after < id <= until`, in order.
pub(super) fn rows(
    conn: &Connection,
    org_id: Option<i64>,
    after: i64,
    until: Option<i64>,
    limit: i64,
) -> rusqlite::Result<Vec<ChainedRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, org_id, at, event, actor, package_id, detail, prev_hash, hash FROM audit \
         WHERE org_id IS ?1 AND id > ?2 AND id <= ?3 ORDER BY id LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(params![org_id, after, until.unwrap_or(i64::MAX), limit], |r| {
            Ok(ChainedRow {
                id: r.get(0)?,
                org_id: r.get(1)?,
                at: r.get(2)?,
                event: r.get(3)?,
                actor: r.get(4)?,
                package_id: r.get(5)?,
                detail: r.get(6)?,
                prev_hash: blob(r, 7)?,
                hash: blob(r, 8)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// What the chain costs, measured on demand (not a check):
/// `N=100000 cargo test --release -p kluis-server --lib chain_cost -- --ignored --nocapture`.
#[cfg(test)]
mod cost {
    use super::*;
    use crate::store::sqlite::{MIGRATIONS, SqliteStore, transaction};
    use std::time::Instant;

    fn event(i: i64) -> NewEvent {
        NewEvent {
            org_id: 1.into(),
            event: "verification_failed",
            actor: format!("client:192.0.2.{}", i % 250),
            package_id: Some("AAAAAAAAAAAAAAAAAAAAAA".into()),
            detail: Some(format!("bob{i}@example.org")),
        }
    }

    #[test]
    #[ignore]
    fn chain_cost() {
        let n: i64 = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
        // Before: schema version 4, the old INSERT, one transaction per row as `unit` does.
        let dir = tempfile::tempdir().unwrap();
        let mut old = rusqlite::Connection::open(dir.path().join("old.db")).unwrap();
        old.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;")
            .unwrap();
        for sql in MIGRATIONS.iter().take(4) {
            old.execute_batch(sql).unwrap();
        }
        let t = Instant::now();
        for i in 0..n {
            let e = event(i);
            let tx = transaction(&mut old).unwrap();
            tx.execute(
                "INSERT INTO audit (at, event, actor, package_id, detail, org_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![i, e.event, e.actor, e.package_id, e.detail, e.org_id],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let before = t.elapsed();
        // After: the chained append.
        let store = SqliteStore::open(&dir.path().join("kluis.db")).unwrap();
        let mut conn = store.pool.get().unwrap();
        let t = Instant::now();
        for i in 0..n {
            let tx = transaction(&mut conn).unwrap();
            append(&tx, i, &event(i)).unwrap();
            tx.commit().unwrap();
        }
        let after = t.elapsed();
        // Hashing alone (the rest is SQLite: the head and the index are written too).
        let t = Instant::now();
        let mut h = GENESIS;
        for i in 0..n {
            let e = event(i);
            let entry = Entry {
                id: i,
                org_id: Some(1),
                at: i,
                event: e.event,
                actor: &e.actor,
                package_id: e.package_id.as_deref(),
                detail: e.detail.as_deref(),
            };
            h = row_hash(&h, &entry);
        }
        let hashing = t.elapsed();
        drop(conn);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let t = Instant::now();
        let check = rt.block_on(crate::domain::audit::verify(&store)).unwrap();
        let verify = t.elapsed();
        assert!(check.intact());
        // Backfill: a version-4 database with n rows migrated to version 5.
        let mut legacy = rusqlite::Connection::open(dir.path().join("old.db")).unwrap();
        let t = Instant::now();
        let tx = transaction(&mut legacy).unwrap();
        tx.execute_batch(MIGRATIONS[4]).unwrap();
        backfill(&tx).unwrap();
        tx.commit().unwrap();
        let migrate = t.elapsed();
        let per_s = |d: std::time::Duration| n as f64 / d.as_secs_f64();
        println!(
            "n={n}\nbefore: {:.0} rows/s ({:.1} µs/row)\nafter:  {:.0} rows/s ({:.1} µs/row)\nhash alone: {:.2} µs/row\nverify: {} rows in {:.3} s = {:.0} rows/s\nbackfill migration: {:.3} s",
            per_s(before),
            before.as_secs_f64() * 1e6 / n as f64,
            per_s(after),
            after.as_secs_f64() * 1e6 / n as f64,
            hashing.as_secs_f64() * 1e6 / n as f64,
            check.rows,
            verify.as_secs_f64(),
            check.rows as f64 / verify.as_secs_f64(),
            migrate.as_secs_f64(),
        );
        assert_ne!(h, GENESIS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::{AuditCheck, BreakKind, verify};
    use crate::store::MetaStore;
    use crate::store::sqlite::SqliteStore;

    fn event(org: i64, i: usize) -> NewEvent {
        NewEvent { org_id: Some(org), event: "accessed", actor: format!("client:{i}"), package_id: None, detail: None }
    }

    fn check(store: &SqliteStore) -> AuditCheck {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(verify(store)).unwrap()
    }

    /// Units of work on several connections at once, two organisations
    /// interleaved: each row chains onto the one before it in its own
    /// organisation, none forks the chain.
    #[test]
    fn concurrent_writers_never_fork_a_chain() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kluis.db")).unwrap();
        std::thread::scope(|s| {
            for t in 0..6 {
                let store = store.clone();
                s.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                    for i in 0..40 {
                        rt.block_on(store.record(event(1 + (t + i) as i64 % 2, i))).unwrap();
                    }
                });
            }
        });
        let check = check(&store);
        assert!(check.intact(), "{check}");
        assert_eq!((check.rows, check.organisations, check.heads.len()), (240, 2, 2));
        assert_eq!(check.heads.iter().map(|h| h.rows).sum::<u64>(), 240);
    }

    /// A break in one organisation's chain is reported for it alone: rows
    /// added by hand after the head (without a hash, or with one), and a
    /// deleted head, are named.
    #[test]
    fn each_organisation_is_checked_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kluis.db")).unwrap();
        let conn = store.pool.get().unwrap();
        // Rows 1 to 10; organisation 2 has the even ones.
        for i in 0..10 {
            append(&conn, 100 + i as i64, &event(1 + i as i64 % 2, i)).unwrap();
        }
        conn.execute_batch("DROP TRIGGER audit_chained; DROP TRIGGER audit_append_only_delete;").unwrap();
        let only_break = |kind: BreakKind, id: i64| {
            let check = check(&store);
            assert_eq!(check.organisations, 2);
            assert_eq!(check.breaks.len(), 1, "{check}");
            let b = &check.breaks[0];
            assert_eq!((b.org_id, b.row.as_ref().map(|r| r.id), &b.kind), (Some(2), Some(id), &kind), "{check}");
            assert_eq!(check.heads.iter().map(|h| h.org_id).collect::<Vec<_>>(), [Some(1)], "organisation 1 is intact");
            check.to_string()
        };

        conn.execute("INSERT INTO audit (id, at, event, actor, org_id) VALUES (11, 110, 'signed_in', 'x', 2)", [])
            .unwrap();
        let report = only_break(BreakKind::Unchained, 11);
        assert!(report.ends_with("it has no hash (not written by Kluis)"), "{report}");

        // Chained onto the head, but the head not moved: not written by Kluis either.
        conn.execute("DELETE FROM audit WHERE id = 11", []).unwrap();
        let head: Vec<u8> = conn.query_row("SELECT hash FROM audit WHERE id = 10", [], |r| r.get(0)).unwrap();
        let prev: Hash = head.try_into().unwrap();
        let forged =
            Entry { id: 12, org_id: Some(2), at: 111, event: "signed_in", actor: "x", package_id: None, detail: None };
        let hash = row_hash(&prev, &forged);
        conn.execute(
            "INSERT INTO audit (id, at, event, actor, org_id, prev_hash, hash) VALUES (12, 111, 'signed_in', 'x', 2, ?1, ?2)",
            params![&prev[..], &hash[..]],
        )
        .unwrap();
        let report = only_break(BreakKind::AfterHead { head: 10 }, 12);
        assert!(report.ends_with("it comes after the chain's recorded head, row 10: added by hand"), "{report}");
        conn.execute("DELETE FROM audit WHERE id = 12", []).unwrap();
        assert!(check(&store).intact());

        // Organisation 2's head deleted: its rows are there, but nothing says where the chain ends.
        conn.execute("DELETE FROM audit_head WHERE org_id = 2", []).unwrap();
        only_break(BreakKind::NoHead, 10);
    }
}

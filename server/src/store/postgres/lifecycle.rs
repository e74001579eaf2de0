//! Data lifecycle (issue 12; `../sqlite/lifecycle.rs`): the blobs a backup
//! or export copies, an organisation's users for its export, soft deletion
//! and the purge, and the deletion of everything an organisation owns.

use std::collections::BTreeMap;

use tokio_postgres::types::ToSql;

use super::{PgResult, Tx};
use crate::store::{Deleted, DeletedPackage, ExportUser, OrgPackage, Role, StoredBlob};

// `snapshot` (SQLite's `VACUUM INTO` a backup file) and `seal_snapshot` (making
// that file fit to be restored) are not ported: a PostgreSQL store is backed up
// with pg_dump (or the server's own base backups), not by Kluis copying a file.

/// A page of complete blobs (of one organisation, or all; of soft-deleted
/// packages too when `deleted`), by package and index.
pub(super) async fn complete_blobs(
    tx: &Tx<'_>,
    org_id: Option<i64>,
    deleted: bool,
    after: Option<&(String, i64)>,
    limit: i64,
) -> PgResult<Vec<StoredBlob>> {
    let (after_id, after_idx) = after.map_or((None, None), |(id, idx)| (Some(id.as_str()), Some(*idx)));
    let rows = tx
        .query(
            "SELECT b.package_id, b.idx, b.size FROM blobs b
               JOIN packages p ON p.id = b.package_id JOIN users u ON u.id = p.sender_id
             WHERE b.complete = TRUE AND ($1::BIGINT IS NULL OR COALESCE(p.org_id, u.org_id) = $1)
               AND ($5::BOOLEAN OR p.deleted_at IS NULL)
               AND ($2::TEXT IS NULL OR b.package_id > $2 OR (b.package_id = $2 AND b.idx > $3))
             ORDER BY b.package_id, b.idx LIMIT $4",
            &[&org_id, &after_id, &after_idx, &limit, &deleted],
        )
        .await?;
    Ok(rows.iter().map(|r| StoredBlob { package_id: r.get(0), idx: r.get(1), size: r.get(2) }).collect())
}

/// A page of an organisation's users, removed ones too, by id.
pub(super) async fn export_users(tx: &Tx<'_>, org_id: i64, after: i64, limit: i64) -> PgResult<Vec<ExportUser>> {
    let rows = tx
        .query(
            "SELECT u.id, u.email, u.name, u.role, u.disabled, u.removed_at, u.created_at, u.seat,
                    (SELECT MAX(COALESCE(t.last_used_at, t.created_at)) FROM api_tokens t WHERE t.user_id = u.id)
             FROM users u WHERE u.org_id = $1 AND u.id > $2 ORDER BY u.id LIMIT $3",
            &[&org_id, &after, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let role: &str = r.get(3);
            ExportUser {
                id: r.get(0),
                email: r.get(1),
                name: r.get(2),
                role: if role == "admin" { Role::Admin } else { Role::User },
                disabled: r.get(4),
                removed_at: r.get(5),
                created_at: r.get(6),
                seat: r.get(7),
                last_active_at: r.get(8),
            }
        })
        .collect())
}

/// Runs one deletion of [`delete_organisation`] and counts its rows under `table`.
async fn delete(
    tx: &Tx<'_>,
    rows: &mut BTreeMap<&'static str, u64>,
    table: &'static str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> PgResult<()> {
    let n = tx.execute(sql, params).await?;
    *rows.entry(table).or_insert(0) += n;
    Ok(())
}

/// Deletes everything organisation `org_id` owns, in the caller's
/// transaction, and says how many rows of each table went. Its audit chain
/// goes whole: the anchor is moved past its newest row (the delete trigger
/// allows only rows before it), the rows are deleted, then its head and
/// anchor; other organisations' chains are separate and stay as they were.
pub(super) async fn delete_organisation(tx: &Tx<'_>, org_id: i64) -> PgResult<Option<Deleted>> {
    let exists: bool =
        tx.query_one("SELECT EXISTS (SELECT 1 FROM organisation WHERE id = $1)", &[&org_id]).await?.get(0);
    if !exists {
        return Ok(None);
    }
    // Temporary tables of this transaction only (dropped at its end, or with it
    // when it rolls back and the unit runs again).
    tx.batch_execute(
        "CREATE TEMP TABLE doomed_users (id BIGINT NOT NULL, email CITEXT NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE doomed_packages (id TEXT NOT NULL) ON COMMIT DROP;",
    )
    .await?;
    tx.execute("INSERT INTO doomed_users (id, email) SELECT id, email FROM users WHERE org_id = $1", &[&org_id])
        .await?;
    tx.execute(
        "INSERT INTO doomed_packages (id) SELECT p.id FROM packages p JOIN users u ON u.id = p.sender_id
         WHERE COALESCE(p.org_id, u.org_id) = $1",
        &[&org_id],
    )
    .await?;
    let uploads: Vec<String> = tx
        .query("SELECT id FROM uploads WHERE package_id IN (SELECT id FROM pg_temp.doomed_packages)", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let audit_head: Option<Vec<u8>> =
        tx.query_opt("SELECT hash FROM audit_head WHERE org_id = $1", &[&org_id]).await?.map(|r| r.get(0));
    let mut rows = BTreeMap::new();
    let org: &[&(dyn ToSql + Sync)] = &[&org_id];
    // Children before parents (foreign keys).
    delete(
        tx,
        &mut rows,
        "download_sessions",
        "DELETE FROM download_sessions WHERE package_id IN (SELECT id FROM pg_temp.doomed_packages)",
        &[],
    )
    .await?;
    delete(
        tx,
        &mut rows,
        "uploads",
        "DELETE FROM uploads WHERE package_id IN (SELECT id FROM pg_temp.doomed_packages)",
        &[],
    )
    .await?;
    delete(
        tx,
        &mut rows,
        "blobs",
        "DELETE FROM blobs WHERE package_id IN (SELECT id FROM pg_temp.doomed_packages)",
        &[],
    )
    .await?;
    delete(
        tx,
        &mut rows,
        "package_receivers",
        "DELETE FROM package_receivers WHERE package_id IN (SELECT id FROM pg_temp.doomed_packages)",
        &[],
    )
    .await?;
    delete(
        tx,
        &mut rows,
        "package_recipients",
        "DELETE FROM package_recipients WHERE package_id IN (SELECT id FROM pg_temp.doomed_packages)",
        &[],
    )
    .await?;
    // Codes for its packages and its users' sign-in codes; failure counters of its packages.
    delete(
        tx,
        &mut rows,
        "codes",
        "DELETE FROM codes WHERE ((purpose = 'verify' AND scope IN (SELECT id FROM pg_temp.doomed_packages))
            OR (purpose = 'signin' AND email IN (SELECT email FROM pg_temp.doomed_users)))",
        &[],
    )
    .await?;
    delete(
        tx,
        &mut rows,
        "failures",
        "DELETE FROM failures WHERE EXISTS (SELECT 1 FROM pg_temp.doomed_packages d
            WHERE failures.key ILIKE '%:' || d.id)",
        &[],
    )
    .await?;
    // Mail to its users (codes, notices), sent or not.
    delete(
        tx,
        &mut rows,
        "mail_queue",
        "DELETE FROM mail_queue WHERE to_addr IN (SELECT email::TEXT FROM pg_temp.doomed_users)",
        &[],
    )
    .await?;
    delete(tx, &mut rows, "packages", "DELETE FROM packages WHERE id IN (SELECT id FROM pg_temp.doomed_packages)", &[])
        .await?;
    // Upload requests (their addresses and uploader sessions cascade) and users' keys.
    delete(
        tx,
        &mut rows,
        "codes",
        "DELETE FROM codes WHERE purpose = 'upload' AND scope IN (SELECT id FROM upload_requests WHERE org_id = $1)",
        org,
    )
    .await?;
    delete(tx, &mut rows, "upload_requests", "DELETE FROM upload_requests WHERE org_id = $1", org).await?;
    delete(
        tx,
        &mut rows,
        "user_keys",
        "DELETE FROM user_keys WHERE user_id IN (SELECT id FROM pg_temp.doomed_users)",
        &[],
    )
    .await?;
    delete(
        tx,
        &mut rows,
        "sso_handoffs",
        "DELETE FROM sso_handoffs WHERE user_id IN (SELECT id FROM pg_temp.doomed_users)",
        &[],
    )
    .await?;
    delete(
        tx,
        &mut rows,
        "api_tokens",
        "DELETE FROM api_tokens WHERE user_id IN (SELECT id FROM pg_temp.doomed_users)",
        &[],
    )
    .await?;
    delete(tx, &mut rows, "users", "DELETE FROM users WHERE org_id = $1", org).await?;
    delete(tx, &mut rows, "sso_flows", "DELETE FROM sso_flows WHERE org_id = $1", org).await?;
    delete(tx, &mut rows, "org_sso", "DELETE FROM org_sso WHERE org_id = $1", org).await?;
    delete(tx, &mut rows, "licences", "DELETE FROM licences WHERE org_id = $1", org).await?;
    delete(tx, &mut rows, "policies", "DELETE FROM policies WHERE org_id = $1", org).await?;
    delete(tx, &mut rows, "org_domains", "DELETE FROM org_domains WHERE org_id = $1", org).await?;
    // The audit chain, whole: the trigger lets only rows before the anchor go.
    let last: Option<i64> = tx.query_one("SELECT MAX(id) FROM audit WHERE org_id = $1", &[&org_id]).await?.get(0);
    if let Some(last) = last {
        tx.execute(
            "INSERT INTO audit_anchor (org_id, first_id, prev_hash) VALUES ($1, $2, ''::BYTEA)
             ON CONFLICT (org_id) DO UPDATE SET first_id = excluded.first_id, prev_hash = excluded.prev_hash",
            &[&org_id, &(last + 1)],
        )
        .await?;
    }
    delete(tx, &mut rows, "audit", "DELETE FROM audit WHERE org_id = $1", org).await?;
    tx.execute("DELETE FROM audit_anchor WHERE org_id = $1", &[&org_id]).await?;
    tx.execute("DELETE FROM audit_head WHERE org_id = $1", &[&org_id]).await?;
    delete(tx, &mut rows, "organisation", "DELETE FROM organisation WHERE id = $1", org).await?;
    tx.batch_execute("DROP TABLE pg_temp.doomed_packages; DROP TABLE pg_temp.doomed_users;").await?;
    Ok(Some(Deleted { rows, audit_head, uploads }))
}

/// Soft-deletes a live or ended package (not yet deleted); false if there is none such.
pub(super) async fn soft_delete(tx: &Tx<'_>, id: &str, at: i64, by: &str) -> PgResult<bool> {
    let n = tx
        .execute(
            "UPDATE packages SET deleted_at = $2, deleted_by = $3 WHERE id = $1 AND deleted_at IS NULL",
            &[&id, &at, &by],
        )
        .await?;
    Ok(n == 1)
}

/// The organisation's soft-deleted packages, most recently deleted first.
pub(super) async fn deleted_packages(tx: &Tx<'_>, org_id: i64, limit: i64) -> PgResult<Vec<DeletedPackage>> {
    let sql = format!(
        "SELECT {}, u.email, p.deleted_at, p.deleted_by FROM packages p JOIN users u ON u.id = p.sender_id
         WHERE p.deleted_at IS NOT NULL AND COALESCE(p.org_id, u.org_id) = $1
         ORDER BY p.deleted_at DESC, p.id DESC LIMIT $2",
        super::packages::COLUMNS
    );
    let rows: Vec<(crate::store::Package, String, i64, Option<String>)> = tx
        .query(&sql, &[&org_id, &limit])
        .await?
        .iter()
        .map(|r| {
            let n = super::packages::COLUMN_COUNT;
            (super::packages::from_row(r), r.get(n), r.get(n + 1), r.get(n + 2))
        })
        .collect();
    let mut found = Vec::with_capacity(rows.len());
    for (package, sender, deleted_at, deleted_by) in rows {
        found.push(DeletedPackage {
            package: OrgPackage { record: super::packages::record(tx, package).await?, sender },
            deleted_at,
            deleted_by: deleted_by.unwrap_or_default(),
        });
    }
    Ok(found)
}

/// Undoes the soft delete of package `id` of `org_id`; false if it is not a deleted package of it.
pub(super) async fn restore(tx: &Tx<'_>, org_id: i64, id: &str) -> PgResult<bool> {
    let n = tx
        .execute(
            "UPDATE packages SET deleted_at = NULL, deleted_by = NULL WHERE id = $1 AND deleted_at IS NOT NULL
               AND (SELECT COALESCE(packages.org_id, u.org_id) FROM users u WHERE u.id = packages.sender_id) = $2",
            &[&id, &org_id],
        )
        .await?;
    Ok(n == 1)
}

/// Soft-deleted packages deleted before `before`, with their organisation: due for the purge.
pub(super) async fn deleted_before(tx: &Tx<'_>, before: i64) -> PgResult<Vec<(String, i64)>> {
    let rows = tx
        .query(
            "SELECT p.id, COALESCE(p.org_id, u.org_id) FROM packages p JOIN users u ON u.id = p.sender_id
             WHERE p.deleted_at IS NOT NULL AND p.deleted_at < $1 ORDER BY p.deleted_at",
            &[&before],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// On PostgreSQL when `KLUIS_TEST_DATABASE_URL` names a server; skipped otherwise.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::chain::tests::Scratch;
    use crate::store::{NewEvent, StoreResult};

    /// An organisation goes whole, its audit chain too (past the delete
    /// trigger); another organisation's rows and chain stay.
    #[tokio::test]
    async fn deletes_an_organisation_and_only_it() {
        let Some(scratch) = Scratch::new().await else { return };
        let store = &scratch.store;
        let made: StoreResult<()> = async {
            unit!(store, |tx| {
                tx.batch_execute(
                    "INSERT INTO organisation (id, name, created_at) VALUES (1, 'one', 0), (2, 'two', 0);
                     INSERT INTO users (id, org_id, email, created_at) VALUES (1, 1, 'a@one.example', 0), (2, 2, 'b@two.example', 0);
                     INSERT INTO packages (id, sender_id, state, created_at, expires_at, verify, has_password, notify_on_download, org_id)
                       VALUES ('p1', 1, 'ready', 0, 9, 'none', FALSE, FALSE, 1), ('p2', 2, 'ready', 0, 9, 'none', FALSE, FALSE, 2);
                     INSERT INTO blobs (package_id, idx, size, complete) VALUES ('p1', 0, 5, TRUE), ('p2', 0, 7, TRUE);
                     INSERT INTO codes (purpose, scope, email, code_hash, expires_at, tries_left)
                       VALUES ('signin', '', 'A@one.example', 'h', 9, 3), ('verify', 'p1', 'x@y.example', 'h', 9, 3);
                     INSERT INTO failures (key, window_start, count, updated_at) VALUES ('code:p1', 0, 1, 0), ('code:p2', 0, 1, 0);
                     INSERT INTO mail_queue (to_addr, subject, body, created_at, next_attempt_at)
                       VALUES ('a@one.example', 's', 'b', 0, 0), ('A@one.example', 's', 'b', 0, 0);",
                )
                .await?;
                for i in 0..3 {
                    for org in [1, 2] {
                        let e = NewEvent {
                            org_id: Some(org),
                            event: "accessed",
                            actor: format!("client:{i}"),
                            package_id: None,
                            detail: None,
                        };
                        super::super::chain::append(&tx, i, &e).await?;
                    }
                }
            })
        }
        .await;
        made.unwrap();
        let blobs: StoreResult<_> =
            async { read!(store, |tx| complete_blobs(&tx, None, false, None, 10).await?) }.await;
        assert_eq!(blobs.unwrap().len(), 2);
        let deleted: StoreResult<_> = async { unit!(store, |tx| delete_organisation(&tx, 1).await?) }.await;
        let deleted = deleted.unwrap().unwrap();
        let rows: Vec<(&str, u64)> = deleted.rows.iter().filter(|r| *r.1 > 0).map(|(t, n)| (*t, *n)).collect();
        // Mail to the same address in other case is not its users' (SQLite compares `to_addr` exactly).
        assert_eq!(
            rows,
            [
                ("audit", 3),
                ("blobs", 1),
                ("codes", 2),
                ("failures", 1),
                ("mail_queue", 1),
                ("organisation", 1),
                ("packages", 1),
                ("users", 1)
            ]
        );
        assert!(deleted.audit_head.is_some());
        let left: StoreResult<_> = async {
            read!(store, |tx| {
                let heads = super::super::chain::heads(&tx).await?;
                let blobs = complete_blobs(&tx, None, true, None, 10).await?;
                (heads.iter().map(|h| h.org_id).collect::<Vec<_>>(), blobs.len())
            })
        }
        .await;
        assert_eq!(left.unwrap(), (vec![Some(2)], 1));
        // Gone already: nothing to delete.
        let again: StoreResult<_> = async { unit!(store, |tx| delete_organisation(&tx, 1).await?) }.await;
        assert!(again.unwrap().is_none());
        scratch.drop_db().await;
    }
}

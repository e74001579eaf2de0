//! Data lifecycle (issue 12): a consistent copy of the database for a
//! backup, the blobs a backup or export copies, an organisation's users for
//! its export, and the deletion of everything an organisation owns.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{Deleted, DeletedPackage, ExportUser, NewEvent, OrgPackage, Role, StoredBlob};

/// Writes a consistent copy of the database to `dest` with `VACUUM INTO`:
/// one read transaction (a snapshot; in WAL mode writers go on meanwhile),
/// and a compact file without free pages, so nothing deleted before the
/// backup (ended sessions, codes) travels in it.
pub(super) fn snapshot(conn: &Connection, dest: &Path) -> rusqlite::Result<()> {
    let dest = dest.to_str().ok_or_else(|| rusqlite::Error::InvalidPath(dest.to_path_buf()))?;
    conn.execute("VACUUM INTO ?1", [dest])?;
    Ok(())
}

/// Makes a snapshot fit to be restored, in one transaction: uploads in
/// progress are forgotten (their part files are not in a backup; the client
/// starts the upload again), and packages whose blobs were deleted after
/// the snapshot (they ended meanwhile) are ended here too, with an audit row.
/// The file is left in rollback-journal mode: one file, nothing beside it.
pub(super) fn seal_snapshot(path: &Path, ended: &[String], now: i64) -> rusqlite::Result<()> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    let tx = super::transaction(&mut conn)?;
    tx.execute("DELETE FROM uploads", [])?;
    for id in ended {
        let org_id: Option<Option<i64>> = tx
            .query_row(
                "SELECT COALESCE(p.org_id, u.org_id) FROM packages p JOIN users u ON u.id = p.sender_id WHERE p.id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let changed = tx.execute(
            "UPDATE packages SET state = 'expired', server_share = NULL WHERE id = ?1 AND state IN ('uploading', 'ready')",
            [id],
        )?;
        if changed == 1 {
            let event = NewEvent {
                org_id: org_id.flatten(),
                event: "expired",
                actor: "system".into(),
                package_id: Some(id.clone()),
                detail: Some("ended while a backup was made: its files were deleted before they were copied".into()),
            };
            super::chain::append(&tx, now, &event)?;
        }
    }
    tx.commit()?;
    conn.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    Ok(())
}

/// A page of complete blobs (of one organisation, or all; of soft-deleted
/// packages too when `deleted`), by package and index.
pub(super) fn complete_blobs(
    conn: &Connection,
    org_id: Option<i64>,
    deleted: bool,
    after: Option<&(String, i64)>,
    limit: i64,
) -> rusqlite::Result<Vec<StoredBlob>> {
    let (after_id, after_idx) = after.map_or((None, None), |(id, idx)| (Some(id.as_str()), Some(*idx)));
    conn.prepare_cached(
        "SELECT b.package_id, b.idx, b.size FROM blobs b
           JOIN packages p ON p.id = b.package_id JOIN users u ON u.id = p.sender_id
         WHERE b.complete = 1 AND (?1 IS NULL OR COALESCE(p.org_id, u.org_id) = ?1) AND (?5 OR p.deleted_at IS NULL)
           AND (?2 IS NULL OR b.package_id > ?2 OR (b.package_id = ?2 AND b.idx > ?3))
         ORDER BY b.package_id, b.idx LIMIT ?4",
    )?
    .query_map(params![org_id, after_id, after_idx, limit, deleted], |r| {
        Ok(StoredBlob { package_id: r.get(0)?, idx: r.get(1)?, size: r.get(2)? })
    })?
    .collect()
}

/// A page of an organisation's users, removed ones too, by id.
pub(super) fn export_users(
    conn: &Connection,
    org_id: i64,
    after: i64,
    limit: i64,
) -> rusqlite::Result<Vec<ExportUser>> {
    conn.prepare_cached(
        "SELECT u.id, u.email, u.name, u.role, u.disabled, u.removed_at, u.created_at, u.seat,
                (SELECT MAX(COALESCE(t.last_used_at, t.created_at)) FROM api_tokens t WHERE t.user_id = u.id)
         FROM users u WHERE u.org_id = ?1 AND u.id > ?2 ORDER BY u.id LIMIT ?3",
    )?
    .query_map(params![org_id, after, limit], |r| {
        let role: String = r.get(3)?;
        Ok(ExportUser {
            id: r.get(0)?,
            email: r.get(1)?,
            name: r.get(2)?,
            role: if role == "admin" { Role::Admin } else { Role::User },
            disabled: r.get(4)?,
            removed_at: r.get(5)?,
            created_at: r.get(6)?,
            seat: r.get(7)?,
            last_active_at: r.get(8)?,
        })
    })?
    .collect()
}

/// Deletes everything organisation `org_id` owns, in the caller's
/// transaction, and says how many rows of each table went. Its audit chain
/// goes whole: the anchor is moved past its newest row (the delete trigger
/// allows only rows before it), the rows are deleted, then its head and
/// anchor; other organisations' chains are separate and stay as they were.
pub(super) fn delete_organisation(conn: &Connection, org_id: i64) -> rusqlite::Result<Option<Deleted>> {
    let exists: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM organisation WHERE id = ?1)", [org_id], |r| r.get(0))?;
    if !exists {
        return Ok(None);
    }
    conn.execute_batch("DROP TABLE IF EXISTS temp.doomed_packages; DROP TABLE IF EXISTS temp.doomed_users;")?;
    conn.execute("CREATE TEMP TABLE doomed_users AS SELECT id, email FROM users WHERE org_id = ?1", [org_id])?;
    conn.execute(
        "CREATE TEMP TABLE doomed_packages AS SELECT p.id FROM packages p JOIN users u ON u.id = p.sender_id
         WHERE COALESCE(p.org_id, u.org_id) = ?1",
        [org_id],
    )?;
    let uploads: Vec<String> = conn
        .prepare("SELECT id FROM uploads WHERE package_id IN (SELECT id FROM temp.doomed_packages)")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let audit_head: Option<Vec<u8>> =
        conn.query_row("SELECT hash FROM audit_head WHERE org_id = ?1", [org_id], |r| r.get(0)).optional()?;
    let mut rows = BTreeMap::new();
    let mut delete = |table: &'static str, sql: &str| -> rusqlite::Result<()> {
        // Statements over the temporary tables take no parameter.
        let mut stmt = conn.prepare(sql)?;
        let n = if stmt.parameter_count() == 0 { stmt.execute([])? } else { stmt.execute([org_id])? };
        *rows.entry(table).or_insert(0) += n as u64;
        Ok(())
    };
    // Children before parents (foreign keys are on).
    delete(
        "download_sessions",
        "DELETE FROM download_sessions WHERE package_id IN (SELECT id FROM temp.doomed_packages)",
    )?;
    delete("uploads", "DELETE FROM uploads WHERE package_id IN (SELECT id FROM temp.doomed_packages)")?;
    delete("blobs", "DELETE FROM blobs WHERE package_id IN (SELECT id FROM temp.doomed_packages)")?;
    delete(
        "package_receivers",
        "DELETE FROM package_receivers WHERE package_id IN (SELECT id FROM temp.doomed_packages)",
    )?;
    delete(
        "package_recipients",
        "DELETE FROM package_recipients WHERE package_id IN (SELECT id FROM temp.doomed_packages)",
    )?;
    // Codes for its packages and its users' sign-in codes; failure counters of its packages.
    delete(
        "codes",
        "DELETE FROM codes WHERE ((purpose = 'verify' AND scope IN (SELECT id FROM temp.doomed_packages))
            OR (purpose = 'signin' AND email IN (SELECT email FROM temp.doomed_users)))",
    )?;
    delete(
        "failures",
        "DELETE FROM failures WHERE EXISTS (SELECT 1 FROM temp.doomed_packages d
            WHERE failures.key LIKE '%:' || d.id)",
    )?;
    // Mail to its users (codes, notices), sent or not.
    delete("mail_queue", "DELETE FROM mail_queue WHERE to_addr IN (SELECT email FROM temp.doomed_users)")?;
    delete("packages", "DELETE FROM packages WHERE id IN (SELECT id FROM temp.doomed_packages)")?;
    // Upload requests (their addresses and uploader sessions cascade) and users' keys.
    delete(
        "codes",
        "DELETE FROM codes WHERE purpose = 'upload' AND scope IN (SELECT id FROM upload_requests WHERE org_id = ?1)",
    )?;
    delete("upload_requests", "DELETE FROM upload_requests WHERE org_id = ?1")?;
    delete("user_keys", "DELETE FROM user_keys WHERE user_id IN (SELECT id FROM temp.doomed_users)")?;
    delete("sso_handoffs", "DELETE FROM sso_handoffs WHERE user_id IN (SELECT id FROM temp.doomed_users)")?;
    delete("api_tokens", "DELETE FROM api_tokens WHERE user_id IN (SELECT id FROM temp.doomed_users)")?;
    delete("users", "DELETE FROM users WHERE org_id = ?1")?;
    delete("sso_flows", "DELETE FROM sso_flows WHERE org_id = ?1")?;
    delete("org_sso", "DELETE FROM org_sso WHERE org_id = ?1")?;
    delete("licences", "DELETE FROM licences WHERE org_id = ?1")?;
    delete("policies", "DELETE FROM policies WHERE org_id = ?1")?;
    delete("org_domains", "DELETE FROM org_domains WHERE org_id = ?1")?;
    // The audit chain, whole: the trigger lets only rows before the anchor go.
    let last: Option<i64> = conn.query_row("SELECT MAX(id) FROM audit WHERE org_id = ?1", [org_id], |r| r.get(0))?;
    if let Some(last) = last {
        conn.execute(
            "INSERT INTO audit_anchor (org_id, first_id, prev_hash) VALUES (?1, ?2, x'')
             ON CONFLICT (org_id) DO UPDATE SET first_id = excluded.first_id, prev_hash = excluded.prev_hash",
            params![org_id, last + 1],
        )?;
    }
    delete("audit", "DELETE FROM audit WHERE org_id = ?1")?;
    conn.execute("DELETE FROM audit_anchor WHERE org_id = ?1", [org_id])?;
    conn.execute("DELETE FROM audit_head WHERE org_id = ?1", [org_id])?;
    delete("organisation", "DELETE FROM organisation WHERE id = ?1")?;
    conn.execute_batch("DROP TABLE temp.doomed_packages; DROP TABLE temp.doomed_users;")?;
    Ok(Some(Deleted { rows, audit_head, uploads }))
}

/// Soft-deletes a live or ended package (not yet deleted); false if there is none such.
pub(super) fn soft_delete(conn: &Connection, id: &str, at: i64, by: &str) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE packages SET deleted_at = ?2, deleted_by = ?3 WHERE id = ?1 AND deleted_at IS NULL",
        params![id, at, by],
    )?;
    Ok(n == 1)
}

/// The organisation's soft-deleted packages, most recently deleted first.
pub(super) fn deleted_packages(conn: &Connection, org_id: i64, limit: i64) -> rusqlite::Result<Vec<DeletedPackage>> {
    let sql = format!(
        "SELECT {}, u.email, p.deleted_at, p.deleted_by FROM packages p JOIN users u ON u.id = p.sender_id
         WHERE p.deleted_at IS NOT NULL AND COALESCE(p.org_id, u.org_id) = ?1
         ORDER BY p.deleted_at DESC, p.id DESC LIMIT ?2",
        super::packages::COLUMNS
    );
    let rows: Vec<(crate::store::Package, String, i64, Option<String>)> = conn
        .prepare(&sql)?
        .query_map(params![org_id, limit], |r| {
            let n = super::packages::COLUMN_COUNT;
            Ok((super::packages::from_row(r)?, r.get(n)?, r.get(n + 1)?, r.get(n + 2)?))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(package, sender, deleted_at, deleted_by)| {
            Ok(DeletedPackage {
                package: OrgPackage { record: super::packages::record(conn, package)?, sender },
                deleted_at,
                deleted_by: deleted_by.unwrap_or_default(),
            })
        })
        .collect()
}

/// Undoes the soft delete of package `id` of `org_id`; false if it is not a deleted package of it.
pub(super) fn restore(conn: &Connection, org_id: i64, id: &str) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE packages SET deleted_at = NULL, deleted_by = NULL WHERE id = ?1 AND deleted_at IS NOT NULL
           AND (SELECT COALESCE(packages.org_id, u.org_id) FROM users u WHERE u.id = packages.sender_id) = ?2",
        params![id, org_id],
    )?;
    Ok(n == 1)
}

/// Soft-deleted packages deleted before `before`, with their organisation: due for the purge.
pub(super) fn deleted_before(conn: &Connection, before: i64) -> rusqlite::Result<Vec<(String, i64)>> {
    conn.prepare(
        "SELECT p.id, COALESCE(p.org_id, u.org_id) FROM packages p JOIN users u ON u.id = p.sender_id
         WHERE p.deleted_at IS NOT NULL AND p.deleted_at < ?1 ORDER BY p.deleted_at",
    )?
    .query_map([before], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

//! Packages, their recipients, blobs and download sessions.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use crate::store::{
    ActivityRow, Blob, Direct, Inbound, NewPackage, Package, PackageCursor, PackageRecord, PackageState, Usage,
    Verifiers,
};

pub(super) const COLUMNS: &str = "p.id, COALESCE(p.org_id, u.org_id), p.sender_id, p.server_share, p.access_verifier, p.state, p.created_at, \
     p.expires_at, p.max_downloads, p.downloads, p.verify, p.has_password, p.notify_on_download, p.verification_locked, \
     p.link_verifier, p.request_id, p.uploader_email, p.uploader_verified, p.uploader_session, p.received_at, \
     (SELECT r.package_id FROM upload_requests r WHERE r.id = p.request_id), u.email";
/// How many columns [`COLUMNS`] has: what a query selects after them starts here.
pub(super) const COLUMN_COUNT: usize = 22;
/// Packages with their sender. Soft-deleted packages (migration 0012) are not
/// among them: every query built on this sees them as gone; only the admin's
/// list of deleted packages and the purge (`lifecycle.rs`) read them.
pub(super) const FROM: &str = "packages p JOIN users u ON u.id = p.sender_id AND p.deleted_at IS NULL";

pub(super) fn from_row(r: &Row) -> rusqlite::Result<Package> {
    Ok(Package {
        id: r.get(0)?,
        org_id: r.get(1)?,
        sender_id: r.get(2)?,
        server_share: r.get(3)?,
        access_verifier: r.get(4)?,
        state: PackageState::from_column(&r.get::<_, String>(5)?),
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
        max_downloads: r.get(8)?,
        downloads: r.get(9)?,
        verify_email: r.get::<_, String>(10)? == "email",
        has_password: r.get(11)?,
        notify_on_download: r.get(12)?,
        verification_locked: r.get(13)?,
        link_verifier: r.get(14)?,
        inbound: match r.get::<_, Option<String>>(15)? {
            Some(request_id) => Some(Inbound {
                request_id,
                uploader_email: r.get::<_, Option<String>>(16)?.unwrap_or_default(),
                verified: r.get::<_, Option<bool>>(17)?.unwrap_or(false),
                session: r.get::<_, Option<String>>(18)?.unwrap_or_default(),
                received_at: r.get(19)?,
                reply_to: r.get(20)?,
            }),
            None => None,
        },
        // A package with receivers is received (in their inboxes) at finalize.
        direct: match (r.get::<_, Option<String>>(15)?, r.get::<_, Option<i64>>(19)?) {
            (None, Some(received_at)) => Some(Direct { sender_email: r.get(21)?, received_at }),
            _ => None,
        },
    })
}

pub(super) fn usage(conn: &Connection, user_id: i64) -> rusqlite::Result<Usage> {
    // TOTAL (a float) cast to INTEGER stops at i64::MAX, where SUM fails with "integer
    // overflow" (packages of up to i64::MAX bytes each, with quotas configured that high).
    let (reserved_bytes, unfinished_packages) = conn.query_row(
        "SELECT CAST(TOTAL(b.size) AS INTEGER), COUNT(DISTINCT p.id) FROM packages p LEFT JOIN blobs b ON b.package_id = p.id
         WHERE p.sender_id = ?1 AND p.state = 'uploading' AND p.deleted_at IS NULL",
        [user_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let open_uploads =
        conn.query_row("SELECT COUNT(*) FROM uploads WHERE user_id = ?1 AND offset < length", [user_id], |r| r.get(0))?;
    Ok(Usage { reserved_bytes, unfinished_packages, open_uploads })
}

pub(super) fn create(conn: &Connection, p: &NewPackage) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO packages (id, org_id, sender_id, server_share, state, created_at, expires_at, max_downloads, verify, has_password, notify_on_download)
         VALUES (?1, ?2, ?3, ?4, 'uploading', ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            p.id,
            p.org_id,
            p.sender_id,
            p.server_share,
            p.created_at,
            p.expires_at,
            p.max_downloads,
            if p.verify_email { "email" } else { "none" },
            p.has_password,
            p.notify_on_download
        ],
    )?;
    for email in &p.recipients {
        conn.execute(
            "INSERT OR IGNORE INTO package_recipients (package_id, email) VALUES (?1, ?2)",
            params![p.id, email],
        )?;
    }
    for (idx, size) in p.blob_sizes.iter().enumerate() {
        conn.execute("INSERT INTO blobs (package_id, idx, size) VALUES (?1, ?2, ?3)", params![p.id, idx as i64, size])?;
    }
    for receiver in &p.receivers {
        conn.execute(
            "INSERT OR IGNORE INTO package_receivers (package_id, user_id, recipient) VALUES (?1, ?2, ?3)",
            params![p.id, receiver.user_id, receiver.recipient],
        )?;
    }
    Ok(())
}

pub(super) fn is_receiver(conn: &Connection, id: &str, user_id: i64) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM package_receivers WHERE package_id = ?1 AND user_id = ?2",
        params![id, user_id],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
}

pub(super) fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Package>> {
    conn.query_row(&format!("SELECT {COLUMNS} FROM {FROM} WHERE p.id = ?1"), [id], from_row).optional()
}

pub(super) fn record(conn: &Connection, package: Package) -> rusqlite::Result<PackageRecord> {
    let recipients = recipients(conn, &package.id)?;
    let blobs = blobs(conn, &package.id)?;
    Ok(PackageRecord { package, recipients, blobs })
}

/// `?1, ?2, …` for `n` values from position `first`.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

/// A page of a sender's packages in one organisation, newest first (ties by id),
/// with their recipients and blobs read for the whole page at once.
pub(super) fn sent_page(
    conn: &Connection,
    sender_id: i64,
    org_id: i64,
    after: Option<&PackageCursor>,
    limit: i64,
) -> rusqlite::Result<Vec<PackageRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE p.sender_id = ?1 AND COALESCE(p.org_id, u.org_id) = ?2
         AND p.request_id IS NULL AND (?3 IS NULL OR p.created_at < ?3 OR (p.created_at = ?3 AND p.id < ?4))
         ORDER BY p.created_at DESC, p.id DESC LIMIT ?5"
    ))?;
    let (at, id) = after.map(|c| (Some(c.created_at), Some(c.id.as_str()))).unwrap_or_default();
    let packages =
        stmt.query_map(params![sender_id, org_id, at, id, limit], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    if packages.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = packages.iter().map(|p| p.id.as_str()).collect();
    let mut recipients: HashMap<String, Vec<String>> = HashMap::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT package_id, email FROM package_recipients WHERE package_id IN ({}) ORDER BY email",
        placeholders(1, ids.len())
    ))?;
    let mut rows = stmt.query(params_from_iter(&ids))?;
    while let Some(r) = rows.next()? {
        recipients.entry(r.get(0)?).or_default().push(r.get(1)?);
    }
    let mut blobs: HashMap<String, Vec<Blob>> = HashMap::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT package_id, idx, size, complete FROM blobs WHERE package_id IN ({}) ORDER BY idx",
        placeholders(1, ids.len())
    ))?;
    let mut rows = stmt.query(params_from_iter(&ids))?;
    while let Some(r) = rows.next()? {
        blobs.entry(r.get(0)?).or_default().push(Blob { idx: r.get(1)?, size: r.get(2)?, complete: r.get(3)? });
    }
    Ok(packages
        .into_iter()
        .map(|package| PackageRecord {
            recipients: recipients.remove(&package.id).unwrap_or_default(),
            blobs: blobs.remove(&package.id).unwrap_or_default(),
            package,
        })
        .collect())
}

/// What recipients did with these packages, aggregated in one query over
/// their audit rows: code mails, opens and files read to their end, per
/// package, event, actor and (for downloads) blob. A `downloaded` row's
/// detail starts with `blob N,` (api/recipients.rs writes it). The rows
/// returned are bounded by recipients × blobs, whatever the log holds.
pub(super) fn activity(conn: &Connection, ids: &[&str]) -> rusqlite::Result<Vec<ActivityRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT package_id, event, actor,
                CASE WHEN event = 'downloaded' AND detail LIKE 'blob %,%'
                     THEN CAST(substr(detail, 6, instr(detail, ',') - 6) AS INTEGER) END AS blob,
                COUNT(*), MIN(at), MAX(at)
         FROM audit
         WHERE package_id IN ({}) AND event IN ('verification_sent', 'accessed', 'downloaded')
         GROUP BY package_id, event, actor, blob
         ORDER BY package_id, event, actor, blob",
        placeholders(1, ids.len())
    ))?;
    stmt.query_map(params_from_iter(ids), |r| {
        Ok(ActivityRow {
            package_id: r.get(0)?,
            event: r.get(1)?,
            actor: r.get(2)?,
            blob: r.get(3)?,
            count: r.get(4)?,
            first_at: r.get(5)?,
            last_at: r.get(6)?,
        })
    })?
    .collect()
}

pub(super) fn recipients(conn: &Connection, id: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT email FROM package_recipients WHERE package_id = ?1 ORDER BY email")?;
    stmt.query_map([id], |r| r.get(0))?.collect()
}

pub(super) fn is_recipient(conn: &Connection, id: &str, email: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT 1 FROM package_recipients WHERE package_id = ?1 AND email = ?2", params![id, email], |_| {
        Ok(())
    })
    .optional()
    .map(|r| r.is_some())
}

pub(super) fn blobs(conn: &Connection, id: &str) -> rusqlite::Result<Vec<Blob>> {
    let mut stmt = conn.prepare("SELECT idx, size, complete FROM blobs WHERE package_id = ?1 ORDER BY idx")?;
    stmt.query_map([id], |r| Ok(Blob { idx: r.get(0)?, size: r.get(1)?, complete: r.get(2)? }))?.collect()
}

/// Makes an uploading package ready; one with receivers arrives in their inboxes `at` this moment.
pub(super) fn set_ready(conn: &Connection, id: &str, verifiers: &Verifiers, at: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE packages SET state = 'ready', access_verifier = ?2, link_verifier = ?3,
             received_at = CASE WHEN EXISTS (SELECT 1 FROM package_receivers WHERE package_id = ?1) THEN ?4 END
         WHERE id = ?1 AND state = 'uploading' AND request_id IS NULL",
        params![id, verifiers.access.as_slice(), verifiers.link.as_slice(), at],
    )?;
    Ok(n == 1)
}

/// Counts one download; true if the sender asked to be told of the first one and has not been yet.
pub(super) fn count_download(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    conn.execute("UPDATE packages SET downloads = downloads + 1 WHERE id = ?1", [id])?;
    let changed = conn
        .execute("UPDATE packages SET notified = 1 WHERE id = ?1 AND notify_on_download = 1 AND notified = 0", [id])?;
    Ok(changed == 1)
}

pub(super) fn end(conn: &Connection, id: &str, state: PackageState) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE packages SET state = ?2, server_share = NULL WHERE id = ?1 AND state IN ('uploading', 'ready')",
        params![id, state.as_str()],
    )?;
    Ok(n == 1)
}

pub(super) fn overdue(conn: &Connection, now: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT id FROM packages WHERE state IN ('uploading', 'ready') AND expires_at <= ?1 AND deleted_at IS NULL",
    )?;
    stmt.query_map([now], |r| r.get(0))?.collect()
}

pub(super) fn ended_with_blobs(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT b.package_id FROM blobs b JOIN packages p ON p.id = b.package_id WHERE p.state IN ('revoked', 'expired')",
    )?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

pub(super) fn create_session(
    conn: &Connection,
    hash: &str,
    package_id: &str,
    email: Option<&str>,
    expires_at: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO download_sessions (token_hash, package_id, email, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash, package_id, email, expires_at],
    )?;
    Ok(())
}

pub(super) fn session(
    conn: &Connection,
    hash: &str,
    package_id: &str,
    now: i64,
) -> rusqlite::Result<Option<Option<String>>> {
    conn.query_row(
        "SELECT email FROM download_sessions WHERE token_hash = ?1 AND package_id = ?2 AND expires_at > ?3",
        params![hash, package_id, now],
        |r| r.get(0),
    )
    .optional()
}

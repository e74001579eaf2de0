//! Users' keys, upload requests, uploader sessions and deliveries (migration 0013).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::packages;
use crate::store::{NewDelivery, PackageCursor, PackageRecord, StoredKey, UploadRequest, UploaderSession, User};

const KEY_COLUMNS: &str =
    "user_id, recipient, wrapped, recovery, recovery_recipient, must_change, created_at, updated_at";

fn key_from_row(r: &Row) -> rusqlite::Result<StoredKey> {
    Ok(StoredKey {
        user_id: r.get(0)?,
        recipient: r.get(1)?,
        wrapped: r.get(2)?,
        recovery: r.get(3)?,
        recovery_recipient: r.get(4)?,
        must_change: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

pub(super) fn key(conn: &Connection, user_id: i64) -> rusqlite::Result<Option<StoredKey>> {
    conn.query_row(&format!("SELECT {KEY_COLUMNS} FROM user_keys WHERE user_id = ?1"), [user_id], key_from_row)
        .optional()
}

pub(super) fn put_key(conn: &Connection, k: &StoredKey) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO user_keys (user_id, recipient, wrapped, recovery, recovery_recipient, must_change, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (user_id) DO UPDATE SET recipient = ?2, wrapped = ?3, recovery = ?4, recovery_recipient = ?5,
             must_change = ?6, created_at = ?7, updated_at = ?8",
        params![
            k.user_id,
            k.recipient,
            k.wrapped,
            k.recovery,
            k.recovery_recipient,
            k.must_change,
            k.created_at,
            k.updated_at
        ],
    )?;
    Ok(())
}

pub(super) fn recovery_recipient(conn: &Connection, org_id: i64) -> rusqlite::Result<Option<String>> {
    Ok(conn
        .query_row("SELECT recovery_recipient FROM organisation WHERE id = ?1", [org_id], |r| r.get(0))
        .optional()?
        .flatten())
}

pub(super) fn set_recovery_recipient(conn: &Connection, org_id: i64, recipient: Option<&str>) -> rusqlite::Result<()> {
    conn.execute("UPDATE organisation SET recovery_recipient = ?2 WHERE id = ?1", params![org_id, recipient])?;
    Ok(())
}

pub(super) fn colleague(
    conn: &Connection,
    org_id: i64,
    email: &str,
) -> rusqlite::Result<Option<(User, Option<String>)>> {
    let user = super::accounts::user_by_email(conn, email)?.filter(|u| u.org_id == org_id);
    let Some(user) = user else { return Ok(None) };
    let recipient = key(conn, user.id)?.map(|k| k.recipient);
    Ok(Some((user, recipient)))
}

/// The colleagues among `emails` who made a key, in the order of `emails`
/// (a transaction: one consistent view of the keys).
pub(super) fn colleague_keys(
    conn: &Connection,
    org_id: i64,
    emails: &[String],
) -> rusqlite::Result<Vec<(User, String)>> {
    let mut found = Vec::new();
    for email in emails {
        if let Some((user, Some(recipient))) = colleague(conn, org_id, email)? {
            found.push((user, recipient));
        }
    }
    Ok(found)
}

/// A request's columns with its uploads counted; `now` names the parameter
/// holding the time that decides which unfinished deliveries still hold a
/// place: those whose uploader's session can still finish them.
fn request_columns(now: &str) -> String {
    format!(
        "r.id, r.org_id, r.user_id, r.recipient, r.message, r.verify, r.max_uploads, r.max_bytes, r.created_at, \
         r.expires_at, r.closed_at, r.package_id, r.name,
         (SELECT COUNT(*) FROM packages p WHERE p.request_id = r.id AND p.state = 'ready'),
         (SELECT COUNT(*) FROM packages p WHERE p.request_id = r.id AND p.state = 'uploading' AND p.expires_at > {now}
            AND EXISTS (SELECT 1 FROM uploader_sessions s WHERE s.token_hash = p.uploader_session AND s.expires_at > {now}))"
    )
}

fn request_from_row(r: &Row) -> rusqlite::Result<UploadRequest> {
    Ok(UploadRequest {
        id: r.get(0)?,
        org_id: r.get(1)?,
        user_id: r.get(2)?,
        recipient: r.get(3)?,
        message: r.get(4)?,
        verify_email: r.get::<_, String>(5)? == "email",
        max_uploads: r.get(6)?,
        max_bytes: r.get(7)?,
        created_at: r.get(8)?,
        expires_at: r.get(9)?,
        closed_at: r.get(10)?,
        emails: Vec::new(),
        reply_to: r.get(11)?,
        portal: r.get(12)?,
        receivers: Vec::new(),
        recipients: Vec::new(),
        uploads: r.get(13)?,
        pending: r.get(14)?,
    })
}

/// Fills in who may upload, who receives, and what uploads are encrypted to.
fn with_emails(conn: &Connection, mut request: UploadRequest) -> rusqlite::Result<UploadRequest> {
    let mut stmt = conn.prepare("SELECT email FROM upload_request_emails WHERE request_id = ?1 ORDER BY email")?;
    request.emails = stmt.query_map([&request.id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare("SELECT user_id FROM request_receivers WHERE request_id = ?1 ORDER BY user_id")?;
    request.receivers = stmt.query_map([&request.id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    request.recipients = if request.portal.is_some() {
        // Receivers who can still receive: active, with a key.
        let mut stmt = conn.prepare(
            "SELECT DISTINCT k.recipient FROM request_receivers rr JOIN users u ON u.id = rr.user_id
             JOIN user_keys k ON k.user_id = u.id
             WHERE rr.request_id = ?1 AND u.disabled = 0 AND u.removed_at IS NULL ORDER BY k.recipient",
        )?;
        stmt.query_map([&request.id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
    } else {
        vec![request.recipient.clone()]
    };
    Ok(request)
}

pub(super) fn create_request(conn: &Connection, r: &UploadRequest) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO upload_requests (id, org_id, user_id, recipient, message, verify, max_uploads, max_bytes, created_at,
             expires_at, kind, package_id, name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            r.id,
            r.org_id,
            r.user_id,
            r.recipient,
            r.message,
            if r.verify_email { "email" } else { "none" },
            r.max_uploads,
            r.max_bytes,
            r.created_at,
            r.expires_at,
            if r.reply_to.is_some() {
                "reply"
            } else if r.portal.is_some() {
                "portal"
            } else {
                "request"
            },
            r.reply_to,
            r.portal
        ],
    )?;
    for user_id in &r.receivers {
        conn.execute(
            "INSERT OR IGNORE INTO request_receivers (request_id, user_id) VALUES (?1, ?2)",
            params![r.id, user_id],
        )?;
    }
    for email in &r.emails {
        conn.execute(
            "INSERT OR IGNORE INTO upload_request_emails (request_id, email) VALUES (?1, ?2)",
            params![r.id, email],
        )?;
    }
    Ok(())
}

/// The request `id`; `now` decides which unfinished deliveries still hold a place.
pub(super) fn request(conn: &Connection, id: &str, now: i64) -> rusqlite::Result<Option<UploadRequest>> {
    let sql = format!("SELECT {} FROM upload_requests r WHERE r.id = ?1", request_columns("?2"));
    let found = conn.query_row(&sql, params![id, now], request_from_row).optional()?;
    found.map(|r| with_emails(conn, r)).transpose()
}

/// The request behind replies to `package_id`.
pub(super) fn reply_request(conn: &Connection, package_id: &str, now: i64) -> rusqlite::Result<Option<UploadRequest>> {
    let sql = format!("SELECT {} FROM upload_requests r WHERE r.package_id = ?1", request_columns("?2"));
    let found = conn.query_row(&sql, params![package_id, now], request_from_row).optional()?;
    found.map(|r| with_emails(conn, r)).transpose()
}

pub(super) fn portal(conn: &Connection, name: &str, now: i64) -> rusqlite::Result<Option<UploadRequest>> {
    let sql =
        format!("SELECT {} FROM upload_requests r WHERE r.name = ?1 AND r.kind = 'portal'", request_columns("?2"));
    let found = conn.query_row(&sql, params![name, now], request_from_row).optional()?;
    found.map(|r| with_emails(conn, r)).transpose()
}

pub(super) fn portals(conn: &Connection, org_id: i64, now: i64) -> rusqlite::Result<Vec<UploadRequest>> {
    let sql = format!(
        "SELECT {} FROM upload_requests r WHERE r.org_id = ?1 AND r.kind = 'portal' ORDER BY r.created_at DESC, r.id DESC",
        request_columns("?2")
    );
    let rows: Vec<UploadRequest> =
        conn.prepare(&sql)?.query_map(params![org_id, now], request_from_row)?.collect::<rusqlite::Result<_>>()?;
    rows.into_iter().map(|r| with_emails(conn, r)).collect()
}

pub(super) fn requests(conn: &Connection, user_id: i64, now: i64, limit: i64) -> rusqlite::Result<Vec<UploadRequest>> {
    let sql = format!(
        "SELECT {} FROM upload_requests r WHERE r.user_id = ?1 AND r.kind = 'request'
         ORDER BY r.created_at DESC, r.id DESC LIMIT ?3",
        request_columns("?2")
    );
    let rows: Vec<UploadRequest> = conn
        .prepare(&sql)?
        .query_map(params![user_id, now, limit], request_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter().map(|r| with_emails(conn, r)).collect()
}

pub(super) fn close_request(conn: &Connection, id: &str, at: i64) -> rusqlite::Result<bool> {
    let n =
        conn.execute("UPDATE upload_requests SET closed_at = ?2 WHERE id = ?1 AND closed_at IS NULL", params![id, at])?;
    Ok(n == 1)
}

pub(super) fn create_session(conn: &Connection, s: &UploaderSession, expires_at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO uploader_sessions (token_hash, request_id, email, verified, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![s.hash, s.request_id, s.email, s.verified, expires_at],
    )?;
    Ok(())
}

/// The deliveries still uploading on request `request_id` that other
/// verified sessions of `email` made.
pub(super) fn superseded(
    conn: &Connection,
    request_id: &str,
    email: &str,
    session: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT id FROM packages WHERE request_id = ?1 AND state = 'uploading' AND deleted_at IS NULL
           AND uploader_verified = 1 AND uploader_email = ?2 COLLATE NOCASE AND uploader_session <> ?3
         ORDER BY created_at, id",
    )?;
    stmt.query_map(params![request_id, email, session], |r| r.get(0))?.collect()
}

/// Ends delivery `id` if it is still uploading (and, with `session`, that
/// session made it): revoked, so it no longer holds a place and its blobs
/// are the janitor's to delete. False if it was not.
pub(super) fn abandon(conn: &Connection, id: &str, session: Option<&str>) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE packages SET state = 'revoked', server_share = NULL
         WHERE id = ?1 AND state = 'uploading' AND request_id IS NOT NULL AND deleted_at IS NULL
           AND (?2 IS NULL OR uploader_session = ?2)",
        params![id, session],
    )?;
    Ok(n == 1)
}

pub(super) fn session(conn: &Connection, hash: &str, now: i64) -> rusqlite::Result<Option<UploaderSession>> {
    conn.query_row(
        "SELECT token_hash, request_id, email, verified FROM uploader_sessions WHERE token_hash = ?1 AND expires_at > ?2",
        params![hash, now],
        |r| Ok(UploaderSession { hash: r.get(0)?, request_id: r.get(1)?, email: r.get(2)?, verified: r.get(3)? }),
    )
    .optional()
}

pub(super) fn create_delivery(conn: &Connection, d: &NewDelivery) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO packages (id, org_id, sender_id, server_share, state, created_at, expires_at, max_downloads, verify,
             has_password, notify_on_download, request_id, uploader_email, uploader_verified, uploader_session)
         VALUES (?1, ?2, ?3, NULL, 'uploading', ?4, ?5, NULL, 'none', 0, 0, ?6, ?7, ?8, ?9)",
        params![
            d.id,
            d.org_id,
            d.owner_id,
            d.created_at,
            d.expires_at,
            d.inbound.request_id,
            d.inbound.uploader_email,
            d.inbound.verified,
            d.inbound.session
        ],
    )?;
    for (idx, size) in d.blob_sizes.iter().enumerate() {
        conn.execute("INSERT INTO blobs (package_id, idx, size) VALUES (?1, ?2, ?3)", params![d.id, idx as i64, size])?;
    }
    Ok(())
}

/// Makes an uploading delivery ready, kept until `keep_until`; false if it was not uploading.
pub(super) fn set_received(conn: &Connection, id: &str, at: i64, keep_until: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE packages SET state = 'ready', received_at = ?2, expires_at = ?3
         WHERE id = ?1 AND state = 'uploading' AND request_id IS NOT NULL",
        params![id, at, keep_until],
    )?;
    Ok(n == 1)
}

/// A page of what `owner_id` received, newest first: deliveries of the
/// requests they receive for, and packages colleagues sent to their key.
pub(super) fn inbox(
    conn: &Connection,
    owner_id: i64,
    org_id: i64,
    after: Option<&PackageCursor>,
    limit: i64,
) -> rusqlite::Result<Vec<PackageRecord>> {
    let sql = format!(
        "SELECT {} FROM {} WHERE (p.request_id IN (SELECT request_id FROM request_receivers WHERE user_id = ?1)
             OR p.id IN (SELECT package_id FROM package_receivers WHERE user_id = ?1))
           AND COALESCE(p.org_id, u.org_id) = ?2 AND p.received_at IS NOT NULL AND p.state = 'ready'
           AND (?3 IS NULL OR p.received_at < ?3 OR (p.received_at = ?3 AND p.id < ?4))
         ORDER BY p.received_at DESC, p.id DESC LIMIT ?5",
        packages::COLUMNS,
        packages::FROM
    );
    let (at, id) = after.map(|c| (Some(c.created_at), Some(c.id.as_str()))).unwrap_or_default();
    let found: Vec<_> = conn
        .prepare(&sql)?
        .query_map(params![owner_id, org_id, at, id, limit], packages::from_row)?
        .collect::<rusqlite::Result<_>>()?;
    found.into_iter().map(|p| packages::record(conn, p)).collect()
}

//! Users' keys, upload requests, uploader sessions and deliveries (`../sqlite/inbound.rs`).

use tokio_postgres::Row;

use super::{PgResult, Tx, packages};
use crate::store::{NewDelivery, PackageCursor, PackageRecord, StoredKey, UploadRequest, UploaderSession, User};

const KEY_COLUMNS: &str =
    "user_id, recipient, wrapped, recovery, recovery_recipient, must_change, created_at, updated_at";

fn key_from_row(r: &Row) -> StoredKey {
    StoredKey {
        user_id: r.get(0),
        recipient: r.get(1),
        wrapped: r.get(2),
        recovery: r.get(3),
        recovery_recipient: r.get(4),
        must_change: r.get(5),
        created_at: r.get(6),
        updated_at: r.get(7),
    }
}

pub(super) async fn key(tx: &Tx<'_>, user_id: i64) -> PgResult<Option<StoredKey>> {
    let found = tx.query_opt(&format!("SELECT {KEY_COLUMNS} FROM user_keys WHERE user_id = $1"), &[&user_id]).await?;
    Ok(found.as_ref().map(key_from_row))
}

pub(super) async fn put_key(tx: &Tx<'_>, k: &StoredKey) -> PgResult<()> {
    tx.execute(
        "INSERT INTO user_keys (user_id, recipient, wrapped, recovery, recovery_recipient, must_change, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (user_id) DO UPDATE SET recipient = $2, wrapped = $3, recovery = $4, recovery_recipient = $5,
             must_change = $6, created_at = $7, updated_at = $8",
        &[
            &k.user_id,
            &k.recipient,
            &k.wrapped,
            &k.recovery,
            &k.recovery_recipient,
            &k.must_change,
            &k.created_at,
            &k.updated_at,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn recovery_recipient(tx: &Tx<'_>, org_id: i64) -> PgResult<Option<String>> {
    let found = tx.query_opt("SELECT recovery_recipient FROM organisation WHERE id = $1", &[&org_id]).await?;
    Ok(found.and_then(|r| r.get(0)))
}

pub(super) async fn set_recovery_recipient(tx: &Tx<'_>, org_id: i64, recipient: Option<&str>) -> PgResult<()> {
    tx.execute("UPDATE organisation SET recovery_recipient = $2 WHERE id = $1", &[&org_id, &recipient]).await?;
    Ok(())
}

pub(super) async fn colleague(tx: &Tx<'_>, org_id: i64, email: &str) -> PgResult<Option<(User, Option<String>)>> {
    let user = super::accounts::user_by_email(tx, email).await?.filter(|u| u.org_id == org_id);
    let Some(user) = user else { return Ok(None) };
    let recipient = key(tx, user.id).await?.map(|k| k.recipient);
    Ok(Some((user, recipient)))
}

/// The colleagues among `emails` who made a key, in the order of `emails`
/// (a transaction: one consistent view of the keys).
pub(super) async fn colleague_keys(tx: &Tx<'_>, org_id: i64, emails: &[String]) -> PgResult<Vec<(User, String)>> {
    let mut found = Vec::new();
    for email in emails {
        if let Some((user, Some(recipient))) = colleague(tx, org_id, email).await? {
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

fn request_from_row(r: &Row) -> UploadRequest {
    UploadRequest {
        id: r.get(0),
        org_id: r.get(1),
        user_id: r.get(2),
        recipient: r.get(3),
        message: r.get(4),
        verify_email: r.get::<_, &str>(5) == "email",
        max_uploads: r.get(6),
        max_bytes: r.get(7),
        created_at: r.get(8),
        expires_at: r.get(9),
        closed_at: r.get(10),
        emails: Vec::new(),
        reply_to: r.get(11),
        portal: r.get(12),
        receivers: Vec::new(),
        recipients: Vec::new(),
        uploads: r.get(13),
        pending: r.get(14),
    }
}

/// Fills in who may upload, who receives, and what uploads are encrypted to.
async fn with_emails(tx: &Tx<'_>, mut request: UploadRequest) -> PgResult<UploadRequest> {
    request.emails = tx
        .query("SELECT email FROM upload_request_emails WHERE request_id = $1 ORDER BY email", &[&request.id])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    request.receivers = tx
        .query("SELECT user_id FROM request_receivers WHERE request_id = $1 ORDER BY user_id", &[&request.id])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    request.recipients = if request.portal.is_some() {
        // Receivers who can still receive: active, with a key.
        tx.query(
            "SELECT DISTINCT k.recipient FROM request_receivers rr JOIN users u ON u.id = rr.user_id
             JOIN user_keys k ON k.user_id = u.id
             WHERE rr.request_id = $1 AND u.disabled = FALSE AND u.removed_at IS NULL ORDER BY k.recipient",
            &[&request.id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect()
    } else {
        vec![request.recipient.clone()]
    };
    Ok(request)
}

pub(super) async fn create_request(tx: &Tx<'_>, r: &UploadRequest) -> PgResult<()> {
    let verify = if r.verify_email { "email" } else { "none" };
    let kind = if r.reply_to.is_some() {
        "reply"
    } else if r.portal.is_some() {
        "portal"
    } else {
        "request"
    };
    tx.execute(
        "INSERT INTO upload_requests (id, org_id, user_id, recipient, message, verify, max_uploads, max_bytes, created_at,
             expires_at, kind, package_id, name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &r.id,
            &r.org_id,
            &r.user_id,
            &r.recipient,
            &r.message,
            &verify,
            &r.max_uploads,
            &r.max_bytes,
            &r.created_at,
            &r.expires_at,
            &kind,
            &r.reply_to,
            &r.portal,
        ],
    )
    .await?;
    for user_id in &r.receivers {
        tx.execute(
            "INSERT INTO request_receivers (request_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&r.id, user_id],
        )
        .await?;
    }
    for email in &r.emails {
        tx.execute(
            "INSERT INTO upload_request_emails (request_id, email) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&r.id, email],
        )
        .await?;
    }
    Ok(())
}

/// The request `id`; `now` decides which unfinished deliveries still hold a place.
pub(super) async fn request(tx: &Tx<'_>, id: &str, now: i64) -> PgResult<Option<UploadRequest>> {
    let sql = format!("SELECT {} FROM upload_requests r WHERE r.id = $1", request_columns("$2"));
    let found = tx.query_opt(&sql, &[&id, &now]).await?;
    match found {
        Some(row) => Ok(Some(with_emails(tx, request_from_row(&row)).await?)),
        None => Ok(None),
    }
}

/// The request behind replies to `package_id`.
pub(super) async fn reply_request(tx: &Tx<'_>, package_id: &str, now: i64) -> PgResult<Option<UploadRequest>> {
    let sql = format!("SELECT {} FROM upload_requests r WHERE r.package_id = $1", request_columns("$2"));
    let found = tx.query_opt(&sql, &[&package_id, &now]).await?;
    match found {
        Some(row) => Ok(Some(with_emails(tx, request_from_row(&row)).await?)),
        None => Ok(None),
    }
}

pub(super) async fn portal(tx: &Tx<'_>, name: &str, now: i64) -> PgResult<Option<UploadRequest>> {
    let sql =
        format!("SELECT {} FROM upload_requests r WHERE r.name = $1 AND r.kind = 'portal'", request_columns("$2"));
    let found = tx.query_opt(&sql, &[&name, &now]).await?;
    match found {
        Some(row) => Ok(Some(with_emails(tx, request_from_row(&row)).await?)),
        None => Ok(None),
    }
}

pub(super) async fn portals(tx: &Tx<'_>, org_id: i64, now: i64) -> PgResult<Vec<UploadRequest>> {
    let sql = format!(
        "SELECT {} FROM upload_requests r WHERE r.org_id = $1 AND r.kind = 'portal' ORDER BY r.created_at DESC, r.id DESC",
        request_columns("$2")
    );
    let rows: Vec<UploadRequest> = tx.query(&sql, &[&org_id, &now]).await?.iter().map(request_from_row).collect();
    let mut found = Vec::with_capacity(rows.len());
    for r in rows {
        found.push(with_emails(tx, r).await?);
    }
    Ok(found)
}

pub(super) async fn requests(tx: &Tx<'_>, user_id: i64, now: i64, limit: i64) -> PgResult<Vec<UploadRequest>> {
    let sql = format!(
        "SELECT {} FROM upload_requests r WHERE r.user_id = $1 AND r.kind = 'request'
         ORDER BY r.created_at DESC, r.id DESC LIMIT $3",
        request_columns("$2")
    );
    let rows: Vec<UploadRequest> =
        tx.query(&sql, &[&user_id, &now, &limit]).await?.iter().map(request_from_row).collect();
    let mut found = Vec::with_capacity(rows.len());
    for r in rows {
        found.push(with_emails(tx, r).await?);
    }
    Ok(found)
}

pub(super) async fn close_request(tx: &Tx<'_>, id: &str, at: i64) -> PgResult<bool> {
    let n = tx
        .execute("UPDATE upload_requests SET closed_at = $2 WHERE id = $1 AND closed_at IS NULL", &[&id, &at])
        .await?;
    Ok(n == 1)
}

pub(super) async fn create_session(tx: &Tx<'_>, s: &UploaderSession, expires_at: i64) -> PgResult<()> {
    tx.execute(
        "INSERT INTO uploader_sessions (token_hash, request_id, email, verified, expires_at) VALUES ($1, $2, $3, $4, $5)",
        &[&s.hash, &s.request_id, &s.email, &s.verified, &expires_at],
    )
    .await?;
    Ok(())
}

/// The deliveries still uploading on request `request_id` that other
/// verified sessions of `email` made.
pub(super) async fn superseded(tx: &Tx<'_>, request_id: &str, email: &str, session: &str) -> PgResult<Vec<String>> {
    // `uploader_email` is TEXT: compared as CITEXT, as SQLite's COLLATE NOCASE did.
    let rows = tx
        .query(
            "SELECT id FROM packages WHERE request_id = $1 AND state = 'uploading' AND deleted_at IS NULL
               AND uploader_verified = TRUE AND uploader_email::CITEXT = $2::CITEXT AND uploader_session <> $3
             ORDER BY created_at, id",
            &[&request_id, &email, &session],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Ends delivery `id` if it is still uploading (and, with `session`, that
/// session made it): revoked, so it no longer holds a place and its blobs
/// are the janitor's to delete. False if it was not.
pub(super) async fn abandon(tx: &Tx<'_>, id: &str, session: Option<&str>) -> PgResult<bool> {
    let n = tx
        .execute(
            "UPDATE packages SET state = 'revoked', server_share = NULL
             WHERE id = $1 AND state = 'uploading' AND request_id IS NOT NULL AND deleted_at IS NULL
               AND ($2::TEXT IS NULL OR uploader_session = $2)",
            &[&id, &session],
        )
        .await?;
    Ok(n == 1)
}

pub(super) async fn session(tx: &Tx<'_>, hash: &str, now: i64) -> PgResult<Option<UploaderSession>> {
    let found = tx
        .query_opt(
            "SELECT token_hash, request_id, email, verified FROM uploader_sessions WHERE token_hash = $1 AND expires_at > $2",
            &[&hash, &now],
        )
        .await?;
    Ok(found.map(|r| UploaderSession { hash: r.get(0), request_id: r.get(1), email: r.get(2), verified: r.get(3) }))
}

pub(super) async fn create_delivery(tx: &Tx<'_>, d: &NewDelivery) -> PgResult<()> {
    tx.execute(
        "INSERT INTO packages (id, org_id, sender_id, server_share, state, created_at, expires_at, max_downloads, verify,
             has_password, notify_on_download, request_id, uploader_email, uploader_verified, uploader_session)
         VALUES ($1, $2, $3, NULL, 'uploading', $4, $5, NULL, 'none', FALSE, FALSE, $6, $7, $8, $9)",
        &[
            &d.id,
            &d.org_id,
            &d.owner_id,
            &d.created_at,
            &d.expires_at,
            &d.inbound.request_id,
            &d.inbound.uploader_email,
            &d.inbound.verified,
            &d.inbound.session,
        ],
    )
    .await?;
    for (idx, size) in d.blob_sizes.iter().enumerate() {
        tx.execute("INSERT INTO blobs (package_id, idx, size) VALUES ($1, $2, $3)", &[&d.id, &(idx as i64), size])
            .await?;
    }
    Ok(())
}

/// Makes an uploading delivery ready, kept until `keep_until`; false if it was not uploading.
pub(super) async fn set_received(tx: &Tx<'_>, id: &str, at: i64, keep_until: i64) -> PgResult<bool> {
    let n = tx
        .execute(
            "UPDATE packages SET state = 'ready', received_at = $2, expires_at = $3
             WHERE id = $1 AND state = 'uploading' AND request_id IS NOT NULL",
            &[&id, &at, &keep_until],
        )
        .await?;
    Ok(n == 1)
}

/// A page of what `owner_id` received, newest first: deliveries of the
/// requests they receive for, and packages colleagues sent to their key.
pub(super) async fn inbox(
    tx: &Tx<'_>,
    owner_id: i64,
    org_id: i64,
    after: Option<&PackageCursor>,
    limit: i64,
) -> PgResult<Vec<PackageRecord>> {
    let sql = format!(
        "SELECT {} FROM {} WHERE (p.request_id IN (SELECT request_id FROM request_receivers WHERE user_id = $1)
             OR p.id IN (SELECT package_id FROM package_receivers WHERE user_id = $1))
           AND COALESCE(p.org_id, u.org_id) = $2 AND p.received_at IS NOT NULL AND p.state = 'ready'
           AND ($3::BIGINT IS NULL OR p.received_at < $3 OR (p.received_at = $3 AND p.id < $4::TEXT))
         ORDER BY p.received_at DESC, p.id DESC LIMIT $5",
        packages::COLUMNS,
        packages::FROM
    );
    let (at, id) = after.map(|c| (Some(c.created_at), Some(c.id.as_str()))).unwrap_or_default();
    let found: Vec<_> =
        tx.query(&sql, &[&owner_id, &org_id, &at, &id, &limit]).await?.iter().map(packages::from_row).collect();
    let mut records = Vec::with_capacity(found.len());
    for p in found {
        records.push(packages::record(tx, p).await?);
    }
    Ok(records)
}

/// On PostgreSQL when `KLUIS_TEST_DATABASE_URL` names a server; skipped otherwise.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::chain::tests::Scratch;
    use crate::store::{Inbound, StoreResult};

    /// A portal: its receivers, a delivery that holds a place, a second
    /// verified session of the same address (in other case) superseding it,
    /// a delivery received and listed in the receiver's inbox.
    #[tokio::test]
    async fn portal_deliveries_reach_the_inbox() {
        let Some(scratch) = Scratch::new().await else { return };
        let store = &scratch.store;
        let request = UploadRequest {
            id: "r1".into(),
            org_id: 1,
            user_id: 1,
            reply_to: None,
            portal: Some("Intake".into()),
            receivers: vec![1, 2, 2],
            recipients: Vec::new(),
            recipient: "age1owner".into(),
            message: None,
            verify_email: true,
            max_uploads: 5,
            max_bytes: 100,
            created_at: 10,
            expires_at: 1000,
            closed_at: None,
            emails: vec!["x@ext.example".into(), "X@ext.example".into()],
            uploads: 0,
            pending: 0,
        };
        let delivery = |id: &str, session: &str| NewDelivery {
            id: id.into(),
            org_id: 1,
            owner_id: 1,
            created_at: 20,
            expires_at: 500,
            blob_sizes: vec![3, 4],
            inbound: Inbound {
                request_id: "r1".into(),
                uploader_email: "x@ext.example".into(),
                verified: true,
                session: session.into(),
                received_at: None,
                reply_to: None,
            },
        };
        let done: StoreResult<_> = async {
            unit!(store, |tx| {
                tx.batch_execute(
                    "INSERT INTO organisation (id, name, created_at) VALUES (1, 'one', 0);
                     INSERT INTO users (id, org_id, email, created_at) VALUES (1, 1, 'a@one.example', 0), (2, 1, 'b@one.example', 0);",
                )
                .await?;
                for (user_id, recipient) in [(1, "age1a"), (2, "age1b")] {
                    let k = StoredKey {
                        user_id,
                        recipient: recipient.into(),
                        wrapped: "w".into(),
                        recovery: None,
                        recovery_recipient: None,
                        must_change: false,
                        created_at: 1,
                        updated_at: 1,
                    };
                    put_key(&tx, &k).await?;
                }
                create_request(&tx, &request).await?;
                let s1 = UploaderSession {
                    hash: "s1".into(),
                    request_id: "r1".into(),
                    email: "x@ext.example".into(),
                    verified: true,
                };
                create_session(&tx, &s1, 100).await?;
                create_delivery(&tx, &delivery("d1", "s1")).await?;
                let portal = portal(&tx, "intake", 30).await?.unwrap();
                let held = (portal.pending, portal.receivers.clone(), portal.recipients.clone(), portal.emails.len());
                let gone = superseded(&tx, "r1", "X@EXT.example", "s2").await?;
                let abandoned = abandon(&tx, "d1", None).await?;
                create_delivery(&tx, &delivery("d2", "s1")).await?;
                tx.execute("UPDATE blobs SET complete = TRUE WHERE package_id = 'd2'", &[]).await?;
                let received = set_received(&tx, "d2", 40, 900).await?;
                let listed = super::inbox(&tx, 2, 1, None, 10).await?;
                let after = super::inbox(&tx, 2, 1, Some(&PackageCursor { created_at: 40, id: "d2".into() }), 10).await?;
                let counted = super::request(&tx, "r1", 50).await?.unwrap();
                let colleagues = colleague_keys(&tx, 1, &["B@one.example".into(), "nobody@one.example".into()]).await?;
                (held, gone, abandoned, received, listed, after.len(), (counted.uploads, counted.pending), colleagues)
            })
        }
        .await;
        let (held, gone, abandoned, received, inbox, after, counts, colleagues) = done.unwrap();
        assert_eq!(held, (1, vec![1, 2], vec!["age1a".to_string(), "age1b".to_string()], 1));
        assert_eq!(gone, ["d1"]);
        assert!(abandoned && received);
        assert_eq!(inbox.iter().map(|r| r.package.id.as_str()).collect::<Vec<_>>(), ["d2"]);
        assert_eq!(inbox[0].blobs.len(), 2);
        assert_eq!((after, counts), (0, (1, 0)));
        assert_eq!(colleagues.iter().map(|(u, r)| (u.id, r.as_str())).collect::<Vec<_>>(), [(2, "age1b")]);
        scratch.drop_db().await;
    }
}

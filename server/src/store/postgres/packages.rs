//! Packages, their recipients, blobs and download sessions (`../sqlite/packages.rs`).

use std::collections::HashMap;

use tokio_postgres::Row;

use super::{PgResult, Tx};
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

pub(super) fn from_row(r: &Row) -> Package {
    let request_id: Option<String> = r.get(15);
    let received_at: Option<i64> = r.get(19);
    Package {
        id: r.get(0),
        org_id: r.get(1),
        sender_id: r.get(2),
        server_share: r.get(3),
        access_verifier: r.get(4),
        state: PackageState::from_column(r.get::<_, &str>(5)),
        created_at: r.get(6),
        expires_at: r.get(7),
        max_downloads: r.get(8),
        downloads: r.get(9),
        verify_email: r.get::<_, &str>(10) == "email",
        has_password: r.get(11),
        notify_on_download: r.get(12),
        verification_locked: r.get(13),
        link_verifier: r.get(14),
        // A package with receivers is received (in their inboxes) at finalize.
        direct: match (&request_id, received_at) {
            (None, Some(received_at)) => Some(Direct { sender_email: r.get(21), received_at }),
            _ => None,
        },
        inbound: request_id.map(|request_id| Inbound {
            request_id,
            uploader_email: r.get::<_, Option<String>>(16).unwrap_or_default(),
            verified: r.get::<_, Option<bool>>(17).unwrap_or(false),
            session: r.get::<_, Option<String>>(18).unwrap_or_default(),
            received_at,
            reply_to: r.get(20),
        }),
    }
}

pub(super) async fn usage(tx: &Tx<'_>, user_id: i64) -> PgResult<Usage> {
    // SUM of BIGINT is NUMERIC: capped at i64::MAX as SQLite's TOTAL cast to INTEGER was
    // (packages of up to i64::MAX bytes each, with quotas configured that high).
    let row = tx
        .query_one(
            "SELECT LEAST(COALESCE(SUM(b.size), 0), 9223372036854775807)::BIGINT, COUNT(DISTINCT p.id)
             FROM packages p LEFT JOIN blobs b ON b.package_id = p.id
             WHERE p.sender_id = $1 AND p.state = 'uploading' AND p.deleted_at IS NULL",
            &[&user_id],
        )
        .await?;
    let (reserved_bytes, unfinished_packages) = (row.get(0), row.get(1));
    let open_uploads = tx
        .query_one("SELECT COUNT(*) FROM uploads WHERE user_id = $1 AND \"offset\" < length", &[&user_id])
        .await?
        .get(0);
    Ok(Usage { reserved_bytes, unfinished_packages, open_uploads })
}

pub(super) async fn create(tx: &Tx<'_>, p: &NewPackage) -> PgResult<()> {
    tx.execute(
        "INSERT INTO packages (id, org_id, sender_id, server_share, state, created_at, expires_at, max_downloads, verify, has_password, notify_on_download)
         VALUES ($1, $2, $3, $4, 'uploading', $5, $6, $7, $8, $9, $10)",
        &[
            &p.id,
            &p.org_id,
            &p.sender_id,
            &p.server_share,
            &p.created_at,
            &p.expires_at,
            &p.max_downloads,
            &if p.verify_email { "email" } else { "none" },
            &p.has_password,
            &p.notify_on_download,
        ],
    )
    .await?;
    for email in &p.recipients {
        tx.execute(
            "INSERT INTO package_recipients (package_id, email) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&p.id, email],
        )
        .await?;
    }
    for (idx, size) in p.blob_sizes.iter().enumerate() {
        tx.execute("INSERT INTO blobs (package_id, idx, size) VALUES ($1, $2, $3)", &[&p.id, &(idx as i64), size])
            .await?;
    }
    for receiver in &p.receivers {
        tx.execute(
            "INSERT INTO package_receivers (package_id, user_id, recipient) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&p.id, &receiver.user_id, &receiver.recipient],
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn is_receiver(tx: &Tx<'_>, id: &str, user_id: i64) -> PgResult<bool> {
    let row = tx
        .query_opt("SELECT 1 FROM package_receivers WHERE package_id = $1 AND user_id = $2", &[&id, &user_id])
        .await?;
    Ok(row.is_some())
}

pub(super) async fn get(tx: &Tx<'_>, id: &str) -> PgResult<Option<Package>> {
    let row = tx.query_opt(&format!("SELECT {COLUMNS} FROM {FROM} WHERE p.id = $1"), &[&id]).await?;
    Ok(row.as_ref().map(from_row))
}

pub(super) async fn record(tx: &Tx<'_>, package: Package) -> PgResult<PackageRecord> {
    let recipients = recipients(tx, &package.id).await?;
    let blobs = blobs(tx, &package.id).await?;
    Ok(PackageRecord { package, recipients, blobs })
}

/// A page of a sender's packages in one organisation, newest first (ties by id),
/// with their recipients and blobs read for the whole page at once.
pub(super) async fn sent_page(
    tx: &Tx<'_>,
    sender_id: i64,
    org_id: i64,
    after: Option<&PackageCursor>,
    limit: i64,
) -> PgResult<Vec<PackageRecord>> {
    let (at, id) = after.map(|c| (Some(c.created_at), Some(c.id.as_str()))).unwrap_or_default();
    let rows = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM {FROM} WHERE p.sender_id = $1 AND COALESCE(p.org_id, u.org_id) = $2
                 AND p.request_id IS NULL AND ($3::BIGINT IS NULL OR p.created_at < $3 OR (p.created_at = $3 AND p.id < $4))
                 ORDER BY p.created_at DESC, p.id DESC LIMIT $5"
            ),
            &[&sender_id, &org_id, &at, &id, &limit],
        )
        .await?;
    let packages: Vec<Package> = rows.iter().map(from_row).collect();
    if packages.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = packages.iter().map(|p| p.id.as_str()).collect();
    let mut recipients: HashMap<String, Vec<String>> = HashMap::new();
    for r in tx
        .query("SELECT package_id, email FROM package_recipients WHERE package_id = ANY($1) ORDER BY email", &[&ids])
        .await?
    {
        recipients.entry(r.get(0)).or_default().push(r.get(1));
    }
    let mut blobs: HashMap<String, Vec<Blob>> = HashMap::new();
    for r in tx
        .query("SELECT package_id, idx, size, complete FROM blobs WHERE package_id = ANY($1) ORDER BY idx", &[&ids])
        .await?
    {
        blobs.entry(r.get(0)).or_default().push(Blob { idx: r.get(1), size: r.get(2), complete: r.get(3) });
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
/// The blob index is the leading digits between `blob ` and the first comma
/// (0 when there are none), as SQLite's CAST read it; never a cast error.
pub(super) async fn activity(tx: &Tx<'_>, ids: &[&str]) -> PgResult<Vec<ActivityRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = tx
        .query(
            "SELECT package_id, event, actor,
                    CASE WHEN event = 'downloaded' AND detail ILIKE 'blob %,%'
                         THEN COALESCE(CAST(substring(substr(detail, 6, strpos(detail, ',') - 6) FROM '^[0-9]{1,18}') AS BIGINT), 0)
                    END AS blob,
                    COUNT(*), MIN(at), MAX(at)
             FROM audit
             WHERE package_id = ANY($1) AND event IN ('verification_sent', 'accessed', 'downloaded')
             GROUP BY package_id, event, actor, blob
             ORDER BY package_id, event, actor, blob NULLS FIRST",
            &[&ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ActivityRow {
            package_id: r.get(0),
            event: r.get(1),
            actor: r.get(2),
            blob: r.get(3),
            count: r.get(4),
            first_at: r.get(5),
            last_at: r.get(6),
        })
        .collect())
}

pub(super) async fn recipients(tx: &Tx<'_>, id: &str) -> PgResult<Vec<String>> {
    let rows = tx.query("SELECT email FROM package_recipients WHERE package_id = $1 ORDER BY email", &[&id]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(super) async fn is_recipient(tx: &Tx<'_>, id: &str, email: &str) -> PgResult<bool> {
    let row =
        tx.query_opt("SELECT 1 FROM package_recipients WHERE package_id = $1 AND email = $2", &[&id, &email]).await?;
    Ok(row.is_some())
}

pub(super) async fn blobs(tx: &Tx<'_>, id: &str) -> PgResult<Vec<Blob>> {
    let rows = tx.query("SELECT idx, size, complete FROM blobs WHERE package_id = $1 ORDER BY idx", &[&id]).await?;
    Ok(rows.iter().map(|r| Blob { idx: r.get(0), size: r.get(1), complete: r.get(2) }).collect())
}

/// Makes an uploading package ready; one with receivers arrives in their inboxes `at` this moment.
pub(super) async fn set_ready(tx: &Tx<'_>, id: &str, verifiers: &Verifiers, at: i64) -> PgResult<bool> {
    let n = tx
        .execute(
            "UPDATE packages SET state = 'ready', access_verifier = $2, link_verifier = $3,
                 received_at = CASE WHEN EXISTS (SELECT 1 FROM package_receivers WHERE package_id = $1) THEN $4::BIGINT END
             WHERE id = $1 AND state = 'uploading' AND request_id IS NULL",
            &[&id, &verifiers.access.as_slice(), &verifiers.link.as_slice(), &at],
        )
        .await?;
    Ok(n == 1)
}

/// Counts one download; true if the sender asked to be told of the first one and has not been yet.
pub(super) async fn count_download(tx: &Tx<'_>, id: &str) -> PgResult<bool> {
    tx.execute("UPDATE packages SET downloads = downloads + 1 WHERE id = $1", &[&id]).await?;
    let changed = tx
        .execute(
            "UPDATE packages SET notified = TRUE WHERE id = $1 AND notify_on_download = TRUE AND notified = FALSE",
            &[&id],
        )
        .await?;
    Ok(changed == 1)
}

pub(super) async fn end(tx: &Tx<'_>, id: &str, state: PackageState) -> PgResult<bool> {
    let n = tx
        .execute(
            "UPDATE packages SET state = $2, server_share = NULL WHERE id = $1 AND state IN ('uploading', 'ready')",
            &[&id, &state.as_str()],
        )
        .await?;
    Ok(n == 1)
}

pub(super) async fn overdue(tx: &Tx<'_>, now: i64) -> PgResult<Vec<String>> {
    let rows = tx
        .query(
            "SELECT id FROM packages WHERE state IN ('uploading', 'ready') AND expires_at <= $1 AND deleted_at IS NULL",
            &[&now],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(super) async fn ended_with_blobs(tx: &Tx<'_>) -> PgResult<Vec<String>> {
    let rows = tx
        .query(
            "SELECT DISTINCT b.package_id FROM blobs b JOIN packages p ON p.id = b.package_id WHERE p.state IN ('revoked', 'expired')",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(super) async fn create_session(
    tx: &Tx<'_>,
    hash: &str,
    package_id: &str,
    email: Option<&str>,
    expires_at: i64,
) -> PgResult<()> {
    tx.execute(
        "INSERT INTO download_sessions (token_hash, package_id, email, expires_at) VALUES ($1, $2, $3, $4)",
        &[&hash, &package_id, &email, &expires_at],
    )
    .await?;
    Ok(())
}

pub(super) async fn session(tx: &Tx<'_>, hash: &str, package_id: &str, now: i64) -> PgResult<Option<Option<String>>> {
    let row = tx
        .query_opt(
            "SELECT email FROM download_sessions WHERE token_hash = $1 AND package_id = $2 AND expires_at > $3",
            &[&hash, &package_id, &now],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

//! What an organisation's admins read and change: its users, its packages
//! (metadata), its audit log and figures, its name and mail domains. Every
//! query is scoped by `org_id` (`../sqlite/admin.rs`).

use tokio_postgres::Row;

use super::accounts::{USER, user_from_row};
use super::packages;
use super::{PgResult, Tx};
use crate::store::{
    AuditQuery, AuditRow, OrgPackage, OrgStats, Organisation, PackageCursor, Role, UserChange, UserFilter, UserQuery,
    UserRecord,
};

pub(super) fn audit_row(r: &Row) -> AuditRow {
    AuditRow { id: r.get(0), at: r.get(1), event: r.get(2), actor: r.get(3), package_id: r.get(4), detail: r.get(5) }
}

/// The columns of [`record_from_row`]: the user's, then disabled, created, last active, seat.
fn record_columns() -> String {
    let user: Vec<String> = USER.split(", ").map(|c| format!("u.{c}")).collect();
    format!(
        "{}, u.disabled, u.created_at, (SELECT MAX(COALESCE(t.last_used_at, t.created_at)) FROM api_tokens t WHERE t.user_id = u.id), u.seat",
        user.join(", ")
    )
}

fn record_from_row(r: &Row) -> UserRecord {
    UserRecord {
        user: user_from_row(r),
        disabled: r.get(5),
        created_at: r.get(6),
        last_active_at: r.get(7),
        seat: r.get(8),
    }
}

pub(super) async fn users(tx: &Tx<'_>, q: &UserQuery) -> PgResult<Vec<UserRecord>> {
    let state = match q.filter {
        UserFilter::Active => "AND u.disabled = FALSE",
        UserFilter::Disabled => "AND u.disabled = TRUE",
        UserFilter::All => "",
        UserFilter::Admins => "AND u.disabled = FALSE AND u.role = 'admin'",
    };
    // Addresses are CITEXT: `>` and ORDER BY compare them without regard to case, as SQLite's NOCASE did.
    let sql = format!(
        "SELECT {} FROM users u WHERE u.org_id = $1 AND u.removed_at IS NULL {state}
           AND ($2::TEXT IS NULL OR u.email ILIKE $2::TEXT ESCAPE '\\' OR COALESCE(u.name, '') ILIKE $2::TEXT ESCAPE '\\')
           AND ($3::CITEXT IS NULL OR u.email > $3::CITEXT)
         ORDER BY u.email LIMIT $4",
        record_columns()
    );
    let pattern = q.search.as_deref().filter(|s| !s.trim().is_empty()).map(|s| crate::store::like_anywhere(s.trim()));
    let rows = tx.query(&sql, &[&q.org_id, &pattern, &q.after, &q.limit]).await?;
    Ok(rows.iter().map(record_from_row).collect())
}

pub(super) async fn user(tx: &Tx<'_>, org_id: i64, id: i64) -> PgResult<Option<UserRecord>> {
    let sql =
        format!("SELECT {} FROM users u WHERE u.org_id = $1 AND u.id = $2 AND u.removed_at IS NULL", record_columns());
    let mut rows: Vec<UserRecord> = tx.query(&sql, &[&org_id, &id]).await?.iter().map(record_from_row).collect();
    Ok(rows.pop())
}

/// Applies `change` to user `id` of `org_id`; disabling or removing revokes
/// their tokens in the same transaction. Returns the user as they are now
/// (`None` once removed) and how many active admins the organisation has left.
pub(super) async fn change_user(
    tx: &Tx<'_>,
    org_id: i64,
    id: i64,
    change: &UserChange,
    now: i64,
) -> PgResult<(Option<UserRecord>, i64)> {
    if let Some(name) = &change.name {
        tx.execute("UPDATE users SET name = $3 WHERE id = $1 AND org_id = $2", &[&id, &org_id, name]).await?;
    }
    if let Some(role) = change.role {
        tx.execute("UPDATE users SET role = $3 WHERE id = $1 AND org_id = $2", &[&id, &org_id, &role.as_str()]).await?;
    }
    if let Some(disabled) = change.disabled {
        tx.execute("UPDATE users SET disabled = $3 WHERE id = $1 AND org_id = $2", &[&id, &org_id, &disabled]).await?;
    }
    if change.remove {
        tx.execute(
            "UPDATE users SET removed_at = $3, disabled = TRUE WHERE id = $1 AND org_id = $2",
            &[&id, &org_id, &now],
        )
        .await?;
    }
    if change.disabled == Some(true) || change.remove {
        tx.execute(
            "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL
               AND user_id IN (SELECT id FROM users WHERE org_id = $3)",
            &[&id, &now, &org_id],
        )
        .await?;
    }
    let admins: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM users WHERE org_id = $1 AND role = $2 AND disabled = FALSE AND removed_at IS NULL",
            &[&org_id, &Role::Admin.as_str()],
        )
        .await?
        .get(0);
    Ok((user(tx, org_id, id).await?, admins))
}

/// A page of the organisation's packages, newest first, before the cursor `(created_at, id)`.
pub(super) async fn packages(
    tx: &Tx<'_>,
    org_id: i64,
    before: Option<&PackageCursor>,
    limit: i64,
) -> PgResult<Vec<OrgPackage>> {
    let (at, id) = before.map_or((None, None), |c| (Some(c.created_at), Some(c.id.as_str())));
    let sql = format!(
        "SELECT {}, u.email FROM {} WHERE COALESCE(p.org_id, u.org_id) = $1 AND p.request_id IS NULL
           AND ($2::BIGINT IS NULL OR p.created_at < $2 OR (p.created_at = $2 AND p.id < $3::TEXT))
         ORDER BY p.created_at DESC, p.id DESC LIMIT $4",
        packages::COLUMNS,
        packages::FROM
    );
    let rows: Vec<(crate::store::Package, String)> = tx
        .query(&sql, &[&org_id, &at, &id, &limit])
        .await?
        .iter()
        .map(|r| (packages::from_row(r), r.get(packages::COLUMN_COUNT)))
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for (package, sender) in rows {
        out.push(OrgPackage { record: packages::record(tx, package).await?, sender });
    }
    Ok(out)
}

/// A page of the organisation's audit log, newest first, filtered.
pub(super) async fn audit(tx: &Tx<'_>, q: &AuditQuery) -> PgResult<Vec<AuditRow>> {
    let user = q.user.as_ref().map(|e| format!("user:{e}"));
    let recipient = q.recipient.as_ref().map(|e| format!("recipient:{e}"));
    let rows = tx
        .query(
            "SELECT id, at, event, actor, package_id, detail FROM audit
             WHERE org_id = $1
               AND ($2::TEXT IS NULL OR actor = $2) AND ($3::TEXT IS NULL OR actor = $3)
               AND ($4::TEXT IS NULL OR package_id = $4) AND ($5::TEXT IS NULL OR event = $5)
               AND ($6::BIGINT IS NULL OR at >= $6) AND ($7::BIGINT IS NULL OR at < $7)
               AND ($8::BIGINT IS NULL OR id < $8)
             ORDER BY id DESC LIMIT $9",
            &[&q.org_id, &user, &recipient, &q.package, &q.event, &q.from, &q.to, &q.before, &q.limit],
        )
        .await?;
    Ok(rows.iter().map(audit_row).collect())
}

pub(super) async fn stats(tx: &Tx<'_>, org_id: i64, since: i64, now: i64) -> PgResult<OrgStats> {
    let r = tx
        .query_one(
            "SELECT COUNT(*) FILTER (WHERE NOT disabled), COUNT(*) FILTER (WHERE NOT disabled AND role = 'admin'),
                    COUNT(*) FILTER (WHERE disabled)
             FROM users WHERE org_id = $1 AND removed_at IS NULL",
            &[&org_id],
        )
        .await?;
    let (active_users, admins, disabled_users) = (r.get(0), r.get(1), r.get(2));
    let users_active_since = tx
        .query_one(
            "SELECT COUNT(DISTINCT u.id) FROM users u JOIN api_tokens t ON t.user_id = u.id
             WHERE u.org_id = $1 AND COALESCE(t.last_used_at, t.created_at) >= $2",
            &[&org_id, &since],
        )
        .await?
        .get(0);
    let r = tx
        .query_one(
            "SELECT COUNT(DISTINCT p.id), LEAST(COALESCE(SUM(b.size), 0), 9223372036854775807)::BIGINT
             FROM packages p JOIN users u ON u.id = p.sender_id LEFT JOIN blobs b ON b.package_id = p.id
             WHERE COALESCE(p.org_id, u.org_id) = $1 AND p.created_at >= $2",
            &[&org_id, &since],
        )
        .await?;
    let (packages_since, bytes_since) = (r.get(0), r.get(1));
    let failed_verifications_since = tx
        .query_one(
            "SELECT COUNT(*) FROM audit WHERE org_id = $1 AND event = 'verification_failed' AND at >= $2",
            &[&org_id, &since],
        )
        .await?
        .get(0);
    let live_packages = tx
        .query_one(
            "SELECT COUNT(*) FROM packages p JOIN users u ON u.id = p.sender_id
             WHERE COALESCE(p.org_id, u.org_id) = $1 AND p.state = 'ready' AND p.expires_at > $2 AND p.deleted_at IS NULL
               AND p.request_id IS NULL
               AND (p.max_downloads IS NULL OR p.downloads < p.max_downloads)",
            &[&org_id, &now],
        )
        .await?
        .get(0);
    Ok(OrgStats {
        active_users,
        admins,
        disabled_users,
        users_active_since,
        packages_since,
        bytes_since,
        failed_verifications_since,
        live_packages,
    })
}

/// Sets the organisation's name and mail domains. Returns the domains that
/// are another organisation's, with its name (nothing is changed then).
pub(super) async fn update_organisation(
    tx: &Tx<'_>,
    org_id: i64,
    name: &str,
    domains: &[String],
) -> PgResult<Result<Organisation, Vec<(String, String)>>> {
    let mut taken = Vec::new();
    for domain in domains {
        let owner: Option<String> = tx
            .query_opt(
                "SELECT o.name FROM org_domains d JOIN organisation o ON o.id = d.org_id WHERE d.domain = $1 AND d.org_id != $2",
                &[domain, &org_id],
            )
            .await?
            .map(|r| r.get(0));
        if let Some(owner) = owner {
            taken.push((domain.clone(), owner));
        }
    }
    if !taken.is_empty() {
        return Ok(Err(taken));
    }
    tx.execute("UPDATE organisation SET name = $2 WHERE id = $1", &[&org_id, &name]).await?;
    tx.execute("DELETE FROM org_domains WHERE org_id = $1", &[&org_id]).await?;
    for domain in domains {
        tx.execute("INSERT INTO org_domains (domain, org_id) VALUES ($1, $2)", &[domain, &org_id]).await?;
    }
    match super::accounts::organisation(tx, org_id).await? {
        Some(org) => Ok(Ok(org)),
        // No such organisation: an error, as SQLite's QueryReturnedNoRows (query_one reports no row).
        None => Err(no_rows(tx).await),
    }
}

/// tokio-postgres's "query returned an unexpected number of rows" error (no public constructor):
/// from `query_one` over a statement that returns none (which does not abort the transaction).
async fn no_rows(tx: &Tx<'_>) -> tokio_postgres::Error {
    match tx.query_one("SELECT 1 WHERE FALSE", &[]).await {
        Err(e) => e,
        Ok(_) => unreachable!("SELECT 1 WHERE FALSE returned a row"),
    }
}

//! What an organisation's admins read and change: its users, its packages
//! (metadata), its audit log and figures, its name and mail domains. Every
//! query is scoped by `org_id`.

use rusqlite::{Connection, Row, params};

use super::accounts::{USER, user_from_row};
use super::packages;
use crate::store::{
    AuditQuery, AuditRow, OrgPackage, OrgStats, Organisation, PackageCursor, Role, UserChange, UserFilter, UserQuery,
    UserRecord,
};

pub(super) fn audit_row(r: &Row) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: r.get(0)?,
        at: r.get(1)?,
        event: r.get(2)?,
        actor: r.get(3)?,
        package_id: r.get(4)?,
        detail: r.get(5)?,
    })
}

/// The columns of [`record_from_row`]: the user's, then disabled, created, last active, seat.
fn record_columns() -> String {
    let user: Vec<String> = USER.split(", ").map(|c| format!("u.{c}")).collect();
    format!(
        "{}, u.disabled, u.created_at, (SELECT MAX(COALESCE(t.last_used_at, t.created_at)) FROM api_tokens t WHERE t.user_id = u.id), u.seat",
        user.join(", ")
    )
}

fn record_from_row(r: &Row) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        user: user_from_row(r)?,
        disabled: r.get(5)?,
        created_at: r.get(6)?,
        last_active_at: r.get(7)?,
        seat: r.get(8)?,
    })
}

pub(super) fn users(conn: &Connection, q: &UserQuery) -> rusqlite::Result<Vec<UserRecord>> {
    let state = match q.filter {
        UserFilter::Active => "AND u.disabled = 0",
        UserFilter::Disabled => "AND u.disabled = 1",
        UserFilter::All => "",
        UserFilter::Admins => "AND u.disabled = 0 AND u.role = 'admin'",
    };
    let sql = format!(
        "SELECT {} FROM users u WHERE u.org_id = ?1 AND u.removed_at IS NULL {state}
           AND (?2 IS NULL OR u.email LIKE ?2 ESCAPE '\\' OR COALESCE(u.name, '') LIKE ?2 ESCAPE '\\')
           AND (?3 IS NULL OR u.email > ?3)
         ORDER BY u.email LIMIT ?4",
        record_columns()
    );
    let pattern = q.search.as_deref().filter(|s| !s.trim().is_empty()).map(|s| crate::store::like_anywhere(s.trim()));
    conn.prepare(&sql)?.query_map(params![q.org_id, pattern, q.after, q.limit], record_from_row)?.collect()
}

pub(super) fn user(conn: &Connection, org_id: i64, id: i64) -> rusqlite::Result<Option<UserRecord>> {
    let sql =
        format!("SELECT {} FROM users u WHERE u.org_id = ?1 AND u.id = ?2 AND u.removed_at IS NULL", record_columns());
    let mut rows =
        conn.prepare(&sql)?.query_map(params![org_id, id], record_from_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows.pop())
}

/// Applies `change` to user `id` of `org_id`; disabling or removing revokes
/// their tokens in the same transaction. Returns the user as they are now
/// (`None` once removed) and how many active admins the organisation has left.
pub(super) fn change_user(
    conn: &Connection,
    org_id: i64,
    id: i64,
    change: &UserChange,
    now: i64,
) -> rusqlite::Result<(Option<UserRecord>, i64)> {
    if let Some(name) = &change.name {
        conn.execute("UPDATE users SET name = ?3 WHERE id = ?1 AND org_id = ?2", params![id, org_id, name])?;
    }
    if let Some(role) = change.role {
        conn.execute("UPDATE users SET role = ?3 WHERE id = ?1 AND org_id = ?2", params![id, org_id, role.as_str()])?;
    }
    if let Some(disabled) = change.disabled {
        conn.execute("UPDATE users SET disabled = ?3 WHERE id = ?1 AND org_id = ?2", params![id, org_id, disabled])?;
    }
    if change.remove {
        conn.execute(
            "UPDATE users SET removed_at = ?3, disabled = 1 WHERE id = ?1 AND org_id = ?2",
            params![id, org_id, now],
        )?;
    }
    if change.disabled == Some(true) || change.remove {
        conn.execute(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL
               AND user_id IN (SELECT id FROM users WHERE org_id = ?3)",
            params![id, now, org_id],
        )?;
    }
    let admins: i64 = conn.query_row(
        "SELECT COUNT(*) FROM users WHERE org_id = ?1 AND role = ?2 AND disabled = 0 AND removed_at IS NULL",
        params![org_id, Role::Admin.as_str()],
        |r| r.get(0),
    )?;
    Ok((user(conn, org_id, id)?, admins))
}

/// A page of the organisation's packages, newest first, before the cursor `(created_at, id)`.
pub(super) fn packages(
    conn: &Connection,
    org_id: i64,
    before: Option<&PackageCursor>,
    limit: i64,
) -> rusqlite::Result<Vec<OrgPackage>> {
    let (at, id) = before.map_or((None, None), |c| (Some(c.created_at), Some(c.id.as_str())));
    let sql = format!(
        "SELECT {}, u.email FROM {} WHERE COALESCE(p.org_id, u.org_id) = ?1 AND p.request_id IS NULL
           AND (?2 IS NULL OR p.created_at < ?2 OR (p.created_at = ?2 AND p.id < ?3))
         ORDER BY p.created_at DESC, p.id DESC LIMIT ?4",
        packages::COLUMNS,
        packages::FROM
    );
    let rows: Vec<(crate::store::Package, String)> = conn
        .prepare(&sql)?
        .query_map(params![org_id, at, id, limit], |r| Ok((packages::from_row(r)?, r.get(packages::COLUMN_COUNT)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(package, sender)| Ok(OrgPackage { record: packages::record(conn, package)?, sender }))
        .collect()
}

/// A page of the organisation's audit log, newest first, filtered.
pub(super) fn audit(conn: &Connection, q: &AuditQuery) -> rusqlite::Result<Vec<AuditRow>> {
    let user = q.user.as_ref().map(|e| format!("user:{e}"));
    let recipient = q.recipient.as_ref().map(|e| format!("recipient:{e}"));
    conn.prepare(
        "SELECT id, at, event, actor, package_id, detail FROM audit
         WHERE org_id = ?1
           AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR actor = ?3)
           AND (?4 IS NULL OR package_id = ?4) AND (?5 IS NULL OR event = ?5)
           AND (?6 IS NULL OR at >= ?6) AND (?7 IS NULL OR at < ?7) AND (?8 IS NULL OR id < ?8)
         ORDER BY id DESC LIMIT ?9",
    )?
    .query_map(params![q.org_id, user, recipient, q.package, q.event, q.from, q.to, q.before, q.limit], audit_row)?
    .collect()
}

pub(super) fn stats(conn: &Connection, org_id: i64, since: i64, now: i64) -> rusqlite::Result<OrgStats> {
    let (active_users, admins, disabled_users) = conn.query_row(
        "SELECT COALESCE(SUM(disabled = 0), 0), COALESCE(SUM(disabled = 0 AND role = 'admin'), 0), COALESCE(SUM(disabled = 1), 0)
         FROM users WHERE org_id = ?1 AND removed_at IS NULL",
        [org_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let users_active_since = conn.query_row(
        "SELECT COUNT(DISTINCT u.id) FROM users u JOIN api_tokens t ON t.user_id = u.id
         WHERE u.org_id = ?1 AND COALESCE(t.last_used_at, t.created_at) >= ?2",
        params![org_id, since],
        |r| r.get(0),
    )?;
    let (packages_since, bytes_since) = conn.query_row(
        "SELECT COUNT(DISTINCT p.id), CAST(TOTAL(b.size) AS INTEGER)
         FROM packages p JOIN users u ON u.id = p.sender_id LEFT JOIN blobs b ON b.package_id = p.id
         WHERE COALESCE(p.org_id, u.org_id) = ?1 AND p.created_at >= ?2",
        params![org_id, since],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let failed_verifications_since = conn.query_row(
        "SELECT COUNT(*) FROM audit WHERE org_id = ?1 AND event = 'verification_failed' AND at >= ?2",
        params![org_id, since],
        |r| r.get(0),
    )?;
    let live_packages = conn.query_row(
        "SELECT COUNT(*) FROM packages p JOIN users u ON u.id = p.sender_id
         WHERE COALESCE(p.org_id, u.org_id) = ?1 AND p.state = 'ready' AND p.expires_at > ?2 AND p.deleted_at IS NULL
           AND p.request_id IS NULL
           AND (p.max_downloads IS NULL OR p.downloads < p.max_downloads)",
        params![org_id, now],
        |r| r.get(0),
    )?;
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
pub(super) fn update_organisation(
    conn: &Connection,
    org_id: i64,
    name: &str,
    domains: &[String],
) -> rusqlite::Result<Result<Organisation, Vec<(String, String)>>> {
    let mut taken = Vec::new();
    for domain in domains {
        let owner: Option<String> = rusqlite::OptionalExtension::optional(conn.query_row(
            "SELECT o.name FROM org_domains d JOIN organisation o ON o.id = d.org_id WHERE d.domain = ?1 AND d.org_id != ?2",
            params![domain, org_id],
            |r| r.get(0),
        ))?;
        if let Some(owner) = owner {
            taken.push((domain.clone(), owner));
        }
    }
    if !taken.is_empty() {
        return Ok(Err(taken));
    }
    conn.execute("UPDATE organisation SET name = ?2 WHERE id = ?1", params![org_id, name])?;
    conn.execute("DELETE FROM org_domains WHERE org_id = ?1", [org_id])?;
    for domain in domains {
        conn.execute("INSERT INTO org_domains (domain, org_id) VALUES (?1, ?2)", params![domain, org_id])?;
    }
    super::accounts::organisation(conn, org_id)?.ok_or(rusqlite::Error::QueryReturnedNoRows).map(Ok)
}

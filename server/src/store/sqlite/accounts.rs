//! Organisations, users and API tokens (tokens stored as SHA-256 only).

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::{NewUser, OrgSettings, Organisation, Role, TokenRecord, User};

/// The columns of [`user_from_row`], from `users`.
pub(super) const USER: &str = "id, org_id, email, name, role";

pub(super) fn user_from_row(r: &Row) -> rusqlite::Result<User> {
    let role: String = r.get(4)?;
    Ok(User {
        id: r.get(0)?,
        org_id: r.get(1)?,
        email: r.get(2)?,
        name: r.get(3)?,
        role: if role == "admin" { Role::Admin } else { Role::User },
    })
}

pub(super) fn ensure_organisation(conn: &Connection, name: &str, now: i64) -> rusqlite::Result<i64> {
    if let Some(id) = conn.query_row("SELECT id FROM organisation ORDER BY id LIMIT 1", [], |r| r.get(0)).optional()? {
        return Ok(id);
    }
    conn.execute("INSERT INTO organisation (name, created_at) VALUES (?1, ?2)", params![name, now])?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn create_organisation(
    conn: &Connection,
    name: &str,
    domains: &[String],
    now: i64,
) -> rusqlite::Result<Organisation> {
    conn.execute("INSERT INTO organisation (name, created_at) VALUES (?1, ?2)", params![name, now])?;
    let id = conn.last_insert_rowid();
    for domain in domains {
        conn.execute("INSERT INTO org_domains (domain, org_id) VALUES (?1, ?2)", params![domain, id])?;
    }
    Ok(Organisation {
        id,
        name: name.into(),
        domains: domains.to_vec(),
        created_at: now,
        settings: OrgSettings::default(),
    })
}

fn domains_of(conn: &Connection, org_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT domain FROM org_domains WHERE org_id = ?1 ORDER BY domain")?;
    stmt.query_map([org_id], |r| r.get(0))?.collect()
}

pub(super) fn organisation(conn: &Connection, id: i64) -> rusqlite::Result<Option<Organisation>> {
    let found = conn
        .query_row(
            "SELECT name, created_at, default_expiry_days, max_expiry_days, audit_retention_days, allow_replies
             FROM organisation WHERE id = ?1",
            [id],
            |r| {
                let settings = OrgSettings {
                    default_expiry_days: r.get(2)?,
                    max_expiry_days: r.get(3)?,
                    audit_retention_days: r.get(4)?,
                    replies: r.get(5)?,
                };
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, settings))
            },
        )
        .optional()?;
    let Some((name, created_at, settings)) = found else { return Ok(None) };
    Ok(Some(Organisation { id, name, domains: domains_of(conn, id)?, created_at, settings }))
}

pub(super) fn set_settings(conn: &Connection, id: i64, s: &OrgSettings) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE organisation SET default_expiry_days = ?2, max_expiry_days = ?3, audit_retention_days = ?4,
             allow_replies = ?5 WHERE id = ?1",
        params![id, s.default_expiry_days, s.max_expiry_days, s.audit_retention_days, s.replies],
    )?;
    Ok(())
}

pub(super) fn organisations(conn: &Connection) -> rusqlite::Result<Vec<Organisation>> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM organisation ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.into_iter().filter_map(|id| organisation(conn, id).transpose()).collect()
}

pub(super) fn organisation_of_domain(conn: &Connection, domain: &str) -> rusqlite::Result<Option<Organisation>> {
    let id: Option<i64> =
        conn.query_row("SELECT org_id FROM org_domains WHERE domain = ?1", [domain], |r| r.get(0)).optional()?;
    match id {
        Some(id) => organisation(conn, id),
        None => Ok(None),
    }
}

/// Users who may sign in: not disabled, not removed.
const ACTIVE: &str = "disabled = 0 AND removed_at IS NULL";

pub(super) fn user_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<User>> {
    conn.query_row(&format!("SELECT {USER} FROM users WHERE email = ?1 AND {ACTIVE}"), [email], user_from_row)
        .optional()
}

pub(super) fn user(conn: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    conn.query_row(&format!("SELECT {USER} FROM users WHERE id = ?1 AND {ACTIVE}"), [id], user_from_row).optional()
}

/// Adds `new` to its organisation, or makes the user of that address active
/// again there (name and role as given, when given). `None` when the address
/// belongs to a user of another organisation.
pub(super) fn add_user(conn: &Connection, new: &NewUser, now: i64) -> rusqlite::Result<Option<User>> {
    let existing: Option<(i64, i64)> = conn
        .query_row("SELECT id, org_id FROM users WHERE email = ?1", [&new.email], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let role = new.role.map(Role::as_str);
    let id = match existing {
        Some((_, org)) if org != new.org_id => return Ok(None),
        Some((id, _)) => {
            conn.execute(
                "UPDATE users SET disabled = 0, removed_at = NULL, name = COALESCE(?2, name), role = COALESCE(?3, role)
                 WHERE id = ?1",
                params![id, new.name, role],
            )?;
            id
        }
        None => {
            conn.execute(
                "INSERT INTO users (org_id, email, name, role, created_at) VALUES (?1, ?2, ?3, COALESCE(?4, 'user'), ?5)",
                params![new.org_id, new.email, new.name, role, now],
            )?;
            conn.last_insert_rowid()
        }
    };
    user(conn, id)
}

pub(super) fn create_token(
    conn: &Connection,
    user_id: i64,
    hash: &str,
    label: &str,
    now: i64,
    expires_at: Option<i64>,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO api_tokens (user_id, token_hash, label, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user_id, hash, label, now, expires_at],
    )?;
    Ok(conn.last_insert_rowid())
}

/// A token is live when not revoked, its session (if any) has not ended at
/// `?3`, and it was used (or made) after `unused_since` (`?2`).
const LIVE: &str =
    "revoked_at IS NULL AND COALESCE(last_used_at, created_at) > ?2 AND (expires_at IS NULL OR expires_at > ?3)";

pub(super) fn use_token(
    conn: &Connection,
    hash: &str,
    now: i64,
    unused_since: i64,
) -> rusqlite::Result<Option<(User, i64)>> {
    let found: Option<(i64, i64)> = conn
        .query_row(
            &format!("SELECT id, user_id FROM api_tokens WHERE token_hash = ?1 AND {LIVE}"),
            params![hash, unused_since, now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((token_id, user_id)) = found else { return Ok(None) };
    // Recorded to the minute: parallel requests with one token (a page's fetches,
    // an upload's PATCHes) do not all write its row.
    conn.execute(
        "UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1 - 60)",
        params![now, token_id],
    )?;
    Ok(user(conn, user_id)?.map(|u| (u, token_id)))
}

pub(super) fn tokens(
    conn: &Connection,
    user_id: i64,
    now: i64,
    unused_since: i64,
) -> rusqlite::Result<Vec<TokenRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT id, label, created_at, last_used_at, expires_at FROM api_tokens
         WHERE user_id = ?1 AND {LIVE} ORDER BY created_at DESC, id DESC"
    ))?;
    stmt.query_map(params![user_id, unused_since, now], |r| {
        Ok(TokenRecord {
            id: r.get(0)?,
            label: r.get(1)?,
            created_at: r.get(2)?,
            last_used_at: r.get(3)?,
            expires_at: r.get(4)?,
        })
    })?
    .collect()
}

pub(super) fn revoke_token(conn: &Connection, user_id: i64, token_id: i64, now: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE api_tokens SET revoked_at = ?1 WHERE id = ?2 AND user_id = ?3 AND revoked_at IS NULL",
        params![now, token_id, user_id],
    )?;
    Ok(n == 1)
}

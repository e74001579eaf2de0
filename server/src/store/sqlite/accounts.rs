//! Organisations, users and API tokens (tokens stored as SHA-256 only).

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::{TokenRecord, User};

fn user_from_row(r: &Row) -> rusqlite::Result<User> {
    Ok(User { id: r.get(0)?, org_id: r.get(1)?, email: r.get(2)? })
}

pub(super) fn ensure_organisation(conn: &Connection, name: &str, now: i64) -> rusqlite::Result<i64> {
    if let Some(id) = conn.query_row("SELECT id FROM organisation ORDER BY id LIMIT 1", [], |r| r.get(0)).optional()? {
        return Ok(id);
    }
    conn.execute("INSERT INTO organisation (name, created_at) VALUES (?1, ?2)", params![name, now])?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn user_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<User>> {
    conn.query_row("SELECT id, org_id, email FROM users WHERE email = ?1 AND disabled = 0", [email], user_from_row)
        .optional()
}

pub(super) fn user(conn: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    conn.query_row("SELECT id, org_id, email FROM users WHERE id = ?1 AND disabled = 0", [id], user_from_row).optional()
}

pub(super) fn ensure_user(conn: &Connection, org_id: i64, email: &str, now: i64) -> rusqlite::Result<User> {
    if let Some(u) = user_by_email(conn, email)? {
        return Ok(u);
    }
    conn.execute("INSERT INTO users (org_id, email, created_at) VALUES (?1, ?2, ?3)", params![org_id, email, now])?;
    Ok(User { id: conn.last_insert_rowid(), org_id, email: email.into() })
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
    conn.execute("UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2", params![now, token_id])?;
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

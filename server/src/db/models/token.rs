//! API tokens. Only their SHA-256 is stored; the token is shown once.

use rusqlite::{Connection, OptionalExtension, params};

use super::user::{self, User};
use crate::db::now;
use crate::secrets::{random_token, sha256_hex};

/// Prefix that makes Kluis API tokens recognisable (e.g. to secret scanners).
pub const PREFIX: &str = "kluis_";

/// Creates a token for `user_id`; returns the token itself.
pub fn create(conn: &Connection, user_id: i64, label: &str) -> rusqlite::Result<String> {
    let token = random_token(PREFIX);
    conn.execute(
        "INSERT INTO api_tokens (user_id, token_hash, label, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![user_id, sha256_hex(token.as_bytes()), label, now()],
    )?;
    Ok(token)
}

/// The user a token belongs to, if it is valid.
pub fn authenticate(conn: &Connection, token: &str) -> rusqlite::Result<Option<User>> {
    if !token.starts_with(PREFIX) {
        return Ok(None);
    }
    let hash = sha256_hex(token.as_bytes());
    let found: Option<(i64, i64)> = conn
        .query_row("SELECT id, user_id FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL", [&hash], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((token_id, user_id)) = found else { return Ok(None) };
    conn.execute("UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2", params![now(), token_id])?;
    user::get(conn, user_id)
}

/// Revokes a token (sign out).
pub fn revoke(conn: &Connection, token: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE api_tokens SET revoked_at = ?1 WHERE token_hash = ?2 AND revoked_at IS NULL",
        params![now(), sha256_hex(token.as_bytes())],
    )?;
    Ok(())
}

//! Recipient download sessions: made when the access checks pass, they let
//! the recipient fetch (and resume fetching) the package's blobs for a while
//! without counting another download. Stored as SHA-256 of the token.

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::now;
use crate::secrets::{random_token, sha256_hex};

pub const PREFIX: &str = "kdl_";

pub fn create(conn: &Connection, package_id: &str, email: Option<&str>, expires_at: i64) -> rusqlite::Result<String> {
    let token = random_token(PREFIX);
    conn.execute(
        "INSERT INTO download_sessions (token_hash, package_id, email, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![sha256_hex(token.as_bytes()), package_id, email, expires_at],
    )?;
    Ok(token)
}

/// The recipient address (if verified) of a live session for `package_id`.
pub fn check(conn: &Connection, token: &str, package_id: &str) -> rusqlite::Result<Option<Option<String>>> {
    conn.query_row(
        "SELECT email FROM download_sessions WHERE token_hash = ?1 AND package_id = ?2 AND expires_at > ?3",
        params![sha256_hex(token.as_bytes()), package_id, now()],
        |r| r.get(0),
    )
    .optional()
}

pub fn delete_expired(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM download_sessions WHERE expires_at <= ?1", [now()])
}

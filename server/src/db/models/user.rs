//! Users: people of the organisation who send packages.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::db::now;

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub org_id: i64,
    pub email: String,
}

fn from_row(r: &Row) -> rusqlite::Result<User> {
    Ok(User { id: r.get(0)?, org_id: r.get(1)?, email: r.get(2)? })
}

/// Normalises an e-mail address for storage and comparison (trim, lower case)
/// and checks its shape; `None` if it is not an address.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let valid = !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
        && !domain.contains('@');
    valid.then_some(email)
}

pub fn find_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<User>> {
    conn.query_row("SELECT id, org_id, email FROM users WHERE email = ?1 AND disabled = 0", [email], from_row)
        .optional()
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    conn.query_row("SELECT id, org_id, email FROM users WHERE id = ?1 AND disabled = 0", [id], from_row).optional()
}

/// The user with this address, created in `org_id` if new.
pub fn find_or_create(conn: &Connection, org_id: i64, email: &str) -> rusqlite::Result<User> {
    if let Some(u) = find_by_email(conn, email)? {
        return Ok(u);
    }
    conn.execute("INSERT INTO users (org_id, email, created_at) VALUES (?1, ?2, ?3)", params![org_id, email, now()])?;
    Ok(User { id: conn.last_insert_rowid(), org_id, email: email.into() })
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn emails() {
        assert_eq!(normalize_email("  Alice@Example.ORG ").as_deref(), Some("alice@example.org"));
        for bad in ["", "alice", "@x.org", "a@b", "a@.org", "a b@x.org", "a@x.org,b@y.org", "a<@x.org"] {
            assert!(normalize_email(bad).is_none(), "{bad:?}");
        }
    }
}

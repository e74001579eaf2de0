//! The append-only audit log (the table rejects updates and deletes).

use rusqlite::{Connection, params};

use crate::db::now;

/// What happened.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    Created,
    Uploaded,
    Finalized,
    Accessed,
    Downloaded,
    VerificationSent,
    VerificationFailed,
    Revoked,
    Expired,
    Deleted,
    SignedIn,
    SignInFailed,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Created => "created",
            Event::Uploaded => "uploaded",
            Event::Finalized => "finalized",
            Event::Accessed => "accessed",
            Event::Downloaded => "downloaded",
            Event::VerificationSent => "verification_sent",
            Event::VerificationFailed => "verification_failed",
            Event::Revoked => "revoked",
            Event::Expired => "expired",
            Event::Deleted => "deleted",
            Event::SignedIn => "signed_in",
            Event::SignInFailed => "sign_in_failed",
        }
    }
}

pub fn record(
    conn: &Connection,
    event: Event,
    actor: &str,
    package_id: Option<&str>,
    detail: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit (at, event, actor, package_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now(), event.as_str(), actor, package_id, detail],
    )?;
    Ok(())
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    pub at: i64,
    pub event: String,
    pub actor: String,
    pub package_id: Option<String>,
    pub detail: Option<String>,
}

pub fn for_package(conn: &Connection, package_id: &str) -> rusqlite::Result<Vec<Entry>> {
    let mut stmt =
        conn.prepare("SELECT at, event, actor, package_id, detail FROM audit WHERE package_id = ?1 ORDER BY id")?;
    stmt.query_map([package_id], |r| {
        Ok(Entry { at: r.get(0)?, event: r.get(1)?, actor: r.get(2)?, package_id: r.get(3)?, detail: r.get(4)? })
    })?
    .collect()
}

//! Packages, their recipients and their blobs (DESIGN.md section 3).
//!
//! A package is `uploading` until every blob is complete and the sender
//! finalizes it, then `ready`. Revoking or expiring it drops the server share
//! S (and the janitor then deletes the blobs), so an unopened link is dead
//! for good.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::db::now;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Uploading,
    Ready,
    Revoked,
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Uploading => "uploading",
            State::Ready => "ready",
            State::Revoked => "revoked",
            State::Expired => "expired",
        }
    }
    fn parse(s: &str) -> State {
        match s {
            "uploading" => State::Uploading,
            "ready" => State::Ready,
            "revoked" => State::Revoked,
            _ => State::Expired,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Package {
    pub id: String,
    pub sender_id: i64,
    pub server_share: Option<Vec<u8>>,
    pub state: State,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_downloads: Option<i64>,
    pub downloads: i64,
    pub verify_email: bool,
    pub has_password: bool,
    pub notify_on_download: bool,
}

/// Why a package cannot be opened now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    NotReady,
    Expired,
    Revoked,
    LimitReached,
}

impl Package {
    /// What a recipient may do with the package at `at`.
    pub fn availability(&self, at: i64) -> Result<(), Unavailable> {
        match self.state {
            State::Revoked => Err(Unavailable::Revoked),
            State::Expired => Err(Unavailable::Expired),
            _ if at >= self.expires_at => Err(Unavailable::Expired),
            State::Uploading => Err(Unavailable::NotReady),
            State::Ready if self.max_downloads.is_some_and(|m| self.downloads >= m) => Err(Unavailable::LimitReached),
            State::Ready => Ok(()),
        }
    }

    pub fn downloads_left(&self) -> Option<i64> {
        self.max_downloads.map(|m| (m - self.downloads).max(0))
    }
}

#[derive(Debug, Clone)]
pub struct Blob {
    pub idx: i64,
    pub size: i64,
    pub complete: bool,
}

pub struct NewPackage<'a> {
    pub sender_id: i64,
    pub server_share: &'a [u8],
    pub expires_at: i64,
    pub max_downloads: Option<i64>,
    pub verify_email: bool,
    pub has_password: bool,
    pub notify_on_download: bool,
    pub recipients: &'a [String],
    pub blob_sizes: &'a [i64],
}

const COLUMNS: &str = "id, sender_id, server_share, state, created_at, expires_at, max_downloads, downloads, verify, has_password, notify_on_download";

fn from_row(r: &Row) -> rusqlite::Result<Package> {
    Ok(Package {
        id: r.get(0)?,
        sender_id: r.get(1)?,
        server_share: r.get(2)?,
        state: State::parse(&r.get::<_, String>(3)?),
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
        max_downloads: r.get(6)?,
        downloads: r.get(7)?,
        verify_email: r.get::<_, String>(8)? == "email",
        has_password: r.get(9)?,
        notify_on_download: r.get(10)?,
    })
}

/// Inserts a package with its recipients and blobs (call inside a transaction).
pub fn create(conn: &Connection, id: &str, p: &NewPackage) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO packages (id, sender_id, server_share, state, created_at, expires_at, max_downloads, verify, has_password, notify_on_download)
         VALUES (?1, ?2, ?3, 'uploading', ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id,
            p.sender_id,
            p.server_share,
            now(),
            p.expires_at,
            p.max_downloads,
            if p.verify_email { "email" } else { "none" },
            p.has_password,
            p.notify_on_download
        ],
    )?;
    for email in p.recipients {
        conn.execute(
            "INSERT OR IGNORE INTO package_recipients (package_id, email) VALUES (?1, ?2)",
            params![id, email],
        )?;
    }
    for (idx, size) in p.blob_sizes.iter().enumerate() {
        conn.execute("INSERT INTO blobs (package_id, idx, size) VALUES (?1, ?2, ?3)", params![id, idx as i64, size])?;
    }
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Package>> {
    conn.query_row(&format!("SELECT {COLUMNS} FROM packages WHERE id = ?1"), [id], from_row).optional()
}

pub fn list_by_sender(conn: &Connection, sender_id: i64) -> rusqlite::Result<Vec<Package>> {
    let mut stmt =
        conn.prepare(&format!("SELECT {COLUMNS} FROM packages WHERE sender_id = ?1 ORDER BY created_at DESC"))?;
    stmt.query_map([sender_id], from_row)?.collect()
}

pub fn recipients(conn: &Connection, id: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT email FROM package_recipients WHERE package_id = ?1 ORDER BY email")?;
    stmt.query_map([id], |r| r.get(0))?.collect()
}

pub fn is_recipient(conn: &Connection, id: &str, email: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT 1 FROM package_recipients WHERE package_id = ?1 AND email = ?2", params![id, email], |_| {
        Ok(())
    })
    .optional()
    .map(|r| r.is_some())
}

pub fn blobs(conn: &Connection, id: &str) -> rusqlite::Result<Vec<Blob>> {
    let mut stmt = conn.prepare("SELECT idx, size, complete FROM blobs WHERE package_id = ?1 ORDER BY idx")?;
    stmt.query_map([id], |r| Ok(Blob { idx: r.get(0)?, size: r.get(1)?, complete: r.get(2)? }))?.collect()
}

pub fn blob(conn: &Connection, id: &str, idx: i64) -> rusqlite::Result<Option<Blob>> {
    conn.query_row("SELECT idx, size, complete FROM blobs WHERE package_id = ?1 AND idx = ?2", params![id, idx], |r| {
        Ok(Blob { idx: r.get(0)?, size: r.get(1)?, complete: r.get(2)? })
    })
    .optional()
}

pub fn mark_blob_complete(conn: &Connection, id: &str, idx: i64) -> rusqlite::Result<()> {
    conn.execute("UPDATE blobs SET complete = 1 WHERE package_id = ?1 AND idx = ?2", params![id, idx])?;
    Ok(())
}

pub fn set_ready(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE packages SET state = 'ready' WHERE id = ?1 AND state = 'uploading'", [id])?;
    Ok(())
}

/// Counts one download. Returns true if the sender asked to be told about
/// the first one and has not been yet.
pub fn count_download(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    conn.execute("UPDATE packages SET downloads = downloads + 1 WHERE id = ?1", [id])?;
    let changed = conn
        .execute("UPDATE packages SET notified = 1 WHERE id = ?1 AND notify_on_download = 1 AND notified = 0", [id])?;
    Ok(changed == 1)
}

/// Ends a package: S is dropped at once; blobs are deleted by the caller.
pub fn end(conn: &Connection, id: &str, state: State) -> rusqlite::Result<bool> {
    debug_assert!(matches!(state, State::Revoked | State::Expired));
    let changed = conn.execute(
        "UPDATE packages SET state = ?2, server_share = NULL WHERE id = ?1 AND state IN ('uploading', 'ready')",
        params![id, state.as_str()],
    )?;
    Ok(changed == 1)
}

pub fn delete(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM packages WHERE id = ?1", [id])?;
    Ok(())
}

/// Live packages whose expiry has passed.
pub fn overdue(conn: &Connection, at: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT id FROM packages WHERE state IN ('uploading', 'ready') AND expires_at <= ?1")?;
    stmt.query_map([at], |r| r.get(0))?.collect()
}

/// Ended packages (revoked or expired) that still have blob rows to clean up.
pub fn ended_with_blobs(conn: &Connection) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT b.package_id, b.idx FROM blobs b JOIN packages p ON p.id = b.package_id WHERE p.state IN ('revoked', 'expired')",
    )?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
}

pub fn forget_blob(conn: &Connection, id: &str, idx: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM blobs WHERE package_id = ?1 AND idx = ?2", params![id, idx])?;
    Ok(())
}

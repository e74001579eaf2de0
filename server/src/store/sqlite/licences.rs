//! Licences and seats (migration 0009).

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{SeatClaim, StoredLicence};

pub(super) fn get(conn: &Connection, org_id: i64) -> rusqlite::Result<Option<StoredLicence>> {
    conn.query_row("SELECT text, installed_at, installed_by, warned FROM licences WHERE org_id = ?1", [org_id], |r| {
        Ok(StoredLicence { text: r.get(0)?, installed_at: r.get(1)?, installed_by: r.get(2)?, warned: r.get(3)? })
    })
    .optional()
}

pub(super) fn put(conn: &Connection, org_id: i64, text: &str, at: i64, by: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO licences (org_id, text, installed_at, installed_by) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (org_id) DO UPDATE SET text = excluded.text, installed_at = excluded.installed_at,
                                            installed_by = excluded.installed_by",
        params![org_id, text, at, by],
    )?;
    Ok(())
}

/// Whether user `user_id` of `org_id` holds a seat.
pub(super) fn holds_seat(conn: &Connection, org_id: i64, user_id: i64) -> rusqlite::Result<bool> {
    let held: Option<bool> = conn
        .query_row("SELECT seat FROM users WHERE id = ?1 AND org_id = ?2", params![user_id, org_id], |r| r.get(0))
        .optional()?;
    Ok(held == Some(true))
}

/// Sets the last warning of the installed licence to `stage` if it is still
/// `before` (compare-and-set); false when another round got there first.
pub(super) fn move_warned(conn: &Connection, org_id: i64, before: Option<&str>, stage: &str) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE licences SET warned = ?3 WHERE org_id = ?1 AND warned IS ?2",
        params![org_id, before, stage],
    )?;
    Ok(n == 1)
}

/// Seats held by the organisation's users who may sign in.
pub(super) fn seats_used(conn: &Connection, org_id: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM users WHERE org_id = ?1 AND seat = 1 AND disabled = 0 AND removed_at IS NULL",
        [org_id],
        |r| r.get(0),
    )
}

/// Gives user `user_id` of `org_id` a seat if one of `total` is free (in the caller's transaction).
pub(super) fn claim(conn: &Connection, org_id: i64, user_id: i64, total: u32) -> rusqlite::Result<SeatClaim> {
    let held: Option<bool> = conn
        .query_row("SELECT seat FROM users WHERE id = ?1 AND org_id = ?2", params![user_id, org_id], |r| r.get(0))
        .optional()?;
    match held {
        None => return Ok(SeatClaim::Full),
        Some(true) => return Ok(SeatClaim::Held),
        Some(false) => {}
    }
    if seats_used(conn, org_id)? >= i64::from(total) {
        return Ok(SeatClaim::Full);
    }
    conn.execute("UPDATE users SET seat = 1 WHERE id = ?1", [user_id])?;
    Ok(SeatClaim::Claimed)
}

/// Takes user `user_id`'s seat back; false if they had none.
pub(super) fn release(conn: &Connection, org_id: i64, user_id: i64) -> rusqlite::Result<bool> {
    let n =
        conn.execute("UPDATE users SET seat = 0 WHERE id = ?1 AND org_id = ?2 AND seat = 1", params![user_id, org_id])?;
    Ok(n == 1)
}

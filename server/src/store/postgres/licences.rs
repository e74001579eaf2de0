//! Licences and seats (`../sqlite/licences.rs`).

use super::{PgResult, Tx};
use crate::store::{SeatClaim, StoredLicence};

pub(super) async fn get(tx: &Tx<'_>, org_id: i64) -> PgResult<Option<StoredLicence>> {
    let row = tx
        .query_opt("SELECT text, installed_at, installed_by, warned FROM licences WHERE org_id = $1", &[&org_id])
        .await?;
    Ok(row.map(|r| StoredLicence { text: r.get(0), installed_at: r.get(1), installed_by: r.get(2), warned: r.get(3) }))
}

pub(super) async fn put(tx: &Tx<'_>, org_id: i64, text: &str, at: i64, by: &str) -> PgResult<()> {
    tx.execute(
        "INSERT INTO licences (org_id, text, installed_at, installed_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org_id) DO UPDATE SET text = excluded.text, installed_at = excluded.installed_at,
                                            installed_by = excluded.installed_by",
        &[&org_id, &text, &at, &by],
    )
    .await?;
    Ok(())
}

/// Whether user `user_id` of `org_id` holds a seat.
pub(super) async fn holds_seat(tx: &Tx<'_>, org_id: i64, user_id: i64) -> PgResult<bool> {
    let held: Option<bool> = tx
        .query_opt("SELECT seat FROM users WHERE id = $1 AND org_id = $2", &[&user_id, &org_id])
        .await?
        .map(|r| r.get(0));
    Ok(held == Some(true))
}

/// Sets the last warning of the installed licence to `stage` if it is still
/// `before` (compare-and-set); false when another round got there first.
pub(super) async fn move_warned(tx: &Tx<'_>, org_id: i64, before: Option<&str>, stage: &str) -> PgResult<bool> {
    let n = tx
        .execute(
            "UPDATE licences SET warned = $3 WHERE org_id = $1 AND warned IS NOT DISTINCT FROM $2::TEXT",
            &[&org_id, &before, &stage],
        )
        .await?;
    Ok(n == 1)
}

/// Seats held by the organisation's users who may sign in.
pub(super) async fn seats_used(tx: &Tx<'_>, org_id: i64) -> PgResult<i64> {
    let row = tx
        .query_one(
            "SELECT COUNT(*) FROM users WHERE org_id = $1 AND seat = TRUE AND disabled = FALSE AND removed_at IS NULL",
            &[&org_id],
        )
        .await?;
    Ok(row.get(0))
}

/// Gives user `user_id` of `org_id` a seat if one of `total` is free (in the caller's transaction).
pub(super) async fn claim(tx: &Tx<'_>, org_id: i64, user_id: i64, total: u32) -> PgResult<SeatClaim> {
    let held: Option<bool> = tx
        .query_opt("SELECT seat FROM users WHERE id = $1 AND org_id = $2", &[&user_id, &org_id])
        .await?
        .map(|r| r.get(0));
    match held {
        None => return Ok(SeatClaim::Full),
        Some(true) => return Ok(SeatClaim::Held),
        Some(false) => {}
    }
    if seats_used(tx, org_id).await? >= i64::from(total) {
        return Ok(SeatClaim::Full);
    }
    tx.execute("UPDATE users SET seat = TRUE WHERE id = $1", &[&user_id]).await?;
    Ok(SeatClaim::Claimed)
}

/// Takes user `user_id`'s seat back; false if they had none.
pub(super) async fn release(tx: &Tx<'_>, org_id: i64, user_id: i64) -> PgResult<bool> {
    let n = tx
        .execute("UPDATE users SET seat = FALSE WHERE id = $1 AND org_id = $2 AND seat = TRUE", &[&user_id, &org_id])
        .await?;
    Ok(n == 1)
}

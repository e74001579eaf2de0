//! tus uploads (one per blob) and their write leases (`../sqlite/uploads.rs`).

use tokio_postgres::Row;

use super::{PgResult, Tx};
use crate::store::Upload;

const COLUMNS: &str = "id, package_id, blob_idx, user_id, length, \"offset\", expires_at";

fn from_row(r: &Row) -> Upload {
    Upload {
        id: r.get(0),
        package_id: r.get(1),
        blob_idx: r.get(2),
        user_id: r.get(3),
        length: r.get(4),
        offset: r.get(5),
        expires_at: r.get(6),
    }
}

pub(super) async fn create(tx: &Tx<'_>, u: &Upload, now: i64) -> PgResult<()> {
    tx.execute(
        "INSERT INTO uploads (id, package_id, blob_idx, user_id, length, \"offset\", created_at, expires_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
        &[&u.id, &u.package_id, &u.blob_idx, &u.user_id, &u.length, &now, &u.expires_at],
    )
    .await?;
    Ok(())
}

pub(super) async fn get(tx: &Tx<'_>, id: &str) -> PgResult<Option<Upload>> {
    let row = tx.query_opt(&format!("SELECT {COLUMNS} FROM uploads WHERE id = $1"), &[&id]).await?;
    Ok(row.as_ref().map(from_row))
}

pub(super) async fn for_blob(tx: &Tx<'_>, package_id: &str, idx: i64) -> PgResult<Option<Upload>> {
    let row = tx
        .query_opt(
            &format!("SELECT {COLUMNS} FROM uploads WHERE package_id = $1 AND blob_idx = $2"),
            &[&package_id, &idx],
        )
        .await?;
    Ok(row.as_ref().map(from_row))
}

pub(super) async fn delete(tx: &Tx<'_>, id: &str) -> PgResult<()> {
    tx.execute("DELETE FROM uploads WHERE id = $1", &[&id]).await?;
    Ok(())
}

pub(super) async fn acquire(tx: &Tx<'_>, id: &str, owner: &str, until: i64, now: i64) -> PgResult<bool> {
    let n = tx
        .execute(
            "UPDATE uploads SET lease_owner = $2, lease_until = $3
             WHERE id = $1 AND (lease_owner IS NULL OR lease_until <= $4)",
            &[&id, &owner, &until, &now],
        )
        .await?;
    Ok(n == 1)
}

pub(super) async fn record_offset(
    tx: &Tx<'_>,
    id: &str,
    owner: &str,
    offset: i64,
    expires_at: i64,
    lease_until: i64,
) -> PgResult<bool> {
    let n = tx
        .execute(
            "UPDATE uploads SET \"offset\" = $3, expires_at = $4, lease_until = $5 WHERE id = $1 AND lease_owner = $2",
            &[&id, &owner, &offset, &expires_at, &lease_until],
        )
        .await?;
    Ok(n == 1)
}

pub(super) async fn release(tx: &Tx<'_>, id: &str, owner: &str) -> PgResult<()> {
    tx.execute(
        "UPDATE uploads SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
        &[&id, &owner],
    )
    .await?;
    Ok(())
}

pub(super) async fn abandoned(tx: &Tx<'_>, now: i64) -> PgResult<Vec<Upload>> {
    let rows = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM uploads WHERE expires_at <= $1
                 OR package_id IN (SELECT id FROM packages WHERE state IN ('revoked', 'expired'))"
            ),
            &[&now],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

pub(super) async fn of_package(tx: &Tx<'_>, package_id: &str) -> PgResult<Vec<Upload>> {
    let rows = tx.query(&format!("SELECT {COLUMNS} FROM uploads WHERE package_id = $1"), &[&package_id]).await?;
    Ok(rows.iter().map(from_row).collect())
}

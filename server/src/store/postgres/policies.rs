//! The organisation's policy, one row per saved version (`../sqlite/policies.rs`).

use tokio_postgres::Row;

use super::{PgResult, Tx};
use crate::store::StoredPolicy;

fn row(r: &Row) -> StoredPolicy {
    StoredPolicy {
        version: u32::try_from(r.get::<_, i64>(0)).unwrap_or(u32::MAX),
        document: r.get(1),
        saved_at: r.get(2),
        saved_by: r.get(3),
    }
}

/// The highest version.
pub(super) async fn current(tx: &Tx<'_>, org_id: i64) -> PgResult<Option<StoredPolicy>> {
    let row_ = tx
        .query_opt(
            "SELECT version, document, saved_at, saved_by FROM policies WHERE org_id = $1 ORDER BY version DESC LIMIT 1",
            &[&org_id],
        )
        .await?;
    Ok(row_.as_ref().map(row))
}

/// The newest `limit` versions, newest first.
pub(super) async fn versions(tx: &Tx<'_>, org_id: i64, limit: i64) -> PgResult<Vec<StoredPolicy>> {
    let rows = tx
        .query(
            "SELECT version, document, saved_at, saved_by FROM policies WHERE org_id = $1 ORDER BY version DESC LIMIT $2",
            &[&org_id, &limit],
        )
        .await?;
    Ok(rows.iter().map(row).collect())
}

/// Saves `document` as version `after + 1` if the highest is still `after`
/// (0: none yet); false when another admin saved meanwhile.
pub(super) async fn put(tx: &Tx<'_>, org_id: i64, after: u32, document: &str, at: i64, by: &str) -> PgResult<bool> {
    let highest: i64 =
        tx.query_one("SELECT COALESCE(MAX(version), 0) FROM policies WHERE org_id = $1", &[&org_id]).await?.get(0);
    if highest != i64::from(after) {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO policies (org_id, version, document, saved_at, saved_by) VALUES ($1, $2, $3, $4, $5)",
        &[&org_id, &(i64::from(after) + 1), &document, &at, &by],
    )
    .await?;
    Ok(true)
}

//! Organisations, users and API tokens (tokens stored as SHA-256 only) (`../sqlite/accounts.rs`).

use tokio_postgres::Row;

use super::{PgResult, Tx};
use crate::store::{NewUser, OrgSettings, Organisation, Role, TokenRecord, User};

/// The columns of [`user_from_row`], from `users`.
pub(super) const USER: &str = "id, org_id, email, name, role";

pub(super) fn user_from_row(r: &Row) -> User {
    let role: String = r.get(4);
    User {
        id: r.get(0),
        org_id: r.get(1),
        email: r.get(2),
        name: r.get(3),
        role: if role == "admin" { Role::Admin } else { Role::User },
    }
}

/// A count of days stored as BIGINT, as the `u32` of [`OrgSettings`] (out of range: the nearest bound).
fn days(r: &Row, idx: usize) -> Option<u32> {
    r.get::<_, Option<i64>>(idx).map(|v| u32::try_from(v.max(0)).unwrap_or(u32::MAX))
}

pub(super) async fn ensure_organisation(tx: &Tx<'_>, name: &str, now: i64) -> PgResult<i64> {
    if let Some(row) = tx.query_opt("SELECT id FROM organisation ORDER BY id LIMIT 1", &[]).await? {
        return Ok(row.get(0));
    }
    let row = tx
        .query_one("INSERT INTO organisation (name, created_at) VALUES ($1, $2) RETURNING id", &[&name, &now])
        .await?;
    Ok(row.get(0))
}

pub(super) async fn create_organisation(
    tx: &Tx<'_>,
    name: &str,
    domains: &[String],
    now: i64,
) -> PgResult<Organisation> {
    let id: i64 = tx
        .query_one("INSERT INTO organisation (name, created_at) VALUES ($1, $2) RETURNING id", &[&name, &now])
        .await?
        .get(0);
    for domain in domains {
        tx.execute("INSERT INTO org_domains (domain, org_id) VALUES ($1, $2)", &[domain, &id]).await?;
    }
    Ok(Organisation {
        id,
        name: name.into(),
        domains: domains.to_vec(),
        created_at: now,
        settings: OrgSettings::default(),
    })
}

async fn domains_of(tx: &Tx<'_>, org_id: i64) -> PgResult<Vec<String>> {
    let rows = tx.query("SELECT domain FROM org_domains WHERE org_id = $1 ORDER BY domain", &[&org_id]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(super) async fn organisation(tx: &Tx<'_>, id: i64) -> PgResult<Option<Organisation>> {
    let found = tx
        .query_opt(
            "SELECT name, created_at, default_expiry_days, max_expiry_days, audit_retention_days, allow_replies
             FROM organisation WHERE id = $1",
            &[&id],
        )
        .await?;
    let Some(r) = found else { return Ok(None) };
    let settings = OrgSettings {
        default_expiry_days: days(&r, 2),
        max_expiry_days: days(&r, 3),
        audit_retention_days: days(&r, 4),
        replies: r.get(5),
    };
    let (name, created_at): (String, i64) = (r.get(0), r.get(1));
    Ok(Some(Organisation { id, name, domains: domains_of(tx, id).await?, created_at, settings }))
}

pub(super) async fn set_settings(tx: &Tx<'_>, id: i64, s: &OrgSettings) -> PgResult<()> {
    tx.execute(
        "UPDATE organisation SET default_expiry_days = $2, max_expiry_days = $3, audit_retention_days = $4,
             allow_replies = $5 WHERE id = $1",
        &[
            &id,
            &s.default_expiry_days.map(i64::from),
            &s.max_expiry_days.map(i64::from),
            &s.audit_retention_days.map(i64::from),
            &s.replies,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn organisations(tx: &Tx<'_>) -> PgResult<Vec<Organisation>> {
    let ids: Vec<i64> =
        tx.query("SELECT id FROM organisation ORDER BY id", &[]).await?.iter().map(|r| r.get(0)).collect();
    let mut all = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(org) = organisation(tx, id).await? {
            all.push(org);
        }
    }
    Ok(all)
}

pub(super) async fn organisation_of_domain(tx: &Tx<'_>, domain: &str) -> PgResult<Option<Organisation>> {
    let id: Option<i64> =
        tx.query_opt("SELECT org_id FROM org_domains WHERE domain = $1", &[&domain]).await?.map(|r| r.get(0));
    match id {
        Some(id) => organisation(tx, id).await,
        None => Ok(None),
    }
}

/// Users who may sign in: not disabled, not removed.
const ACTIVE: &str = "disabled = FALSE AND removed_at IS NULL";

pub(super) async fn user_by_email(tx: &Tx<'_>, email: &str) -> PgResult<Option<User>> {
    let row = tx.query_opt(&format!("SELECT {USER} FROM users WHERE email = $1 AND {ACTIVE}"), &[&email]).await?;
    Ok(row.as_ref().map(user_from_row))
}

pub(super) async fn user(tx: &Tx<'_>, id: i64) -> PgResult<Option<User>> {
    let row = tx.query_opt(&format!("SELECT {USER} FROM users WHERE id = $1 AND {ACTIVE}"), &[&id]).await?;
    Ok(row.as_ref().map(user_from_row))
}

/// Adds `new` to its organisation, or makes the user of that address active
/// again there (name and role as given, when given). `None` when the address
/// belongs to a user of another organisation.
pub(super) async fn add_user(tx: &Tx<'_>, new: &NewUser, now: i64) -> PgResult<Option<User>> {
    let existing: Option<(i64, i64)> = tx
        .query_opt("SELECT id, org_id FROM users WHERE email = $1", &[&new.email])
        .await?
        .map(|r| (r.get(0), r.get(1)));
    let role = new.role.map(Role::as_str);
    let id = match existing {
        Some((_, org)) if org != new.org_id => return Ok(None),
        Some((id, _)) => {
            tx.execute(
                "UPDATE users SET disabled = FALSE, removed_at = NULL, name = COALESCE($2::TEXT, name),
                     role = COALESCE($3::TEXT, role)
                 WHERE id = $1",
                &[&id, &new.name, &role],
            )
            .await?;
            id
        }
        None => tx
            .query_one(
                "INSERT INTO users (org_id, email, name, role, created_at)
                 VALUES ($1, $2, $3, COALESCE($4::TEXT, 'user'), $5) RETURNING id",
                &[&new.org_id, &new.email, &new.name, &role, &now],
            )
            .await?
            .get(0),
    };
    user(tx, id).await
}

pub(super) async fn create_token(
    tx: &Tx<'_>,
    user_id: i64,
    hash: &str,
    label: &str,
    now: i64,
    expires_at: Option<i64>,
) -> PgResult<i64> {
    let row = tx
        .query_one(
            "INSERT INTO api_tokens (user_id, token_hash, label, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING id",
            &[&user_id, &hash, &label, &now, &expires_at],
        )
        .await?;
    Ok(row.get(0))
}

/// A token is live when not revoked, its session (if any) has not ended at
/// `$3`, and it was used (or made) after `unused_since` (`$2`).
const LIVE: &str =
    "revoked_at IS NULL AND COALESCE(last_used_at, created_at) > $2 AND (expires_at IS NULL OR expires_at > $3)";

pub(super) async fn use_token(tx: &Tx<'_>, hash: &str, now: i64, unused_since: i64) -> PgResult<Option<(User, i64)>> {
    let found: Option<(i64, i64)> = tx
        .query_opt(
            &format!("SELECT id, user_id FROM api_tokens WHERE token_hash = $1 AND {LIVE}"),
            &[&hash, &unused_since, &now],
        )
        .await?
        .map(|r| (r.get(0), r.get(1)));
    let Some((token_id, user_id)) = found else { return Ok(None) };
    // Recorded to the minute: parallel requests with one token (a page's fetches,
    // an upload's PATCHes) do not all write its row.
    tx.execute(
        "UPDATE api_tokens SET last_used_at = $1::BIGINT WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1::BIGINT - 60)",
        &[&now, &token_id],
    )
    .await?;
    Ok(user(tx, user_id).await?.map(|u| (u, token_id)))
}

pub(super) async fn tokens(tx: &Tx<'_>, user_id: i64, now: i64, unused_since: i64) -> PgResult<Vec<TokenRecord>> {
    let rows = tx
        .query(
            &format!(
                "SELECT id, label, created_at, last_used_at, expires_at FROM api_tokens
                 WHERE user_id = $1 AND {LIVE} ORDER BY created_at DESC, id DESC"
            ),
            &[&user_id, &unused_since, &now],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TokenRecord {
            id: r.get(0),
            label: r.get(1),
            created_at: r.get(2),
            last_used_at: r.get(3),
            expires_at: r.get(4),
        })
        .collect())
}

pub(super) async fn revoke_token(tx: &Tx<'_>, user_id: i64, token_id: i64, now: i64) -> PgResult<bool> {
    let n = tx
        .execute(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
            &[&now, &token_id, &user_id],
        )
        .await?;
    Ok(n == 1)
}

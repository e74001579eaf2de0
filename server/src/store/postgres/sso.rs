//! Single sign-on: organisations' OpenID Connect settings, sign-ins on their
//! way through the provider, and the one-time codes that hand them to the page
//! (`../sqlite/sso.rs`).

use super::accounts;
use super::{PgResult, Tx};
use crate::store::{NewUser, SsoSettings, SsoUser, User};

pub(super) async fn settings(tx: &Tx<'_>, org_id: i64) -> PgResult<Option<SsoSettings>> {
    let row = tx
        .query_opt(
            "SELECT issuer, client_id, client_secret, create_users, trust_email, updated_at FROM org_sso WHERE org_id = $1",
            &[&org_id],
        )
        .await?;
    Ok(row.map(|r| SsoSettings {
        org_id,
        issuer: r.get(0),
        client_id: r.get(1),
        sealed_secret: r.get(2),
        create_users: r.get(3),
        trust_email: r.get(4),
        updated_at: r.get(5),
    }))
}

pub(super) async fn put_settings(tx: &Tx<'_>, s: &SsoSettings) -> PgResult<()> {
    tx.execute(
        "INSERT INTO org_sso (org_id, issuer, client_id, client_secret, create_users, trust_email, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (org_id) DO UPDATE SET issuer = $2, client_id = $3, client_secret = $4, create_users = $5,
             trust_email = $6, updated_at = $7",
        &[&s.org_id, &s.issuer, &s.client_id, &s.sealed_secret, &s.create_users, &s.trust_email, &s.updated_at],
    )
    .await?;
    Ok(())
}

pub(super) async fn remove_settings(tx: &Tx<'_>, org_id: i64) -> PgResult<bool> {
    Ok(tx.execute("DELETE FROM org_sso WHERE org_id = $1", &[&org_id]).await? == 1)
}

pub(super) async fn start_flow(
    tx: &Tx<'_>,
    state_hash: &str,
    org_id: i64,
    browser_hash: &str,
    expires_at: i64,
    now: i64,
) -> PgResult<()> {
    tx.execute("DELETE FROM sso_flows WHERE expires_at <= $1", &[&now]).await?;
    tx.execute(
        "INSERT INTO sso_flows (state_hash, org_id, browser_hash, expires_at) VALUES ($1, $2, $3, $4)",
        &[&state_hash, &org_id, &browser_hash, &expires_at],
    )
    .await?;
    Ok(())
}

pub(super) async fn take_flow(tx: &Tx<'_>, state_hash: &str, now: i64) -> PgResult<Option<(i64, String)>> {
    let found: Option<(i64, String, i64)> = tx
        .query_opt("SELECT org_id, browser_hash, expires_at FROM sso_flows WHERE state_hash = $1", &[&state_hash])
        .await?
        .map(|r| (r.get(0), r.get(1), r.get(2)));
    tx.execute("DELETE FROM sso_flows WHERE state_hash = $1", &[&state_hash]).await?;
    Ok(found.filter(|f| f.2 > now).map(|(org, browser, _)| (org, browser)))
}

pub(super) async fn user(tx: &Tx<'_>, org_id: i64, email: &str, create: bool, now: i64) -> PgResult<SsoUser> {
    let existing: Option<(i64, i64)> =
        tx.query_opt("SELECT id, org_id FROM users WHERE email = $1", &[&email]).await?.map(|r| (r.get(0), r.get(1)));
    match existing {
        Some((_, org)) if org != org_id => Ok(SsoUser::Elsewhere),
        Some((id, _)) => Ok(accounts::user(tx, id).await?.map_or(SsoUser::Disabled, SsoUser::Active)),
        None if create => {
            let new = NewUser { org_id, email: email.to_string(), name: None, role: None };
            match accounts::add_user(tx, &new, now).await? {
                Some(user) => Ok(SsoUser::Created(user)),
                None => Ok(SsoUser::Elsewhere),
            }
        }
        None => Ok(SsoUser::Unknown),
    }
}

pub(super) async fn put_handoff(tx: &Tx<'_>, hash: &str, user_id: i64, expires_at: i64, now: i64) -> PgResult<()> {
    tx.execute("DELETE FROM sso_handoffs WHERE expires_at <= $1", &[&now]).await?;
    tx.execute(
        "INSERT INTO sso_handoffs (hash, user_id, expires_at) VALUES ($1, $2, $3)",
        &[&hash, &user_id, &expires_at],
    )
    .await?;
    Ok(())
}

pub(super) async fn take_handoff(tx: &Tx<'_>, hash: &str, now: i64) -> PgResult<Option<User>> {
    let found: Option<(i64, i64)> = tx
        .query_opt("SELECT user_id, expires_at FROM sso_handoffs WHERE hash = $1", &[&hash])
        .await?
        .map(|r| (r.get(0), r.get(1)));
    tx.execute("DELETE FROM sso_handoffs WHERE hash = $1", &[&hash]).await?;
    match found {
        Some((user_id, expires_at)) if expires_at > now => accounts::user(tx, user_id).await,
        _ => Ok(None),
    }
}

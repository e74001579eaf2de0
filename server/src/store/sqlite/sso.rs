//! Single sign-on: organisations' OpenID Connect settings, sign-ins on their
//! way through the provider, and the one-time codes that hand them to the page.

use rusqlite::{Connection, OptionalExtension, params};

use super::accounts;
use crate::store::{NewUser, SsoSettings, SsoUser, User};

pub(super) fn settings(conn: &Connection, org_id: i64) -> rusqlite::Result<Option<SsoSettings>> {
    conn.query_row(
        "SELECT issuer, client_id, client_secret, create_users, trust_email, updated_at FROM org_sso WHERE org_id = ?1",
        [org_id],
        |r| {
            Ok(SsoSettings {
                org_id,
                issuer: r.get(0)?,
                client_id: r.get(1)?,
                sealed_secret: r.get(2)?,
                create_users: r.get(3)?,
                trust_email: r.get(4)?,
                updated_at: r.get(5)?,
            })
        },
    )
    .optional()
}

pub(super) fn put_settings(conn: &Connection, s: &SsoSettings) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO org_sso (org_id, issuer, client_id, client_secret, create_users, trust_email, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (org_id) DO UPDATE SET issuer = ?2, client_id = ?3, client_secret = ?4, create_users = ?5,
             trust_email = ?6, updated_at = ?7",
        params![s.org_id, s.issuer, s.client_id, s.sealed_secret, s.create_users, s.trust_email, s.updated_at],
    )?;
    Ok(())
}

pub(super) fn remove_settings(conn: &Connection, org_id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM org_sso WHERE org_id = ?1", [org_id])? == 1)
}

pub(super) fn start_flow(
    conn: &Connection,
    state_hash: &str,
    org_id: i64,
    browser_hash: &str,
    expires_at: i64,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sso_flows WHERE expires_at <= ?1", [now])?;
    conn.execute(
        "INSERT INTO sso_flows (state_hash, org_id, browser_hash, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![state_hash, org_id, browser_hash, expires_at],
    )?;
    Ok(())
}

pub(super) fn take_flow(conn: &Connection, state_hash: &str, now: i64) -> rusqlite::Result<Option<(i64, String)>> {
    let found: Option<(i64, String, i64)> = conn
        .query_row("SELECT org_id, browser_hash, expires_at FROM sso_flows WHERE state_hash = ?1", [state_hash], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    conn.execute("DELETE FROM sso_flows WHERE state_hash = ?1", [state_hash])?;
    Ok(found.filter(|f| f.2 > now).map(|(org, browser, _)| (org, browser)))
}

pub(super) fn user(conn: &Connection, org_id: i64, email: &str, create: bool, now: i64) -> rusqlite::Result<SsoUser> {
    let existing: Option<(i64, i64)> = conn
        .query_row("SELECT id, org_id FROM users WHERE email = ?1", [email], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match existing {
        Some((_, org)) if org != org_id => Ok(SsoUser::Elsewhere),
        Some((id, _)) => Ok(accounts::user(conn, id)?.map_or(SsoUser::Disabled, SsoUser::Active)),
        None if create => {
            let new = NewUser { org_id, email: email.to_string(), name: None, role: None };
            match accounts::add_user(conn, &new, now)? {
                Some(user) => Ok(SsoUser::Created(user)),
                None => Ok(SsoUser::Elsewhere),
            }
        }
        None => Ok(SsoUser::Unknown),
    }
}

pub(super) fn put_handoff(
    conn: &Connection,
    hash: &str,
    user_id: i64,
    expires_at: i64,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sso_handoffs WHERE expires_at <= ?1", [now])?;
    conn.execute(
        "INSERT INTO sso_handoffs (hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
        params![hash, user_id, expires_at],
    )?;
    Ok(())
}

pub(super) fn take_handoff(conn: &Connection, hash: &str, now: i64) -> rusqlite::Result<Option<User>> {
    let found: Option<(i64, i64)> = conn
        .query_row("SELECT user_id, expires_at FROM sso_handoffs WHERE hash = ?1", [hash], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    conn.execute("DELETE FROM sso_handoffs WHERE hash = ?1", [hash])?;
    match found {
        Some((user_id, expires_at)) if expires_at > now => accounts::user(conn, user_id),
        _ => Ok(None),
    }
}

//! Users, sign-in with a mailed code, and API tokens. Tokens are 256-bit
//! random and stored as SHA-256 only; a token unused for
//! `limits.token_expiry_days` stops working, and one made by signing in (a
//! session on one device: browser, Outlook) also ends `limits.session_days`
//! after the sign-in. Users see and end their sessions in the token list.

use super::codes::{self, Outcome, Purpose};
use super::{
    Actor, CodeRejection, Domain, DomainError, DomainResult, Event, address, invalid, mail, now, organisations,
};
use crate::secrets::{random_token, sha256_hex};
use crate::store::{NewUser, Organisation, Role, TokenRecord, User};

/// Prefix that makes Kluis API tokens recognisable (e.g. to secret scanners).
pub(crate) const TOKEN_PREFIX: &str = "kluis_";

/// A signed-in caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user: User,
    pub token_id: i64,
}

fn email(raw: &str) -> DomainResult<String> {
    address::normalize(raw).map_err(|e| invalid("invalid_email", format!("{e}.")))
}

impl Domain {
    fn unused_since(&self, at: i64) -> i64 {
        at - i64::from(self.limits.token_expiry_days) * 86_400
    }
}

/// The user with `raw` address (operator command line): added to the
/// organisation named, or found by the address's mail domain, or the only
/// one; made active again if disabled or removed. `role` and `name` are
/// set when given.
pub(crate) async fn add_user(
    domain: &Domain,
    raw: &str,
    org: Option<&str>,
    role: Option<Role>,
    name: Option<&str>,
) -> DomainResult<(User, Organisation)> {
    let email = email(raw)?;
    let name = name.map(|n| n.trim().chars().filter(|c| !c.is_control()).take(100).collect::<String>());
    let org = match domain.meta.user_by_email(&email).await? {
        // An existing user stays where they are unless another organisation is named.
        Some(user) if org.is_none() => organisations::get(domain, user.org_id).await?,
        _ => organisations::for_new_user(domain, &email, org).await?,
    };
    let new = NewUser { org_id: org.id, email: email.clone(), name: name.filter(|n| !n.is_empty()), role };
    let user = domain.meta.add_user(new).await?.ok_or_else(|| {
        invalid("user_elsewhere", format!("{email} is a user of another organisation; an address belongs to one."))
    })?;
    Ok((user, org))
}

/// Where an address belongs: its user's organisation, else the one whose
/// mail domain it has (for the audit log of sign-in attempts).
async fn organisation_of(domain: &Domain, email: &str) -> DomainResult<Option<Organisation>> {
    if let Some(user) = domain.meta.user_by_email(email).await? {
        return Ok(domain.meta.organisation(user.org_id).await?);
    }
    Ok(domain.meta.organisation_of_domain(address::domain_of(email)).await?)
}

/// A new API token for `user` (operator command line: it expires only unused);
/// returns the token itself (shown once).
pub(crate) async fn create_token(domain: &Domain, user: &User, label: &str) -> DomainResult<String> {
    issue_token(domain, user, label, None).await
}

pub(super) async fn issue_token(
    domain: &Domain,
    user: &User,
    label: &str,
    expires_at: Option<i64>,
) -> DomainResult<String> {
    let label: String = label.trim().chars().filter(|c| !c.is_control()).take(100).collect();
    if label.is_empty() {
        return Err(invalid("invalid_label", "The label must not be empty."));
    }
    let token = random_token(TOKEN_PREFIX);
    domain.meta.create_token(user.id, &sha256_hex(token.as_bytes()), &label, now(), expires_at).await?;
    Ok(token)
}

/// A caller who is an admin of their organisation: made only by [`as_admin`],
/// so every admin function checks the role by taking one.
#[derive(Debug, Clone)]
pub(crate) struct OrgAdmin(Caller);

impl OrgAdmin {
    /// The organisation every call of this admin is scoped to.
    pub(crate) fn org_id(&self) -> i64 {
        self.0.user.org_id
    }

    pub(crate) fn user_id(&self) -> i64 {
        self.0.user.id
    }

    pub(crate) fn email(&self) -> &str {
        &self.0.user.email
    }
}

/// The caller as an admin of their organisation, if they are one.
pub(crate) fn as_admin(caller: Caller) -> DomainResult<OrgAdmin> {
    match caller.user.role {
        Role::Admin => Ok(OrgAdmin(caller)),
        Role::User => Err(DomainError::Forbidden("This needs an admin of your organisation.")),
    }
}

/// The caller a bearer token belongs to.
pub(crate) async fn authenticate(domain: &Domain, token: &str) -> DomainResult<Caller> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Err(DomainError::Unauthorized);
    }
    let at = now();
    let (user, token_id) = domain
        .meta
        .use_token(&sha256_hex(token.as_bytes()), at, domain.unused_since(at))
        .await?
        .ok_or(DomainError::Unauthorized)?;
    Ok(Caller { user, token_id })
}

/// The caller's live tokens and when each stops working: at the end of its
/// session, or earlier if it goes unused for `token_expiry_days`.
pub(crate) async fn tokens(domain: &Domain, caller: &Caller) -> DomainResult<Vec<(TokenRecord, i64)>> {
    let at = now();
    let ttl = i64::from(domain.limits.token_expiry_days) * 86_400;
    let tokens = domain.meta.tokens(caller.user.id, at, domain.unused_since(at)).await?;
    Ok(tokens
        .into_iter()
        .map(|t| {
            let unused_until = t.last_used_at.unwrap_or(t.created_at) + ttl;
            let ends = t.expires_at.map_or(unused_until, |e| e.min(unused_until));
            (t, ends)
        })
        .collect())
}

pub(crate) async fn revoke_token(domain: &Domain, caller: &Caller, token_id: i64) -> DomainResult<()> {
    if domain.meta.revoke_token(caller.user.id, token_id, now()).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound("token"))
    }
}

/// Mails a sign-in code to a known user. Unknown addresses get the same
/// answer and the same rate limits, and no mail; the operator's log says
/// so (once the rate limit let the request through), as a colleague who
/// was never added would otherwise wait for a code that never comes.
pub(crate) async fn request_code(domain: &Domain, raw: &str, client: &str) -> DomainResult<()> {
    let email = email(raw)?;
    let user = domain.meta.user_by_email(&email).await?;
    match codes::issue(domain, Purpose::SignIn, &email, client, user.is_some()).await? {
        Some(code) => {
            let org = organisation_of(domain, &email).await?.map(|o| o.name).unwrap_or_default();
            mail::enqueue(domain, mail::signin_code(&email, &code, &org)).await?
        }
        None => tracing::info!(
            %email,
            "sign-in code asked for an address that is not a user: no code mailed (the answer is the same as \
             for a user); `kluis-server user add {email}` lets it sign in"
        ),
    }
    Ok(())
}

/// Trades a sign-in code for an API token.
pub(crate) async fn sign_in(
    domain: &Domain,
    raw: &str,
    code: &str,
    label: Option<&str>,
    client: &str,
) -> DomainResult<(String, String)> {
    let email = email(raw)?;
    match codes::check(domain, Purpose::SignIn, &email, code, client).await? {
        Outcome::Valid => {
            // Codes are only issued to known users; one that was disabled since gets the usual answer.
            let Some(user) = domain.meta.user_by_email(&email).await? else {
                return Err(DomainError::Code(CodeRejection::Wrong { tries_left: 0 }));
            };
            let ends = now() + i64::from(domain.limits.session_days) * 86_400;
            let label = label.unwrap_or("signed in with an e-mail code");
            let token = issue_token(domain, &user, label, Some(ends)).await?;
            domain.meta.record(domain.event(user.org_id, Event::SignedIn, Actor::User(&email), None, None)).await?;
            Ok((token, email))
        }
        Outcome::Rejected { rejection, first, just_locked, .. } => {
            let org = organisation_of(domain, &email).await?;
            let org_id = org.as_ref().map(|o| o.id);
            if first {
                let detail = Some("wrong sign-in code (further ones today are counted, not logged)".to_string());
                domain
                    .meta
                    .record(domain.event(org_id, Event::SignInFailed, Actor::Client(client), None, detail))
                    .await?;
            }
            if just_locked {
                domain.meta.record(domain.event(org_id, Event::SignInLocked, Actor::User(&email), None, None)).await?;
                if domain.meta.user_by_email(&email).await?.is_some() {
                    let org = org.map(|o| o.name).unwrap_or_default();
                    mail::enqueue(domain, mail::signin_locked(&email, &org)).await?;
                }
            }
            Err(DomainError::Code(rejection))
        }
    }
}

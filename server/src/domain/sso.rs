//! Single sign-on with OpenID Connect, per organisation (protocol in
//! `crate::oidc`). An address's mail domain decides the organisation; if it
//! has single sign-on the page sends the browser to the provider, else it
//! asks for a mailed code as before.
//!
//! - `start`: a random `state` (only its SHA-256 is stored, with the
//!   organisation and the SHA-256 of a random browser cookie, for 10
//!   minutes); the nonce and the PKCE verifier are derived from `state` with
//!   the server key, so they are stored nowhere.
//! - `finish` (the provider's redirect): the state is taken (single use) and
//!   must come with its browser cookie (no sign-in started elsewhere can be
//!   finished here); the code is exchanged, the ID token verified, and its
//!   `email` must be verified (`email_verified: true`, or the organisation
//!   trusts its provider's addresses), in one of the organisation's mail
//!   domains, and an active user of it — or made one, when it allows that.
//!   The result is a one-time handoff code (60 s, stored as SHA-256 only)
//!   that the page trades for a session token (`trade`): no token ever
//!   appears in a URL.

use super::{Actor, Domain, DomainError, DomainResult, Event, accounts, address, invalid, now, organisations};
use crate::oidc::{self, AuthorizeRequest, OidcError};
use crate::secrets::{random_token, sha256_hex};
use crate::store::{SsoSettings, SsoUser};

/// How long a sign-in may take at the provider.
const FLOW_SECONDS: i64 = 600;
/// How long the page has to trade a handoff code.
const HANDOFF_SECONDS: i64 = 60;
/// What the client secret is sealed for (with the organisation's id as context).
const SECRET_PURPOSE: &str = "kluis/v1/sso-client-secret";
/// The path the provider sends the browser back to, under the public URL.
pub(crate) const CALLBACK_PATH: &str = "/auth/sso/callback";

/// An organisation's settings as an admin sees them: the secret only as set or not.
#[derive(Debug, Clone)]
pub(crate) struct SsoView {
    pub issuer: String,
    pub client_id: String,
    pub secret_set: bool,
    pub create_users: bool,
    pub trust_email: bool,
    /// What to register at the provider as the redirect URI.
    pub redirect_uri: String,
}

/// New settings; `client_secret: None` keeps the one set before.
pub(crate) struct SsoConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub create_users: bool,
    pub trust_email: bool,
}

impl std::fmt::Debug for SsoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "(set)"))
            .finish_non_exhaustive()
    }
}

pub(crate) fn redirect_uri(domain: &Domain) -> String {
    format!("{}{CALLBACK_PATH}", domain.public_url.trim_end_matches('/'))
}

fn view(domain: &Domain, s: &SsoSettings) -> SsoView {
    SsoView {
        issuer: s.issuer.clone(),
        client_id: s.client_id.clone(),
        secret_set: !s.sealed_secret.is_empty(),
        create_users: s.create_users,
        trust_email: s.trust_email,
        redirect_uri: redirect_uri(domain),
    }
}

/// An organisation's single sign-on settings (`None`: off).
pub(crate) async fn settings(domain: &Domain, org_id: i64) -> DomainResult<Option<SsoView>> {
    organisations::get(domain, org_id).await?;
    Ok(domain.meta.sso_settings(org_id).await?.map(|s| view(domain, &s)))
}

/// Who changes an organisation's single sign-on: the server's operator (any
/// provider it can reach) or one of the organisation's admins (not a
/// provider on this machine unless the server itself runs on loopback, so an
/// admin cannot make the server fetch from its own local services).
#[derive(Clone, Copy)]
pub(crate) enum ChangedBy<'a> {
    Operator,
    Admin(&'a str),
}

impl ChangedBy<'_> {
    fn actor(&self) -> Actor<'_> {
        match self {
            ChangedBy::Operator => Actor::System,
            ChangedBy::Admin(email) => Actor::User(email),
        }
    }
}

/// Turns single sign-on on (or changes it) for an organisation, once its
/// provider answers with a discovery document that names `issuer`.
pub(crate) async fn configure(
    domain: &Domain,
    org_id: i64,
    config: SsoConfig,
    by: ChangedBy<'_>,
) -> DomainResult<SsoView> {
    organisations::get(domain, org_id).await?;
    super::licences::require(domain, org_id, kluis_licence::Feature::SingleSignOn).await?;
    let issuer = config.issuer.trim().to_string();
    let url = oidc::check_url(&issuer).map_err(|e| invalid("invalid_issuer", format!("The issuer {e}.")))?;
    if matches!(by, ChangedBy::Admin(_)) && !admin_may_use(&url, &domain.public_url) {
        return Err(invalid("invalid_issuer", "The issuer must not be on the Kluis server's own machine."));
    }
    let client_id = config.client_id.trim().to_string();
    if client_id.is_empty() || client_id.len() > 500 || client_id.chars().any(char::is_control) {
        return Err(invalid("invalid_client_id", "The client id must be 1 to 500 printable characters."));
    }
    let context = org_id.to_string();
    let sealed_secret = match config.client_secret {
        Some(secret) => {
            let secret = secret.trim();
            if secret.is_empty() || secret.len() > 2000 {
                return Err(invalid("invalid_client_secret", "The client secret must be 1 to 2000 characters."));
            }
            domain.key.seal(SECRET_PURPOSE, context.as_bytes(), secret.as_bytes())
        }
        None => match domain.meta.sso_settings(org_id).await? {
            Some(before) => before.sealed_secret,
            None => return Err(invalid("client_secret_required", "Give the client secret the provider issued.")),
        },
    };
    // A provider that does not answer now would turn every sign-in away.
    oidc::discover_now(&issuer)
        .await
        .map_err(|e| invalid("issuer_unreachable", format!("No OpenID provider answers for this issuer: {e}.")))?;
    let settings = SsoSettings {
        org_id,
        issuer,
        client_id,
        sealed_secret,
        create_users: config.create_users,
        trust_email: config.trust_email,
        updated_at: now(),
    };
    domain.meta.put_sso_settings(settings.clone()).await?;
    let detail = format!(
        "single sign-on at {} (client {}), users made at first sign-in: {}, unverified addresses trusted: {}",
        settings.issuer,
        settings.client_id,
        if settings.create_users { "yes" } else { "no" },
        if settings.trust_email { "yes" } else { "no" },
    );
    let event = domain.event(org_id, Event::Admin("sso_configured"), by.actor(), None, Some(detail));
    domain.meta.record(event).await?;
    Ok(view(domain, &settings))
}

/// An admin's provider is not on this machine, unless the server itself is
/// only on this machine (a trial or a test).
fn admin_may_use(issuer: &url::Url, public_url: &str) -> bool {
    !oidc::is_loopback(issuer) || url::Url::parse(public_url).is_ok_and(|u| oidc::is_loopback(&u))
}

/// Turns single sign-on off for an organisation (its users sign in with mailed codes); false if it was off.
pub(crate) async fn turn_off(domain: &Domain, org_id: i64, by: ChangedBy<'_>) -> DomainResult<bool> {
    organisations::get(domain, org_id).await?;
    let was_on = domain.meta.remove_sso_settings(org_id).await?;
    if was_on {
        let detail = Some("single sign-on off: users sign in with mailed codes".to_string());
        let event = domain.event(org_id, Event::Admin("sso_turned_off"), by.actor(), None, detail);
        domain.meta.record(event).await?;
    }
    Ok(was_on)
}

/// How an address signs in.
pub(crate) enum Start {
    /// With a mailed code: its organisation has no single sign-on (or it has no organisation).
    Code,
    /// At the provider: the browser goes to `url` holding the cookie `browser`.
    Provider { url: String, browser: String },
}

/// Decides how `raw` signs in, by its mail domain only (whether its
/// organisation has single sign-on is no secret; whether the address is a
/// user is not told). Errors: `invalid_email`, `sso_unavailable` (the provider does not answer).
pub(crate) async fn start(domain: &Domain, raw: &str) -> DomainResult<Start> {
    let email = address::normalize(raw).map_err(|e| invalid("invalid_email", format!("{e}.")))?;
    let Some(org) = domain.meta.organisation_of_domain(address::domain_of(&email)).await? else {
        return Ok(Start::Code);
    };
    let Some(settings) = domain.meta.sso_settings(org.id).await? else { return Ok(Start::Code) };
    // Asked now, not from what is kept: a provider that is down is said here, not at its own door.
    let provider = oidc::discover_now(&settings.issuer).await.map_err(|e| {
        tracing::warn!(organisation = org.id, issuer = %settings.issuer, "single sign-on: {e}");
        invalid("sso_unavailable", "The sign-in service of your organisation does not answer; try again later.")
    })?;
    let state = random_token("");
    let browser = random_token("");
    domain
        .meta
        .start_sso_flow(&sha256_hex(state.as_bytes()), org.id, &sha256_hex(browser.as_bytes()), now() + FLOW_SECONDS)
        .await?;
    let (nonce, verifier) = derived(domain, &state);
    let url = oidc::authorize_url(
        &provider,
        &AuthorizeRequest {
            client_id: &settings.client_id,
            redirect_uri: &redirect_uri(domain),
            state: &state,
            nonce: &nonce,
            verifier: &verifier,
            login_hint: &email,
        },
    );
    Ok(Start::Provider { url, browser })
}

/// The nonce and PKCE verifier (43 characters) of a sign-in, from its state.
fn derived(domain: &Domain, state: &str) -> (String, String) {
    (domain.key.derive_token(&["kluis/v1/sso-nonce", state]), domain.key.derive_token(&["kluis/v1/sso-pkce", state]))
}

/// Why a sign-in at the provider did not end signed in; `code()` is what the page shows a message for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Unknown, used or expired state, or another browser's.
    Expired,
    /// The provider said no (the user cancelled, or was refused there).
    Cancelled,
    Unreachable,
    /// The code exchange was refused (e.g. a wrong client secret).
    Refused,
    InvalidToken,
    /// The provider did not vouch for the address.
    Unverified,
    /// The address is outside the organisation's mail domains.
    OutsideDomains,
    /// Not a user of the organisation, and it does not make users.
    UnknownUser,
    Disabled,
    /// Anything else (the store failed): logged.
    Failed,
}

impl Failure {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Failure::Expired => "expired",
            Failure::Cancelled => "cancelled",
            Failure::Unreachable => "unreachable",
            Failure::Refused => "refused",
            Failure::InvalidToken => "invalid_token",
            Failure::Unverified => "unverified",
            Failure::OutsideDomains => "outside_domains",
            Failure::UnknownUser => "unknown_user",
            Failure::Disabled => "disabled",
            Failure::Failed => "failed",
        }
    }
}

impl From<DomainError> for Failure {
    fn from(e: DomainError) -> Self {
        tracing::error!("single sign-on: {e}");
        Failure::Failed
    }
}

/// What the provider sent the browser back with.
#[derive(Debug, Default)]
pub(crate) struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    /// The issuer, from providers that name it (RFC 9207): it must be the organisation's.
    pub iss: Option<String>,
}

/// Finishes a sign-in at the provider: a one-time handoff code for the page.
pub(crate) async fn finish(
    domain: &Domain,
    callback: Callback,
    browser: Option<&str>,
    client: &str,
) -> Result<String, Failure> {
    let state = callback.state.filter(|s| !s.is_empty() && s.len() <= 100).ok_or(Failure::Expired)?;
    let (org_id, browser_hash) = domain
        .meta
        .take_sso_flow(&sha256_hex(state.as_bytes()), now())
        .await
        .map_err(DomainError::from)?
        .ok_or(Failure::Expired)?;
    let same_browser = browser.is_some_and(|b| crate::secrets::digests_equal(&sha256_hex(b.as_bytes()), &browser_hash));
    if !same_browser {
        return Err(Failure::Expired);
    }
    let failed = async |failure: Failure, detail: String| -> Failure {
        let detail = Some(format!("single sign-on: {detail}"));
        let event = domain.event(org_id, Event::SignInFailed, Actor::Client(client), None, detail);
        if let Err(e) = domain.meta.record(event).await {
            tracing::error!("single sign-on: audit: {e}");
        }
        failure
    };
    if let Some(error) = callback.error {
        let error: String = error.chars().filter(|c| c.is_ascii_graphic()).take(60).collect();
        return Err(if error == "access_denied" || error == "login_required" {
            Failure::Cancelled
        } else {
            failed(Failure::Cancelled, format!("the provider answered {error}")).await
        });
    }
    let code = callback.code.filter(|c| !c.is_empty()).ok_or(Failure::Expired)?;
    let Some(settings) = domain.meta.sso_settings(org_id).await.map_err(DomainError::from)? else {
        return Err(Failure::Expired);
    };
    if callback.iss.as_ref().is_some_and(|iss| *iss != settings.issuer) {
        return Err(failed(Failure::InvalidToken, "the answer names another issuer".into()).await);
    }
    let org = organisations::get(domain, org_id).await?;
    let secret =
        domain.key.open(SECRET_PURPOSE, org_id.to_string().as_bytes(), &settings.sealed_secret).ok_or_else(|| {
            tracing::error!(
                organisation = org_id,
                "single sign-on: the client secret does not open with this server key"
            );
            Failure::Refused
        })?;
    let secret = String::from_utf8_lossy(&secret).into_owned();
    let (nonce, verifier) = derived(domain, &state);
    let outcome = async {
        let provider = oidc::discover(&settings.issuer).await?;
        let id_token =
            oidc::exchange(&provider, &settings.client_id, &secret, &code, &redirect_uri(domain), &verifier).await?;
        oidc::verify(&provider, &id_token, &settings.client_id, &nonce, now()).await
    }
    .await;
    let claims = match outcome {
        Ok(claims) => claims,
        Err(e) => {
            tracing::warn!(organisation = org.id, issuer = %settings.issuer, "single sign-on: {e}");
            let failure = match e {
                OidcError::Unreachable(_) => Failure::Unreachable,
                OidcError::Refused(_) => Failure::Refused,
                OidcError::InvalidToken(_) => Failure::InvalidToken,
            };
            return Err(failed(failure, e.to_string()).await);
        }
    };
    let Some(email) = claims.email.as_deref().and_then(|e| address::normalize(e).ok()) else {
        return Err(failed(Failure::Unverified, format!("no usable email claim for subject {}", claims.subject)).await);
    };
    let verified = match claims.email_verified {
        Some(v) => v,
        None => settings.trust_email,
    };
    if !verified {
        return Err(failed(Failure::Unverified, format!("{email} is not verified by the provider")).await);
    }
    if !org.domains.iter().any(|d| d == address::domain_of(&email)) {
        return Err(
            failed(Failure::OutsideDomains, format!("{email} is outside the organisation's mail domains")).await
        );
    }
    let (user, created) =
        match domain.meta.sso_user(org_id, &email, settings.create_users).await.map_err(DomainError::from)? {
            SsoUser::Active(user) => (user, false),
            SsoUser::Created(user) => (user, true),
            SsoUser::Disabled => return Err(failed(Failure::Disabled, format!("{email} is disabled")).await),
            SsoUser::Elsewhere => {
                return Err(failed(Failure::UnknownUser, format!("{email} is a user of another organisation")).await);
            }
            SsoUser::Unknown => {
                tracing::info!(
                    %email,
                    "single sign-on by an address that is not a user: refused; `kluis-server user add {email}` lets it \
                     in, or let the organisation make users at their first sign-in (`org sso … --create-users`)"
                );
                return Err(failed(Failure::UnknownUser, format!("{email} is not a user")).await);
            }
        };
    let detail = if created { "single sign-on; user made at the first sign-in" } else { "single sign-on" };
    let event = domain.event(org_id, Event::SignedIn, Actor::User(&email), None, Some(detail.to_string()));
    domain.meta.record(event).await.map_err(DomainError::from)?;
    let handoff = random_token("");
    domain
        .meta
        .put_sso_handoff(&sha256_hex(handoff.as_bytes()), user.id, now() + HANDOFF_SECONDS)
        .await
        .map_err(DomainError::from)?;
    Ok(handoff)
}

/// Trades a handoff code (single use, 60 s) for a session token, as a code sign-in makes one.
pub(crate) async fn trade(domain: &Domain, handoff: &str, label: Option<&str>) -> DomainResult<(String, String)> {
    if handoff.is_empty() || handoff.len() > 100 {
        return Err(DomainError::Unauthorized);
    }
    let user =
        domain.meta.take_sso_handoff(&sha256_hex(handoff.as_bytes()), now()).await?.ok_or(DomainError::Unauthorized)?;
    let label = match label.map(str::trim).filter(|l| !l.is_empty()) {
        Some(l) => format!("{} (single sign-on)", l.chars().take(80).collect::<String>()),
        None => "signed in with single sign-on".to_string(),
    };
    let ends = now() + i64::from(domain.limits.session_days) * 86_400;
    let token = accounts::issue_token(domain, &user, &label, Some(ends)).await?;
    Ok((token, user.email))
}

#[cfg(test)]
mod tests {
    use super::admin_may_use;

    #[test]
    fn admins_may_not_point_a_public_server_at_its_own_machine() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(admin_may_use(&url("https://login.microsoftonline.com/t/v2.0"), "https://kluis.example"));
        assert!(admin_may_use(&url("https://keycloak.intern.example/realms/z"), "https://kluis.example"));
        assert!(!admin_may_use(&url("http://127.0.0.1:8080"), "https://kluis.example"));
        assert!(!admin_may_use(&url("https://localhost/realms/z"), "https://kluis.example"));
        assert!(!admin_may_use(&url("http://[::1]:9000"), "https://kluis.example"));
        // A server on loopback (a trial, the tests) may use a provider there.
        assert!(admin_may_use(&url("http://127.0.0.1:8080"), "http://127.0.0.1:8443"));
    }
}

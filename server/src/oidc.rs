//! The OpenID Connect relying party, protocol only (OpenID Connect Core 1.0,
//! Discovery 1.0; RFC 6749 authorization code, RFC 7636 PKCE S256): the
//! provider's discovery document, the authorization URL, the code exchange
//! and the ID token's verification (signature against the provider's JWKS,
//! `iss`, `aud`/`azp`, `exp`, `iat`, `nonce`). Who may sign in is decided in
//! `domain/sso.rs`.
//!
//! Discovery documents and key sets are kept for [`CACHE_FOR`]: a sign-in
//! asks for the discovery document when it starts (so a provider that is
//! down is told before the browser goes there), then only exchanges the
//! code; an ID token no kept key verifies fetches the key set again once,
//! for rotated keys.
//!
//! HTTP goes over ureq (rustls on ring), blocking, off the async runtime;
//! signatures are checked with ring (RS256/384/512, PS256/384/512, ES256,
//! ES384). Symmetric (HS*) and unsigned ID tokens are refused. Provider URLs
//! must be `https://`, or `http://` on a loopback address (development and tests).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Scopes asked for: the subject, its address, its name.
pub(crate) const SCOPES: &str = "openid email profile";

/// How far clocks may disagree (seconds).
const LEEWAY: i64 = 120;

/// The largest answer read from a provider.
const MAX_BODY: u64 = 1 << 20;

/// How long a provider's discovery document and key set are used before they are fetched again.
pub(crate) const CACHE_FOR: Duration = Duration::from_secs(300);

/// Answers of providers by URL, each with when it was fetched: a few per
/// organisation with single sign-on, emptied when it grows past a bound.
struct Cache<T>(LazyLock<Mutex<HashMap<String, (Instant, T)>>>);

impl<T: Clone> Cache<T> {
    const fn new() -> Self {
        Cache(LazyLock::new(|| Mutex::new(HashMap::new())))
    }

    fn get(&self, url: &str) -> Option<T> {
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(url).filter(|(at, _)| at.elapsed() < CACHE_FOR).map(|(_, v)| v.clone())
    }

    fn put(&self, url: &str, value: T) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= 1000 {
            map.clear();
        }
        map.insert(url.to_string(), (Instant::now(), value));
    }
}

static DISCOVERED: Cache<Provider> = Cache::new();
static KEY_SETS: Cache<Value> = Cache::new();

/// Why talking to the provider failed.
#[derive(Debug)]
pub(crate) enum OidcError {
    /// No (usable) answer: down, unreachable, not a provider, a broken document.
    Unreachable(String),
    /// The provider refused the code exchange (wrong client secret, used code, …).
    Refused(String),
    /// The ID token is not valid for this sign-in.
    InvalidToken(String),
}

impl std::fmt::Display for OidcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OidcError::Unreachable(e) => write!(f, "provider unreachable: {e}"),
            OidcError::Refused(e) => write!(f, "provider refused: {e}"),
            OidcError::InvalidToken(e) => write!(f, "invalid ID token: {e}"),
        }
    }
}

/// The endpoints of a provider, from its discovery document.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Provider {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// What Kluis takes from a verified ID token.
#[derive(Debug, Clone)]
pub(crate) struct Claims {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
}

/// Whether `url`'s host is this machine (`localhost`, 127.0.0.0/8, ::1).
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `https://`, or `http://` to a loopback host; no fragment, no credentials.
pub(crate) fn check_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    let loopback = is_loopback(&url);
    if !(url.scheme() == "https" || url.scheme() == "http" && loopback) {
        return Err(format!("{raw:?} must be an https:// URL (http:// only on this machine's loopback)"));
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{raw:?} must have no fragment and no user name or password"));
    }
    Ok(url)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent("kluis-server")
        .build()
        .into()
}

/// A blocking call off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OidcError> + Send + 'static,
) -> Result<T, OidcError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| OidcError::Unreachable(format!("task: {e}")))?
}

fn get_json(url: &str) -> Result<Value, OidcError> {
    check_url(url).map_err(OidcError::Unreachable)?;
    let mut response = agent()
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| OidcError::Unreachable(format!("{url}: {e}")))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(OidcError::Unreachable(format!("{url} answered {status}")));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| OidcError::Unreachable(format!("{url}: {e}")))?;
    serde_json::from_str(&body).map_err(|e| OidcError::Unreachable(format!("{url}: not JSON: {e}")))
}

/// The provider's discovery document (kept for [`CACHE_FOR`]); its `issuer` must be `issuer` exactly.
pub(crate) async fn discover(issuer: &str) -> Result<Provider, OidcError> {
    match DISCOVERED.get(issuer) {
        Some(provider) => Ok(provider),
        None => discover_now(issuer).await,
    }
}

/// [`discover`], asking the provider now (when settings are saved).
pub(crate) async fn discover_now(issuer: &str) -> Result<Provider, OidcError> {
    let provider = fetch_discovery(issuer).await?;
    DISCOVERED.put(issuer, provider.clone());
    Ok(provider)
}

async fn fetch_discovery(issuer: &str) -> Result<Provider, OidcError> {
    let issuer = issuer.to_string();
    blocking(move || {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let provider: Provider = serde_json::from_value(get_json(&url)?)
            .map_err(|e| OidcError::Unreachable(format!("{url}: not a discovery document: {e}")))?;
        if provider.issuer != issuer {
            return Err(OidcError::Unreachable(format!("{url} names issuer {:?}, not {issuer:?}", provider.issuer)));
        }
        for endpoint in [&provider.authorization_endpoint, &provider.token_endpoint, &provider.jwks_uri] {
            check_url(endpoint).map_err(OidcError::Unreachable)?;
        }
        Ok(provider)
    })
    .await
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Where the browser goes to sign in.
pub(crate) struct AuthorizeRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub verifier: &'a str,
    pub login_hint: &'a str,
}

pub(crate) fn authorize_url(provider: &Provider, r: &AuthorizeRequest) -> String {
    let mut url = url::Url::parse(&provider.authorization_endpoint).expect("checked at discovery");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", r.client_id)
        .append_pair("redirect_uri", r.redirect_uri)
        .append_pair("scope", SCOPES)
        .append_pair("state", r.state)
        .append_pair("nonce", r.nonce)
        .append_pair("code_challenge", &pkce_challenge(r.verifier))
        .append_pair("code_challenge_method", "S256")
        .append_pair("login_hint", r.login_hint);
    url.into()
}

/// Trades the authorization code for tokens and returns the ID token
/// (client authentication `client_secret_basic`, or `client_secret_post`
/// when the provider names only that).
pub(crate) async fn exchange(
    provider: &Provider,
    client_id: &str,
    client_secret: &str,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<String, OidcError> {
    let post = provider
        .token_endpoint_auth_methods_supported
        .as_ref()
        .is_some_and(|m| !m.iter().any(|m| m == "client_secret_basic") && m.iter().any(|m| m == "client_secret_post"));
    let token_endpoint = provider.token_endpoint.clone();
    let mut form: Vec<(String, String)> = vec![
        ("grant_type".into(), "authorization_code".into()),
        ("code".into(), code.into()),
        ("redirect_uri".into(), redirect_uri.into()),
        ("code_verifier".into(), verifier.into()),
    ];
    let mut basic = None;
    if post {
        form.push(("client_id".into(), client_id.into()));
        form.push(("client_secret".into(), client_secret.into()));
    } else {
        // RFC 6749 §2.3.1: both form-urlencoded before base64.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", enc(client_id), enc(client_secret));
        basic = Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)));
    }
    blocking(move || {
        let mut request = agent().post(&token_endpoint).header("Accept", "application/json");
        if let Some(basic) = &basic {
            request = request.header("Authorization", basic);
        }
        let mut response =
            request.send_form(form).map_err(|e| OidcError::Unreachable(format!("{token_endpoint}: {e}")))?;
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(MAX_BODY).read_to_string().unwrap_or_default();
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status != 200 {
            // Only the provider's error code: its description may echo what was sent.
            let error = json.get("error").and_then(Value::as_str).unwrap_or("no error code");
            return Err(if (400..500).contains(&status) {
                OidcError::Refused(format!("{status} {error}"))
            } else {
                OidcError::Unreachable(format!("{token_endpoint} answered {status}"))
            });
        }
        json.get("id_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| OidcError::Refused("no id_token in the token response".into()))
    })
    .await
}

fn invalid(message: impl Into<String>) -> OidcError {
    OidcError::InvalidToken(message.into())
}

fn b64(part: &str) -> Result<Vec<u8>, OidcError> {
    URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|_| invalid("not base64url"))
}

/// Checks `signature` over `message` with the JWK `key` for JWS algorithm `alg`.
fn verify_with(alg: &str, key: &Value, message: &[u8], signature: &[u8]) -> Result<bool, OidcError> {
    use ring::signature::{self as sig, RsaPublicKeyComponents, UnparsedPublicKey};
    let field = |name: &str| -> Result<Vec<u8>, OidcError> {
        b64(key.get(name).and_then(Value::as_str).ok_or_else(|| invalid(format!("JWK without {name}")))?)
    };
    let strip = |v: Vec<u8>| -> Vec<u8> { v.iter().position(|b| *b != 0).map_or(v.clone(), |i| v[i..].to_vec()) };
    let rsa = |params: &'static sig::RsaParameters| -> Result<bool, OidcError> {
        let (n, e) = (strip(field("n")?), strip(field("e")?));
        Ok(RsaPublicKeyComponents { n: &n, e: &e }.verify(params, message, signature).is_ok())
    };
    let ec = |alg: &'static sig::EcdsaVerificationAlgorithm, crv: &str| -> Result<bool, OidcError> {
        if key.get("crv").and_then(Value::as_str) != Some(crv) {
            return Ok(false);
        }
        let mut point = vec![4u8];
        point.extend(field("x")?);
        point.extend(field("y")?);
        Ok(UnparsedPublicKey::new(alg, &point).verify(message, signature).is_ok())
    };
    match alg {
        "RS256" => rsa(&sig::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => rsa(&sig::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => rsa(&sig::RSA_PKCS1_2048_8192_SHA512),
        "PS256" => rsa(&sig::RSA_PSS_2048_8192_SHA256),
        "PS384" => rsa(&sig::RSA_PSS_2048_8192_SHA384),
        "PS512" => rsa(&sig::RSA_PSS_2048_8192_SHA512),
        "ES256" => ec(&sig::ECDSA_P256_SHA256_FIXED, "P-256"),
        "ES384" => ec(&sig::ECDSA_P384_SHA384_FIXED, "P-384"),
        other => Err(invalid(format!("signature algorithm {other:?} is not accepted"))),
    }
}

/// Verifies an ID token: its signature with a key of the provider's JWKS,
/// then `iss`, `aud` (and `azp`), `exp`, `iat` and `nonce` (Core §3.1.3.7).
pub(crate) async fn verify(
    provider: &Provider,
    id_token: &str,
    client_id: &str,
    nonce: &str,
    now: i64,
) -> Result<Claims, OidcError> {
    let fetch = async || {
        let jwks_uri = provider.jwks_uri.clone();
        let jwks = blocking(move || get_json(&jwks_uri)).await?;
        KEY_SETS.put(&provider.jwks_uri, jwks.clone());
        Ok::<_, OidcError>(jwks)
    };
    if let Some(kept) = KEY_SETS.get(&provider.jwks_uri) {
        let verified = verify_token(&provider.issuer, &kept, id_token, client_id, nonce, now);
        // A key the kept set lacks may be a new one: the set is fetched again once.
        if verified.is_ok() {
            return verified;
        }
    }
    verify_token(&provider.issuer, &fetch().await?, id_token, client_id, nonce, now)
}

/// [`verify`] with the provider's JWKS in hand.
fn verify_token(
    issuer: &str,
    jwks: &Value,
    id_token: &str,
    client_id: &str,
    nonce: &str,
    now: i64,
) -> Result<Claims, OidcError> {
    let parts: Vec<&str> = id_token.split('.').collect();
    let [header, payload, signature] = parts[..] else { return Err(invalid("not a signed JWT")) };
    let header: Value = serde_json::from_slice(&b64(header)?).map_err(|_| invalid("header is not JSON"))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("none").to_string();
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_string);
    let kty = match alg.get(..2) {
        Some("RS" | "PS") => "RSA",
        Some("ES") => "EC",
        _ => return Err(invalid(format!("signature algorithm {alg:?} is not accepted"))),
    };
    let keys = jwks.get("keys").and_then(Value::as_array).ok_or_else(|| invalid("the JWKS has no keys"))?;
    let message = format!("{}.{}", parts[0], parts[1]);
    let signature = b64(signature)?;
    let mut verified = false;
    for key in keys {
        let s = |name| key.get(name).and_then(Value::as_str);
        if s("kty") != Some(kty)
            || s("use").is_some_and(|u| u != "sig")
            || s("alg").is_some_and(|a| a != alg)
            || kid.as_deref().is_some_and(|k| s("kid") != Some(k))
        {
            continue;
        }
        if verify_with(&alg, key, message.as_bytes(), &signature)? {
            verified = true;
            break;
        }
    }
    if !verified {
        return Err(invalid("no key of the provider's JWKS verifies the signature"));
    }
    let claims: Value = serde_json::from_slice(&b64(payload)?).map_err(|_| invalid("payload is not JSON"))?;
    let s = |name| claims.get(name).and_then(Value::as_str);
    let n = |name| claims.get(name).and_then(Value::as_i64);
    if s("iss") != Some(issuer) {
        return Err(invalid("wrong issuer"));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !audiences.contains(&client_id) {
        return Err(invalid("not issued for this client"));
    }
    if (audiences.len() > 1 || s("azp").is_some()) && s("azp") != Some(client_id) {
        return Err(invalid("authorized party is another client"));
    }
    match n("exp") {
        Some(exp) if exp + LEEWAY > now => {}
        _ => return Err(invalid("expired")),
    }
    match n("iat") {
        Some(iat) if iat <= now + LEEWAY => {}
        _ => return Err(invalid("issued in the future")),
    }
    if n("nbf").is_some_and(|nbf| nbf > now + LEEWAY) {
        return Err(invalid("not valid yet"));
    }
    let expected = nonce.as_bytes();
    let given = s("nonce").unwrap_or_default().as_bytes();
    if !(given.len() == expected.len() && bool::from(subtle::ConstantTimeEq::ct_eq(given, expected))) {
        return Err(invalid("wrong nonce"));
    }
    let subject = s("sub").filter(|s| !s.is_empty()).ok_or_else(|| invalid("no subject"))?.to_string();
    let email_verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => Some(*b),
        // Some providers send it as a string.
        Some(Value::String(v)) => Some(v == "true"),
        _ => None,
    };
    Ok(Claims { subject, email: s("email").map(str::to_string), email_verified })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_urls_are_https_or_loopback() {
        assert!(check_url("https://login.microsoftonline.com/tenant/v2.0").is_ok());
        assert!(check_url("http://127.0.0.1:9000/").is_ok());
        assert!(check_url("http://localhost:9000").is_ok());
        assert!(check_url("http://[::1]:9000").is_ok());
        assert!(check_url("http://idp.example.org").is_err());
        assert!(check_url("https://user:pw@idp.example.org").is_err());
        assert!(check_url("ftp://idp.example.org").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[test]
    fn pkce_s256_matches_rfc_7636() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    /// An ES256 ID token signer with its JWKS (ring, P-256).
    struct Signer {
        key: ring::signature::EcdsaKeyPair,
        jwks: Value,
    }

    const ISSUER: &str = "https://idp.example.org";

    impl Signer {
        fn new(kid: &str) -> Signer {
            use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
            let point = key.public_key().as_ref();
            let jwks = serde_json::json!({ "keys": [{
                "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }]});
            Signer { key, jwks }
        }

        fn sign(&self, header: Value, claims: Value) -> String {
            let h = URL_SAFE_NO_PAD.encode(header.to_string());
            let c = URL_SAFE_NO_PAD.encode(claims.to_string());
            let message = format!("{h}.{c}");
            let signature = self.key.sign(&ring::rand::SystemRandom::new(), message.as_bytes()).unwrap();
            format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
        }
    }

    fn claims(now: i64) -> Value {
        serde_json::json!({
            "iss": ISSUER, "aud": "kluis", "sub": "u1", "exp": now + 300, "iat": now, "nonce": "n-1",
            "email": "alice@corp.example", "email_verified": true,
        })
    }

    fn check(signer: &Signer, token: &str, now: i64) -> Result<Claims, OidcError> {
        verify_token(ISSUER, &signer.jwks, token, "kluis", "n-1", now)
    }

    #[test]
    fn a_valid_id_token_gives_its_claims() {
        let signer = Signer::new("k1");
        let now = 1_800_000_000;
        let token = signer.sign(serde_json::json!({ "alg": "ES256", "kid": "k1" }), claims(now));
        let claims = check(&signer, &token, now).unwrap();
        assert_eq!(claims.subject, "u1");
        assert_eq!(claims.email.as_deref(), Some("alice@corp.example"));
        assert_eq!(claims.email_verified, Some(true));
        // Without a kid every key of the right type is tried.
        let token = signer.sign(serde_json::json!({ "alg": "ES256" }), self::claims(now));
        assert!(check(&signer, &token, now).is_ok());
    }

    #[test]
    fn id_tokens_that_do_not_fit_are_refused() {
        let signer = Signer::new("k1");
        let now = 1_800_000_000;
        let header = serde_json::json!({ "alg": "ES256", "kid": "k1" });
        let with = |change: &dyn Fn(&mut Value)| {
            let mut c = claims(now);
            change(&mut c);
            signer.sign(header.clone(), c)
        };
        let refused = |token: &str, why: &str| {
            assert!(matches!(check(&signer, token, now), Err(OidcError::InvalidToken(_))), "{why}");
        };
        refused(&with(&|c| c["nonce"] = "other".into()), "another nonce");
        refused(&with(&|c| c.as_object_mut().unwrap().remove("nonce").map(|_| ()).unwrap()), "no nonce");
        refused(&with(&|c| c["aud"] = "another-client".into()), "another audience");
        refused(&with(&|c| c["aud"] = serde_json::json!(["kluis", "other"])), "several audiences, no azp");
        refused(&with(&|c| c["azp"] = "other".into()), "another authorized party");
        refused(&with(&|c| c["iss"] = "https://evil.example".into()), "another issuer");
        refused(&with(&|c| c["exp"] = (now - 600).into()), "expired");
        refused(&with(&|c| c["iat"] = (now + 3600).into()), "issued in the future");
        refused(&with(&|c| c.as_object_mut().unwrap().remove("exp").map(|_| ()).unwrap()), "no exp");
        // Several audiences with azp = this client are fine.
        let ok = with(&|c| {
            c["aud"] = serde_json::json!(["kluis", "other"]);
            c["azp"] = "kluis".into();
        });
        assert!(check(&signer, &ok, now).is_ok());

        // A changed payload, another key, unsigned and symmetric tokens.
        let token = signer.sign(header.clone(), claims(now));
        let parts: Vec<&str> = token.split('.').collect();
        let mut changed = claims(now);
        changed["email"] = "mallory@corp.example".into();
        let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(changed.to_string()), parts[2]);
        refused(&forged, "a changed payload");
        let other = Signer::new("k1").sign(header.clone(), claims(now));
        refused(&other, "another key with the same kid");
        let other_kid = signer.sign(serde_json::json!({ "alg": "ES256", "kid": "k2" }), claims(now));
        refused(&other_kid, "a kid the JWKS does not have");
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), parts[1]);
        refused(&none, "alg none");
        let hs = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#), parts[1], parts[2]);
        refused(&hs, "HS256");
        refused("not.a-jwt", "not a JWT");
    }

    /// A loopback HTTP server answering every GET with the key set in `jwks`; counts requests.
    fn key_server(jwks: std::sync::Arc<Mutex<Value>>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = jwks.lock().unwrap().to_string();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
            }
        });
        (url, count)
    }

    #[actix_web::test]
    async fn the_key_set_is_kept_and_fetched_again_for_a_new_key() {
        let first = Signer::new("k1");
        let jwks = std::sync::Arc::new(Mutex::new(first.jwks.clone()));
        let (jwks_uri, fetched) = key_server(jwks.clone());
        let provider = Provider {
            issuer: ISSUER.into(),
            authorization_endpoint: format!("{ISSUER}/auth"),
            token_endpoint: format!("{ISSUER}/token"),
            jwks_uri,
            token_endpoint_auth_methods_supported: None,
        };
        let now = 1_800_000_000;
        let fetches = || fetched.load(std::sync::atomic::Ordering::SeqCst);
        let token = first.sign(serde_json::json!({ "alg": "ES256", "kid": "k1" }), claims(now));
        verify(&provider, &token, "kluis", "n-1", now).await.unwrap();
        verify(&provider, &token, "kluis", "n-1", now).await.unwrap();
        assert_eq!(fetches(), 1, "the second sign-in uses the kept key set");

        // The provider rotates its key: a token signed with the new one fetches the set again, once.
        let second = Signer::new("k2");
        *jwks.lock().unwrap() = second.jwks.clone();
        let token = second.sign(serde_json::json!({ "alg": "ES256", "kid": "k2" }), claims(now));
        verify(&provider, &token, "kluis", "n-1", now).await.unwrap();
        assert_eq!(fetches(), 2);
        verify(&provider, &token, "kluis", "n-1", now).await.unwrap();
        assert_eq!(fetches(), 2);

        // A token no key verifies is refused after one more look.
        let stranger = Signer::new("k2").sign(serde_json::json!({ "alg": "ES256", "kid": "k2" }), claims(now));
        assert!(matches!(verify(&provider, &stranger, "kluis", "n-1", now).await, Err(OidcError::InvalidToken(_))));
        assert_eq!(fetches(), 3);
    }
}

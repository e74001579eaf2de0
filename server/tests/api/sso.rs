//! Single sign-on with OpenID Connect against a real provider
//! (`oidc-provider` from npm, `tests/support/oidc-provider.mjs`): the whole
//! flow over HTTP (the page's question, the provider's login, the callback,
//! the handoff, the token), and what is refused: another state or browser,
//! a replayed handoff, an address outside the organisation's domains or not
//! verified, an unknown user unless the organisation makes users, a wrong
//! client secret, a provider that does not answer. And the admin API that
//! turns it on, changes it and off (`/admin/sso`), and the sign-in that
//! begins in the admin console and ends there.

use serde_json::{Value, json};

use crate::support::Server;
use crate::support::oidc::{Browser, OidcProvider};

const CLIENT_ID: &str = "kluis-test";
const SECRET: &str = "the-client-secret";

struct Setup {
    server: Server,
    provider: OidcProvider,
    org: i64,
}

/// A server with organisation "Corp" (corp.example), user alice@corp.example,
/// and single sign-on at a fresh provider; `None` when node is missing.
fn setup(create_users: bool) -> Option<Setup> {
    let server = Server::start(|_| {});
    let callback = format!("{}/auth/sso/callback", server.url);
    let provider = OidcProvider::start(CLIENT_ID, SECRET, &callback)?;
    let org = server.organisation("Corp", &["corp.example"]);
    server.add_user("alice@corp.example");
    configure(&server, org, &provider.issuer, SECRET, create_users);
    Some(Setup { server, provider, org })
}

fn configure(server: &Server, org: i64, issuer: &str, secret: &str, create_users: bool) {
    let spec = kluis_server::admin::SsoSpec {
        issuer: issuer.to_string(),
        client_id: CLIENT_ID.to_string(),
        client_secret: Some(secret.to_string()),
        create_users,
        trust_email: false,
    };
    let info = server.run(move |state| async move {
        kluis_server::admin::configure_sso(&state, &org.to_string(), Some(spec)).await.unwrap()
    });
    assert!(info.secret_set);
}

/// What the page asks first.
fn ask(browser: &mut Browser, server: &Server, email: &str) -> Value {
    let url = format!("{}/api/v1/auth/sso?email={}", server.url, email.replace('@', "%40").replace('+', "%2B"));
    browser.get(&url).expect(200).json()
}

/// Signs `email` in at the provider, changing the authorize URL with
/// `tamper` first; returns the send page's fragment the callback ends on.
fn through_provider(browser: &mut Browser, server: &Server, email: &str, tamper: impl Fn(&mut url::Url)) -> String {
    let answer = ask(browser, server, email);
    assert_eq!(answer["sso"], true, "{answer}");
    let mut authorize = url::Url::parse(answer["url"].as_str().unwrap()).unwrap();
    tamper(&mut authorize);
    let callback = browser.follow(authorize.as_str(), &format!("{}/auth/sso/callback", server.url));
    finish(browser, &callback)
}

/// The callback's redirect: `sso=…` or `sso_error=…`.
fn finish(browser: &mut Browser, callback: &str) -> String {
    let response = browser.get(callback).expect(303);
    let location = response.header("location").unwrap().to_string();
    assert!(!location.contains("kluis_"), "no token in a URL");
    location.strip_prefix("/#").unwrap_or_else(|| panic!("to the send page: {location}")).to_string()
}

fn handoff(fragment: &str) -> String {
    fragment.strip_prefix("sso=").unwrap_or_else(|| panic!("signed in, not {fragment}")).to_string()
}

fn trade(server: &Server, handoff: &str) -> crate::support::Response {
    server.post("/api/v1/auth/sso/token").json(&json!({ "handoff": handoff, "label": "Firefox on Linux" })).send()
}

fn with_query(url: &mut url::Url, name: &str, value: &str) {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name { value.to_string() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
}

#[test]
fn signs_in_through_the_provider_and_the_handoff_works_once() {
    let Some(Setup { server, provider: _provider, .. }) = setup(false) else { return };
    let mut browser = Browser::default();
    let fragment = through_provider(&mut browser, &server, "Alice@Corp.Example", |_| {});
    let handoff = handoff(&fragment);
    let created = trade(&server, &handoff).expect(200).json();
    assert_eq!(created["email"], "alice@corp.example");
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("kluis_"));
    let me = server.get("/api/v1/me").bearer(token).send().expect(200).json();
    assert_eq!(me["email"], "alice@corp.example");
    assert_eq!(me["organisation"], "Corp");
    let tokens = server.get("/api/v1/tokens").bearer(token).send().expect(200).json();
    assert!(tokens.to_string().contains("Firefox on Linux (single sign-on)"), "{tokens}");

    // The handoff is single use.
    trade(&server, &handoff).expect_error(401, "unauthorized");
    trade(&server, "not-a-handoff").expect_error(401, "unauthorized");

    // Audited as a sign-in by single sign-on.
    let row = server.db().rows("SELECT actor, detail FROM audit WHERE event = 'signed_in' ORDER BY id DESC LIMIT 1");
    let (actor, detail) = (row[0][0].text(), row[0][1].text());
    assert_eq!((actor.as_str(), detail.as_str()), ("user:alice@corp.example", "single sign-on"));
}

#[test]
fn a_disabled_user_is_refused_even_where_users_are_made() {
    let Some(Setup { server, provider: _provider, .. }) = setup(true) else { return };
    let mut db = server.db();
    db.execute("UPDATE users SET disabled = TRUE WHERE email = 'alice@corp.example'");
    let mut browser = Browser::default();
    let fragment = through_provider(&mut browser, &server, "alice@corp.example", |_| {});
    assert_eq!(fragment, "sso_error=disabled");
    let failed = db.value("SELECT detail FROM audit WHERE event = 'sign_in_failed' ORDER BY id DESC LIMIT 1").text();
    assert_eq!(failed, "single sign-on: alice@corp.example is disabled");
}

#[test]
fn addresses_without_single_sign_on_get_the_code() {
    let Some(Setup { server, provider: _provider, .. }) = setup(false) else { return };
    let mut browser = Browser::default();
    // The same answer for users and strangers of a domain without single sign-on, and no cookie.
    for email in ["someone@elsewhere.example", "nobody@gmail.example"] {
        let url = format!("{}/api/v1/auth/sso?email={email}", server.url);
        let response = browser.get(&url).expect(200);
        assert_eq!(response.json(), json!({ "sso": false }));
        assert!(response.header("set-cookie").is_none());
    }
    // Users and unknown addresses of an organisation with it both go to the provider.
    assert_eq!(ask(&mut browser, &server, "alice@corp.example")["sso"], true);
    assert_eq!(ask(&mut browser, &server, "stranger@corp.example")["sso"], true);
    let bad = format!("{}/api/v1/auth/sso?email=not-an-address", server.url);
    browser.get(&bad).expect_error(400, "invalid_email");
}

#[test]
fn another_state_or_browser_is_refused_and_the_state_is_single_use() {
    let Some(Setup { server, provider: _provider, .. }) = setup(false) else { return };
    let mut browser = Browser::default();
    let callback_prefix = format!("{}/auth/sso/callback", server.url);

    // A state the server never gave.
    let answer = ask(&mut browser, &server, "alice@corp.example");
    let mut authorize = url::Url::parse(answer["url"].as_str().unwrap()).unwrap();
    let callback = browser.follow(authorize.as_str(), &callback_prefix);
    let mut forged = url::Url::parse(&callback).unwrap();
    with_query(&mut forged, "state", "forged-state");
    assert_eq!(finish(&mut browser, forged.as_str()), "sso_error=expired");
    // The real one still works once, and only once.
    assert!(finish(&mut browser, &callback).starts_with("sso="));
    assert_eq!(finish(&mut browser, &callback), "sso_error=expired");

    // Finished in another browser (no cookie of the one that started it): refused, and the state is spent.
    let answer = ask(&mut browser, &server, "alice@corp.example");
    authorize = url::Url::parse(answer["url"].as_str().unwrap()).unwrap();
    let callback = browser.follow(authorize.as_str(), &callback_prefix);
    let mut other = Browser::default();
    assert_eq!(finish(&mut other, &callback), "sso_error=expired");
    assert_eq!(finish(&mut browser, &callback), "sso_error=expired");

    // The provider's refusal ends on the page too.
    let answer = ask(&mut browser, &server, "alice@corp.example");
    let state = url::Url::parse(answer["url"].as_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let denied = format!("{callback_prefix}?error=access_denied&state={state}");
    assert_eq!(finish(&mut browser, &denied), "sso_error=cancelled");
    // A callback without anything.
    assert_eq!(finish(&mut browser, &callback_prefix), "sso_error=expired");
}

#[test]
fn addresses_outside_the_domains_or_unverified_are_refused() {
    let Some(Setup { server, provider: _provider, .. }) = setup(true) else { return };
    let mut browser = Browser::default();
    // The provider vouches for another address than the one typed, outside Corp's domains.
    let fragment = through_provider(&mut browser, &server, "alice@corp.example", |u| {
        with_query(u, "login_hint", "mallory@elsewhere.example")
    });
    assert_eq!(fragment, "sso_error=outside_domains");
    // An address the provider has not verified (signed out at the provider first).
    browser.clear();
    server.add_user("unverified@corp.example");
    let fragment = through_provider(&mut browser, &server, "unverified@corp.example", |_| {});
    assert_eq!(fragment, "sso_error=unverified");
}

#[test]
fn unknown_users_are_refused_unless_the_organisation_makes_them() {
    let Some(Setup { server, provider, org }) = setup(false) else { return };
    let mut browser = Browser::default();
    let fragment = through_provider(&mut browser, &server, "newbie@corp.example", |_| {});
    assert_eq!(fragment, "sso_error=unknown_user");

    configure(&server, org, &provider.issuer, SECRET, true);
    let fragment = through_provider(&mut browser, &server, "newbie@corp.example", |_| {});
    let created = trade(&server, &handoff(&fragment)).expect(200).json();
    let me = server.get("/api/v1/me").bearer(created["token"].as_str().unwrap()).send().expect(200).json();
    assert_eq!(me["email"], "newbie@corp.example");
    assert_eq!(me["organisation"], "Corp");
}

#[test]
fn a_wrong_client_secret_or_a_provider_that_does_not_answer_ends_with_a_message() {
    let Some(Setup { server, provider, org }) = setup(false) else { return };
    let mut browser = Browser::default();
    configure(&server, org, &provider.issuer, "a-wrong-secret", false);
    let fragment = through_provider(&mut browser, &server, "alice@corp.example", |_| {});
    assert_eq!(fragment, "sso_error=refused");

    // An answer that names another issuer (RFC 9207: a mix-up of providers) is refused before the exchange.
    configure(&server, org, &provider.issuer, SECRET, false);
    let answer = ask(&mut browser, &server, "alice@corp.example");
    let callback = browser.follow(answer["url"].as_str().unwrap(), &format!("{}/auth/sso/callback", server.url));
    let mut mixed = url::Url::parse(&callback).unwrap();
    assert!(mixed.query_pairs().any(|(k, v)| k == "iss" && v == provider.issuer), "oidc-provider names itself");
    with_query(&mut mixed, "iss", "https://evil.example");
    assert_eq!(finish(&mut browser, mixed.as_str()), "sso_error=invalid_token");

    // A provider that stops answering: the page is told, and offers the code.
    drop(provider);
    let url = format!("{}/api/v1/auth/sso?email=alice@corp.example", server.url);
    browser.get(&url).expect_error(503, "sso_unavailable");
}

#[test]
fn the_client_secret_is_sealed_and_never_shown() {
    let Some(Setup { server, org, provider: _provider }) = setup(false) else { return };
    let info =
        server.run(move |state| async move { kluis_server::admin::sso(&state, &org.to_string()).await.unwrap() });
    assert!(info.secret_set);
    assert!(!format!("{info:?}").contains(SECRET));
    // Not in the database in the clear.
    let sealed = server.db().value("SELECT client_secret FROM org_sso").bytes();
    assert!(!sealed.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    // Turned off: the code again.
    server.run(move |state| async move {
        kluis_server::admin::configure_sso(&state, &org.to_string(), None).await.unwrap()
    });
    let mut browser = Browser::default();
    assert_eq!(ask(&mut browser, &server, "alice@corp.example"), json!({ "sso": false }));
}

/// An admin token of "Corp" (the organisation of the setup).
fn corp_admin(server: &Server) -> String {
    server.admin_token("ada@corp.example")
}

fn admin_sso(server: &Server, method: &str, token: &str, body: Option<Value>) -> crate::support::Response {
    let request = server.request(method, "/api/v1/admin/sso").bearer(token);
    match body {
        Some(body) => request.json(&body).send(),
        None => request.send(),
    }
}

#[test]
fn admins_turn_single_sign_on_on_change_it_and_off() {
    let server = Server::start(|_| {});
    let callback = format!("{}/auth/sso/callback", server.url);
    let Some(provider) = OidcProvider::start(CLIENT_ID, SECRET, &callback) else { return };
    // An admin of the first organisation ("Kluis"), made while it is the only one.
    let kluis_admin = server.admin_token("root@example.org");
    server.organisation("Corp", &["corp.example"]);
    let ada = corp_admin(&server);
    let alice = server.token("alice@corp.example");

    // Off, with the redirect URI to register at the provider first.
    let off = admin_sso(&server, "GET", &ada, None).expect(200).json();
    assert_eq!(
        off,
        json!({ "enabled": false, "secret_set": false, "create_users": false, "trust_email": false, "redirect_uri": callback })
    );
    // Only admins.
    admin_sso(&server, "GET", &alice, None).expect_error(403, "forbidden");
    admin_sso(
        &server,
        "PUT",
        &alice,
        Some(json!({ "issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": SECRET })),
    )
    .expect_error(403, "forbidden");

    // A first setting needs the secret; an issuer where no provider answers is refused, and nothing changes.
    let change = json!({ "issuer": provider.issuer, "client_id": CLIENT_ID, "create_users": true });
    admin_sso(&server, "PUT", &ada, Some(change)).expect_error(400, "client_secret_required");
    let closed = format!("http://127.0.0.1:{}", crate::support::free_port());
    let nobody = json!({ "issuer": closed, "client_id": CLIENT_ID, "client_secret": SECRET });
    admin_sso(&server, "PUT", &ada, Some(nobody)).expect_error(400, "issuer_unreachable");
    let not_a_url = json!({ "issuer": "ftp://corp.example", "client_id": CLIENT_ID, "client_secret": SECRET });
    admin_sso(&server, "PUT", &ada, Some(not_a_url)).expect_error(400, "invalid_issuer");
    assert_eq!(admin_sso(&server, "GET", &ada, None).expect(200).json()["enabled"], false);

    let on =
        json!({ "issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": SECRET, "create_users": true });
    let view = admin_sso(&server, "PUT", &ada, Some(on)).expect(200).json();
    assert_eq!(view["enabled"], true);
    assert_eq!(view["issuer"], provider.issuer.as_str());
    assert_eq!(view["secret_set"], true);
    assert_eq!(view["create_users"], true);
    assert!(!view.to_string().contains(SECRET), "the secret never comes back");

    // Changed without the secret: the one set before stays, and a new user signs in (made at the first sign-in).
    let change =
        json!({ "issuer": provider.issuer, "client_id": CLIENT_ID, "create_users": true, "trust_email": false });
    admin_sso(&server, "PUT", &ada, Some(change)).expect(200);
    let mut browser = Browser::default();
    let fragment = through_provider(&mut browser, &server, "carol@corp.example", |_| {});
    trade(&server, &handoff(&fragment)).expect(200);

    // Another organisation's admin sees only their own (off), and cannot turn Corp's off.
    assert_eq!(admin_sso(&server, "GET", &kluis_admin, None).expect(200).json()["enabled"], false);
    admin_sso(&server, "DELETE", &kluis_admin, None).expect(204);
    assert_eq!(admin_sso(&server, "GET", &ada, None).expect(200).json()["enabled"], true);

    // Off: the code again; audited, with who did it.
    admin_sso(&server, "DELETE", &ada, None).expect(204);
    assert_eq!(ask(&mut browser, &server, "alice@corp.example"), json!({ "sso": false }));
    let events: Vec<(String, String)> = server
        .db()
        .rows("SELECT event, actor FROM audit WHERE event LIKE 'sso_%' ORDER BY id")
        .iter()
        .map(|r| (r[0].text(), r[1].text()))
        .collect();
    let ada_did = |e: &str| (e.to_string(), "user:ada@corp.example".to_string());
    assert_eq!(events, [ada_did("sso_configured"), ada_did("sso_configured"), ada_did("sso_turned_off")]);
}

#[test]
fn a_sign_in_begun_in_the_admin_console_or_the_addin_ends_there() {
    let Some(Setup { server, provider: _provider, .. }) = setup(false) else { return };
    for (to, page) in [("admin", "/admin/"), ("addin", "/addin/sso.html"), ("send", "/")] {
        let mut browser = Browser::default();
        let url = format!("{}/api/v1/auth/sso?email=alice%40corp.example&to={to}", server.url);
        let answer = browser.get(&url).expect(200).json();
        let callback = browser.follow(answer["url"].as_str().unwrap(), &format!("{}/auth/sso/callback", server.url));
        let response = browser.get(&callback).expect(303);
        // The add-in's dialog reaches the task pane through its opener: no same-origin opener policy there.
        let coop = response.header("cross-origin-opener-policy").unwrap_or_default().to_string();
        assert_eq!(coop == "unsafe-none", to == "addin", "{to}: {coop}");
        let location = response.header("location").unwrap().to_string();
        let handoff = location.strip_prefix(&format!("{page}#sso=")).unwrap_or_else(|| panic!("{to}: {location}"));
        trade(&server, handoff).expect(200);
    }
    // Only those pages.
    let mut browser = Browser::default();
    let url = format!("{}/api/v1/auth/sso?email=alice%40corp.example&to=https%3A%2F%2Fevil.example", server.url);
    browser.get(&url).expect_error(400, "invalid_query");
}

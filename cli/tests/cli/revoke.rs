//! `kluis revoke`: by link or id, only by the sender, and never sending the
//! API token to a server other than the configured one, whatever the link
//! names. The "other host" is a listener on another loopback port that
//! records every request it gets.

use crate::support::fake::FakeHost;
use crate::support::{ALICE, BOB, Server, kluis_command, ok, package_id, stderr, write};

#[test]
fn revoke_by_link_or_id_and_only_by_the_sender() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let send = |name| ok(server.kluis(&token, &["send", &write(work.path(), name, b"x"), "--to", BOB]));
    let (first, second) = (send("a"), send("b"));
    let eve = server.token("eve@example.org");
    let out = server.kluis(&eve, &["revoke", &first]);
    assert!(!out.status.success(), "someone else's package cannot be revoked");
    ok(server.kluis(&token, &["revoke", &first]));
    ok(server.kluis(&token, &["revoke", &package_id(&second)]));
    let api = server.api();
    for link in [&first, &second] {
        assert_eq!(api.package(&token, &package_id(link)).package.state, kluis_protocol::api::PackageState::Revoked);
    }
    let out = server.kluis(&token, &["revoke", "not a link or id!"]);
    assert!(stderr(&out).contains("neither a package link nor a package id"), "{}", stderr(&out));
}

#[test]
fn revoke_never_sends_the_token_to_the_links_server() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let link = ok(server.kluis(&token, &["send", &write(work.path(), "f", b"x"), "--to", BOB]));
    let other = FakeHost::start("404 Not Found", r#"{"error":{"code":"not_found","message":"No such package."}}"#);
    // The same package id and secret, on a link that names the other host.
    let foreign = link.replacen(&server.url, &other.url, 1);
    assert_ne!(foreign, link);

    // KLUIS_SERVER is the real server: the link's server differs, so no request at all.
    let out = server.kluis(&token, &["revoke", &foreign]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("but your server is"), "{}", stderr(&out));
    // --server overrides KLUIS_SERVER and is checked the same way.
    let out = server.kluis(&token, &["revoke", &foreign, "--server", &server.url]);
    assert!(!out.status.success());
    // A token but no server configured: refused too, rather than trusting the link.
    let out = kluis_command().args(["revoke", &foreign]).env("KLUIS_TOKEN", &token).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no server configured"), "{}", stderr(&out));
    let out = kluis_command().args(["revoke", &foreign, "--token", &token]).output().unwrap();
    assert!(stderr(&out).contains("no server configured"), "{}", stderr(&out));
    assert!(other.requests().is_empty(), "the other host was contacted: {:?}", other.requests());
    assert_eq!(
        server.api().package(&token, &package_id(&link)).package.state,
        kluis_protocol::api::PackageState::Ready
    );

    // The listener does see what comes its way: receiving the foreign link
    // asks it for the package, without any Authorization header.
    let out = server.kluis(&token, &["receive", &foreign, "-o", work.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let requests = other.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].starts_with("GET /api/v1/p/"), "{requests:?}");
    assert!(!requests[0].to_ascii_lowercase().contains("authorization"), "{requests:?}");

    // With the right server configured, the same command works.
    ok(server.kluis(&token, &["revoke", &link]));
}

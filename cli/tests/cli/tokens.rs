//! API tokens: signing in with a mailed code (`POST /auth/code`, `POST
//! /auth/token`), `kluis token list` marking the token in use, and `kluis
//! token revoke ID` ending a token (it then gets 401).

use kluis_protocol::api::{Me, SignInCodeRequest, TokenCreated, TokenList, TokenRequest};

use crate::support::{ALICE, Server, ok, stderr};

/// The row of `kluis token list` whose label is `label`.
fn row<'a>(list: &'a str, label: &str) -> &'a str {
    list.lines().find(|l| l.contains(&format!("  {label}"))).unwrap_or_else(|| panic!("no {label} in:\n{list}"))
}

#[test]
fn sign_in_with_a_mailed_code() {
    let server = Server::start();
    server.add_user(ALICE);
    let api = server.api();
    let mark = server.mark();
    assert_eq!(api.post("/auth/code", "", &SignInCodeRequest { email: ALICE.into() }).status, 202);
    let code = server.wait_mail(&mark, ALICE, |m| m.subject.contains("sign-in code")).code();
    // One code a minute per address: asking again now is refused, and mails nothing.
    let again = api.post("/auth/code", "", &SignInCodeRequest { email: ALICE.into() });
    assert_eq!((again.status, again.error_code().as_str()), (429, "rate_limited"), "{}", again.text());

    let trade = TokenRequest { email: ALICE.into(), code, label: Some("laptop".into()) };
    let created: TokenCreated = api.post("/auth/token", "", &trade).json();
    let me: Me = api.get("/me", &created.token).json();
    assert_eq!(me.email, ALICE);
    assert!(ok(server.kluis(&created.token, &["token", "list"])).contains("laptop"));
    // A code works once.
    assert_eq!(api.post("/auth/token", "", &trade).status, 401);

    // Unknown addresses get the same answer, and no mail.
    let request = SignInCodeRequest { email: "nobody@example.org".into() };
    assert_eq!(api.post("/auth/code", "", &request).status, 202);
    server.flush_mail();
    assert!(server.new_mails(&mark, "nobody@example.org").is_empty());
    assert_eq!(server.new_mails(&mark, ALICE).len(), 1);
}

#[test]
fn token_list_marks_the_current_token() {
    let server = Server::start();
    let desk = server.token_labelled(ALICE, "desk");
    let laptop = server.sign_in(ALICE, "laptop\u{1b}[2J");
    let other = server.token_labelled("eve@example.org", "eve's");

    let list = ok(server.kluis(&laptop, &["token", "list"]));
    assert!(list.lines().next().unwrap().contains("last used"), "a header line: {list}");
    assert!(!list.contains('\u{1b}'), "labels reach the terminal without control characters: {list:?}");
    assert!(row(&list, "laptop").starts_with('*'), "the token in use is marked:\n{list}");
    assert!(row(&list, "desk").starts_with(' '), "{list}");
    assert!(!list.contains("eve's"), "only the user's own tokens: {list}");
    assert!(!list.contains(&desk) && !list.contains(&laptop), "the list never shows a token itself");

    let list = ok(server.kluis(&desk, &["token", "list"]));
    assert!(row(&list, "desk").starts_with('*'), "{list}");
    assert!(row(&list, "laptop").starts_with(' '), "{list}");
    // The same through the API.
    let tokens: TokenList = server.api().get("/tokens", &desk).json();
    assert_eq!(tokens.tokens.iter().filter(|t| t.current).map(|t| t.label.as_str()).collect::<Vec<_>>(), ["desk"]);
    drop(other);
}

#[test]
fn token_revoke_ends_a_token() {
    let server = Server::start();
    let desk = server.token_labelled(ALICE, "desk");
    let laptop = server.token_labelled(ALICE, "laptop");
    let eve = server.token_labelled("eve@example.org", "eve's");
    let api = server.api();
    let list: TokenList = api.get("/tokens", &desk).json();
    let id_of = |label: &str| list.tokens.iter().find(|t| t.label == label).unwrap().id;
    let eves: TokenList = api.get("/tokens", &eve).json();
    let eve_id = eves.tokens[0].id;

    // Someone else's token cannot be revoked.
    let out = server.kluis(&desk, &["token", "revoke", &eve_id.to_string()]);
    assert!(!out.status.success());
    assert_eq!(api.get("/me", &eve).status, 200);

    assert_eq!(api.get("/me", &laptop).status, 200);
    let out = server.kluis(&desk, &["token", "revoke", &id_of("laptop").to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("revoked"), "{}", stderr(&out));
    assert_eq!(api.get("/me", &laptop).status, 401);
    let out = server.kluis(&laptop, &["token", "list"]);
    assert!(!out.status.success(), "a revoked token no longer works for the CLI");
    let list = ok(server.kluis(&desk, &["token", "list"]));
    assert!(!list.contains("laptop") && list.contains("desk"), "{list}");

    // A token may revoke itself; then it is done.
    ok(server.kluis(&desk, &["token", "revoke", &id_of("desk").to_string()]));
    assert_eq!(api.get("/me", &desk).status, 401);
}

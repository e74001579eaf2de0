//! Addresses the mailer could not send to (a comment, an empty atom, a
//! domain literal, …) are refused where they come in, with a 400 that names
//! them: at package creation and at sign-in.

use serde_json::json;

use crate::support::Server;
use crate::support::flow;

const UNSENDABLE: [&str; 3] = ["a(b@x.org", "a..b@x.org", "a@[1.2.3.4]"];

#[test]
fn unsendable_recipient_addresses_are_refused_at_package_creation_naming_them() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    for bad in UNSENDABLE {
        for verify in ["email", "none"] {
            let spec = json!({ "recipients": ["ok@example.org", bad], "verify": verify, "blobs": [{ "size": 100 }] });
            let refused = flow::create_package(&server, &alice, &spec).expect_error(400, "invalid_recipient");
            assert!(refused.message().contains(&format!("{bad:?}")), "not named: {}", refused.message());
        }
    }
    let list = server.get("/api/v1/packages").bearer(&alice).send().expect(200).json();
    assert_eq!(list["packages"], json!([]), "a refused package was stored");
}

#[test]
fn unsendable_addresses_are_refused_at_sign_in_naming_them() {
    let server = Server::start(|_| {});
    for bad in UNSENDABLE {
        for answer in [
            server.post("/api/v1/auth/code").json(&json!({ "email": bad })).send(),
            server.post("/api/v1/auth/token").json(&json!({ "email": bad, "code": "123456" })).send(),
        ] {
            let refused = answer.expect_error(400, "invalid_email");
            assert!(refused.message().contains(&format!("{bad:?}")), "not named: {}", refused.message());
        }
    }
    assert!(server.outbox().is_empty());
}

#[test]
fn addresses_are_stored_normalised_so_one_person_is_one_recipient() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let spec = json!({
        "recipients": ["Bob@Example.ORG", " bob@example.org ", "jan@bücher.example"],
        "verify": "email",
        "blobs": [{ "size": 100 }],
    });
    let created = flow::create_package(&server, &alice, &spec).expect(201).json();
    assert_eq!(created["recipients"], json!(["bob@example.org", "jan@xn--bcher-kva.example"]));
}

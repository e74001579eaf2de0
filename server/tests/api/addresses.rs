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

#[test]
fn unusual_addresses_that_are_accepted_get_their_mail() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    // As given, and as stored and mailed to.
    let unusual = [
        ("O'Brien+tag@example.org", "o'brien+tag@example.org"),
        ("a/b{c}~d@example.org", "a/b{c}~d@example.org"),
        ("jan@bücher.example", "jan@xn--bcher-kva.example"),
        ("józef@example.org", "józef@example.org"),
    ];
    let given: Vec<&str> = unusual.iter().map(|(raw, _)| *raw).collect();
    let sent = flow::send(&server, &alice, json!({ "recipients": given, "verify": "email" }));
    let mut stored: Vec<String> =
        serde_json::from_value(flow::package(&server, &alice, &sent.id)["recipients"].clone()).unwrap();
    stored.sort();
    let mut expected: Vec<&str> = unusual.iter().map(|(_, s)| *s).collect();
    expected.sort();
    assert_eq!(stored, expected);
    for (raw, mailed) in unusual {
        flow::request_code(&server, &sent.id, &sent.proof(), raw).send().expect(202);
        let code = server.wait_for_code(mailed, 1);
        flow::access(&server, &sent.id, &sent.proof(), Some(raw), Some(&code)).send().expect(200);
    }
}

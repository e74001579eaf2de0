//! Organisations as tenants: one server, several organisations, and nothing
//! of one seen, changed, counted or downloaded through another's users or
//! tokens. Recipients reach a package through its link whatever their own
//! organisation; what they are told names the sender's. Users go to the
//! organisation of their mail domain; the audit log keeps each
//! organisation's events apart.

use serde_json::{Value, json};

use crate::operator::kluis_server;
use crate::support::Server;
use crate::support::flow::{self, bytes};

/// A server with the first organisation ("Kluis", made at start) holding
/// alice, and "Ziekenhuis Oost" (mail domain oost.example) holding bob.
fn two_organisations() -> (Server, String, String, i64) {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let oost = server.organisation("Ziekenhuis Oost", &["oost.example", "OOST-zorg.example"]);
    let bob = server.token("bob@oost.example");
    (server, alice, bob, oost)
}

fn me(server: &Server, token: &str) -> Value {
    server.get("/api/v1/me").bearer(token).send().expect(200).json()
}

#[test]
fn users_belong_to_the_organisation_of_their_mail_domain_and_sign_in_there() {
    let (server, alice, bob, _) = two_organisations();
    assert_eq!(me(&server, &alice)["organisation"], "Kluis");
    assert_eq!(me(&server, &bob)["organisation"], "Ziekenhuis Oost");
    // The second domain too, whatever its case.
    server.add_user("carol@oost-zorg.example");
    server.post("/api/v1/auth/code").json(&json!({ "email": "carol@oost-zorg.example" })).send().expect(202);
    let code = server.wait_for_code("carol@oost-zorg.example", 1);
    let mail = server.mail_to("carol@oost-zorg.example").pop().unwrap();
    assert!(mail.text.contains("Ziekenhuis Oost"), "the code mail names the organisation: {}", mail.text);
    let signed_in = server
        .post("/api/v1/auth/token")
        .json(&json!({ "email": "carol@oost-zorg.example", "code": code }))
        .send()
        .expect(200)
        .json();
    assert_eq!(me(&server, signed_in["token"].as_str().unwrap())["organisation"], "Ziekenhuis Oost");
}

#[test]
fn nothing_of_one_organisation_is_seen_changed_or_counted_through_another() {
    let (server, alice, bob, _) = two_organisations();
    let sent = flow::send(&server, &alice, json!({ "verify": "none", "recipients": ["bob@oost.example"] }));
    let id = &sent.id;

    // Bob (another organisation, and a recipient of it) cannot reach it as a sender.
    let not_found = |response: crate::support::Response| response.expect_error(404, "not_found");
    not_found(server.get(&format!("/api/v1/packages/{id}")).bearer(&bob).send());
    not_found(server.get(&format!("/api/v1/packages/{id}/events")).bearer(&bob).send());
    not_found(server.post(&format!("/api/v1/packages/{id}/revoke")).bearer(&bob).send());
    not_found(server.delete(&format!("/api/v1/packages/{id}")).bearer(&bob).send());
    not_found(
        server
            .post(&format!("/api/v1/packages/{id}/finalize"))
            .bearer(&bob)
            .json(&json!({ "access_verifier": sent.proof(), "link_verifier": sent.link_proof() }))
            .send(),
    );
    not_found(flow::create_upload(&server, &bob, id, 1, 10));
    let listed = server.get("/api/v1/packages").bearer(&bob).send().expect(200).json();
    assert_eq!(listed["packages"].as_array().unwrap().len(), 0, "another organisation's package listed: {listed}");
    // Nor a token of another organisation.
    let alice_tokens = server.get("/api/v1/tokens").bearer(&alice).send().expect(200).json();
    let alice_token_id = alice_tokens["tokens"][0]["id"].as_i64().unwrap();
    not_found(server.delete(&format!("/api/v1/tokens/{alice_token_id}")).bearer(&bob).send());
    assert_eq!(server.get("/api/v1/me").bearer(&alice).send().status, 200);

    // Nothing was counted or changed; the package still opens through its link.
    let seen = flow::package(&server, &alice, id);
    assert_eq!(seen["state"], "ready");
    assert_eq!(seen["downloads"], 0);
    let granted = flow::access(&server, id, &sent.proof(), None, None).send().expect(200).json();
    let url = flow::path_of(&server, granted["blobs"][1]["url"].as_str().unwrap());
    let blob = server.get(&url).bearer(granted["download_token"].as_str().unwrap()).send().expect(200);
    assert_eq!(blob.body, sent.blobs[1]);
}

#[test]
fn recipients_are_told_the_senders_organisation_and_its_audit_log_keeps_the_events() {
    let (server, _, bob, oost) = two_organisations();
    let sent = flow::send_blobs(
        &server,
        &bob,
        json!({ "verify": "email", "recipients": ["dora@example.org"] }),
        vec![bytes(100, 1), bytes(2000, 2)],
    );
    let card = flow::sender(&server, &sent.id, &sent.link_proof()).send().expect(200).json();
    assert_eq!(card["organisation"], "Ziekenhuis Oost");
    assert_eq!(card["sender"]["email"], "bob@oost.example");
    flow::request_code(&server, &sent.id, &sent.proof(), "dora@example.org").send().expect(202);
    let mail = server.wait_for_mail("dora@example.org", "code");
    assert!(mail.text.contains("Ziekenhuis Oost"), "{}", mail.text);

    let orgs: Vec<Option<i64>> = server
        .db()
        .rows(&format!("SELECT DISTINCT org_id FROM audit WHERE package_id = '{}'", sent.id))
        .iter()
        .map(|r| r[0].opt_int())
        .collect();
    assert_eq!(orgs, [Some(oost)], "a package's events are its organisation's");
}

#[test]
fn the_operator_adds_organisations_and_users_where_they_belong() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ok = |args: &[&str]| {
        let out = kluis_server(root, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let fails = |args: &[&str]| {
        let out = kluis_server(root, args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // The first organisation is made at first start: with one, every user goes there.
    let (_, err) = ok(&["user", "add", "alice@example.org", "--init"]);
    assert!(err.contains("alice@example.org may now sign in (Kluis)"), "{err}");

    let (id, err) = ok(&["org", "create", "Ziekenhuis Oost", "--domain", "Oost.example"]);
    assert_eq!(id.trim(), "2");
    assert!(err.contains("user add EMAIL --org 2 --admin"), "{err}");
    let (listed, _) = ok(&["org", "list"]);
    assert_eq!(listed, "1\tKluis\t-\n2\tZiekenhuis Oost\toost.example\n");
    assert!(
        fails(&["org", "create", "Kopie", "--domain", "oost.example"]).contains("already a domain of Ziekenhuis Oost")
    );
    assert!(fails(&["org", "create", "Raar", "--domain", "localhost"]).contains("is not a mail domain"));

    let (_, err) = ok(&["user", "add", "Bob@oost.example", "--admin", "--name", "Bob de Vries"]);
    assert!(err.contains("bob@oost.example may now sign in (Ziekenhuis Oost, as an admin)"), "{err}");
    // An address outside every mail domain needs the organisation named, now that there are two.
    let err = fails(&["user", "add", "carol@elsewhere.example"]);
    assert!(
        err.contains("name one with --org") && err.contains("Kluis (1)") && err.contains("Ziekenhuis Oost (2)"),
        "{err}"
    );
    let (_, err) = ok(&["user", "add", "carol@elsewhere.example", "--org", "ziekenhuis oost"]);
    assert!(err.contains("(Ziekenhuis Oost)"), "{err}");
    // An address belongs to one organisation.
    let err = fails(&["user", "add", "alice@example.org", "--org", "2"]);
    assert!(err.contains("a user of another organisation"), "{err}");
    assert!(fails(&["user", "add", "dave@example.org", "--org", "9"]).contains("There is no organisation \"9\""));
}

//! The sender card (`POST /p/{id}/sender`): a recipient who presents the
//! link proof A_L sees who sent the package before being asked for anything,
//! also for a password package without the password. A wrong proof, an
//! unknown id and the access proof in its place get the same answer; the
//! card counts nothing and mails nothing, and wrong proofs are rate-limited.

use serde_json::json;

use crate::support::flow::{self, Sent};
use crate::support::{Response, Server};

fn same_answer(a: &Response, b: &Response) {
    assert_eq!((a.status, &a.body), (b.status, &b.body), "{} / {}", a.text(), b.text());
}

#[test]
fn the_link_proof_shows_the_sender_organisation_and_files() {
    let server = Server::start(|c| c.organisation.name = "Example Org".into());
    let alice = server.token("alice@example.org");
    let blobs = vec![flow::bytes(150, 1), flow::bytes(200, 2), flow::bytes(250, 3)];
    let sent = flow::send_blobs(&server, &alice, json!({ "verify": "none" }), blobs);
    let card = flow::sender(&server, &sent.id, &sent.link_proof()).send().expect(200);
    assert_eq!(card.header("cache-control"), Some("no-store"));
    let card = card.json();
    assert_eq!(card["sender"], json!({ "email": "alice@example.org", "name": null }), "{card}");
    assert_eq!(card["organisation"], "Example Org");
    // Three blobs: the manifest and two files.
    assert_eq!(card["files"], 2);
    let sent_at = card["sent_at"].as_str().unwrap();
    let created = flow::package(&server, &alice, &sent.id)["created_at"].clone();
    assert_eq!(sent_at, created.as_str().unwrap(), "{card}");
}

#[test]
fn a_password_package_shows_its_sender_without_the_password() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none", "password": true }));
    assert!(sent.password.is_some());
    let card = flow::sender(&server, &sent.id, &sent.link_proof()).send().expect(200).json();
    assert_eq!(card["sender"]["email"], "alice@example.org");
    assert_eq!(card["files"], 1);
}

#[test]
fn a_wrong_proof_an_unknown_id_and_the_access_proof_get_the_same_answer() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "recipients": ["bob@example.org"], "verify": "email" }));
    let other = flow::send(&server, &alice, json!({ "verify": "none" }));
    // A package still uploading is no package to recipients.
    let created = flow::create_package(&server, &alice, &json!({ "verify": "none", "blobs": [{ "size": 200 }] }));
    let uploading = created.expect(201).json()["id"].as_str().unwrap().to_string();

    let unknown = flow::sender(&server, "AAAAAAAAAAAAAAAAAAAAAA", &sent.link_proof()).send();
    unknown.clone().expect_error(404, "not_found");
    let wrong: Vec<Response> = vec![
        flow::sender(&server, &sent.id, &flow::proof(&sent.id, &sent.link, None)).send(),
        flow::sender(&server, &sent.id, &other.link_proof()).send(),
        flow::sender(&server, &sent.id, &flow::link_verifier(&sent.id, &sent.link)).send(),
        flow::sender(&server, &sent.id, "AAAA").send(),
        flow::sender(&server, &sent.id, "").send(),
        flow::sender(&server, &uploading, &sent.link_proof()).send(),
        flow::sender(&server, &other.id, &sent.link_proof()).send(),
    ];
    for answer in &wrong {
        same_answer(answer, &unknown);
    }
    // Nothing was counted or mailed.
    assert_eq!(flow::package(&server, &alice, &sent.id)["downloads"], 0);
    assert!(server.outbox().is_empty(), "{:#?}", server.outbox());
    // Unknown fields are refused like everywhere else.
    let body = json!({ "link_proof": sent.link_proof(), "access_proof": sent.proof() });
    server.post(&format!("/api/v1/p/{}/sender", sent.id)).json(&body).send().expect_error(400, "invalid_json");
}

#[test]
fn the_sender_card_counts_no_download_and_unlocks_nothing_else() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let spec = json!({ "verify": "none", "max_downloads": 1, "notify_on_download": true });
    let sent = flow::send(&server, &alice, spec);
    for _ in 0..5 {
        flow::sender(&server, &sent.id, &sent.link_proof()).send().expect(200);
    }
    let seen = flow::package(&server, &alice, &sent.id);
    assert_eq!((seen["downloads"].as_i64(), seen["downloads_left"].as_i64()), (Some(0), Some(1)));
    assert!(server.outbox().is_empty(), "{:#?}", server.outbox());
    // The link proof is no access proof.
    flow::access(&server, &sent.id, &sent.link_proof(), None, None).send().expect_error(403, "wrong_link");
    flow::access(&server, &sent.id, &sent.proof(), None, None).send().expect(200);
}

#[test]
fn a_package_finalized_before_link_verifiers_shows_no_sender_and_still_opens() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none" }));
    // As migration 0004 leaves the packages finalized before it.
    assert_eq!(server.db().execute(&format!("UPDATE packages SET link_verifier = NULL WHERE id = '{}'", sent.id)), 1);
    let unknown = flow::sender(&server, "AAAAAAAAAAAAAAAAAAAAAA", &sent.link_proof()).send();
    same_answer(&flow::sender(&server, &sent.id, &sent.link_proof()).send(), &unknown);
    flow::access(&server, &sent.id, &sent.proof(), None, None).send().expect(200);
}

#[test]
fn ended_packages_get_the_answers_the_status_gives() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none" }));
    server.post(&format!("/api/v1/packages/{}/revoke", sent.id)).bearer(&alice).send().expect(200);
    server.get(&format!("/api/v1/p/{}", sent.id)).send().expect_error(410, "revoked");
    flow::sender(&server, &sent.id, &sent.link_proof()).send().expect_error(410, "revoked");
}

#[test]
fn wrong_link_proofs_are_rate_limited_per_client_and_logged_once() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent: Sent = flow::send(&server, &alice, json!({ "verify": "none" }));
    let wrong = flow::link_verifier(&sent.id, &sent.link);
    let statuses: Vec<(u16, Option<String>)> = (0..60)
        .map(|_| {
            let answer = flow::sender(&server, &sent.id, &wrong).client("192.0.2.7").send();
            (answer.status, answer.header("retry-after").map(str::to_string))
        })
        .collect();
    // The client's budget of wrong proofs: 50 an hour.
    assert_eq!(statuses.iter().filter(|(s, _)| *s == 404).count(), 50, "{statuses:?}");
    for (status, retry_after) in &statuses[50..] {
        assert_eq!(*status, 429, "{statuses:?}");
        let wait: u64 = retry_after.as_deref().expect("Retry-After").parse().unwrap();
        assert!((1..=3600).contains(&wait));
    }
    // That client is refused even with the right proof; others are not blocked (no per-package budget).
    flow::sender(&server, &sent.id, &sent.link_proof()).client("192.0.2.7").send().expect_error(429, "rate_limited");
    flow::sender(&server, &sent.id, &sent.link_proof()).client("198.51.100.20").send().expect(200);
    // Unknown ids spend the same budget.
    for _ in 0..50 {
        flow::sender(&server, "no-such-package", &sent.link_proof()).client("192.0.2.8").send().expect(404);
    }
    flow::sender(&server, "no-such-package", &sent.link_proof()).client("192.0.2.8").send().expect(429);
    let events = flow::all_events(&server, &alice, &sent.id, 100);
    let denied = events.iter().filter(|e| e["event"] == "access_denied").count();
    assert_eq!(denied, 1, "{events:#?}");
}

//! The access proof A: without the right one, `/access` and `/code` are
//! refused (403 `wrong_link`, or `wrong_password` for a package with a
//! password) before anything is counted or mailed, and repeated failures
//! are rate-limited.

use serde_json::json;

use crate::support::Server;
use crate::support::flow::{self, Sent};

/// Proofs that are not this package's: none, malformed, another link's, another package's.
fn wrong_proofs(server: &Server, token: &str, sent: &Sent) -> Vec<String> {
    let other = flow::send(server, token, json!({ "verify": "none" }));
    vec![
        String::new(),
        "not base64!".into(),
        "AAAA".into(),
        flow::proof(&sent.id, &kluis_crypto::package::LinkSecret::from_bytes([1; 32]), None),
        other.proof(),
        // A's verifier is public to the server; presenting it proves nothing.
        flow::verifier(&sent.id, &sent.link, sent.password.as_ref()),
    ]
}

#[test]
fn access_without_the_right_proof_is_refused_counts_no_download_and_sends_no_mail() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let spec = json!({ "verify": "none", "max_downloads": 1, "notify_on_download": true });
    let sent = flow::send(&server, &alice, spec);
    for proof in wrong_proofs(&server, &alice, &sent) {
        flow::access(&server, &sent.id, &proof, None, None).send().expect_error(403, "wrong_link");
    }
    let seen = flow::package(&server, &alice, &sent.id);
    assert_eq!((seen["downloads"].as_i64(), seen["downloads_left"].as_i64()), (Some(0), Some(1)));
    let status = server.get(&format!("/api/v1/p/{}", sent.id)).send().expect(200).json();
    assert_eq!(status["downloads_left"], 1);

    // The right proof opens it, once, and the first download is mailed: the only mail.
    flow::access(&server, &sent.id, &sent.proof(), None, None).send().expect(200);
    server.wait_for_mail("alice@example.org", "opened");
    assert_eq!(server.outbox().len(), 1, "{:#?}", server.outbox());
    flow::access(&server, &sent.id, &sent.proof(), None, None).send().expect_error(410, "download_limit_reached");
}

#[test]
fn a_code_is_not_mailed_without_the_right_proof() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "recipients": ["bob@example.org"], "verify": "email" }));
    for proof in wrong_proofs(&server, &alice, &sent) {
        flow::request_code(&server, &sent.id, &proof, "bob@example.org").send().expect_error(403, "wrong_link");
        flow::access(&server, &sent.id, &proof, Some("bob@example.org"), Some("123456"))
            .send()
            .expect_error(403, "wrong_link");
    }
    // The right proof gets a code mailed: the only mail.
    flow::request_code(&server, &sent.id, &sent.proof(), "bob@example.org").send().expect(202);
    let code = server.wait_for_code("bob@example.org", 1);
    assert_eq!(server.outbox().len(), 1, "{:#?}", server.outbox());
    // Neither a wrong proof with the right code…
    flow::access(&server, &sent.id, "AAAA", Some("bob@example.org"), Some(&code))
        .send()
        .expect_error(403, "wrong_link");
    assert_eq!(flow::package(&server, &alice, &sent.id)["downloads"], 0);
    // …nor did the refusals spend the code.
    flow::access(&server, &sent.id, &sent.proof(), Some("bob@example.org"), Some(&code)).send().expect(200);
    assert_eq!(flow::package(&server, &alice, &sent.id)["downloads"], 1);
}

#[test]
fn a_wrong_password_is_refused_as_such_before_a_download_is_counted() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none", "password": true, "max_downloads": 1 }));
    let status = server.get(&format!("/api/v1/p/{}", sent.id)).send().expect(200).json();
    assert_eq!(status["password"], true);
    for _ in 0..3 {
        flow::access(&server, &sent.id, &sent.proof_with_wrong_password(), None, None)
            .send()
            .expect_error(403, "wrong_password");
    }
    // Without the password at all (the link alone) it is the same answer.
    flow::access(&server, &sent.id, &flow::proof(&sent.id, &sent.link, None), None, None)
        .send()
        .expect_error(403, "wrong_password");
    assert_eq!(flow::package(&server, &alice, &sent.id)["downloads"], 0);
    flow::access(&server, &sent.id, &sent.proof(), None, None).send().expect(200);
    assert_eq!(flow::package(&server, &alice, &sent.id)["downloads"], 1);
}

#[test]
fn repeated_wrong_proofs_are_rate_limited() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none", "password": true }));
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let answer = flow::access(&server, &sent.id, &sent.proof_with_wrong_password(), None, None).send();
        statuses.push((answer.status, answer.code(), answer.header("retry-after").map(str::to_string)));
    }
    let refused = statuses.iter().take_while(|(s, _, _)| *s == 403).count();
    assert!((1..=30).contains(&refused), "{statuses:?}");
    for (status, code, retry_after) in &statuses[refused..] {
        assert_eq!((*status, code.as_str()), (429, "rate_limited"), "{statuses:?}");
        let wait: u64 = retry_after.as_deref().expect("Retry-After").parse().unwrap();
        assert!((1..=3600).contains(&wait));
    }
    assert_eq!(flow::package(&server, &alice, &sent.id)["downloads"], 0);
}

#[test]
fn wrong_proofs_from_others_do_not_block_the_real_link_of_a_package_without_password() {
    // A is 256 bits: there is nothing to guess, so no per-package budget that
    // anyone who knows the id could spend to lock the real recipient out.
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none" }));
    let wrong = flow::proof(&sent.id, &kluis_crypto::package::LinkSecret::from_bytes([7; 32]), None);
    for i in 0..60 {
        let answer = flow::access(&server, &sent.id, &wrong, None, None).client(&format!("192.0.2.{}", i + 1)).send();
        assert_eq!(answer.status, 403, "attempt {i}");
    }
    flow::access(&server, &sent.id, &sent.proof(), None, None).client("198.51.100.20").send().expect(200);
}

#[test]
fn wrong_passwords_from_many_clients_spend_the_package_budget() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none", "password": true }));
    let statuses: Vec<u16> = (0..40)
        .map(|i| {
            let proof = sent.proof_with_wrong_password();
            flow::access(&server, &sent.id, &proof, None, None).client(&format!("192.0.2.{}", i + 1)).send().status
        })
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 30, "{statuses:?}");
    assert!(statuses[30..].iter().all(|s| *s == 429), "{statuses:?}");
}

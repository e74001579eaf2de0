//! Failures cannot flood the audit log: hundreds of wrong proofs or codes
//! from one client write a handful of rows (read by the sender through the
//! package's events, page by page), and the calls that need no sign-in are
//! limited per client per minute.

use serde_json::{Value, json};

use crate::support::Server;
use crate::support::flow::{self, Sent};

fn read_events(server: &Server, token: &str, sent: &Sent) -> Vec<Value> {
    // Paged two at a time: the pages join up to what the package shows.
    let paged = flow::all_events(server, token, &sent.id, 2);
    let shown = flow::package(server, token, &sent.id);
    assert!(shown["events_next"].is_null(), "more than one page: {shown}");
    assert_eq!(&paged, shown["events"].as_array().unwrap(), "paging lost or repeated events");
    paged
}

fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["event"] == kind).count()
}

#[test]
fn two_hundred_wrong_proofs_from_one_client_write_one_audit_row() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none" }));
    let wrong = flow::proof(&sent.id, &kluis_crypto::package::LinkSecret::from_bytes([7; 32]), None);
    let mut statuses = Vec::new();
    for _ in 0..200 {
        statuses.push(flow::access(&server, &sent.id, &wrong, None, None).send().status);
    }
    assert!(statuses.iter().all(|s| [403, 429].contains(s)), "{statuses:?}");
    // No password: only the client's budget (50 an hour) limits it.
    assert!(statuses.iter().filter(|s| **s == 403).count() <= 50, "wrong proofs are not rate-limited: {statuses:?}");
    let events = read_events(&server, &alice, &sent);
    assert_eq!(count(&events, "access_denied"), 1, "{events:#?}");
    assert!(events.len() <= 6, "{} audit rows: {events:#?}", events.len());
}

#[test]
fn two_hundred_wrong_codes_from_one_client_write_a_bounded_handful_of_audit_rows() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "recipients": ["bob@example.org"], "verify": "email" }));
    let proof = sent.proof();
    // One address, 200 times.
    for _ in 0..200 {
        let answer = flow::access(&server, &sent.id, &proof, Some("bob@example.org"), Some("000000")).send();
        assert!([401, 429].contains(&answer.status), "{}", answer.text());
    }
    let events = read_events(&server, &alice, &sent);
    assert_eq!(count(&events, "verification_failed"), 1, "{events:#?}");
    assert!(events.len() <= 6, "{} audit rows: {events:#?}", events.len());

    // 200 addresses, once each: at most one row per address until the
    // package's budget (20 wrong codes) locks it, then one row for the lock.
    for i in 0..200 {
        let email = format!("guess{i}@example.org");
        let answer = flow::access(&server, &sent.id, &proof, Some(&email), Some("000000")).client("192.0.2.77").send();
        assert!([401, 429].contains(&answer.status), "{}", answer.text());
    }
    let events = read_events(&server, &alice, &sent);
    assert!(count(&events, "verification_failed") <= 20, "{events:#?}");
    assert_eq!(count(&events, "verification_locked"), 1, "{events:#?}");
    assert!(events.len() <= 26, "{} audit rows: {events:#?}", events.len());
}

#[test]
fn calls_without_sign_in_are_limited_per_client_per_minute() {
    let server = Server::start(|c| c.limits.public_requests_per_minute = 20);
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none" }));
    let status = format!("/api/v1/p/{}", sent.id);
    for _ in 0..20 {
        server.get(&status).client("192.0.2.1").send().expect(200);
    }
    for limited in [
        server.get(&status).client("192.0.2.1").send(),
        server.post("/api/v1/auth/code").client("192.0.2.1").json(&json!({ "email": "alice@example.org" })).send(),
        flow::access(&server, &sent.id, &sent.proof(), None, None).client("192.0.2.1").send(),
        flow::sender(&server, &sent.id, &sent.link_proof()).client("192.0.2.1").send(),
    ] {
        let limited = limited.expect_error(429, "rate_limited");
        let wait: u64 = limited.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
    }
    // Per client: another address is served; signed-in calls are not limited this way.
    server.get(&status).client("192.0.2.2").send().expect(200);
    server.get("/api/v1/packages").bearer(&alice).client("192.0.2.1").send().expect(200);
    assert_eq!(flow::package(&server, &alice, &sent.id)["downloads"], 0);
}

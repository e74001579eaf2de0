//! Failures cannot flood the audit log: hundreds of wrong proofs or codes
//! from one client write a handful of rows (read by the sender through the
//! package's events, page by page), and the calls that need no sign-in are
//! limited per client per minute.
//!
//! The log is hash-chained per organisation: after a normal flow (with its
//! aggregated failures) the chain is intact; a row changed, deleted or
//! moved by hand in the database (triggers dropped first, as anyone with
//! the file would) is found and named, in-process and by `kluis-server
//! audit verify`.

use serde_json::{Value, json};

use crate::support::Server;
use crate::support::db::Db;
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

/// `kluis-server audit verify` in-process: (intact, report).
fn verify(server: &Server) -> (bool, String) {
    let verdict = server.run(|state| async move { kluis_server::admin::verify_audit(&state).await.unwrap() });
    (verdict.intact, verdict.report)
}

/// The database as an attacker with the file sees it: the append-only triggers dropped.
fn tamper(server: &Server) -> Db {
    let mut db = server.db();
    db.drop_audit_triggers();
    db
}

/// The audit rows' ids and events, oldest first.
fn rows(db: &mut Db) -> Vec<(i64, String)> {
    db.rows("SELECT id, event FROM audit ORDER BY id").iter().map(|r| (r[0].int(), r[1].text())).collect()
}

/// A flow with every kind of row: sign-ins (failed and not), a package sent,
/// wrong codes (aggregated), access, a send check, a revocation.
fn normal_flow(server: &Server) {
    let alice = server.token("alice@example.org");
    server.add_user("carol@example.org");
    server.post("/api/v1/auth/code").json(&json!({ "email": "carol@example.org" })).send().expect(202);
    for _ in 0..3 {
        let answer =
            server.post("/api/v1/auth/token").json(&json!({ "email": "carol@example.org", "code": "000000" })).send();
        assert!([401, 429].contains(&answer.status), "{}", answer.text());
    }
    let sent = flow::send(server, &alice, json!({ "recipients": ["bob@example.org"], "verify": "email" }));
    for _ in 0..3 {
        let answer = flow::access(server, &sent.id, &sent.proof(), Some("bob@example.org"), Some("000000")).send();
        assert!([401, 429].contains(&answer.status), "{}", answer.text());
    }
    flow::request_code(server, &sent.id, &sent.proof(), "bob@example.org").send().expect(202);
    let code = server.wait_for_code("bob@example.org", 1);
    flow::access(server, &sent.id, &sent.proof(), Some("bob@example.org"), Some(&code)).send().expect(200);
    let other = flow::send(server, &alice, json!({ "verify": "none" }));
    let revoked = server.post(&format!("/api/v1/packages/{}/revoke", other.id)).bearer(&alice).send();
    assert!((200..300).contains(&revoked.status), "{}", revoked.text());
}

#[test]
fn the_chain_is_intact_after_a_normal_flow_with_aggregated_failures() {
    let server = Server::start(|_| {});
    normal_flow(&server);
    let (intact, report) = verify(&server);
    assert!(intact, "{report}");
    let mut db = server.db();
    let rows = rows(&mut db);
    let events: Vec<&str> = rows.iter().map(|(_, e)| e.as_str()).collect();
    for kind in ["created", "finalized", "verification_failed", "accessed", "sign_in_failed", "revoked"] {
        assert!(events.contains(&kind), "no {kind} row: {events:?}");
    }
    let first = report.lines().next().unwrap();
    assert_eq!(first, format!("audit log intact: {} rows in 1 organisation", rows.len()), "{report}");
    let last = db.rows("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1");
    let (last_id, hash) = (last[0][0].int(), last[0][1].bytes());
    assert_eq!(
        report.lines().nth(1).unwrap(),
        format!("head of organisation 1: row {last_id}, sha256 {}", hex::encode(hash)),
        "{report}"
    );
}

#[test]
fn a_row_changed_by_hand_is_named() {
    let server = Server::start(|_| {});
    normal_flow(&server);
    let mut db = tamper(&server);
    let rows = rows(&mut db);
    let (id, event) = rows.iter().find(|(_, e)| e == "verification_failed").unwrap().clone();
    assert!(id > 1 && id < rows.last().unwrap().0, "not a middle row: {id}");
    let changed = db.execute(&format!("UPDATE audit SET actor = 'client:203.0.113.9' WHERE id = {id}"));
    assert_eq!(changed, 1);
    let (intact, report) = verify(&server);
    assert!(!intact, "{report}");
    assert!(report.starts_with(&format!("audit log broken at row {id} (")), "{report}");
    assert!(report.contains(&format!(", {event}): its contents do not match its hash")), "{report}");
    assert_eq!(report.lines().count(), 1, "{report}");
}

#[test]
fn rows_deleted_in_the_middle_or_at_the_end_or_moved_are_found() {
    let server = Server::start(|_| {});
    normal_flow(&server);
    let mut db = tamper(&server);
    let all = rows(&mut db);
    assert!(all.len() >= 8, "{all:?}");

    // Two rows' contents and hashes swapped, each keeping its id: the id is hashed.
    let (a, b) = (all[2].0, all[3].0);
    let columns = "at, event, actor, package_id, detail, prev_hash, hash";
    let backup = |id: i64| format!("CREATE TABLE saved_{id} AS SELECT {columns} FROM audit WHERE id = {id}");
    db.batch(&format!("{}; {};", backup(a), backup(b)));
    let copy = |to: i64, from: i64| {
        format!("UPDATE audit SET ({columns}) = (SELECT {columns} FROM saved_{from}) WHERE id = {to};")
    };
    db.batch(&(copy(a, b) + &copy(b, a)));
    let (intact, report) = verify(&server);
    assert!(!intact && report.starts_with(&format!("audit log broken at row {a} (")), "{report}");
    db.batch(&(copy(a, a) + &copy(b, b)));
    let (intact, report) = verify(&server);
    assert!(intact, "restored: {report}");

    // A middle row deleted: the next one does not follow the one before it.
    let (gone, next, before) = (all[4].0, all[5].0, all[3].0);
    db.execute(&format!("DELETE FROM audit WHERE id = {gone}"));
    let (intact, report) = verify(&server);
    assert!(!intact, "{report}");
    assert!(report.starts_with(&format!("audit log broken at row {next} (")), "{report}");
    assert!(
        report.contains(&format!("row {next} does not follow row {before}: row(s) missing or changed before it")),
        "{report}"
    );
}

#[test]
fn the_newest_rows_deleted_are_found_and_stay_found_after_new_rows() {
    let server = Server::start(|_| {});
    normal_flow(&server);
    let mut db = tamper(&server);
    let all = rows(&mut db);
    let (kept, head) = (&all[all.len() - 3], all.last().unwrap().0);
    db.execute(&format!("DELETE FROM audit WHERE id > {}", kept.0));
    let (intact, report) = verify(&server);
    assert!(!intact, "{report}");
    assert!(report.starts_with(&format!("audit log broken after row {} (", kept.0)), "{report}");
    assert!(report.ends_with(&format!("the newest row(s) were deleted (the chain's head is row {head})")), "{report}");

    // The server goes on: its next row chains onto the recorded head, so the gap stays visible.
    let alice = server.token("alice@example.org");
    flow::send(&server, &alice, json!({ "verify": "none" }));
    let (intact, report) = verify(&server);
    assert!(!intact, "{report}");
    assert!(report.contains(&format!("does not follow row {}", kept.0)), "{report}");
}

#[test]
fn kluis_server_audit_verify_exits_0_when_intact_and_1_naming_the_broken_row() {
    let server = Server::start(|_| {});
    normal_flow(&server);
    let data = server.data_dir.to_str().unwrap().to_string();
    let cwd = server.data_dir.parent().unwrap();

    let out = crate::operator::kluis_server_beside(&server, &["--data", &data, "audit", "verify"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("audit log intact: ") && stdout.contains(" rows in 1 organisation\n"), "{stdout}");
    assert!(stdout.contains("head of organisation 1: row "), "{stdout}");
    assert!(stderr.contains(&format!("data directory: {data}\n")), "{stderr}");

    let mut db = tamper(&server);
    let (id, event) = rows(&mut db).into_iter().find(|(_, e)| e == "finalized").unwrap();
    db.execute(&format!("UPDATE audit SET at = at - 3600 WHERE id = {id}"));
    let out = crate::operator::kluis_server_beside(&server, &["--data", &data, "audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with(&format!("audit log broken at row {id} (")), "{stdout}");
    assert!(stdout.contains(&format!("Z, {event}): its contents do not match its hash\n")), "{stdout}");

    // Like the other administrative commands, it starts no new data directory unless asked.
    let out = crate::operator::kluis_server(cwd, &["--data", "nowhere", "audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Kluis data directory at"), "{out:?}");
    assert!(!cwd.join("nowhere").exists());
}

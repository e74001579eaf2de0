//! Licences and seats: evaluation seats, a licence installed by an admin or
//! the operator (every bad one refused with its reason), seats taken at the
//! first send and given or taken back by an admin (never beyond the count),
//! a licence in its grace period and one that lapsed (new sends refused;
//! what was sent still opens and can be revoked), features a licence lacks.
//!
//! Licences are signed with the test vendor key (`licence/testdata/`),
//! which this test build trusts (`test-licence-key`, a dev-dependency feature).

use kluis_licence::{Licence, SigningKey};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::support::{Response, Server, flow};

fn test_key() -> SigningKey {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../licence/testdata/test-vendor.key")).unwrap();
    SigningKey::from_text(&text).unwrap()
}

/// `YYYY-MM-DD`, `days` from today (UTC).
fn day(days: i64) -> String {
    let d = OffsetDateTime::now_utc().date() + Duration::days(days);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn licence(seats: u32, domains: &[&str], features: &[&str], from: i64, until: i64) -> Licence {
    Licence {
        format: 1,
        id: format!("L-test-{seats}-{from}-{until}"),
        key_id: String::new(),
        licensee: "Corp BV".into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        seats,
        features: features.iter().map(|f| f.to_string()).collect(),
        valid_from: day(from),
        valid_until: day(until),
        issued_at: "2026-11-27T12:00:00Z".into(),
    }
}

/// A licence of Corp (corp.example) signed with the test key.
pub(crate) fn signed(seats: u32, features: &[&str], from: i64, until: i64) -> String {
    test_key().sign(&licence(seats, &["corp.example"], features, from, until)).unwrap()
}

struct Setup {
    server: Server,
    ada: String,
}

/// Organisation Corp (corp.example) with admin ada, on a server with `evaluation_seats` seats for the unlicensed.
fn setup(evaluation_seats: u32) -> Setup {
    let server = Server::start(|c| c.licence.evaluation_seats = evaluation_seats);
    server.organisation("Corp", &["corp.example"]);
    let ada = server.admin_token("ada@corp.example");
    Setup { server, ada }
}

fn admin(server: &Server, method: &str, token: &str, path: &str, body: Option<Value>) -> Response {
    let request = server.request(method, &format!("/api/v1/admin{path}")).bearer(token);
    match body {
        Some(body) => request.json(&body).send(),
        None => request.send(),
    }
}

fn install(s: &Setup, text: &str) -> Response {
    admin(&s.server, "PUT", &s.ada, "/licence", Some(json!({ "text": text })))
}

fn send(server: &Server, token: &str) -> Response {
    flow::create_package(server, token, &json!({ "verify": "none", "blobs": [{ "size": 200 }] }))
}

fn user_id(s: &Setup, email: &str) -> i64 {
    let list = admin(&s.server, "GET", &s.ada, &format!("/users?q={email}"), None).expect(200).json();
    list["users"][0]["id"].as_i64().unwrap()
}

fn audit_events(server: &Server, like: &str) -> Vec<(String, String)> {
    let sql = format!("SELECT event, COALESCE(detail, '') FROM audit WHERE event LIKE '{like}' ORDER BY id");
    server.db().rows(&sql).iter().map(|r| (r[0].text(), r[1].text())).collect()
}

#[test]
fn seats_are_taken_at_the_first_send_and_a_licence_sets_how_many() {
    let s = setup(2);
    let server = &s.server;
    let [alice, bob, carol] = ["alice", "bob", "carol"].map(|n| server.token(&format!("{n}@corp.example")));

    let now = admin(server, "GET", &s.ada, "/licence", None).expect(200).json();
    assert_eq!(
        (now["state"].as_str(), now["seats_total"].as_u64(), now["seats_used"].as_u64()),
        (Some("evaluation"), Some(2), Some(0))
    );
    assert!(now["licence"].is_null());

    send(server, &alice).expect(201);
    send(server, &alice).expect(201);
    send(server, &bob).expect(201);
    // A request that breaks a rule takes no seat; then none is free.
    flow::create_package(server, &carol, &json!({ "verify": "none", "blobs": [] })).expect_error(400, "invalid_blobs");
    // Pages learn it before anyone picks files: /me says why, in the words the refusal has.
    let me = |token: &str| server.get("/api/v1/me").bearer(token).send().expect(200).json();
    assert!(me(&alice).get("cannot_send").is_none());
    assert_eq!(me(&alice)["licence"], json!({ "state": "evaluation", "seats_total": 2 }));
    let told = me(&carol)["cannot_send"].clone();
    let refused = send(server, &carol).expect_error(403, "no_seat");
    assert!(
        refused.text().contains("all 2 of your organisation's seats are taken. Ask ada@corp.example"),
        "{}",
        refused.text()
    );
    assert_eq!(told, refused.json()["error"]);
    assert_eq!((&told["seats"], &told["admins"]), (&json!(2), &json!(["ada@corp.example"])));
    assert_eq!(admin(server, "GET", &s.ada, "/licence", None).expect(200).json()["seats_used"], 2);
    let users = admin(server, "GET", &s.ada, "/users", None).expect(200).json();
    let seat =
        |email: &str| users["users"].as_array().unwrap().iter().find(|u| u["email"] == email).unwrap()["seat"].clone();
    assert_eq!((seat("alice@corp.example"), seat("carol@corp.example")), (json!(true), json!(false)));

    // A licence for 3 seats: carol can send.
    let view = install(&s, &signed(3, &["single-sign-on"], -10, 355)).expect(200).json();
    assert_eq!(view["state"], "valid");
    assert_eq!((view["seats_total"].as_u64(), view["seats_used"].as_u64()), (Some(3), Some(2)));
    assert_eq!(view["licence"]["licensee"], "Corp BV");
    assert_eq!(view["licence"]["installed_by"], "user:ada@corp.example");
    assert_eq!(view["features"], json!(["single-sign-on"]));
    send(server, &carol).expect(201);

    // Full: an admin cannot give a fourth seat, but can move one.
    let dave = server.token("dave@corp.example");
    let (dave_id, carol_id) = (user_id(&s, "dave@corp.example"), user_id(&s, "carol@corp.example"));
    admin(server, "PATCH", &s.ada, &format!("/users/{dave_id}"), Some(json!({ "seat": true })))
        .expect_error(400, "no_seats_left");
    let taken = admin(server, "PATCH", &s.ada, &format!("/users/{carol_id}"), Some(json!({ "seat": false })))
        .expect(200)
        .json();
    assert_eq!(taken["seat"], false);
    let given =
        admin(server, "PATCH", &s.ada, &format!("/users/{dave_id}"), Some(json!({ "seat": true }))).expect(200).json();
    assert_eq!(given["seat"], true);
    send(server, &dave).expect(201);
    send(server, &carol).expect_error(403, "no_seat");

    // A disabled user's seat is free again (and carol takes it at her next send).
    let alice_id = user_id(&s, "alice@corp.example");
    admin(server, "PATCH", &s.ada, &format!("/users/{alice_id}"), Some(json!({ "state": "disabled" }))).expect(200);
    send(server, &carol).expect(201);

    let events: Vec<String> = audit_events(server, "seat_%").into_iter().map(|(e, d)| format!("{e}: {d}")).collect();
    assert_eq!(
        events,
        [
            "seat_assigned: alice@corp.example took a free seat at their first send",
            "seat_assigned: bob@corp.example took a free seat at their first send",
            "seat_assigned: carol@corp.example took a free seat at their first send",
            "seat_released: ada@corp.example took the seat of carol@corp.example",
            "seat_assigned: ada@corp.example gave a seat to dave@corp.example",
            "seat_assigned: carol@corp.example took a free seat at their first send",
        ]
    );
    let installed = audit_events(server, "licence_installed");
    assert!(installed[0].1.starts_with("licence L-test-3-"), "{installed:?}");
}

#[test]
fn every_bad_licence_is_refused_with_its_reason_and_only_admins_install() {
    let s = setup(5);
    let at = |text: &str, code: &str, says: &str| {
        let answer = install(&s, text).expect_error(400, code).json();
        let message = answer["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains(says), "{code}: {message}");
    };
    at("hello", "licence_malformed", "no line");
    let good = signed(5, &[], -1, 30);
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    lines.truncate(lines.len() - 1);
    at(&lines.join("\n"), "licence_malformed", "missing");
    // One character of the signed bytes changed (the headers do not count).
    let body_line = good.lines().position(|l| l.is_empty()).unwrap() + 2;
    let mut changed: Vec<String> = good.lines().map(str::to_string).collect();
    let flipped: String = changed[body_line]
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 10 { if c == 'A' { 'B' } else { 'A' } } else { c })
        .collect();
    changed[body_line] = flipped;
    at(&changed.join("\n"), "licence_bad_signature", "signature does not match");
    let stranger =
        SigningKey::generate("someone-else").unwrap().sign(&licence(5, &["corp.example"], &[], -1, 30)).unwrap();
    at(&stranger, "licence_unknown_key", "\"someone-else\"");
    at(&signed(5, &[], -30, -1), "licence_expired", &format!("its last day was {}", day(-1)));
    at(&signed(5, &[], 2, 30), "licence_not_yet_valid", &format!("valid from {}", day(2)));
    let other = test_key().sign(&licence(5, &["elsewhere.example"], &[], -1, 30)).unwrap();
    at(&other, "licence_other_organisation", "elsewhere.example");
    assert!(audit_events(&s.server, "licence_installed").is_empty(), "nothing was installed");

    // Pasted from a reply: installed.
    let quoted: String = good.lines().map(|l| format!("> {l}\r\n")).collect();
    install(&s, &format!("Dear customer,\r\n\r\n{quoted}\r\nKind regards")).expect(200);

    // Not by a user, nor another organisation's admin (for whom it is another organisation's).
    let alice = s.server.token("alice@corp.example");
    admin(&s.server, "PUT", &alice, "/licence", Some(json!({ "text": good }))).expect_error(403, "forbidden");
    admin(&s.server, "GET", &alice, "/licence", None).expect_error(403, "forbidden");
    s.server.organisation("Other", &["other.example"]);
    let otto = s.server.admin_token("otto@other.example");
    admin(&s.server, "PUT", &otto, "/licence", Some(json!({ "text": good })))
        .expect_error(400, "licence_other_organisation");
    assert_eq!(admin(&s.server, "GET", &otto, "/licence", None).expect(200).json()["state"], "evaluation");
}

/// Writes a licence into the database as if installed earlier (install refuses ended ones).
pub(crate) fn installed_earlier(server: &Server, text: &str) {
    let mut db = server.db();
    let org = db.value("SELECT id FROM organisation WHERE name = 'Corp'").int();
    assert!(!text.contains('\''), "licence text is written into the statement");
    db.execute(&format!(
        "INSERT INTO licences (org_id, text, installed_at, installed_by) VALUES ({org}, '{text}', 0, 'system')
         ON CONFLICT (org_id) DO UPDATE SET text = excluded.text, installed_at = 0, installed_by = 'system'"
    ));
}

#[test]
fn after_its_end_a_licence_gives_grace_then_stops_new_sends_only() {
    let s = setup(5);
    let server = &s.server;
    let alice = server.token("alice@corp.example");
    install(&s, &signed(5, &[], -300, 10)).expect(200);
    let view = admin(server, "GET", &s.ada, "/licence", None).expect(200).json();
    assert_eq!((view["state"].as_str(), view["days_left"].as_i64()), (Some("ends_soon"), Some(10)));
    let sent = flow::send(server, &alice, json!({ "verify": "none" }));

    // Ended yesterday: 14 days of grace (the default), sending still works.
    installed_earlier(server, &signed(5, &[], -300, -1));
    let view = admin(server, "GET", &s.ada, "/licence", None).expect(200).json();
    assert_eq!((view["state"].as_str(), view["days_left"].as_i64()), (Some("grace"), Some(13)));
    let me = server.get("/api/v1/me").bearer(&alice).send().expect(200).json();
    assert_eq!(me["licence"], json!({ "state": "grace", "days_left": 13, "seats_total": 5 }));
    send(server, &alice).expect(201);

    // Past the grace period: new sends stop, with a sentence saying what still works.
    installed_earlier(server, &signed(5, &[], -300, -15));
    assert_eq!(admin(server, "GET", &s.ada, "/licence", None).expect(200).json()["state"], "lapsed");
    let refused = send(server, &alice).expect_error(403, "licence_lapsed");
    assert!(refused.text().contains("can still be opened and revoked"), "{}", refused.text());
    let me = server.get("/api/v1/me").bearer(&alice).send().expect(200).json();
    assert_eq!((me["licence"]["state"].as_str(), &me["cannot_send"]), (Some("lapsed"), &refused.json()["error"]));
    // What was sent still opens, and its sender can revoke it; the admin still reads the log.
    flow::access(server, &sent.id, &sent.proof(), None, None).send().expect(200);
    let revoked = server.post(&format!("/api/v1/packages/{}/revoke", sent.id)).bearer(&alice).send().expect(200);
    assert_eq!(revoked.json()["state"], "revoked");
    admin(server, "GET", &s.ada, "/audit", None).expect(200);

    // A row changed by hand is no licence (evaluation), never more seats.
    let mut forged = signed(5, &[], -300, 300);
    forged = forged.replace("Seats: 5", "Seats: 500");
    let (head, body) = forged.split_once("\n\n").unwrap();
    installed_earlier(server, &format!("{head}\n\n{}", body.replacen('A', "B", 1)));
    assert_eq!(admin(server, "GET", &s.ada, "/licence", None).expect(200).json()["state"], "evaluation");
}

/// Runs the janitor's licence warning round now; answers how many organisations were warned.
fn warn(server: &Server) -> usize {
    server.run(|state| async move { kluis_server::admin::warn_about_licences(&state).await.unwrap() })
}

#[test]
fn admins_are_warned_before_the_end_when_grace_begins_and_when_sending_stops_each_once() {
    let s = setup(5);
    let server = &s.server;
    let _ben = server.admin_token("ben@corp.example");
    let _user = server.token("user@corp.example");
    let warnings = |to: &str| server.mail_to(to).into_iter().filter(|m| m.subject.contains("Kluis licence")).count();

    // Far from its end: nothing.
    install(&s, &signed(5, &[], -10, 200)).expect(200);
    warn(server);
    assert_eq!(warnings("ada@corp.example"), 0);

    // 20 days left: the 30-day warning, to every admin and no one else, once.
    installed_earlier(server, &signed(5, &[], -10, 20));
    warn(server);
    assert_eq!(warn(server), 0, "warned once");
    let first = server.wait_for_mail("ben@corp.example", "ends in 21 days");
    assert!(first.text.contains("valid until") && first.text.contains("14 more days"), "{}", first.text);
    assert!(first.text.contains("nothing is deleted"), "{}", first.text);
    server.wait_for_mail("ada@corp.example", "ends in 21 days");
    assert_eq!(warnings("user@corp.example"), 0);

    // A server that was down from then until after the end sends only the latest: grace.
    installed_earlier(server, &signed(5, &[], -100, -3));
    warn(server);
    server.wait_for_mail("ada@corp.example", "sending stops in 12 days");
    assert_eq!(warnings("ada@corp.example"), 2);

    // Then when sending stops; and a new licence starts its warnings afresh.
    installed_earlier(server, &signed(5, &[], -100, -20));
    warn(server);
    server.wait_for_mail("ada@corp.example", "has lapsed: nothing new can be sent");
    installed_earlier(server, &signed(5, &[], -1, 3));
    warn(server);
    assert_eq!(warn(server), 0, "warned once");
    server.wait_for_mail("ada@corp.example", "ends in 4 days");
    assert_eq!(warnings("ada@corp.example"), 4);
    let logged: Vec<String> = audit_events(server, "licence_warning").into_iter().map(|(_, d)| d).collect();
    assert_eq!(logged.len(), 4, "{logged:?}");
    assert!(logged[0].starts_with("warned 2 admins: licence L-test-5-"), "{logged:?}");
}

#[test]
fn a_feature_the_licence_lacks_is_refused_with_a_message() {
    let s = setup(5);
    install(&s, &signed(5, &["smtp-relay"], -1, 30)).expect(200);
    let sso = json!({ "issuer": "https://login.example", "client_id": "kluis", "client_secret": "s" });
    let refused = admin(&s.server, "PUT", &s.ada, "/sso", Some(sso)).expect_error(403, "feature_not_licensed");
    assert!(refused.text().contains("does not include single-sign-on"), "{}", refused.text());
    // Upload requests and portals are the upload-portal feature.
    let portal = json!({ "name": "intake", "receivers": ["ada@corp.example"] });
    admin(&s.server, "POST", &s.ada, "/portals", Some(portal)).expect_error(400, "invalid_receivers");
    let request = s.server.post("/api/v1/requests").bearer(&s.ada).json(&json!({})).send();
    request.expect_error(409, "no_key");
    let identity = kluis_crypto::x25519::Identity::generate().unwrap();
    let wrap = kluis_crypto::scrypt::Recipient::new("a long passphrase".to_string().into());
    let wrapped = kluis_crypto::encrypt_armored(&[&wrap], identity.to_secret_string().as_bytes()).unwrap();
    let key = json!({ "recipient": identity.to_public().to_string(), "wrapped": wrapped });
    s.server.request("PUT", "/api/v1/key").bearer(&s.ada).json(&key).send().expect(200);
    let request = s.server.post("/api/v1/requests").bearer(&s.ada).json(&json!({})).send();
    let refused = request.expect_error(403, "feature_not_licensed");
    assert!(refused.text().contains("does not include upload-portal"), "{}", refused.text());
    let portal = json!({ "name": "intake", "receivers": ["ada@corp.example"] });
    admin(&s.server, "POST", &s.ada, "/portals", Some(portal)).expect_error(403, "feature_not_licensed");
}

#[test]
fn the_operator_installs_a_licence_for_the_organisation_it_names_and_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| crate::operator::kluis_server(dir.path(), args);
    assert!(run(&["org", "create", "Corp", "--domain", "corp.example", "--init"]).status.success());
    let file = dir.path().join("corp.licence");
    std::fs::write(&file, signed(25, &["single-sign-on"], -1, 200)).unwrap();

    let installed = run(&["licence", "install", file.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&installed.stdout);
    assert!(installed.status.success(), "{}", String::from_utf8_lossy(&installed.stderr));
    assert!(out.starts_with("Corp: licence L-test-25-"), "{out}");
    assert!(out.contains(&format!("valid until {}", day(200))) && out.contains("seats: 0 of 25 taken"), "{out}");
    assert!(out.contains("installed by system"), "{out}");

    let shown = String::from_utf8_lossy(&run(&["licence", "show"]).stdout).into_owned();
    assert!(shown.contains("Kluis: evaluation (no licence): seats: 0 of 5 taken"), "{shown}");
    assert!(shown.contains("Corp: licence L-test-25-"), "{shown}");

    std::fs::write(&file, signed(25, &[], -30, -2)).unwrap();
    let refused = run(&["licence", "install", file.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("licence expired: its last day was"), "{refused:?}");
}

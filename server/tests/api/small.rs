//! Smaller findings: ranges to the end of `u64`, malformed recipient bodies,
//! API tokens (expiry when unused, sessions that end; each user lists and revokes only their
//! own), and the data directory's permissions.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::db::Db;
use crate::support::flow::{self, bytes};
use crate::support::{Response, Server};

#[test]
fn a_range_to_the_largest_u64_is_served_as_the_whole_blob_with_206() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none" }));
    let granted = flow::access(&server, &sent.id, &sent.proof(), None, None).send().expect(200).json();
    let token = granted["download_token"].as_str().unwrap();
    let blob = &sent.blobs[1];
    let n = blob.len();
    let url = flow::path_of(&server, granted["blobs"][1]["url"].as_str().unwrap());
    let get = |range: &str| server.get(&url).bearer(token).header("Range", range).send();

    let whole = get("bytes=0-18446744073709551615").expect(206);
    assert_eq!(whole.header("content-range"), Some(format!("bytes 0-{}/{n}", n - 1).as_str()));
    assert_eq!(&whole.body, blob);
    // Past u64 too, from an offset.
    let tail = get("bytes=10-99999999999999999999999999").expect(206);
    assert_eq!(tail.header("content-range"), Some(format!("bytes 10-{}/{n}", n - 1).as_str()));
    assert_eq!(tail.body, blob[10..]);
    // Not satisfiable: 416 with the length; nonsense: the whole blob.
    let past = get(&format!("bytes={n}-")).expect(416);
    assert_eq!(past.header("content-range"), Some(format!("bytes */{n}").as_str()));
    assert_eq!(&get("bytes=5-4").expect(200).body, blob);
}

#[track_caller]
fn expect_json_400(answer: Response, what: &str) {
    assert_eq!(answer.status, 400, "{what}: {}", answer.text());
    assert_eq!(answer.header("content-type"), Some("application/json"), "{what}");
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"));
    assert_eq!(body["error"]["code"], "invalid_json", "{what}: {body}");
    assert!(!body["error"]["message"].as_str().unwrap_or_default().is_empty(), "{what}: {body}");
}

#[test]
fn malformed_recipient_bodies_are_a_400_json_error_not_an_empty_answer() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "recipients": ["bob@example.org"], "verify": "email" }));
    let proof = sent.proof();
    let huge = format!("{{\"access_proof\":\"{}\"}}", "A".repeat(20_000));
    let bodies: [(&str, &str, String); 9] = [
        ("empty", "application/json", String::new()),
        ("cut off", "application/json", "{\"access_proof\":".into()),
        ("an array", "application/json", "[]".into()),
        ("null", "application/json", "null".into()),
        ("a number for the proof", "application/json", "{\"access_proof\":5}".into()),
        ("no proof", "application/json", "{\"email\":\"bob@example.org\"}".into()),
        ("an unknown field", "application/json", format!("{{\"access_proof\":\"{proof}\",\"admin\":true}}")),
        ("not JSON by its type", "text/plain", format!("{{\"access_proof\":\"{proof}\"}}")),
        ("larger than 16 KiB", "application/json", huge),
    ];
    for path in ["access", "code"] {
        for (what, content_type, body) in &bodies {
            let answer = server
                .post(&format!("/api/v1/p/{}/{path}", sent.id))
                .header("Content-Type", *content_type)
                .body(body.clone())
                .send();
            expect_json_400(answer, &format!("/{path} with {what}"));
        }
    }
    assert_eq!(flow::package(&server, &alice, &sent.id)["downloads"], 0);
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The caller's tokens as `GET /tokens` lists them.
fn unix(rfc3339: &Value) -> i64 {
    let text = rfc3339.as_str().expect("a time");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap().unix_timestamp()
}

fn tokens(server: &Server, token: &str) -> Vec<Value> {
    server.get("/api/v1/tokens").bearer(token).send().expect(200).json()["tokens"].as_array().unwrap().clone()
}

/// The id of the token a request is made with.
fn own_id(server: &Server, token: &str) -> i64 {
    tokens(server, token).iter().find(|t| t["current"] == true).expect("the current token is listed")["id"]
        .as_i64()
        .unwrap()
}

fn me(server: &Server, token: &str) -> u16 {
    server.get("/api/v1/me").bearer(token).send().status
}

#[test]
fn api_tokens_stop_working_after_token_expiry_days_unused() {
    let server = Server::start(|c| c.limits.token_expiry_days = 1);
    let stale = server.token("alice@example.org");
    let recent = server.token("alice@example.org");
    let never_used = server.token("alice@example.org");
    let (stale_id, recent_id) = (own_id(&server, &stale), own_id(&server, &recent));
    let listed = tokens(&server, &recent);
    let never_used_id =
        listed.iter().map(|t| t["id"].as_i64().unwrap()).find(|id| ![stale_id, recent_id].contains(id)).unwrap();

    // The server has no clock to turn, so its record of when each token was
    // made and last used is moved back in the database instead.
    let mut db = server.db();
    let age = |db: &mut Db, id: i64, hours: i64| {
        let at = now() - hours * 3600;
        let changed =
            db.execute(&format!("UPDATE api_tokens SET created_at = {at}, last_used_at = {at} WHERE id = {id}"));
        assert_eq!(changed, 1);
    };
    age(&mut db, stale_id, 25);
    age(&mut db, recent_id, 23);
    db.execute(&format!(
        "UPDATE api_tokens SET created_at = {}, last_used_at = NULL WHERE id = {never_used_id}",
        now() - 25 * 3600
    ));

    assert_eq!(me(&server, &stale), 401, "a token unused for more than a day still works");
    assert_eq!(me(&server, &never_used), 401, "a token made more than a day ago and never used still works");
    assert_eq!(me(&server, &recent), 200, "a token used within the day stopped working");
    // Using it renewed it; the expired ones are not listed.
    let listed = tokens(&server, &recent);
    assert_eq!(listed.iter().map(|t| t["id"].as_i64().unwrap()).collect::<Vec<_>>(), [recent_id]);
    age(&mut db, recent_id, 23);
    assert_eq!(me(&server, &recent), 200, "still within the day");
}

#[test]
fn a_sign_in_lasts_session_days_on_its_device_and_is_listed_until_then() {
    let server = Server::start(|c| c.limits.session_days = 2);
    server.add_user("carol@example.org");
    server.post("/api/v1/auth/code").json(&json!({ "email": "carol@example.org" })).send().expect(202);
    let code = server.wait_for_code("carol@example.org", 1);
    let answer = server
        .post("/api/v1/auth/token")
        .json(&json!({ "email": "carol@example.org", "code": code, "label": "Web browser (Firefox on Linux)" }))
        .send()
        .expect(200)
        .json();
    let session = answer["token"].as_str().unwrap().to_string();
    let operator = server.token("carol@example.org");

    let listed = tokens(&server, &session);
    let mine = listed.iter().find(|t| t["current"] == true).unwrap();
    assert_eq!(mine["label"], "Web browser (Firefox on Linux)");
    let expires = unix(&mine["expires_at"]);
    assert!((expires - (now() + 2 * 86_400)).abs() < 60, "a 2-day session ends in 2 days, not {}", expires - now());
    let other = listed.iter().find(|t| t["current"] == false).unwrap();
    let idle = unix(&other["expires_at"]);
    assert!(idle - now() > 80 * 86_400, "an operator's token ends only when unused for 90 days");

    // Being used does not stretch a session: one signed in more than 2 days ago has ended.
    let id = mine["id"].as_i64().unwrap();
    server.db().execute(&format!("UPDATE api_tokens SET expires_at = {} WHERE id = {id}", now() - 1));
    assert_eq!(me(&server, &session), 401, "a session past its end still works");
    assert_eq!(me(&server, &operator), 200);
    let listed = tokens(&server, &operator);
    assert!(listed.iter().all(|t| t["id"].as_i64() != Some(id)), "an ended session is still listed");
}

#[test]
fn users_list_and_revoke_only_their_own_tokens() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let alice_two = server.token("alice@example.org");
    let bob = server.token("bob@example.org");
    let (alice_id, alice_two_id, bob_id) =
        (own_id(&server, &alice), own_id(&server, &alice_two), own_id(&server, &bob));

    let listed = tokens(&server, &alice);
    let mut ids: Vec<i64> = listed.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, [alice_id, alice_two_id]);
    assert_eq!(listed.iter().filter(|t| t["current"] == true).count(), 1);
    assert_eq!(tokens(&server, &bob).len(), 1);

    // Another user's token is "not found", and keeps working.
    server.delete(&format!("/api/v1/tokens/{bob_id}")).bearer(&alice).send().expect_error(404, "not_found");
    assert_eq!(me(&server, &bob), 200);
    server.delete("/api/v1/tokens/999999").bearer(&alice).send().expect_error(404, "not_found");
    server.delete("/api/v1/tokens/abc").bearer(&alice).send().expect(404);

    // One's own: revoked at once; again is "not found".
    server.delete(&format!("/api/v1/tokens/{alice_two_id}")).bearer(&alice).send().expect(204);
    assert_eq!(me(&server, &alice_two), 401);
    server.delete(&format!("/api/v1/tokens/{alice_two_id}")).bearer(&alice).send().expect_error(404, "not_found");
    assert_eq!(tokens(&server, &alice).len(), 1);
    server.post("/api/v1/auth/logout").bearer(&alice).send().expect(204);
    assert_eq!(me(&server, &alice), 401);
    server.get("/api/v1/tokens").send().expect_error(401, "unauthorized");
    assert_eq!(me(&server, &bob), 200);
}

/// Every directory under `dir` (and itself) is 0700, every file 0600; returns the files.
#[cfg(unix)]
fn check_private(dir: &Path, files: &mut Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{} is {mode:o}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            check_private(&path, files);
        } else {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
            files.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
}

#[cfg(unix)]
#[test]
fn the_data_directory_is_0700_and_the_database_blobs_and_outbox_files_are_0600() {
    let server = Server::start(|c| {
        c.blob_store = "fs".into();
        c.data_dir = "new/nested/data".into();
    });
    let alice = server.token("alice@example.org");
    // A finished package, an upload under way, and mail.
    let sent = flow::send(&server, &alice, json!({ "recipients": ["bob@example.org"], "verify": "email" }));
    let spec = json!({ "verify": "none", "blobs": [{ "size": 500 }] });
    let unfinished = flow::create_package(&server, &alice, &spec).expect(201).json();
    let upload = flow::new_upload(&server, &alice, unfinished["id"].as_str().unwrap(), 0, 500);
    flow::patch(&server, &alice, &upload, 0, &bytes(200, 3)).expect(204);
    flow::request_code(&server, &sent.id, &sent.proof(), "bob@example.org").send().expect(202);
    server.wait_for_code("bob@example.org", 1);

    let mut files = Vec::new();
    check_private(&server.data_dir, &mut files);
    // On PostgreSQL the database is not in the data directory.
    let database: &[&str] = if crate::support::db::on_postgres() { &[] } else { &["kluis.db", "kluis.db-wal"] };
    for expected in [database, &["secret.key", "0", "1"]].concat() {
        assert!(files.iter().any(|f| f == expected), "no {expected} in {files:?}");
    }
    assert!(files.iter().any(|f| f.ends_with(".part")), "no upload part in {files:?}");
    assert!(files.iter().any(|f| f.ends_with(".eml")), "no mail in {files:?}");
}

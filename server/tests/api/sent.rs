//! Sent items (`GET /sent`, and `activity` in `GET /packages/{id}`): per
//! recipient address what it did (code asked for, opened, files read to
//! their end), known by its verification; without verification only the
//! package's opens. Paged, newest first; only the caller's own packages.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::Server;
use crate::support::flow::{self, Sent};

fn sent_page(server: &Server, token: &str, query: &str) -> Value {
    server.get(&format!("/api/v1/sent{query}")).bearer(token).send().expect(200).json()
}

/// The activity of package `id` as the first page of the sent list shows it.
fn listed(server: &Server, token: &str, id: &str) -> Value {
    let page = sent_page(server, token, "?limit=100");
    let found = page["packages"].as_array().unwrap().iter().find(|p| p["id"] == id).cloned();
    found.unwrap_or_else(|| panic!("{id} not in {page}"))["activity"].clone()
}

fn recipient<'a>(activity: &'a Value, email: &str) -> &'a Value {
    let all = activity["recipients"].as_array().unwrap();
    all.iter().find(|r| r["email"] == email).unwrap_or_else(|| panic!("{email} not in {activity}"))
}

/// Opens the package (with a code for `email` when given); the access answer.
fn open(server: &Server, sent: &Sent, email: Option<&str>, code: Option<&str>) -> Value {
    flow::access(server, &sent.id, &sent.proof(), email, code).send().expect(200).json()
}

/// Reads these blobs to their end with an access answer's session.
fn download(server: &Server, sent: &Sent, granted: &Value, blobs: &[u32]) {
    let token = granted["download_token"].as_str().unwrap();
    for &idx in blobs {
        let url = granted["blobs"][idx as usize]["url"].as_str().unwrap();
        let body = server.get(&flow::path_of(server, url)).bearer(token).send().expect(200);
        assert_eq!(body.body, sent.blobs[idx as usize]);
    }
}

#[test]
fn each_recipient_goes_from_code_requested_to_opened_to_downloaded() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let blobs = vec![flow::bytes(150, 1), flow::bytes(200, 2), flow::bytes(250, 3)];
    let spec = json!({ "recipients": ["bob@example.org", "carol@example.org"], "verify": "email" });
    let sent = flow::send_blobs(&server, &alice, spec, blobs);

    // Nothing yet: both recipients listed, nothing done.
    let a = listed(&server, &alice, &sent.id);
    assert_eq!(
        (a["opens"].as_i64(), a["files_downloaded"].as_i64(), &a["all_files"]),
        (Some(0), Some(0), &json!(false))
    );
    for email in ["bob@example.org", "carol@example.org"] {
        let r = recipient(&a, email);
        assert!(r["code_requested_at"].is_null() && r["opened_at"].is_null(), "{r}");
        assert_eq!((r["downloads"].as_i64(), &r["all_files"]), (Some(0), &json!(false)));
    }

    // Bob asks for a code: code requested, not opened.
    flow::request_code(&server, &sent.id, &sent.proof(), "bob@example.org").send().expect(202);
    let code = server.wait_for_code("bob@example.org", 1);
    let a = listed(&server, &alice, &sent.id);
    let bob = recipient(&a, "bob@example.org");
    assert!(bob["code_requested_at"].is_string() && bob["opened_at"].is_null(), "{bob}");
    assert!(recipient(&a, "carol@example.org")["code_requested_at"].is_null());

    // Bob opens and reads the manifest and one of the two files.
    let granted = open(&server, &sent, Some("bob@example.org"), Some(&code));
    download(&server, &sent, &granted, &[0, 1]);
    let a = listed(&server, &alice, &sent.id);
    let bob = recipient(&a, "bob@example.org");
    assert!(bob["opened_at"].is_string(), "{bob}");
    let counts = |r: &Value| (r["opens"].as_i64(), r["downloads"].as_i64(), r["files_downloaded"].as_i64());
    assert_eq!(counts(bob), (Some(1), Some(1), Some(1)));
    assert_eq!(bob["all_files"], false);
    assert_eq!(
        (a["opens"].as_i64(), a["files_downloaded"].as_i64(), &a["all_files"]),
        (Some(1), Some(1), &json!(false))
    );

    // Then both files, the first one again: every file, three downloads.
    download(&server, &sent, &granted, &[1, 2]);
    let a = listed(&server, &alice, &sent.id);
    let bob = recipient(&a, "bob@example.org");
    assert_eq!(counts(bob), (Some(1), Some(3), Some(2)));
    assert_eq!((&bob["all_files"], &a["all_files"]), (&json!(true), &json!(true)));

    // Carol did nothing; the detail view tells the same as the list.
    let detail = flow::package(&server, &alice, &sent.id);
    assert_eq!(detail["activity"], listed(&server, &alice, &sent.id));
    let carol = recipient(&detail["activity"], "carol@example.org");
    assert!(carol["code_requested_at"].is_null() && carol["opened_at"].is_null());
    assert_eq!(carol["downloads"], 0);
}

#[test]
fn a_package_without_verification_shows_its_opens() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none", "recipients": ["bob@example.org"] }));
    let granted = open(&server, &sent, None, None);
    download(&server, &sent, &granted, &[0, 1]);
    open(&server, &sent, None, None);
    let a = listed(&server, &alice, &sent.id);
    assert_eq!(a["opens"], 2, "{a}");
    assert!(a["first_opened_at"].is_string() && a["last_opened_at"].is_string(), "{a}");
    assert_eq!((a["files_downloaded"].as_i64(), &a["all_files"]), (Some(1), &json!(true)));
    // Bob is listed but nothing is known of him: nobody proved who they were.
    let bob = recipient(&a, "bob@example.org");
    assert!(bob["opened_at"].is_null(), "{bob}");
    assert_eq!((bob["opens"].as_i64(), bob["downloads"].as_i64()), (Some(0), Some(0)));
}

#[test]
fn another_users_packages_never_appear() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let dave = server.token("dave@example.org");
    let oost = server.organisation("Ziekenhuis Oost", &["oost.example"]);
    assert!(oost > 0);
    let bob = server.token("bob@oost.example");
    let sent = flow::send(&server, &alice, json!({ "verify": "none", "recipients": ["bob@oost.example"] }));
    flow::send(&server, &dave, json!({ "verify": "none" }));
    let alice_page = sent_page(&server, &alice, "");
    assert_eq!(alice_page["packages"].as_array().unwrap().len(), 1);
    assert_eq!(alice_page["packages"][0]["id"], sent.id.as_str());
    for other in [&dave, &bob] {
        let page = sent_page(&server, other, "");
        assert!(page["packages"].as_array().unwrap().iter().all(|p| p["id"] != sent.id.as_str()), "{page}");
        server.get(&format!("/api/v1/packages/{}", sent.id)).bearer(other).send().expect_error(404, "not_found");
    }
    assert_eq!(sent_page(&server, &bob, "")["packages"], json!([]));
    server.get("/api/v1/sent").send().expect_error(401, "unauthorized");
}

#[test]
fn the_list_is_paged_newest_first_without_gaps_or_repeats() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let mut ids = BTreeSet::new();
    for _ in 0..5 {
        ids.insert(flow::send(&server, &alice, json!({ "verify": "none" })).id);
    }
    // A package still uploading is listed too, as such.
    let created = flow::create_package(&server, &alice, &json!({ "verify": "none", "blobs": [{ "size": 200 }] }));
    ids.insert(created.expect(201).json()["id"].as_str().unwrap().to_string());

    let mut seen = Vec::new();
    let mut query = "?limit=2".to_string();
    let mut pages = 0;
    loop {
        let page = sent_page(&server, &alice, &query);
        pages += 1;
        let packages = page["packages"].as_array().unwrap();
        assert!(packages.len() <= 2, "{page}");
        seen.extend(packages.iter().map(|p| {
            (p["created_at"].as_str().unwrap().to_string(), p["id"].as_str().unwrap().to_string(), p["state"].clone())
        }));
        match page["next"].as_str() {
            Some(next) => query = format!("?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 6);
    assert_eq!(seen.iter().map(|s| s.1.clone()).collect::<BTreeSet<_>>(), ids, "every package once");
    // Newest first (ties by id, descending).
    for pair in seen.windows(2) {
        assert!((&pair[0].0, &pair[0].1) > (&pair[1].0, &pair[1].1), "{pair:?}");
    }
    assert_eq!(seen.iter().filter(|s| s.2 == "uploading").count(), 1);

    // Limits are clamped; cursors that no page gave are refused.
    assert_eq!(sent_page(&server, &alice, "?limit=0")["packages"].as_array().unwrap().len(), 1);
    assert_eq!(sent_page(&server, &alice, "?limit=1000")["packages"].as_array().unwrap().len(), 6);
    for bad in ["x", "12", "1.a%20b", "-5.abc"] {
        server.get(&format!("/api/v1/sent?cursor={bad}")).bearer(&alice).send().expect_error(400, "invalid_cursor");
    }
    server.get("/api/v1/sent?page=2").bearer(&alice).send().expect_error(400, "invalid_query");
}

#[test]
fn a_revoked_package_stays_listed_as_revoked() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none", "max_downloads": 3 }));
    server.post(&format!("/api/v1/packages/{}/revoke", sent.id)).bearer(&alice).send().expect(200);
    let page = sent_page(&server, &alice, "");
    assert_eq!(page["packages"][0]["state"], "revoked");
    assert_eq!(page["packages"][0]["downloads_left"], 3);
}

#[test]
fn the_sent_page_is_served_at_sent() {
    let server = Server::start(|_| {});
    let page = server.get("/sent").send().expect(200);
    assert!(page.header("content-type").is_some_and(|t| t.starts_with("text/html")));
    assert!(page.text().contains("/js/pages/sent.js"), "{}", page.text());
}

//! The admin API: only an organisation's admins, only their organisation.
//! Users (add, search and page, change, disable — their tokens stop at once
//! —, remove, import from CSV with a report), the organisation's packages
//! (metadata only, revoke any), its audit log (filters, paging, CSV for
//! Excel in English and Dutch, the hash chain's state), its name and mail
//! domains, and its figures.

use serde_json::{Value, json};

use crate::support::flow;
use crate::support::{Response, Server};

/// A server where the first organisation ("Kluis") has admin ada and user
/// alice, and "Ziekenhuis Oost" (oost.example) has admin otto and user bob.
struct Setup {
    server: Server,
    ada: String,
    alice: String,
    otto: String,
    bob: String,
}

fn setup() -> Setup {
    let server = Server::start(|_| {});
    let ada = server.admin_token("ada@example.org");
    let alice = server.token("alice@example.org");
    server.organisation("Ziekenhuis Oost", &["oost.example"]);
    let otto = server.admin_token("otto@oost.example");
    let bob = server.token("bob@oost.example");
    Setup { server, ada, alice, otto, bob }
}

fn get(server: &Server, token: &str, path: &str) -> Response {
    server.get(&format!("/api/v1/admin{path}")).bearer(token).send()
}

fn call(server: &Server, method: &str, token: &str, path: &str, body: Option<Value>) -> Response {
    let request = server.request(method, &format!("/api/v1/admin{path}")).bearer(token);
    match body {
        Some(body) => request.json(&body).send(),
        None => request.send(),
    }
}

fn users(server: &Server, token: &str, query: &str) -> Vec<Value> {
    get(server, token, &format!("/users?{query}")).expect(200).json()["users"].as_array().unwrap().clone()
}

fn emails(list: &[Value]) -> Vec<&str> {
    list.iter().map(|u| u["email"].as_str().unwrap()).collect()
}

fn user_id(server: &Server, admin: &str, email: &str) -> i64 {
    users(server, admin, &format!("q={email}&state=all"))[0]["id"].as_i64().unwrap()
}

fn me(server: &Server, token: &str) -> u16 {
    server.get("/api/v1/me").bearer(token).send().status
}

#[test]
fn only_admins_of_the_organisation_reach_the_admin_api() {
    let Setup { server, ada, alice, otto, bob } = setup();
    let paths = ["/users", "/packages", "/audit", "/audit.csv", "/audit/verify", "/organisation", "/overview"];
    for path in paths {
        get(&server, &alice, path).expect_error(403, "forbidden");
        get(&server, &bob, path).expect_error(403, "forbidden");
        server.get(&format!("/api/v1/admin{path}")).send().expect_error(401, "unauthorized");
        get(&server, &ada, path).expect(200);
    }
    call(&server, "POST", &alice, "/users", Some(json!({ "email": "x@example.org" }))).expect_error(403, "forbidden");

    // Each admin sees and changes only their own organisation.
    assert_eq!(emails(&users(&server, &ada, "state=all")), ["ada@example.org", "alice@example.org"]);
    assert_eq!(emails(&users(&server, &otto, "state=all")), ["bob@oost.example", "otto@oost.example"]);
    let alice_id = user_id(&server, &ada, "alice@example.org");
    get(&server, &otto, &format!("/users/{alice_id}")).expect_error(404, "not_found");
    call(&server, "PATCH", &otto, &format!("/users/{alice_id}"), Some(json!({ "state": "disabled" })))
        .expect_error(404, "not_found");
    call(&server, "DELETE", &otto, &format!("/users/{alice_id}"), None).expect_error(404, "not_found");
    assert_eq!(me(&server, &alice), 200, "another organisation's admin disabled alice");

    let sent = flow::send(&server, &alice, json!({ "verify": "none" }));
    let listed = get(&server, &otto, "/packages").expect(200).json();
    assert_eq!(listed["packages"].as_array().unwrap().len(), 0, "{listed}");
    call(&server, "POST", &otto, &format!("/packages/{}/revoke", sent.id), None).expect_error(404, "not_found");
    let audit = get(&server, &otto, "/audit?limit=200").expect(200).json();
    let foreign = audit["entries"].as_array().unwrap().iter().any(|e| e["package_id"] == sent.id.as_str());
    assert!(!foreign, "another organisation's rows in the audit log: {audit}");
    let csv = get(&server, &otto, "/audit.csv").expect(200).text();
    assert!(!csv.contains(&sent.id), "{csv}");
    assert_eq!(get(&server, &otto, "/overview").expect(200).json()["packages_this_month"], 0);
    assert_eq!(get(&server, &ada, "/overview").expect(200).json()["packages_this_month"], 1);
}

#[test]
fn admins_add_search_page_change_disable_and_remove_users() {
    let Setup { server, ada, alice, .. } = setup();
    let added = call(&server, "POST", &ada, "/users", Some(json!({ "email": " Carol@Example.org ", "name": "Carol" })))
        .expect(201)
        .json();
    assert_eq!(
        (added["email"].as_str(), added["role"].as_str(), added["state"].as_str()),
        (Some("carol@example.org"), Some("user"), Some("active"))
    );
    call(&server, "POST", &ada, "/users", Some(json!({ "email": "carol@example.org" }))).expect(200);
    call(&server, "POST", &ada, "/users", Some(json!({ "email": "not an address" })))
        .expect_error(400, "invalid_email");
    call(&server, "POST", &ada, "/users", Some(json!({ "email": "bob@oost.example" })))
        .expect_error(400, "user_elsewhere");
    for i in 0..5 {
        call(&server, "POST", &ada, "/users", Some(json!({ "email": format!("user{i}@example.org") }))).expect(201);
    }

    // Search by address or name; pages by address.
    assert_eq!(emails(&users(&server, &ada, "q=carol")), ["carol@example.org"]);
    assert_eq!(emails(&users(&server, &ada, "q=Car")), ["carol@example.org"]);
    assert_eq!(emails(&users(&server, &ada, "q=%25")), Vec::<&str>::new(), "% is a character, not a wildcard");
    let first = get(&server, &ada, "/users?limit=3").expect(200).json();
    assert_eq!(
        emails(first["users"].as_array().unwrap()),
        ["ada@example.org", "alice@example.org", "carol@example.org"]
    );
    let next = first["next"].as_str().unwrap();
    let second = get(&server, &ada, &format!("/users?limit=3&after={next}")).expect(200).json();
    assert_eq!(
        emails(second["users"].as_array().unwrap()),
        ["user0@example.org", "user1@example.org", "user2@example.org"]
    );

    // Disabling stops their tokens at once; enabling lets them sign in again (old tokens stay revoked).
    let alice_id = user_id(&server, &ada, "alice@example.org");
    let path = format!("/users/{alice_id}");
    let changed = call(&server, "PATCH", &ada, &path, Some(json!({ "state": "disabled" }))).expect(200).json();
    assert_eq!(changed["state"], "disabled");
    assert_eq!(me(&server, &alice), 401, "a disabled user's token still works");
    assert_eq!(emails(&users(&server, &ada, "state=disabled")), ["alice@example.org"]);
    assert!(!emails(&users(&server, &ada, "")).contains(&"alice@example.org"));
    call(&server, "PATCH", &ada, &path, Some(json!({ "state": "active", "role": "admin", "name": "Alice" })))
        .expect(200);
    assert_eq!(me(&server, &alice), 401);
    let again = server.token("alice@example.org");
    assert_eq!(get(&server, &again, "/users").status, 200, "alice is an admin now");

    // An admin cannot lock themselves out.
    let ada_id = user_id(&server, &ada, "ada@example.org");
    call(&server, "PATCH", &ada, &format!("/users/{ada_id}"), Some(json!({ "state": "disabled" })))
        .expect_error(400, "own_account");
    call(&server, "PATCH", &ada, &format!("/users/{ada_id}"), Some(json!({ "role": "user" })))
        .expect_error(400, "own_account");
    call(&server, "DELETE", &ada, &format!("/users/{ada_id}"), None).expect_error(400, "own_account");

    // Removed: gone from every list, token refused, and the audit log still names them.
    let carol = server.token("carol@example.org");
    let carol_id = user_id(&server, &ada, "carol@example.org");
    call(&server, "DELETE", &ada, &format!("/users/{carol_id}"), None).expect(204);
    assert_eq!(me(&server, &carol), 401);
    assert!(!emails(&users(&server, &ada, "state=all")).contains(&"carol@example.org"));
    let audit = get(&server, &ada, "/audit?event=user_removed").expect(200).json();
    assert_eq!(audit["entries"][0]["detail"], "carol@example.org");
    assert_eq!(audit["entries"][0]["actor"], "user:ada@example.org");
}

#[test]
fn a_csv_import_takes_what_it_can_and_reports_each_line_it_refused() {
    let Setup { server, ada, .. } = setup();
    let csv = "\u{feff}E-mail;Naam;Rol\r\n\
               dirk@example.org;Dirk Jansen;gebruiker\r\n\
               eva@example.org;\"Eva; de Vries\";beheerder\r\n\
               niet-een-adres;X;gebruiker\r\n\
               fred@example.org;Fred;koning\r\n\
               dirk@example.org;Dirk;\r\n\
               bob@oost.example;Bob;\r\n\
               \r\n\
               alice@example.org;Alice Updated;admin\r\n";
    let report = server
        .post("/api/v1/admin/users.csv")
        .bearer(&ada)
        .header("Content-Type", "text/csv")
        .body(csv.as_bytes().to_vec())
        .send()
        .expect(200)
        .json();
    assert_eq!(report["added"], 2, "{report}");
    assert_eq!(report["updated"], 1, "{report}");
    let refused: Vec<(i64, &str)> = report["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_i64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(refused, [(4, "invalid_email"), (5, "invalid_role"), (6, "duplicate"), (7, "user_elsewhere")]);
    let eva = &users(&server, &ada, "q=eva")[0];
    assert_eq!((eva["name"].as_str(), eva["role"].as_str()), (Some("Eva; de Vries"), Some("admin")));
    // An existing user of the organisation takes name and role from the file.
    let alice = &users(&server, &ada, "q=alice")[0];
    assert_eq!((alice["name"].as_str(), alice["role"].as_str()), (Some("Alice Updated"), Some("admin")));

    // A comma file with an English header, and a file that is not UTF-8.
    let report = server
        .post("/api/v1/admin/users.csv")
        .bearer(&ada)
        .body(b"email,name,role\ngreta@example.org,Greta,user\n".to_vec())
        .send()
        .expect(200)
        .json();
    assert_eq!(report["added"], 1);
    server
        .post("/api/v1/admin/users.csv")
        .bearer(&ada)
        .body(vec![0xff, 0xfe, 0x00])
        .send()
        .expect_error(400, "invalid_csv");
}

#[test]
fn admins_see_package_metadata_only_and_revoke_any_package() {
    let Setup { server, ada, alice, .. } = setup();
    let sent = flow::send_blobs(
        &server,
        &alice,
        json!({ "verify": "none", "recipients": ["x@client.example"] }),
        vec![flow::bytes(100, 1), flow::bytes(1000, 2), flow::bytes(2000, 3)],
    );
    let listed = get(&server, &ada, "/packages").expect(200).json();
    let package = &listed["packages"][0];
    assert_eq!(package["id"], sent.id.as_str());
    assert_eq!(package["sender"], "alice@example.org");
    assert_eq!(package["recipients"], json!(["x@client.example"]));
    assert_eq!(package["files"], 2);
    let stored: u64 = sent.blobs.iter().map(|b| b.len() as u64).sum();
    assert_eq!(package["bytes"], stored);
    let text = listed.to_string();
    for secret in ["server_share", "access_verifier", "link_verifier", "download_token"] {
        assert!(!text.contains(secret), "an admin sees {secret}: {text}");
    }

    call(&server, "POST", &ada, &format!("/packages/{}/revoke", sent.id), None).expect(204);
    flow::access(&server, &sent.id, &sent.proof(), None, None).send().expect_error(410, "revoked");
    let events = get(&server, &ada, &format!("/audit?package={}&event=revoked", sent.id)).expect(200).json();
    assert_eq!(events["entries"][0]["actor"], "user:ada@example.org");
    // Paging, newest first.
    for _ in 0..3 {
        flow::send(&server, &alice, json!({ "verify": "none" }));
    }
    let first = get(&server, &ada, "/packages?limit=2").expect(200).json();
    let next = first["next"].as_str().unwrap();
    let rest = get(&server, &ada, &format!("/packages?limit=10&before={next}")).expect(200).json();
    let mut ids: Vec<&str> = first["packages"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["packages"].as_array().unwrap())
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "a package on two pages");
}

#[test]
fn the_audit_log_filters_pages_exports_for_excel_and_reports_its_chain() {
    let Setup { server, ada, alice, .. } = setup();
    let sent = flow::send(&server, &alice, json!({ "verify": "email", "recipients": ["rita@client.example"] }));
    flow::request_code(&server, &sent.id, &sent.proof(), "rita@client.example").send().expect(202);
    flow::access(&server, &sent.id, &sent.proof(), Some("rita@client.example"), Some("000000")).send();
    // A detail that Excel would run as a formula, were it not made text.
    call(&server, "POST", &ada, "/users", Some(json!({ "email": "=1+1@example.org" }))).expect(201);

    let by_alice = get(&server, &ada, "/audit?user=alice@example.org").expect(200).json();
    assert!(by_alice["entries"].as_array().unwrap().iter().all(|e| e["actor"] == "user:alice@example.org"));
    let by_rita = get(&server, &ada, "/audit?recipient=Rita@client.example").expect(200).json();
    let kinds: Vec<&str> =
        by_rita["entries"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["verification_failed", "verification_sent"], "newest first");
    let today = time::OffsetDateTime::now_utc().date();
    let tomorrow = today.next_day().unwrap();
    let in_range =
        get(&server, &ada, &format!("/audit?from={today}&to={tomorrow}&package={}", sent.id)).expect(200).json();
    assert!(!in_range["entries"].as_array().unwrap().is_empty());
    let before = get(&server, &ada, &format!("/audit?to={today}")).expect(200).json();
    assert!(before["entries"].as_array().unwrap().is_empty(), "{before}");
    get(&server, &ada, "/audit?from=yesterday").expect_error(400, "invalid_query");
    let page = get(&server, &ada, "/audit?limit=2").expect(200).json();
    let next = page["next"].as_i64().unwrap();
    let older = get(&server, &ada, &format!("/audit?limit=2&before={next}")).expect(200).json();
    assert!(older["entries"][0]["id"].as_i64().unwrap() < next);

    let english = get(&server, &ada, "/audit.csv").expect(200);
    assert_eq!(english.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(english.header("content-disposition").unwrap().contains("kluis-audit-log.csv"));
    assert!(english.body.starts_with(b"\xEF\xBB\xBF"), "Excel needs the BOM to read UTF-8");
    let text = english.text();
    let text = text.trim_start_matches('\u{feff}');
    assert!(text.starts_with("Time (UTC),Event,Who,Package,Detail,Row\r\n"), "{text}");
    assert!(text.contains("'=1+1"), "a formula left live: {text}");
    let dutch = get(&server, &ada, "/audit.csv?lang=nl&event=created").expect(200).text();
    let mut lines = dutch.trim_start_matches('\u{feff}').lines();
    assert_eq!(lines.next(), Some("Tijd (UTC);Gebeurtenis;Wie;Pakket;Details;Regel"));
    let row: Vec<&str> = lines.next().unwrap().split(';').collect();
    assert_eq!((row[1], row[2], row[3]), ("created", "user:alice@example.org", sent.id.as_str()));
    assert!(
        time::PrimitiveDateTime::parse(
            row[0],
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")
        )
        .is_ok(),
        "{}",
        row[0]
    );

    let check = get(&server, &ada, "/audit/verify").expect(200).json();
    assert_eq!(check["intact"], true, "{check}");
    assert!(check["rows"].as_u64().unwrap() >= 5);
    assert_eq!(check["head"].as_str().unwrap().len(), 64);
    // A row changed by hand (the triggers dropped first, as whoever holds the file could) shows.
    let mut db = server.db();
    db.drop_audit_triggers();
    db.execute(&format!(
        "UPDATE audit SET detail = 'nothing to see' WHERE event = 'created' AND package_id = '{}'",
        sent.id
    ));
    let check = get(&server, &ada, "/audit/verify").expect(200).json();
    assert_eq!(check["intact"], false);
    assert!(check["first_break"].as_str().unwrap().contains("created"), "{check}");
}

#[test]
fn admins_rename_their_organisation_and_set_its_mail_domains() {
    let Setup { server, ada, otto, .. } = setup();
    let org = get(&server, &ada, "/organisation").expect(200).json();
    assert_eq!(org["name"], "Kluis");
    let changed = call(
        &server,
        "PUT",
        &ada,
        "/organisation",
        Some(json!({ "name": "Advocaten Noord", "domains": ["Example.org", "noord.example", "example.org"] })),
    )
    .expect(200)
    .json();
    assert_eq!(changed["domains"], json!(["example.org", "noord.example"]));
    assert_eq!(server.get("/api/v1/me").bearer(&ada).send().json()["organisation"], "Advocaten Noord");
    call(&server, "PUT", &ada, "/organisation", Some(json!({ "name": "X", "domains": ["oost.example"] })))
        .expect_error(400, "domain_taken");
    call(&server, "PUT", &otto, "/organisation", Some(json!({ "name": " ", "domains": [] })))
        .expect_error(400, "invalid_name");
    assert_eq!(get(&server, &otto, "/organisation").expect(200).json()["domains"], json!(["oost.example"]));
}

#[test]
fn an_organisations_settings_set_expiry_within_the_servers_and_how_long_its_audit_log_is_kept() {
    let Setup { server, ada, alice, otto, bob } = setup();
    let settings = json!({ "default_expiry_days": 3, "max_expiry_days": 10, "audit_retention_days": 1 });
    let org = call(
        &server,
        "PUT",
        &ada,
        "/organisation",
        Some(json!({ "name": "Kluis", "domains": [], "settings": settings })),
    )
    .expect(200)
    .json();
    assert_eq!(org["settings"], settings);
    for bad in [
        json!({ "max_expiry_days": 31 }),
        json!({ "default_expiry_days": 11, "max_expiry_days": 10 }),
        json!({ "audit_retention_days": 0 }),
    ] {
        let body = json!({ "name": "Kluis", "domains": [], "settings": bad });
        let answer = call(&server, "PUT", &ada, "/organisation", Some(body));
        assert_eq!(answer.status, 400, "{bad} was taken");
    }
    // Senders of the organisation get its expiry; another organisation keeps the server's.
    let policy = |token: &str| server.get("/api/v1/policy").bearer(token).send().expect(200).json()["send"].clone();
    assert_eq!(
        (policy(&alice)["default_expiry_days"].as_u64(), policy(&alice)["max_expiry_days"].as_u64()),
        (Some(3), Some(10))
    );
    assert_eq!(
        (policy(&bob)["default_expiry_days"].as_u64(), policy(&bob)["max_expiry_days"].as_u64()),
        (Some(7), Some(30))
    );
    let sent = flow::send(&server, &alice, json!({ "verify": "none" }));
    let shown = flow::package(&server, &alice, &sent.id);
    let days = |a: &Value, b: &Value| {
        let t = |v: &Value| {
            time::OffsetDateTime::parse(v.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
        };
        (t(b) - t(a)).whole_days()
    };
    assert_eq!(days(&shown["created_at"], &shown["expires_at"]), 3);
    flow::create_package(
        &server,
        &alice,
        &json!({ "blobs": [{ "size": 100 }], "verify": "none", "expires_in_days": 11 }),
    )
    .expect_error(400, "invalid_expiry");

    // Retention: a sweep two days on deletes this organisation's rows (kept 1 day), not the other's;
    // the chain still verifies from its anchor, and the deletion is itself a row.
    let otto_rows_before =
        get(&server, &otto, "/audit?limit=200").expect(200).json()["entries"].as_array().unwrap().len();
    let later = time::OffsetDateTime::now_utc().unix_timestamp() + 2 * 86_400;
    let deleted = server
        .run(move |state| async move { kluis_server::admin::sweep_audit_retention(&state, later).await.unwrap() });
    assert!(deleted >= 3, "deleted {deleted}");
    let rows = get(&server, &ada, "/audit?limit=200").expect(200).json();
    let kinds: Vec<&str> = rows["entries"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["audit_pruned"], "{rows}");
    assert!(rows["entries"][0]["detail"].as_str().unwrap().contains("older than 1 days deleted"));
    let otto_rows = get(&server, &otto, "/audit?limit=200").expect(200).json()["entries"].as_array().unwrap().len();
    assert_eq!(otto_rows, otto_rows_before, "another organisation's rows went");
    assert_eq!(get(&server, &ada, "/audit/verify").expect(200).json()["intact"], true);
    flow::send(&server, &alice, json!({ "verify": "none" }));
    assert_eq!(get(&server, &ada, "/audit/verify").expect(200).json()["intact"], true, "new rows follow the anchor");
    // Other deletes are still refused.
    assert!(
        server.db().try_execute("DELETE FROM audit WHERE event = 'audit_pruned'").is_err(),
        "a kept row was deleted"
    );
}

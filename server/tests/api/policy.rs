//! The organisation's policy: readable without signing in (the send check
//! runs before anyone signs in to the add-in), from any origin; its send
//! rules enforced at package creation; verdicts recorded in the audit log
//! as kinds and counts, never content.

use serde_json::json;

use crate::support::Server;
use crate::support::flow;

#[test]
fn the_policy_is_readable_without_sign_in_and_from_any_origin() {
    let server = Server::start(|c| {
        c.policy.content.mode = kluis_policy::Mode::Require;
        c.policy.content.internal_domains = vec!["example.org".into()];
        c.policy.require_password = true;
        c.limits.max_expiry_days = 42;
    });
    let answer = server.get("/api/v1/policy").send();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    let policy = answer.json();
    assert_eq!(policy["content"]["mode"], "require");
    assert_eq!(policy["content"]["internal_domains"], json!(["example.org"]));
    assert_eq!(policy["send"]["require_password"], true);
    assert_eq!(policy["send"]["include_message"], true);
    assert_eq!(policy["send"]["max_expiry_days"], 42);
    // What it says is what the crate reads.
    let parsed: kluis_protocol::api::PolicyView = serde_json::from_value(policy).unwrap();
    assert_eq!(parsed.content.mode, kluis_policy::Mode::Require);
}

#[test]
fn the_send_rules_are_enforced_when_a_package_is_created() {
    let server = Server::start(|c| {
        c.policy.require_verification = true;
        c.policy.require_password = true;
    });
    let alice = server.token("alice@example.org");
    let spec = |verify: &str, password: bool| json!({ "recipients": ["bob@example.net"], "verify": verify, "password": password, "blobs": [{ "size": 200 }] });
    let open = flow::create_package(&server, &alice, &spec("none", true));
    assert_eq!((open.status, open.code()), (400, "policy_verification".to_string()), "{}", open.text());
    let no_password = flow::create_package(&server, &alice, &spec("email", false));
    assert_eq!((no_password.status, no_password.code()), (400, "policy_password".to_string()));
    assert_eq!(flow::create_package(&server, &alice, &spec("email", true)).status, 201);
}

#[test]
fn a_verdict_is_recorded_with_kinds_and_counts_for_the_senders_own_package_only() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let mallory = server.token("mallory@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none" }));
    let report = json!({
        "source": "send_check",
        "action": "block",
        "outcome": "secured",
        "findings": [
            { "kind": "bsn", "confidence": "high", "count": 2 },
            { "kind": "keywords", "list": "medical", "confidence": "medium", "count": 3 },
        ],
        "package_id": sent.id,
    });
    // Signed in only; someone else's package is not found.
    assert_eq!(server.post("/api/v1/policy/verdicts").json(&report).send().status, 401);
    assert_eq!(server.post("/api/v1/policy/verdicts").bearer(&mallory).json(&report).send().status, 404);
    let recorded = server.post("/api/v1/policy/verdicts").bearer(&alice).json(&report).send();
    assert_eq!(recorded.status, 204, "{}", recorded.text());
    assert_eq!(recorded.header("access-control-allow-origin"), Some("*"));

    let events = flow::all_events(&server, &alice, &sent.id, 50);
    let checked: Vec<_> = events.iter().filter(|e| e["event"] == "send_checked").collect();
    assert_eq!(checked.len(), 1, "{events:#?}");
    assert_eq!(checked[0]["actor"], "user:alice@example.org");
    let detail: serde_json::Value = serde_json::from_str(checked[0]["detail"].as_str().unwrap()).unwrap();
    assert_eq!(
        detail,
        json!({ "source": "send_check", "action": "block", "outcome": "secured", "findings": ["bsn:high×2", "keywords/medical:medium×3"] })
    );

    // Malformed reports are refused, not half-recorded.
    for bad in [
        json!({ "source": "send_check", "action": "block", "outcome": "blocked", "findings": [], "text": "BSN 111222333" }),
        json!({ "source": "elsewhere", "action": "block", "outcome": "blocked" }),
        json!({ "source": "send_check", "action": "block", "outcome": "blocked", "findings": vec![json!({ "kind": "bsn", "confidence": "high", "count": 1 }); 33] }),
    ] {
        let refused = server.post("/api/v1/policy/verdicts").bearer(&alice).json(&bad).send();
        assert_eq!(refused.status, 400, "{bad}: {}", refused.text());
    }
}

#[test]
fn a_relay_verdict_names_its_triggers_and_sender_and_says_the_relay_saw_the_plaintext() {
    let server = Server::start(|_| {});
    let relay = server.token("relay@example.org");
    let sent = flow::send(&server, &relay, json!({ "verify": "none" }));
    let report = json!({
        "source": "relay",
        "action": "block",
        "outcome": "secured",
        "findings": [{ "kind": "iban", "confidence": "high", "count": 1 }],
        "triggers": ["subject_keyword", "sender", "subject_keyword"],
        "sender": "Alice@Example.org",
        "reference": "019ac4e2f3a1b7c9d2e4f6a8b0c1d2e3",
        "package_id": sent.id,
    });
    let recorded = server.post("/api/v1/policy/verdicts").bearer(&relay).json(&report).send();
    assert_eq!(recorded.status, 204, "{}", recorded.text());
    let events = flow::all_events(&server, &relay, &sent.id, 50);
    let checked: Vec<_> = events.iter().filter(|e| e["event"] == "send_checked").collect();
    assert_eq!(checked.len(), 1, "{events:#?}");
    assert_eq!(checked[0]["actor"], "user:relay@example.org");
    let detail: serde_json::Value = serde_json::from_str(checked[0]["detail"].as_str().unwrap()).unwrap();
    assert_eq!(
        detail,
        json!({
            "source": "relay", "action": "block", "outcome": "secured", "findings": ["iban:high×1"],
            "triggers": ["subject_keyword", "sender"], "sender": "alice@example.org",
            "reference": "019ac4e2f3a1b7c9d2e4f6a8b0c1d2e3",
            "note": "secured by relay: the relay saw the plaintext",
        })
    );

    // The relay's fields belong to relay verdicts, and are checked.
    let relay_fields_elsewhere =
        json!({ "source": "web", "action": "allow", "outcome": "sent", "sender": "alice@example.org" });
    let bad_sender = json!({ "source": "relay", "action": "allow", "outcome": "sent", "sender": "not an address" });
    let bad_reference = json!({ "source": "relay", "action": "allow", "outcome": "sent", "reference": "../../etc" });
    let bad_trigger = json!({ "source": "relay", "action": "allow", "outcome": "sent", "triggers": ["moon_phase"] });
    for (bad, code) in [
        (relay_fields_elsewhere, "invalid_verdict"),
        (bad_sender, "invalid_verdict"),
        (bad_reference, "invalid_verdict"),
        (bad_trigger, "invalid_json"),
    ] {
        let refused = server.post("/api/v1/policy/verdicts").bearer(&relay).json(&bad).send();
        assert_eq!((refused.status, refused.code()), (400, code.to_string()), "{bad}: {}", refused.text());
    }
}

#[test]
fn the_verdict_preflight_allows_a_bearer_token_from_another_origin() {
    let server = Server::start(|_| {});
    let answer = server
        .request("OPTIONS", "/api/v1/policy/verdicts")
        .header("Origin", "https://outlook.office.com")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization, content-type")
        .send();
    assert_eq!(answer.status, 204);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert!(answer.header("access-control-allow-headers").unwrap().contains("authorization"));
}

/// Organisation Corp (corp.example) with admin ada; its user alice; another organisation's user otto.
fn organisation() -> (Server, String, String, String) {
    let server = Server::start(|_| {});
    server.organisation("Corp", &["corp.example"]);
    server.organisation("Other", &["other.example"]);
    let ada = server.admin_token("ada@corp.example");
    let alice = server.token("alice@corp.example");
    let otto = server.token("otto@other.example");
    (server, ada, alice, otto)
}

fn admin_policy(server: &Server, token: &str) -> serde_json::Value {
    server.get("/api/v1/admin/policy").bearer(token).send().expect(200).json()
}

fn save(server: &Server, token: &str, version: u64, policy: serde_json::Value) -> crate::support::Response {
    server
        .request("PUT", "/api/v1/admin/policy")
        .bearer(token)
        .json(&json!({ "version": version, "policy": policy }))
        .send()
}

#[test]
fn each_rule_of_the_organisations_policy_is_refused_by_the_server_with_its_message() {
    let (server, ada, alice, otto) = organisation();
    let policy = json!({
        "send": {
            "allowed_domains": ["klant.nl", "corp.example"],
            "blocked_domains": ["extern.klant.nl"],
            "blocked_file_types": [".EXE", "js"],
            "max_package_bytes": 5000,
            "max_downloads": 3,
            "verification": "external",
            "password_required": true,
            "message": "always"
        }
    });
    save(&server, &ada, 0, policy).expect(200);
    let good = json!({
        "recipients": ["jan@klant.nl"], "verify": "email", "password": true, "max_downloads": 3,
        "file_types": ["pdf"], "message": true, "blobs": [{ "size": 200 }, { "size": 1000 }]
    });
    let with = |change: serde_json::Value| {
        let mut spec = good.clone();
        for (k, v) in change.as_object().unwrap() {
            spec[k] = v.clone();
        }
        flow::create_package(&server, &alice, &spec)
    };
    let cases = [
        (
            json!({ "recipients": ["a@extern.klant.nl"] }),
            "policy_domain_blocked",
            "does not allow sending to extern.klant.nl",
        ),
        (json!({ "recipients": ["a@gmail.com"] }), "policy_domain_not_allowed", "gmail.com is not one of them"),
        (json!({ "file_types": ["pdf", "exe"] }), "policy_file_type", "files of type exe"),
        (json!({ "blobs": [{ "size": 200 }, { "size": 4900 }] }), "policy_too_large", "at most 5000 bytes"),
        (json!({ "max_downloads": null }), "policy_downloads", "download limit of at most 3"),
        (json!({ "max_downloads": 4 }), "policy_downloads", "download limit of at most 3"),
        (json!({ "verify": "none" }), "policy_verification", "confirm their address with a code"),
        (json!({ "password": false }), "policy_password", "a password on every package"),
        (json!({ "message": false }), "policy_message", "the message text in the package"),
    ];
    for (change, code, words) in cases {
        let refused = with(change.clone()).expect_error(400, code);
        assert!(refused.message().contains(words), "{change}: {}", refused.message());
    }
    let refused = with(json!({ "file_types": ["exe"] })).json();
    assert_eq!(
        (&refused["error"]["rule"], &refused["error"]["file_type"]),
        (&json!("file_type_blocked"), &json!("exe"))
    );
    with(json!({})).expect(201);
    // Internal recipients need no code under "external"; the organisation's own domain is internal.
    with(json!({ "recipients": ["bob@corp.example"], "verify": "none" })).expect(201);

    // Another organisation keeps the server's policy; clients read their own.
    flow::create_package(
        &server,
        &otto,
        &json!({ "recipients": ["a@gmail.com"], "verify": "none", "blobs": [{ "size": 200 }] }),
    )
    .expect(201);
    let view = server.get("/api/v1/policy").bearer(&alice).send().expect(200).json();
    assert_eq!((view["version"].as_u64(), &view["rules"]["blocked_file_types"]), (Some(1), &json!(["exe", "js"])));
    assert_eq!(view["content"]["internal_domains"], json!(["corp.example"]));
    assert_eq!(view["send"]["require_password"], true);
    let parsed: kluis_protocol::api::PolicyView = serde_json::from_value(view).unwrap();
    assert_eq!(parsed.document().send.max_downloads, Some(3));
    assert_eq!(server.get("/api/v1/policy").bearer(&otto).send().expect(200).json()["version"], 0);
}

#[test]
fn admins_save_versions_of_the_policy_and_each_change_is_audited_with_what_changed() {
    let (server, ada, alice, otto_user) = organisation();
    let now = admin_policy(&server, &ada);
    assert_eq!(now["policy"]["version"], 0);
    assert!(now.get("saved_by").is_none());

    let mut policy = now["policy"].clone();
    policy["send"]["blocked_domains"] = json!(["Gmail.com"]);
    let saved = save(&server, &ada, 0, policy.clone()).expect(200).json();
    assert_eq!(saved["policy"]["version"], 1);
    assert_eq!(saved["policy"]["send"]["blocked_domains"], json!(["gmail.com"]), "normalised");
    assert_eq!(
        saved["changes"],
        json!([{ "field": "send.blocked_domains", "before": "[]", "after": "[\"gmail.com\"]" }])
    );

    // Saving what is there changes nothing and makes no version.
    let same = save(&server, &ada, 1, saved["policy"].clone()).expect(200).json();
    assert_eq!((same["policy"]["version"].as_u64(), same["changes"].as_array().map(Vec::len)), (Some(1), Some(0)));

    // Another admin edited version 0 meanwhile: refused, nothing lost.
    let ben = server.admin_token("ben@corp.example");
    let mut stale = policy.clone();
    stale["content"]["mode"] = json!("require");
    save(&server, &ben, 0, stale).expect_error(409, "policy_changed");

    let mut second = saved["policy"].clone();
    second["content"]["mode"] = json!("require");
    second["send"]["password_required"] = json!(true);
    save(&server, &ben, 1, second).expect(200);
    let versions = server.get("/api/v1/admin/policy/versions").bearer(&ada).send().expect(200).json();
    let versions = versions["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        (versions[0]["version"].as_u64(), versions[0]["saved_by"].as_str()),
        (Some(2), Some("user:ben@corp.example"))
    );
    let fields: Vec<&str> =
        versions[0]["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["content.mode", "send.password_required"]);
    assert_eq!(versions[1]["changes"][0]["field"], "send.blocked_domains");

    let audit = server.get("/api/v1/admin/audit?event=policy_changed").bearer(&ada).send().expect(200).json();
    let details: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().map(|e| e["detail"].as_str().unwrap()).collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(details.iter().any(|d| d.starts_with("version 2: content.mode: \"advise\" → \"require\"")), "{details:?}");

    // Bad documents are refused precisely; users and other organisations' admins cannot touch it.
    let mut bad = admin_policy(&server, &ada)["policy"].clone();
    bad["send"]["blocked_domains"] = json!(["not a domain"]);
    let refused = save(&server, &ada, 2, bad).expect_error(400, "invalid_policy");
    assert!(refused.message().contains("\"not a domain\" is not a mail domain"), "{}", refused.message());
    let mut bad = admin_policy(&server, &ada)["policy"].clone();
    bad["send"]["max_downloads"] = json!(0);
    save(&server, &ada, 2, bad).expect_error(400, "invalid_policy");
    server.get("/api/v1/admin/policy").bearer(&alice).send().expect(403);
    let other_admin = server.admin_token("oscar@other.example");
    assert_eq!(admin_policy(&server, &other_admin)["policy"]["version"], 0);
    let _ = otto_user;
}

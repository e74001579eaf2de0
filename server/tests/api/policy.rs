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

//! Post-quantum user keys (issue 14; docs/architecture.md §3, "Post-quantum
//! recipients"; docs/inbound.md): an `age1pq1…` key is kept like an X25519
//! one, upload requests, replies and packages to colleagues work with it,
//! and a portal whose receivers have keys of both kinds takes nothing
//! (`409 portal_mixed_keys`) and says so to its admins.

use kluis_crypto::x25519;
use serde_json::json;

use crate::inbound::{Key, PASSPHRASE, create_request, deliver, deliver_to_all, put_key, sealed, start_or_gone};
use crate::support::{Server, flow};

#[test]
fn a_post_quantum_key_is_kept_and_replaced_like_a_classic_one() {
    let server = Server::start(|_| {});
    let ada = server.admin_token("ada@example.org");
    let alice = server.token("alice@example.org");
    let key = Key::of_kind(true);
    assert!(key.recipient.starts_with("age1pq1") && key.recipient.len() > 1900, "{}", key.recipient.len());
    // Upper case is the same key, kept in its canonical spelling; a cut one is refused.
    let mut shouted = key.put(false);
    shouted["recipient"] = json!(key.recipient.to_uppercase());
    let cut = json!({ "recipient": &key.recipient[..key.recipient.len() - 1], "wrapped": key.wrapped(PASSPHRASE, 18) });
    put_key(&server, &alice, &cut).expect_error(400, "invalid_key");
    let view = put_key(&server, &alice, &shouted).expect(200).json();
    assert_eq!(view["recipient"], key.recipient.as_str());
    // The audit log names it shortly, not by its 1950 characters.
    let made = server.get("/api/v1/admin/audit?event=key_made").bearer(&ada).send().expect(200).json();
    let detail = made["entries"][0]["detail"].as_str().unwrap();
    assert_eq!(detail, format!("recipient {}…{}", &key.recipient[..23], &key.recipient[key.recipient.len() - 6..]));
    let state = server.get("/api/v1/key").bearer(&alice).send().expect(200).json();
    assert_eq!(state["key"]["recipient"], key.recipient.as_str());
    // Colleagues find it in the directory.
    let bob = server.token("bob@example.org");
    let found = server.post("/api/v1/directory").bearer(&bob).json(&json!({ "emails": ["alice@example.org"] }));
    assert_eq!(found.send().expect(200).json()["colleagues"][0]["recipient"], key.recipient.as_str());
    // Replaced by a classic key only when asked, and back.
    let classic = Key::new();
    put_key(&server, &alice, &classic.put(false)).expect_error(409, "key_exists");
    put_key(&server, &alice, &classic.put(true)).expect(200);
    put_key(&server, &alice, &key.put(true)).expect(200);

    // The recovery recipient stays X25519: its copies are one X25519 stanza.
    let post_quantum_recovery = json!({ "recipient": Key::of_kind(true).recipient });
    let refused = server.request("PUT", "/api/v1/admin/recovery").bearer(&ada).json(&post_quantum_recovery).send();
    refused.expect_error(400, "invalid_key");
    let recovery = x25519::Identity::generate().unwrap();
    let on = json!({ "recipient": recovery.to_public().to_string() });
    server.request("PUT", "/api/v1/admin/recovery").bearer(&ada).json(&on).send().expect(200);
    let mut body = key.put(false);
    body["recovery"] = json!(
        kluis_crypto::encrypt_armored(&[&recovery.to_public()], key.identity.to_secret_string().as_bytes()).unwrap()
    );
    assert_eq!(put_key(&server, &alice, &body).expect(200).json()["recoverable"], true);
}

#[test]
fn an_outsider_uploads_to_a_post_quantum_key_and_only_its_identity_reads_it() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let key = Key::of_kind(true);
    put_key(&server, &alice, &key.put(false)).expect(200);
    let request = create_request(&server, &alice, json!({ "verify": "none" })).expect(201).json();
    let id = request["id"].as_str().unwrap();
    assert_eq!(request["recipient"], key.recipient.as_str());
    // The link the user sends: about 2000 characters, and it parses back to the key.
    let link = format!("{}#{}", request["url"].as_str().unwrap(), request["recipient"].as_str().unwrap());
    let parsed = kluis_protocol::RequestLink::parse(&link).unwrap();
    assert_eq!(parsed.recipient.to_string(), key.recipient);
    assert_eq!(server.get(&format!("/api/v1/r/{id}")).send().expect(200).json()["recipient"], key.recipient.as_str());

    let token = start_or_gone(&server, id, "jan@klant.nl").unwrap();
    // A classic key in its place is a changed link.
    let wrong = json!({ "recipient": Key::new().recipient, "blobs": [{ "size": 200 }] });
    let refused = server.post(&format!("/api/v1/r/{id}/deliveries")).bearer(&token).json(&wrong).send();
    refused.expect_error(400, "wrong_recipient");
    let blobs = [sealed(&key.recipient, b"{\"files\":[]}"), sealed(&key.recipient, &flow::bytes(70_000, 5))];
    let delivery = deliver(&server, id, &token, &key.recipient, &blobs);
    let got = server.get(&format!("/api/v1/inbox/{delivery}/blobs/1")).bearer(&alice).send().expect(200);
    assert_eq!(kluis_crypto::decrypt(&[&key.identity], &got.body).unwrap(), flow::bytes(70_000, 5));
    let classic = Key::new();
    assert!(kluis_crypto::decrypt(&[&classic.identity], &got.body).is_err());
}

#[test]
fn a_recipient_replies_securely_to_a_post_quantum_sender() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let key = Key::of_kind(true);
    put_key(&server, &alice, &key.put(false)).expect(200);
    let sent = flow::send(&server, &alice, json!({ "recipients": ["bob@klant.nl"], "verify": "none" }));
    let granted = flow::access(&server, &sent.id, &sent.proof(), None, None).send().expect(200).json();
    let session = granted["download_token"].as_str().unwrap();
    let started = server.post(&format!("/api/v1/p/{}/reply", sent.id)).bearer(session).send().expect(200).json();
    assert_eq!(started["info"]["recipients"], json!([key.recipient]));
    let request = started["request"].as_str().unwrap();
    let token = started["session"]["token"].as_str().unwrap();
    let blobs = [sealed(&key.recipient, b"{\"message\":\"thanks\"}")];
    let delivery = deliver(&server, request, token, &key.recipient, &blobs);
    let got = server.get(&format!("/api/v1/inbox/{delivery}/blobs/0")).bearer(&alice).send().expect(200);
    assert_eq!(kluis_crypto::decrypt(&[&key.identity], &got.body).unwrap(), b"{\"message\":\"thanks\"}");
}

#[test]
fn a_package_reaches_a_colleague_with_a_post_quantum_key() {
    let server = Server::start(|_| {});
    let (alice, bob) = (server.token("alice@example.org"), server.token("bob@example.org"));
    let (alice_key, bob_key) = (Key::of_kind(true), Key::of_kind(true));
    put_key(&server, &alice, &alice_key.put(false)).expect(200);
    put_key(&server, &bob, &bob_key.put(false)).expect(200);
    let blobs = vec![sealed(&bob_key.recipient, b"manifest"), sealed(&bob_key.recipient, &flow::bytes(900, 4))];
    let spec = json!({ "recipients": ["bob@example.org"], "verify": "none",
        "colleagues": [{ "email": "bob@example.org", "recipient": bob_key.recipient }] });
    let sent = flow::send_blobs(&server, &alice, spec, blobs);
    let got = server.get(&format!("/api/v1/inbox/{}/blobs/1", sent.id)).bearer(&bob).send().expect(200);
    assert_eq!(kluis_crypto::decrypt(&[&bob_key.identity], &got.body).unwrap(), flow::bytes(900, 4));
}

#[test]
fn a_portal_whose_receivers_have_keys_of_both_kinds_takes_nothing_and_says_so() {
    let server = Server::start(|_| {});
    let ada = server.admin_token("ada@example.org");
    let (alice, bob) = (server.token("alice@example.org"), server.token("bob@example.org"));
    let (alice_key, bob_classic) = (Key::of_kind(true), Key::new());
    put_key(&server, &alice, &alice_key.put(false)).expect(200);
    put_key(&server, &bob, &bob_classic.put(false)).expect(200);
    let spec = json!({ "name": "intake", "receivers": ["alice@example.org", "bob@example.org"], "verify": "none" });
    let made = server.post("/api/v1/admin/portals").bearer(&ada).json(&spec).send().expect(201).json();
    let request = made["id"].as_str().unwrap().to_string();
    assert_eq!(made["post_quantum"], json!(["alice@example.org"]));
    let listed = server.get("/api/v1/admin/portals").bearer(&ada).send().expect(200).json();
    assert_eq!(listed["portals"][0]["post_quantum"], json!(["alice@example.org"]));
    assert_eq!(listed["portals"][0]["without_key"], json!([]));

    // The page, a code, a session and a delivery are all refused before anything is uploaded.
    server.get("/api/v1/upload/intake").send().expect_error(409, "portal_mixed_keys");
    server.get(&format!("/api/v1/r/{request}")).send().expect_error(409, "portal_mixed_keys");
    let session = json!({ "email": "client@klant.nl" });
    let refused = server.post(&format!("/api/v1/r/{request}/session")).json(&session).send();
    refused.expect_error(409, "portal_mixed_keys");

    // Bob makes a post-quantum key too: the portal takes uploads again, for both.
    let bob_key = Key::of_kind(true);
    put_key(&server, &bob, &bob_key.put(true)).expect(200);
    let page = server.get("/api/v1/upload/intake").send().expect(200).json();
    let recipients: Vec<String> =
        page["info"]["recipients"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect();
    let token = start_or_gone(&server, &request, "client@klant.nl").unwrap();
    let delivery = deliver_to_all(&server, &request, &token, &recipients, b"the documents");
    for (token, key) in [(&alice, &alice_key), (&bob, &bob_key)] {
        let got = server.get(&format!("/api/v1/inbox/{delivery}/blobs/0")).bearer(token).send().expect(200);
        assert_eq!(kluis_crypto::decrypt(&[&key.identity], &got.body).unwrap(), b"the documents");
    }
}

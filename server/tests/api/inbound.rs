//! Receiving files (docs/inbound.md): users' keys kept only wrapped, key
//! recovery, upload requests fulfilled by an outsider with a code, the inbox,
//! and who may touch what.

use kluis_crypto::{native, scrypt, x25519};
use serde_json::{Value, json};

use crate::support::{Server, flow};

pub(crate) const PASSPHRASE: &str = "correct horse battery staple";

/// A user's key as their client makes it: the identity and what goes to the server.
pub(crate) struct Key {
    pub(crate) identity: native::Identity,
    pub(crate) recipient: String,
}

impl Key {
    pub(crate) fn new() -> Key {
        Key::of_kind(false)
    }

    /// A post-quantum key (`age1pq1…`) when `post_quantum`, else X25519.
    pub(crate) fn of_kind(post_quantum: bool) -> Key {
        let identity = native::Identity::generate(post_quantum).unwrap();
        let recipient = identity.to_public().to_string();
        Key { identity, recipient }
    }

    pub(crate) fn wrapped(&self, passphrase: &str, work_factor: u8) -> String {
        let to = scrypt::Recipient::new(passphrase.to_string().into()).with_work_factor(work_factor).unwrap();
        kluis_crypto::encrypt_armored(&[&to], self.identity.to_secret_string().as_bytes()).unwrap()
    }

    pub(crate) fn put(&self, replace: bool) -> Value {
        json!({ "recipient": self.recipient, "wrapped": self.wrapped(PASSPHRASE, 18), "replace": replace })
    }
}

/// The identity inside an armored wrapped file, with this passphrase.
fn unwrap(wrapped: &str, passphrase: &str) -> String {
    let identity = scrypt::Identity::new(passphrase.to_string().into());
    String::from_utf8(kluis_crypto::decrypt(&[&identity], wrapped.as_bytes()).unwrap()).unwrap()
}

pub(crate) fn put_key(server: &Server, token: &str, body: &Value) -> crate::support::Response {
    server.request("PUT", "/api/v1/key").bearer(token).json(body).send()
}

#[test]
fn a_key_is_kept_only_wrapped_and_replaced_only_when_asked() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let state = server.get("/api/v1/key").bearer(&alice).send().expect(200).json();
    assert!(state.get("key").is_none(), "{state}");

    let key = Key::new();
    // The identity in the clear, a weak work factor, or a file to a key are refused.
    let clear = json!({ "recipient": key.recipient, "wrapped": key.identity.to_secret_string().as_str() });
    put_key(&server, &alice, &clear).expect_error(400, "invalid_key");
    let weak = json!({ "recipient": key.recipient, "wrapped": key.wrapped(PASSPHRASE, 12) });
    put_key(&server, &alice, &weak).expect_error(400, "invalid_key");
    let to_key = kluis_crypto::encrypt_armored(&[&key.identity.to_public()], b"x").unwrap();
    put_key(&server, &alice, &json!({ "recipient": key.recipient, "wrapped": to_key }))
        .expect_error(400, "invalid_key");

    let made = put_key(&server, &alice, &key.put(false)).expect(200).json();
    assert_eq!(made["recipient"], key.recipient.as_str());
    assert_eq!(made["must_change_passphrase"], false);
    let kept = server.get("/api/v1/key").bearer(&alice).send().expect(200).json();
    let wrapped = kept["key"]["wrapped"].as_str().unwrap();
    assert_eq!(unwrap(wrapped, PASSPHRASE), key.identity.to_secret_string().as_str());

    // A new passphrase: the same recipient, wrapped again.
    let rewrapped = json!({ "recipient": key.recipient, "wrapped": key.wrapped("another passphrase", 18) });
    put_key(&server, &alice, &rewrapped).expect(200);
    let kept = server.get("/api/v1/key").bearer(&alice).send().expect(200).json();
    assert_eq!(
        unwrap(kept["key"]["wrapped"].as_str().unwrap(), "another passphrase"),
        key.identity.to_secret_string().as_str()
    );

    // Another key only with replace.
    let other = Key::new();
    put_key(&server, &alice, &other.put(false)).expect_error(409, "key_exists");
    put_key(&server, &alice, &other.put(true)).expect(200);
    let kept = server.get("/api/v1/key").bearer(&alice).send().expect(200).json();
    assert_eq!(kept["key"]["recipient"], other.recipient.as_str());

    // Colleagues see the recipient; nobody sees it across organisations.
    let bob = server.token("bob@example.org");
    let entry = server.get("/api/v1/directory?email=Alice@Example.org").bearer(&bob).send().expect(200).json();
    assert_eq!(entry, json!({ "email": "alice@example.org", "recipient": other.recipient }));
    server.organisation("Other", &["other.example"]);
    let eve = server.token("eve@other.example");
    server.get("/api/v1/directory?email=alice@example.org").bearer(&eve).send().expect_error(404, "not_found");
}

#[test]
fn with_recovery_on_every_key_has_a_copy_and_an_admin_can_hand_a_key_back() {
    let server = Server::start(|_| {});
    let ada = server.admin_token("ada@example.org");
    let alice = server.token("alice@example.org");
    let recovery = x25519::Identity::generate().unwrap();
    let off = server.get("/api/v1/admin/recovery").bearer(&ada).send().expect(200).json();
    assert_eq!(off, json!({ "recipient": null }));
    server
        .request("PUT", "/api/v1/admin/recovery")
        .bearer(&alice)
        .json(&json!({ "recipient": null }))
        .send()
        .expect(403);
    let on = json!({ "recipient": recovery.to_public().to_string() });
    server.request("PUT", "/api/v1/admin/recovery").bearer(&ada).json(&on).send().expect(200);
    let state = server.get("/api/v1/key").bearer(&alice).send().expect(200).json();
    assert_eq!(state["recovery_recipient"], recovery.to_public().to_string().as_str());

    let key = Key::new();
    put_key(&server, &alice, &key.put(false)).expect_error(400, "recovery_required");
    let copy =
        kluis_crypto::encrypt_armored(&[&recovery.to_public()], key.identity.to_secret_string().as_bytes()).unwrap();
    let mut body = key.put(false);
    body["recovery"] = json!(copy);
    assert_eq!(put_key(&server, &alice, &body).expect(200).json()["recoverable"], true);

    // Alice forgot her passphrase: the admin decrypts the copy offline and hands the key back.
    let users = server.get("/api/v1/admin/users?q=alice").bearer(&ada).send().expect(200).json();
    let alice_id = users["users"][0]["id"].as_i64().unwrap();
    let fetched = server.get(&format!("/api/v1/admin/users/{alice_id}/key")).bearer(&ada).send().expect(200).json();
    let identity = kluis_crypto::decrypt(&[&recovery], fetched["recovery"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(identity, key.identity.to_secret_string().as_bytes());
    let temporary = scrypt::Recipient::new("temporary passphrase".to_string().into());
    let handed = kluis_crypto::encrypt_armored(&[&temporary], &identity).unwrap();
    server
        .request("PUT", &format!("/api/v1/admin/users/{alice_id}/key"))
        .bearer(&ada)
        .json(&json!({ "wrapped": handed }))
        .send()
        .expect(200);
    let kept = server.get("/api/v1/key").bearer(&alice).send().expect(200).json();
    assert_eq!(kept["key"]["must_change_passphrase"], true);
    assert_eq!(
        unwrap(kept["key"]["wrapped"].as_str().unwrap(), "temporary passphrase"),
        key.identity.to_secret_string().as_str()
    );

    // Another organisation's admin finds no such user.
    server.organisation("Other", &["other.example"]);
    let otto = server.admin_token("otto@other.example");
    server.get(&format!("/api/v1/admin/users/{alice_id}/key")).bearer(&otto).send().expect(404);
}

/// An age file of `plaintext` to `recipient`.
pub(crate) fn sealed(recipient: &str, plaintext: &[u8]) -> Vec<u8> {
    let recipient: native::Recipient = recipient.parse().unwrap();
    kluis_crypto::encrypt(&[&recipient], plaintext).unwrap()
}

pub(crate) fn create_request(server: &Server, token: &str, body: Value) -> crate::support::Response {
    server.post("/api/v1/requests").bearer(token).json(&body).send()
}

/// An uploader's session on request `id` with the code mailed to `email` (the `n`-th).
fn session(server: &Server, id: &str, email: &str, n: usize) -> String {
    server.post(&format!("/api/v1/r/{id}/code")).json(&json!({ "email": email })).send().expect(202);
    let code = server.wait_for_code(email, n);
    let started = server
        .post(&format!("/api/v1/r/{id}/session"))
        .json(&json!({ "email": email, "code": code }))
        .send()
        .expect(200);
    started.json()["token"].as_str().unwrap().to_string()
}

/// Declares, uploads and finalizes a delivery of these blobs; returns its id.
pub(crate) fn deliver(server: &Server, id: &str, uploader: &str, recipient: &str, blobs: &[Vec<u8>]) -> String {
    let spec = json!({ "recipient": recipient, "blobs": blobs.iter().map(|b| json!({ "size": b.len() })).collect::<Vec<_>>(), "file_types": ["pdf"] });
    let created =
        server.post(&format!("/api/v1/r/{id}/deliveries")).bearer(uploader).json(&spec).send().expect(201).json();
    let delivery = created["id"].as_str().unwrap().to_string();
    for (idx, blob) in blobs.iter().enumerate() {
        flow::upload_blob(server, uploader, &delivery, idx as u32, blob);
    }
    server.post(&format!("/api/v1/r/{id}/deliveries/{delivery}/finalize")).bearer(uploader).send().expect(204);
    delivery
}

#[test]
fn an_outsider_uploads_through_a_request_and_only_the_requester_reads_it() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    create_request(&server, &alice, json!({})).expect_error(409, "no_key");
    let key = Key::new();
    put_key(&server, &alice, &key.put(false)).expect(200);
    let request = create_request(
        &server,
        &alice,
        json!({ "emails": ["Jan@Klant.nl"], "message": "Your tax return, please", "max_uploads": 1, "verify": "none" }),
    )
    .expect(201)
    .json();
    let id = request["id"].as_str().unwrap();
    // Naming addresses means verifying them.
    assert_eq!((request["verify"].as_str(), request["state"].as_str()), (Some("email"), Some("open")));
    assert_eq!(request["url"].as_str().unwrap(), format!("{}/r/{id}", server.url));
    assert_eq!(request["recipient"], key.recipient.as_str());

    // The page's first look needs nothing and shows the recipient to check the link against.
    let info = server.get(&format!("/api/v1/r/{id}")).send().expect(200).json();
    assert_eq!(info["requester"], "alice@example.org");
    assert_eq!(info["recipient"], key.recipient.as_str());
    assert_eq!(info["message"], "Your tax return, please");
    server.get("/api/v1/r/AAAAAAAAAAAAAAAAAAAAAA").send().expect_error(404, "request_not_found");

    // No code, a stranger's code request (answered alike, nothing mailed), a wrong code.
    server
        .post(&format!("/api/v1/r/{id}/session"))
        .json(&json!({ "email": "jan@klant.nl" }))
        .send()
        .expect_error(401, "verification_required");
    server.post(&format!("/api/v1/r/{id}/code")).json(&json!({ "email": "piet@klant.nl" })).send().expect(202);
    let wrong = json!({ "email": "piet@klant.nl", "code": "123456" });
    server.post(&format!("/api/v1/r/{id}/session")).json(&wrong).send().expect_error(401, "wrong_code");
    let jan = session(&server, id, "jan@klant.nl", 1);
    assert!(server.mail_to("piet@klant.nl").is_empty());
    assert!(jan.starts_with("kluis_up_"));

    // A changed link's recipient is refused before anything is stored.
    let other = Key::new();
    let wrong_spec = json!({ "recipient": other.recipient, "blobs": [{ "size": 200 }] });
    server
        .post(&format!("/api/v1/r/{id}/deliveries"))
        .bearer(&jan)
        .json(&wrong_spec)
        .send()
        .expect_error(400, "wrong_recipient");
    // Too large for the request.
    let small = create_request(&server, &alice, json!({ "max_bytes": 1000, "verify": "none" })).expect(201).json();
    let small_id = small["id"].as_str().unwrap();
    let anyone = server
        .post(&format!("/api/v1/r/{small_id}/session"))
        .json(&json!({ "email": "x@y.example" }))
        .send()
        .expect(200);
    let anyone = anyone.json()["token"].as_str().unwrap().to_string();
    let big = json!({ "recipient": key.recipient, "blobs": [{ "size": 600 }, { "size": 600 }] });
    server
        .post(&format!("/api/v1/r/{small_id}/deliveries"))
        .bearer(&anyone)
        .json(&big)
        .send()
        .expect_error(413, "too_large");

    let manifest = sealed(&key.recipient, b"{\"files\":[\"return.pdf\"]}");
    let file = sealed(&key.recipient, &flow::bytes(100_000, 7));
    let delivery = deliver(&server, id, &jan, &key.recipient, &[manifest.clone(), file.clone()]);
    let told = server.wait_for_mail("alice@example.org", "sent you files");
    assert!(told.text.contains("jan@klant.nl") && told.text.contains("proved this address"), "{}", told.text);

    // Used up: the link has ended for everyone.
    server.get(&format!("/api/v1/r/{id}")).send().expect_error(404, "request_not_found");
    let listed = server.get("/api/v1/requests").bearer(&alice).send().expect(200).json();
    let mine = listed["requests"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!((mine["state"].as_str(), mine["uploads"].as_u64()), (Some("used"), Some(1)));

    // The inbox: the item, its ciphertext, which the identity opens.
    let inbox = server.get("/api/v1/inbox").bearer(&alice).send().expect(200).json();
    let item = &inbox["items"][0];
    assert_eq!(
        (item["id"].as_str(), item["from"].as_str(), item["verified"].as_bool()),
        (Some(delivery.as_str()), Some("jan@klant.nl"), Some(true))
    );
    assert_eq!(item["request"], id);
    let fetched = server.get(&format!("/api/v1/inbox/{delivery}/blobs/1")).bearer(&alice).send().expect(200);
    assert_eq!(fetched.body, file);
    assert_eq!(kluis_crypto::decrypt(&[&key.identity], &fetched.body).unwrap(), flow::bytes(100_000, 7));
    let part = server
        .get(&format!("/api/v1/inbox/{delivery}/blobs/1"))
        .bearer(&alice)
        .header("Range", "bytes=10-19")
        .send()
        .expect(206);
    assert_eq!(part.body, file[10..20]);

    // Nobody else reads it: not a colleague, not the uploader, not through the recipient's routes.
    let bob = server.token("bob@example.org");
    server.get(&format!("/api/v1/inbox/{delivery}")).bearer(&bob).send().expect(404);
    server.get(&format!("/api/v1/inbox/{delivery}/blobs/1")).bearer(&bob).send().expect(404);
    server.get("/api/v1/inbox").bearer(&jan).send().expect(401);
    server.get(&format!("/api/v1/p/{delivery}")).send().expect(404);
    server.get(&format!("/api/v1/packages/{delivery}")).bearer(&alice).send().expect(404);
    let sent = server.get("/api/v1/sent").bearer(&alice).send().expect(200).json();
    assert!(!sent.to_string().contains(&delivery), "a delivery is not a sent item: {sent}");

    // Deleting it takes it out of the inbox.
    server.delete(&format!("/api/v1/inbox/{delivery}")).bearer(&alice).send().expect(204);
    let inbox = server.get("/api/v1/inbox").bearer(&alice).send().expect(200).json();
    assert_eq!(inbox["items"], json!([]));
}

#[test]
fn an_uploader_writes_only_its_own_delivery_and_closed_or_full_requests_take_nothing() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let key = Key::new();
    put_key(&server, &alice, &key.put(false)).expect(200);
    let request = create_request(&server, &alice, json!({ "max_uploads": 2, "verify": "none" })).expect(201).json();
    let id = request["id"].as_str().unwrap();
    let start = |email: &str| {
        let s = server.post(&format!("/api/v1/r/{id}/session")).json(&json!({ "email": email })).send().expect(200);
        s.json()["token"].as_str().unwrap().to_string()
    };
    let (one, two) = (start("one@x.example"), start("two@x.example"));
    let spec = json!({ "recipient": key.recipient, "blobs": [{ "size": 200 }] });
    let created = server.post(&format!("/api/v1/r/{id}/deliveries")).bearer(&one).json(&spec).send().expect(201).json();
    let delivery = created["id"].as_str().unwrap();
    // Another uploader's session cannot write, read or finalize it; nor a sender's package.
    flow::create_upload(&server, &two, delivery, 0, 200).expect(404);
    server.get(&format!("/api/v1/r/{id}/deliveries/{delivery}")).bearer(&two).send().expect(404);
    server.post(&format!("/api/v1/r/{id}/deliveries/{delivery}/finalize")).bearer(&two).send().expect(404);
    let package = flow::create_package(&server, &alice, &json!({ "verify": "none", "blobs": [{ "size": 200 }] }))
        .expect(201)
        .json();
    flow::create_upload(&server, &one, package["id"].as_str().unwrap(), 0, 200).expect(404);
    // Unfinished, it cannot be finalized.
    server
        .post(&format!("/api/v1/r/{id}/deliveries/{delivery}/finalize"))
        .bearer(&one)
        .send()
        .expect_error(409, "upload_incomplete");

    // The second place is taken by two's delivery; a third uploader finds no place.
    server.post(&format!("/api/v1/r/{id}/deliveries")).bearer(&two).json(&spec).send().expect(201);
    // The link still answers (the two may reload and go on), but a third delivery finds no place.
    server.get(&format!("/api/v1/r/{id}")).send().expect(200);
    let three = start_or_gone(&server, id, "three@x.example").unwrap();
    server
        .post(&format!("/api/v1/r/{id}/deliveries"))
        .bearer(&three)
        .json(&spec)
        .send()
        .expect_error(409, "request_full");
    server.get(&format!("/api/v1/r/{id}/deliveries/{delivery}")).bearer(&one).send().expect(200);

    // Closed by its owner: it takes nothing more.
    let other = create_request(&server, &alice, json!({ "verify": "none" })).expect(201).json();
    let other_id = other["id"].as_str().unwrap();
    let late = server
        .post(&format!("/api/v1/r/{other_id}/session"))
        .json(&json!({ "email": "l@x.example" }))
        .send()
        .expect(200);
    let late = late.json()["token"].as_str().unwrap().to_string();
    let closed = server.post(&format!("/api/v1/requests/{other_id}/close")).bearer(&alice).send().expect(200).json();
    assert_eq!(closed["state"], "closed");
    server
        .post(&format!("/api/v1/r/{other_id}/deliveries"))
        .bearer(&late)
        .json(&spec)
        .send()
        .expect_error(404, "request_not_found");
    // Someone else's request cannot be closed.
    let bob = server.token("bob@example.org");
    server.post(&format!("/api/v1/requests/{id}/close")).bearer(&bob).send().expect(404);
}

pub(crate) fn start_or_gone(server: &Server, id: &str, email: &str) -> Option<String> {
    let answer = server.post(&format!("/api/v1/r/{id}/session")).json(&json!({ "email": email })).send();
    (answer.status == 200).then(|| answer.json()["token"].as_str().unwrap().to_string())
}

#[test]
fn the_organisations_blocked_file_types_are_refused_for_uploads_too() {
    let server = Server::start(|_| {});
    let ada = server.admin_token("ada@example.org");
    let policy = json!({ "version": 0, "policy": { "send": { "blocked_file_types": ["exe"] } } });
    server.request("PUT", "/api/v1/admin/policy").bearer(&ada).json(&policy).send().expect(200);
    let alice = server.token("alice@example.org");
    let key = Key::new();
    put_key(&server, &alice, &key.put(false)).expect(200);
    let request = create_request(&server, &alice, json!({ "verify": "none" })).expect(201).json();
    let id = request["id"].as_str().unwrap();
    let info = server.get(&format!("/api/v1/r/{id}")).send().expect(200).json();
    assert_eq!(info["blocked_file_types"], json!(["exe"]));
    let token = start_or_gone(&server, id, "x@y.example").unwrap();
    let spec =
        json!({ "recipient": key.recipient, "blobs": [{ "size": 200 }, { "size": 200 }], "file_types": ["exe"] });
    server
        .post(&format!("/api/v1/r/{id}/deliveries"))
        .bearer(&token)
        .json(&spec)
        .send()
        .expect_error(400, "policy_file_type");
}

#[test]
fn a_recipient_replies_securely_to_the_sender() {
    let server = Server::start(|_| {});
    let ada = server.admin_token("ada@example.org");
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "recipients": ["bob@klant.nl"], "verify": "email" }));
    flow::request_code(&server, &sent.id, &sent.proof(), "bob@klant.nl").send().expect(202);
    let code = server.wait_for_code("bob@klant.nl", 1);
    let granted = flow::access(&server, &sent.id, &sent.proof(), Some("bob@klant.nl"), Some(&code)).send().expect(200);
    let session = granted.json()["download_token"].as_str().unwrap().to_string();
    let reply = |token: Option<&str>| {
        let r = server.post(&format!("/api/v1/p/{}/reply", sent.id));
        match token {
            Some(t) => r.bearer(t).send(),
            None => r.send(),
        }
    };
    reply(None).expect_error(401, "session_required");
    // The sender has no key yet: nothing can be encrypted to them.
    reply(Some(&session)).expect_error(409, "no_key");
    let key = Key::new();
    put_key(&server, &alice, &key.put(false)).expect(200);
    // The organisation can turn replies off.
    let off = json!({ "name": "Example", "domains": ["example.org"], "settings": { "replies": false } });
    server.request("PUT", "/api/v1/admin/organisation").bearer(&ada).json(&off).send().expect(200);
    reply(Some(&session)).expect_error(403, "replies_off");
    let on = json!({ "name": "Example", "domains": ["example.org"], "settings": { "replies": true } });
    server.request("PUT", "/api/v1/admin/organisation").bearer(&ada).json(&on).send().expect(200);

    let started = reply(Some(&session)).expect(200).json();
    assert_eq!(started["info"]["recipient"], key.recipient.as_str());
    assert_eq!(started["info"]["requester"], "alice@example.org");
    let request = started["request"].as_str().unwrap();
    let token = started["session"]["token"].as_str().unwrap();
    let manifest = sealed(&key.recipient, b"{\"message\":\"Thanks, signed copy attached\"}");
    let file = sealed(&key.recipient, &flow::bytes(5000, 3));
    let delivery = deliver(&server, request, token, &key.recipient, &[manifest, file]);
    let told = server.wait_for_mail("alice@example.org", "secure reply");
    assert!(told.text.contains("bob@klant.nl replied to the file you sent to bob@klant.nl"), "{}", told.text);

    let inbox = server.get("/api/v1/inbox").bearer(&alice).send().expect(200).json();
    let item = &inbox["items"][0];
    assert_eq!((item["id"].as_str(), item["kind"].as_str()), (Some(delivery.as_str()), Some("reply")));
    assert_eq!((item["reply_to"].as_str(), item["from"].as_str()), (Some(sent.id.as_str()), Some("bob@klant.nl")));
    assert_eq!(item["verified"], true);
    // A second reply goes to the same request; a reply request is not among the user's requests.
    let again = reply(Some(&session)).expect(200).json();
    assert_eq!(again["request"], request);
    let listed = server.get("/api/v1/requests").bearer(&alice).send().expect(200).json();
    assert_eq!(listed["requests"], json!([]));
}

#[test]
fn a_portal_takes_uploads_for_all_its_receivers_and_refuses_blocked_types() {
    let server = Server::start(|_| {});
    let ada = server.admin_token("ada@example.org");
    let (alice, bob, carol) =
        (server.token("alice@example.org"), server.token("bob@example.org"), server.token("carol@example.org"));
    let (alice_key, bob_key) = (Key::new(), Key::new());
    put_key(&server, &alice, &alice_key.put(false)).expect(200);
    let portal = |body: Value| server.post("/api/v1/admin/portals").bearer(&ada).json(&body).send();
    let spec = |name: &str| json!({ "name": name, "message": "Send us your documents", "receivers": ["alice@example.org", "bob@example.org"], "verify": "none" });
    // Every receiver needs a key; names are plain; only admins publish.
    portal(spec("intake")).expect_error(400, "invalid_receivers");
    put_key(&server, &bob, &bob_key.put(false)).expect(200);
    portal(spec("In Take!")).expect_error(400, "invalid_name");
    server.post("/api/v1/admin/portals").bearer(&alice).json(&spec("intake")).send().expect(403);
    let made = portal(spec("intake")).expect(201).json();
    assert_eq!(made["url"].as_str().unwrap(), format!("{}/upload/intake", server.url));
    portal(spec("intake")).expect_error(409, "name_taken");
    let policy = json!({ "version": 0, "policy": { "send": { "blocked_file_types": ["exe"] } } });
    server.request("PUT", "/api/v1/admin/policy").bearer(&ada).json(&policy).send().expect(200);

    let page = server.get("/api/v1/upload/InTake").send().expect(200).json();
    let request = page["request"].as_str().unwrap();
    let mut both = vec![alice_key.recipient.clone(), bob_key.recipient.clone()];
    both.sort();
    assert_eq!(page["info"]["recipients"], json!(both));
    assert_eq!(page["info"]["blocked_file_types"], json!(["exe"]));
    let token = start_or_gone(&server, request, "client@klant.nl").unwrap();
    let one = json!({ "recipient": alice_key.recipient, "blobs": [{ "size": 200 }] });
    server
        .post(&format!("/api/v1/r/{request}/deliveries"))
        .bearer(&token)
        .json(&one)
        .send()
        .expect_error(400, "wrong_recipient");
    let exe = json!({ "recipient": both[0], "recipients": both, "blobs": [{ "size": 200 }, { "size": 200 }], "file_types": ["exe"] });
    server
        .post(&format!("/api/v1/r/{request}/deliveries"))
        .bearer(&token)
        .json(&exe)
        .send()
        .expect_error(400, "policy_file_type");

    let delivery = deliver_to_all(&server, request, &token, &both, b"the documents");
    let delivery = delivery.as_str();

    // Both receivers read it with their own key; nobody else sees it.
    for (token, key) in [(&alice, &alice_key), (&bob, &bob_key)] {
        let inbox = server.get("/api/v1/inbox").bearer(token).send().expect(200).json();
        assert_eq!(inbox["items"][0]["id"], delivery);
        let got = server.get(&format!("/api/v1/inbox/{delivery}/blobs/0")).bearer(token).send().expect(200);
        assert_eq!(kluis_crypto::decrypt(&[&key.identity], &got.body).unwrap(), b"the documents");
    }
    assert_eq!(server.get("/api/v1/inbox").bearer(&carol).send().expect(200).json()["items"], json!([]));
    server.get(&format!("/api/v1/inbox/{delivery}")).bearer(&carol).send().expect(404);

    let listed = server.get("/api/v1/admin/portals").bearer(&ada).send().expect(200).json();
    assert_eq!(
        (listed["portals"][0]["uploads"].as_u64(), listed["portals"][0]["state"].as_str()),
        (Some(1), Some("open"))
    );
    let id = made["id"].as_str().unwrap();
    server.post(&format!("/api/v1/admin/portals/{id}/close")).bearer(&ada).send().expect(200);
    server.get("/api/v1/upload/intake").send().expect_error(404, "request_not_found");
}

/// Declares, uploads and finalizes a delivery of one blob, `plaintext`
/// encrypted to all of a portal's `recipients` (as its page does); returns its id.
pub(crate) fn deliver_to_all(
    server: &Server,
    request: &str,
    token: &str,
    recipients: &[String],
    plaintext: &[u8],
) -> String {
    let to: Vec<native::Recipient> = recipients.iter().map(|r| r.parse().unwrap()).collect();
    let refs: Vec<&dyn kluis_crypto::Recipient> = to.iter().map(|r| r as &dyn kluis_crypto::Recipient).collect();
    let blob = kluis_crypto::encrypt(&refs, plaintext).unwrap();
    let body = json!({ "recipient": recipients[0], "recipients": recipients, "blobs": [{ "size": blob.len() }] });
    let created =
        server.post(&format!("/api/v1/r/{request}/deliveries")).bearer(token).json(&body).send().expect(201).json();
    let delivery = created["id"].as_str().unwrap().to_string();
    flow::upload_blob(server, token, &delivery, 0, &blob);
    server.post(&format!("/api/v1/r/{request}/deliveries/{delivery}/finalize")).bearer(token).send().expect(204);
    delivery
}

/// `POST /packages` declaring these colleagues, with two small blobs.
fn create_to_colleagues(
    server: &Server,
    token: &str,
    recipients: &[&str],
    colleagues: Value,
) -> crate::support::Response {
    let spec = json!({
        "recipients": recipients, "verify": "none", "colleagues": colleagues,
        "blobs": [{ "size": 150 }, { "size": 300 }],
    });
    flow::create_package(server, token, &spec)
}

#[test]
fn a_package_to_a_colleague_with_a_key_is_in_their_inbox_while_it_lives() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let bob = server.token("bob@example.org");
    let carol = server.token("carol@example.org");
    let bob_key = Key::new();
    put_key(&server, &bob, &bob_key.put(false)).expect(200);
    server.organisation("Other", &["other.example"]);
    let eve = server.token("eve@other.example");
    put_key(&server, &eve, &Key::new().put(false)).expect(200);

    // The lookup names colleagues with a key only; everyone else is left out alike.
    let asked = json!({ "emails": ["Bob@Example.org", "carol@example.org", "eve@other.example", "nobody@example.org",
        "not an address", "alice@example.org"] });
    let found = server.post("/api/v1/directory").bearer(&alice).json(&asked).send().expect(200).json();
    assert_eq!(found, json!({ "colleagues": [{ "email": "bob@example.org", "recipient": bob_key.recipient }] }));
    let many = json!({ "emails": vec!["x@example.org"; 101] });
    server.post("/api/v1/directory").bearer(&alice).json(&many).send().expect_error(400, "too_many_emails");

    // Every declaration is held against the colleague's current key, among the package's recipients.
    let bob_entry = |recipient: &str| json!([{ "email": "bob@example.org", "recipient": recipient }]);
    let stale = Key::new().recipient;
    create_to_colleagues(&server, &alice, &["bob@example.org"], bob_entry(&stale)).expect_error(400, "wrong_recipient");
    create_to_colleagues(&server, &alice, &["jan@klant.nl"], bob_entry(&bob_key.recipient))
        .expect_error(400, "colleague_not_recipient");
    let carol_entry = json!([{ "email": "carol@example.org", "recipient": bob_key.recipient }]);
    create_to_colleagues(&server, &alice, &["carol@example.org"], carol_entry).expect_error(400, "not_a_colleague");
    let eve_entry = json!([{ "email": "eve@other.example", "recipient": bob_key.recipient }]);
    create_to_colleagues(&server, &alice, &["eve@other.example"], eve_entry).expect_error(400, "not_a_colleague");

    // Declared right: once finalized, in Bob's inbox with the sender's address; the blobs read as sent.
    let sealed_blobs = vec![sealed(&bob_key.recipient, b"manifest"), sealed(&bob_key.recipient, &flow::bytes(1000, 3))];
    let spec = json!({ "recipients": ["Bob@Example.org", "jan@klant.nl"], "verify": "none",
        "colleagues": [{ "email": "BOB@example.org", "recipient": bob_key.recipient }] });
    let sent = flow::send_blobs(&server, &alice, spec, sealed_blobs.clone());
    let inbox = server.get("/api/v1/inbox").bearer(&bob).send().expect(200).json();
    let item = &inbox["items"][0];
    assert_eq!(
        (item["id"].as_str(), item["kind"].as_str(), item["from"].as_str(), item["verified"].as_bool()),
        (Some(sent.id.as_str()), Some("package"), Some("alice@example.org"), Some(true))
    );
    assert_eq!(item["size"].as_u64(), Some(sealed_blobs.iter().map(|b| b.len() as u64).sum()));
    let got = server.get(&format!("/api/v1/inbox/{}/blobs/1", sent.id)).bearer(&bob).send().expect(200);
    assert_eq!(kluis_crypto::decrypt(&[&bob_key.identity], &got.body).unwrap(), flow::bytes(1000, 3));
    server.get(&format!("/api/v1/inbox/{}", sent.id)).bearer(&bob).send().expect(200);
    // Bob cannot delete Alice's package; it is not in Alice's inbox, nor anyone else's.
    server.delete(&format!("/api/v1/inbox/{}", sent.id)).bearer(&bob).send().expect_error(409, "not_yours");
    for outsider in [&alice, &carol, &eve] {
        assert_eq!(server.get("/api/v1/inbox").bearer(outsider).send().expect(200).json()["items"], json!([]));
        server.get(&format!("/api/v1/inbox/{}/blobs/1", sent.id)).bearer(outsider).send().expect(404);
    }
    // The link still opens it for everyone.
    flow::access(&server, &sent.id, &sent.proof(), None, None).send().expect(200);

    // Revoked: gone from Bob's inbox, its blobs with it.
    server.post(&format!("/api/v1/packages/{}/revoke", sent.id)).bearer(&alice).send().expect(200);
    assert_eq!(server.get("/api/v1/inbox").bearer(&bob).send().expect(200).json()["items"], json!([]));
    server.get(&format!("/api/v1/inbox/{}", sent.id)).bearer(&bob).send().expect(404);
    server.get(&format!("/api/v1/inbox/{}/blobs/1", sent.id)).bearer(&bob).send().expect(404);
}

/// A request of Alice's (who has a key) with `body`; its id and her key.
fn request_of_alice(server: &Server, body: Value) -> (String, Key) {
    let alice = server.token("alice@example.org");
    let key = Key::new();
    put_key(server, &alice, &key.put(false)).expect(200);
    let request = create_request(server, &alice, body).expect(201).json();
    (request["id"].as_str().unwrap().to_string(), key)
}

/// Declares a delivery of these blob sizes; the answer.
fn declare(server: &Server, id: &str, uploader: &str, recipient: &str, sizes: &[usize]) -> crate::support::Response {
    let blobs: Vec<Value> = sizes.iter().map(|s| json!({ "size": s })).collect();
    let spec = json!({ "recipient": recipient, "blobs": blobs, "file_types": ["pdf"] });
    server.post(&format!("/api/v1/r/{id}/deliveries")).bearer(uploader).json(&spec).send()
}

/// Who gave up delivery `id`, as the organisation's audit log says (each `abandoned` row's actor).
fn abandoned(server: &Server, id: &str) -> Vec<String> {
    let ada = server.admin_token("ada@example.org");
    let page = server.get(&format!("/api/v1/admin/audit?package={id}&limit=200")).bearer(&ada).send();
    let entries = page.expect(200).json()["entries"].as_array().unwrap().clone();
    entries.iter().filter(|e| e["event"] == "abandoned").map(|e| e["actor"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_new_verified_session_gives_up_the_same_addresss_unfinished_upload_and_frees_its_place() {
    let server = Server::start(|c| c.blob_store = "fs".into());
    let (id, key) = request_of_alice(&server, json!({ "max_uploads": 1, "verify": "email" }));
    let a = session(&server, &id, "jan@klant.nl", 1);
    let (manifest, file) = (sealed(&key.recipient, b"{}"), sealed(&key.recipient, &flow::bytes(50_000, 1)));
    let created = declare(&server, &id, &a, &key.recipient, &[manifest.len(), file.len()]).expect(201).json();
    let left = created["id"].as_str().unwrap().to_string();
    flow::upload_blob(&server, &a, &left, 0, &manifest);
    let part = flow::new_upload(&server, &a, &left, 1, file.len() as u64);
    flow::patch(&server, &a, &part, 0, &file[..20_000]).expect(204);
    assert!(server.data_path(format!("blobs/{left}/0")).exists());
    // Someone else finds no place while Jan's upload is under way.
    let other = session(&server, &id, "piet@klant.nl", 1);
    declare(&server, &id, &other, &key.recipient, &[200]).expect_error(409, "request_full");

    // Jan closed the tab and, a while later (codes go out once a minute), proves his address
    // again: his place is his at once.
    server.db().execute("UPDATE code_sends SET sent_at = sent_at - 120");
    // The outbox orders mails by the second they were written in.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = session(&server, &id, "jan@klant.nl", 2);
    let again = deliver(&server, &id, &b, &key.recipient, &[manifest.clone(), file.clone()]);
    assert_ne!(again, left);
    // The upload left behind is gone, and so are its blobs and its partial upload.
    server.post(&format!("/api/v1/r/{id}/deliveries/{left}/finalize")).bearer(&a).send().expect_error(404, "not_found");
    server.get(&format!("/api/v1/r/{id}/deliveries/{left}")).bearer(&a).send().expect(404);
    flow::patch(&server, &a, &part, 20_000, &file[20_000..]).expect(404);
    assert!(!server.data_path(format!("blobs/{left}/0")).exists(), "the abandoned delivery's blob was deleted");
    let parts = std::fs::read_dir(server.data_path("uploads")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(parts, 0, "the abandoned delivery's partial upload was deleted");
    assert_eq!(abandoned(&server, &left), vec!["uploader:jan@klant.nl".to_string()]);
    // One upload was received; the request is used up.
    let alice = server.token("alice@example.org");
    let inbox = server.get("/api/v1/inbox").bearer(&alice).send().expect(200).json();
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1, "{inbox}");
    server.get(&format!("/api/v1/r/{id}")).send().expect_error(404, "request_not_found");
}

#[test]
fn an_address_that_is_only_typed_in_never_ends_anyones_upload() {
    let server = Server::start(|_| {});
    let (id, key) = request_of_alice(&server, json!({ "max_uploads": 1, "verify": "none" }));
    let start = |email: &str| {
        let s = server.post(&format!("/api/v1/r/{id}/session")).json(&json!({ "email": email })).send().expect(200);
        s.json()["token"].as_str().unwrap().to_string()
    };
    let a = start("jan@klant.nl");
    let blob = sealed(&key.recipient, &flow::bytes(100, 2));
    let created = declare(&server, &id, &a, &key.recipient, &[blob.len()]).expect(201).json();
    let held = created["id"].as_str().unwrap().to_string();
    // Anyone can type Jan's address: that frees nothing.
    let b = start("jan@klant.nl");
    declare(&server, &id, &b, &key.recipient, &[blob.len()]).expect_error(409, "request_full");
    server.get(&format!("/api/v1/r/{id}/deliveries/{held}")).bearer(&a).send().expect(200);
    flow::upload_blob(&server, &a, &held, 0, &blob);
    server.post(&format!("/api/v1/r/{id}/deliveries/{held}/finalize")).bearer(&a).send().expect(204);
}

#[test]
fn an_uploader_gives_up_an_unfinished_delivery_and_its_place_is_free_at_once() {
    let server = Server::start(|c| c.blob_store = "fs".into());
    let (id, key) = request_of_alice(&server, json!({ "max_uploads": 1, "verify": "none" }));
    let start = |email: &str| {
        let s = server.post(&format!("/api/v1/r/{id}/session")).json(&json!({ "email": email })).send().expect(200);
        s.json()["token"].as_str().unwrap().to_string()
    };
    let (a, b) = (start("jan@klant.nl"), start("piet@klant.nl"));
    let blob = sealed(&key.recipient, &flow::bytes(1000, 4));
    let created = declare(&server, &id, &a, &key.recipient, &[blob.len(), blob.len()]).expect(201).json();
    let first = created["id"].as_str().unwrap().to_string();
    flow::upload_blob(&server, &a, &first, 0, &blob);
    declare(&server, &id, &b, &key.recipient, &[blob.len()]).expect_error(409, "request_full");

    // Not another session's to give up, nor a delivery that does not exist: one answer.
    let by_other = server.delete(&format!("/api/v1/r/{id}/deliveries/{first}")).bearer(&b).send().expect(404);
    let unknown =
        server.delete(&format!("/api/v1/r/{id}/deliveries/AAAAAAAAAAAAAAAAAAAAAA")).bearer(&b).send().expect(404);
    assert_eq!(by_other.body, unknown.body);
    server.delete(&format!("/api/v1/r/{id}/deliveries/{first}")).send().expect(401);

    // Jan presses "Cancel": the place is free, the blob gone, the delivery too.
    server.delete(&format!("/api/v1/r/{id}/deliveries/{first}")).bearer(&a).send().expect(204);
    assert_eq!(abandoned(&server, &first), vec!["uploader:jan@klant.nl".to_string()]);
    assert!(!server.data_path(format!("blobs/{first}/0")).exists(), "the given-up delivery's blob was deleted");
    server.get(&format!("/api/v1/r/{id}/deliveries/{first}")).bearer(&a).send().expect(404);
    let again = server.delete(&format!("/api/v1/r/{id}/deliveries/{first}")).bearer(&a).send().expect(404);
    assert_eq!(again.body, unknown.body);
    let done = deliver(&server, &id, &b, &key.recipient, std::slice::from_ref(&blob));

    // A finished delivery cannot be given up.
    let finished = server.delete(&format!("/api/v1/r/{id}/deliveries/{done}")).bearer(&b).send().expect(404);
    assert_eq!(finished.body, unknown.body);
    let alice = server.token("alice@example.org");
    server.get(&format!("/api/v1/inbox/{done}")).bearer(&alice).send().expect(200);
}

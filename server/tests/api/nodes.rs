//! Two server processes on one database and one blob store, as nodes behind
//! a load balancer (issue 16): nothing that must be shared is kept in one
//! node. Here both are in this test process on one data directory (SQLite in
//! WAL mode takes several writers' connections; the file-system blob store
//! is the same folder).

use serde_json::json;

use crate::support::{Response, Server};
use kluis_crypto::package::LinkSecret;
use kluis_server::config::Config;

use crate::support::flow;

fn two_nodes() -> (tempfile::TempDir, Server, Server) {
    two_nodes_with(|_| {})
}

/// Two nodes of one installation, both configured by `configure`.
fn two_nodes_with(configure: impl Fn(&mut Config) + Clone + Send + 'static) -> (tempfile::TempDir, Server, Server) {
    let data = tempfile::tempdir().unwrap();
    let node = |data: std::path::PathBuf| {
        let configure = configure.clone();
        Server::start(move |c| {
            c.blob_store = "fs".into();
            c.data_dir = data;
            configure(c);
        })
    };
    let (a, b) = (node(data.path().to_path_buf()), node(data.path().to_path_buf()));
    (data, a, b)
}

/// Runs `attempt(i)` for `i` in `0..n`, each in a thread of its own, all
/// released at once; the answers' statuses and error codes, in order of `i`.
fn race(n: usize, attempt: impl Fn(usize) -> Response + Sync) -> Vec<(u16, String)> {
    let start = std::sync::Barrier::new(n);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..n)
            .map(|i| {
                let (start, attempt) = (&start, &attempt);
                scope.spawn(move || {
                    start.wait();
                    let answer = attempt(i);
                    (answer.status, answer.code())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

/// How many answers had `status` and error `code` ("" for none).
fn count(answers: &[(u16, String)], status: u16, code: &str) -> usize {
    answers.iter().filter(|(s, c)| *s == status && c == code).count()
}

#[test]
fn download_counts_code_budgets_and_quotas_stay_exact_when_clients_race_across_nodes() {
    let (_data, a, b) = two_nodes_with(|c| c.limits.max_unfinished_packages_per_user = 3);
    let node = |i: usize| if i.is_multiple_of(2) { &a } else { &b };
    let alice = a.token("alice@example.org");

    // Five downloads allowed, sixteen recipients at once on both nodes: five get in.
    let sent = flow::send(&a, &alice, json!({ "verify": "none", "max_downloads": 5 }));
    let answers = race(16, |i| flow::access(node(i), &sent.id, &sent.proof(), None, None).send());
    assert_eq!(count(&answers, 200, ""), 5, "{answers:?}");
    assert_eq!(count(&answers, 410, "download_limit_reached"), 11, "{answers:?}");
    assert_eq!(flow::package(&b, &alice, &sent.id)["downloads"], 5);

    // Five wrong codes per address: twelve guesses at once spend exactly that budget.
    let coded = flow::send(&a, &alice, json!({ "recipients": ["bob@example.org"], "verify": "email" }));
    let answers =
        race(12, |i| flow::access(node(i), &coded.id, &coded.proof(), Some("bob@example.org"), Some("123456")).send());
    assert_eq!(count(&answers, 401, "wrong_code"), 4, "{answers:?}");
    assert_eq!(count(&answers, 429, "locked"), 8, "{answers:?}");

    // Three unfinished packages per user: ten created at once, three made.
    let spec = json!({ "recipients": ["bob@example.org"], "verify": "none", "blobs": [{ "size": 100 }] });
    let answers = race(10, |i| flow::create_package(node(i), &alice, &spec));
    assert_eq!(count(&answers, 201, ""), 3, "{answers:?}");
    assert_eq!(count(&answers, 429, "quota_exceeded"), 7, "{answers:?}");
}

#[test]
fn an_upload_whose_patches_alternate_between_nodes_completes() {
    let (_data, a, b) = two_nodes();
    let alice = a.token("alice@example.org");
    let blob = flow::bytes(300_000, 9);
    let spec = json!({ "recipients": ["bob@example.org"], "verify": "none", "blobs": [{ "size": blob.len() }] });
    let id = flow::create_package(&a, &alice, &spec).expect(201).json()["id"].as_str().unwrap().to_string();
    let upload = flow::new_upload(&b, &alice, &id, 0, blob.len() as u64);
    for (i, node) in [&a, &b, &a].into_iter().enumerate() {
        let (from, to) = (i * 100_000, (i + 1) * 100_000);
        assert_eq!(flow::offset(node, &alice, &upload), from as u64, "each node sees the other's bytes");
        flow::patch(node, &alice, &upload, from as u64, &blob[from..to]).expect(204);
    }
    let link = LinkSecret::from_bytes(flow::rand32());
    flow::finalize(&b, &alice, &id, &link, None).expect(200);
    let sent = flow::Sent { id, link, password: None, blobs: vec![blob.clone()], server_share: String::new() };
    let granted = flow::access(&a, &sent.id, &sent.proof(), None, None).send().expect(200).json();
    let token = granted["download_token"].as_str().unwrap();
    let url = flow::path_of(&a, granted["blobs"][0]["url"].as_str().unwrap());
    assert!(b.get(&url).bearer(token).send().expect(200).body == blob, "downloaded from the other node");
}

#[test]
fn a_mail_goes_out_once_though_both_nodes_run_the_mail_worker() {
    let (_data, a, b) = two_nodes();
    let alice = a.token("alice@example.org");
    let sent = flow::send(&a, &alice, json!({ "recipients": ["bob@example.org"], "verify": "email" }));
    // Asked on one node; both nodes' workers poll the queue.
    flow::request_code(&b, &sent.id, &sent.proof(), "bob@example.org").send().expect(202);
    let code = a.wait_for_code("bob@example.org", 1);
    std::thread::sleep(std::time::Duration::from_secs(6));
    let codes: Vec<_> = a.mail_to("bob@example.org").into_iter().filter(|m| m.has_code()).collect();
    assert_eq!(codes.len(), 1, "one code mail: {codes:#?}");
    assert_eq!(codes[0].code(), code);
}

#[test]
fn the_per_minute_limit_of_a_client_holds_across_nodes() {
    let (_data, a, b) = two_nodes_with(|c| c.limits.public_requests_per_minute = 6);
    let alice = a.token("alice@example.org");
    let sent = flow::send(&a, &alice, json!({ "verify": "none" }));
    let status = format!("/api/v1/p/{}", sent.id);
    // Windows start on the minute: begin well inside one.
    let second = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60;
    if second() > 50 {
        std::thread::sleep(std::time::Duration::from_secs(61 - second()));
    }
    let answers: Vec<u16> =
        (0..10).map(|i| if i % 2 == 0 { &a } else { &b }.get(&status).client("192.0.2.9").send().status).collect();
    assert_eq!(answers, [200, 200, 200, 200, 200, 200, 429, 429, 429, 429], "six a minute in all, not six per node");
    // Another client is served on both.
    a.get(&status).client("192.0.2.10").send().expect(200);
    b.get(&status).client("192.0.2.10").send().expect(200);
}

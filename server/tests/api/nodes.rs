//! Two server processes on one database and one blob store, as nodes behind
//! a load balancer (issue 16): nothing that must be shared is kept in one
//! node. Here both are in this test process on one data directory (SQLite in
//! WAL mode takes several writers' connections; the file-system blob store
//! is the same folder).

use serde_json::json;

use crate::support::Server;
use kluis_crypto::package::LinkSecret;

use crate::support::flow;

fn two_nodes() -> (tempfile::TempDir, Server, Server) {
    let data = tempfile::tempdir().unwrap();
    let node = |data: std::path::PathBuf| {
        Server::start(move |c| {
            c.blob_store = "fs".into();
            c.data_dir = data;
        })
    };
    let (a, b) = (node(data.path().to_path_buf()), node(data.path().to_path_buf()));
    (data, a, b)
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

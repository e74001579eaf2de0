//! Per-user quotas of what is held open: unfinished packages, the bytes they
//! declare, open uploads. Past one: `quota_exceeded` (413 for bytes, 429
//! for counts) with `quota` naming it; finishing or deleting frees it.

use serde_json::{Value, json};

use crate::support::flow::{self, bytes};
use crate::support::{Response, Server};

fn package(sizes: &[usize]) -> Value {
    json!({ "verify": "none", "blobs": sizes.iter().map(|s| json!({ "size": s })).collect::<Vec<_>>() })
}

#[track_caller]
fn expect_quota(answer: Response, status: u16, quota: &str, limit: u64) {
    let answer = answer.expect_error(status, "quota_exceeded");
    let error = &answer.json()["error"];
    assert_eq!((error["quota"].as_str(), error["limit"].as_u64()), (Some(quota), Some(limit)), "{error}");
}

fn id_of(created: Response) -> String {
    created.expect(201).json()["id"].as_str().unwrap().to_string()
}

fn delete(server: &Server, token: &str, id: &str) {
    server.delete(&format!("/api/v1/packages/{id}")).bearer(token).send().expect(204);
}

/// Uploads every blob of package `id` and finalizes it.
fn finish(server: &Server, token: &str, id: &str, sizes: &[usize]) {
    for (idx, size) in sizes.iter().enumerate() {
        flow::upload_blob(server, token, id, idx as u32, &bytes(*size, idx as u8));
    }
    let link = kluis_crypto::package::LinkSecret::from_bytes(flow::rand32());
    flow::finalize(server, token, id, &link, None).expect(200);
}

#[test]
fn unfinished_packages_past_the_quota_are_429_until_one_is_finished_or_deleted() {
    let server = Server::start(|c| c.limits.max_unfinished_packages_per_user = 2);
    let alice = server.token("alice@example.org");
    let bob = server.token("bob@example.org");
    let first = id_of(flow::create_package(&server, &alice, &package(&[100])));
    let second = id_of(flow::create_package(&server, &alice, &package(&[100])));
    expect_quota(flow::create_package(&server, &alice, &package(&[100])), 429, "unfinished_packages", 2);
    // Per user: bob is not held up by alice.
    flow::create_package(&server, &bob, &package(&[100])).expect(201);

    delete(&server, &alice, &first);
    flow::create_package(&server, &alice, &package(&[100])).expect(201);
    expect_quota(flow::create_package(&server, &alice, &package(&[100])), 429, "unfinished_packages", 2);

    finish(&server, &alice, &second, &[100]);
    flow::create_package(&server, &alice, &package(&[100])).expect(201);
    expect_quota(flow::create_package(&server, &alice, &package(&[100])), 429, "unfinished_packages", 2);
}

#[test]
fn bytes_reserved_past_the_quota_are_413_until_a_package_is_finished_or_deleted() {
    let server = Server::start(|c| c.limits.max_reserved_bytes_per_user = 1000);
    let alice = server.token("alice@example.org");
    let big = id_of(flow::create_package(&server, &alice, &package(&[300, 300])));
    expect_quota(flow::create_package(&server, &alice, &package(&[401])), 413, "reserved_bytes", 1000);
    let small = id_of(flow::create_package(&server, &alice, &package(&[400])));
    expect_quota(flow::create_package(&server, &alice, &package(&[100])), 413, "reserved_bytes", 1000);

    delete(&server, &alice, &big);
    flow::create_package(&server, &alice, &package(&[600])).expect(201);
    expect_quota(flow::create_package(&server, &alice, &package(&[100])), 413, "reserved_bytes", 1000);

    finish(&server, &alice, &small, &[400]);
    flow::create_package(&server, &alice, &package(&[400])).expect(201);
    expect_quota(flow::create_package(&server, &alice, &package(&[100])), 413, "reserved_bytes", 1000);
}

#[test]
fn open_uploads_past_the_quota_are_429_until_one_is_completed_or_terminated() {
    let server = Server::start(|c| c.limits.max_open_uploads_per_user = 2);
    let alice = server.token("alice@example.org");
    let id = id_of(flow::create_package(&server, &alice, &package(&[100, 100, 100, 100])));
    let first = flow::new_upload(&server, &alice, &id, 0, 100);
    flow::new_upload(&server, &alice, &id, 1, 100);
    expect_quota(flow::create_upload(&server, &alice, &id, 2, 100), 429, "open_uploads", 2);
    // Starting a blob's upload again replaces its open upload: no more are open.
    let first = {
        let again = flow::new_upload(&server, &alice, &id, 0, 100);
        assert_ne!(again, first);
        again
    };

    // Terminating one frees it.
    server.request("DELETE", &first).bearer(&alice).header("Tus-Resumable", "1.0.0").send().expect(204);
    let third = flow::new_upload(&server, &alice, &id, 2, 100);
    expect_quota(flow::create_upload(&server, &alice, &id, 3, 100), 429, "open_uploads", 2);

    // Completing one frees it.
    flow::patch(&server, &alice, &third, 0, &bytes(100, 3)).expect(204);
    flow::new_upload(&server, &alice, &id, 3, 100);
    expect_quota(flow::create_upload(&server, &alice, &id, 0, 100), 429, "open_uploads", 2);
}

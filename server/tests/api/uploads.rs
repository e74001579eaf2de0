//! Resumable uploads whose connection stalls or goes away mid-body: the
//! write lease is released (after the body timeout, or at once when the
//! client is gone), what arrived is kept, and the upload resumes at the
//! recorded offset.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::flow::{self, bytes};
use crate::support::http::read_all;
use crate::support::{Response, Server, wait_for};

const SIZE: usize = 1000;

/// A package with one blob of [`SIZE`] bytes and an upload for it.
fn one_blob_upload(server: &Server, token: &str) -> (String, String) {
    let spec = json!({ "verify": "none", "blobs": [{ "size": SIZE }] });
    let created = flow::create_package(server, token, &spec).expect(201).json();
    let id = created["id"].as_str().unwrap().to_string();
    let upload = flow::new_upload(server, token, &id, 0, SIZE as u64);
    (id, upload)
}

/// Starts a PATCH at offset 0 declaring the whole blob, and sends only `first` of it.
fn partial_patch(server: &Server, token: &str, upload: &str, first: &[u8]) -> TcpStream {
    let request = flow::patch_request(server, token, upload, 0).body(vec![0; SIZE]).to_bytes();
    let head_len = request.len() - SIZE;
    let mut stream = server.connect();
    stream.write_all(&request[..head_len]).unwrap();
    stream.write_all(first).unwrap();
    stream
}

/// Finishes the upload from `offset`, finalizes and downloads: the blob is `data`.
fn finish_and_check(server: &Server, token: &str, id: &str, upload: &str, offset: usize, data: &[u8]) {
    let done = flow::patch(server, token, upload, offset as u64, &data[offset..]).expect(204);
    assert_eq!(done.header("upload-offset"), Some(SIZE.to_string().as_str()));
    let link = kluis_crypto::package::LinkSecret::from_bytes(flow::rand32());
    flow::finalize(server, token, id, &link, None).expect(200);
    let granted = flow::access(server, id, &flow::proof(id, &link, None), None, None).send().expect(200).json();
    let url = flow::path_of(server, granted["blobs"][0]["url"].as_str().unwrap());
    let blob = server.get(&url).bearer(granted["download_token"].as_str().unwrap()).send().expect(200);
    assert_eq!(blob.body, data, "the blob is the bytes of both PATCHes");
}

#[test]
fn a_patch_that_stalls_mid_body_releases_its_lease_after_the_body_timeout_and_keeps_what_arrived() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let (id, upload) = one_blob_upload(&server, &alice);
    let data = bytes(SIZE, 9);

    let mut stalled = partial_patch(&server, &alice, &upload, &data[..300]);
    let last_byte = Instant::now();
    // While it holds the lease, another writer is told to wait.
    std::thread::sleep(Duration::from_millis(500));
    flow::patch(&server, &alice, &upload, 0, &data).expect_error(423, "upload_busy");

    // The body timeout (2 s) ends the stalled PATCH, which answers with what it kept.
    let mut raw = Vec::new();
    stalled.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let _ = read_all(&mut stalled, &mut raw);
    let answered = last_byte.elapsed();
    let answer = Response::parse(&raw, false).expect("the stalled PATCH got an answer");
    assert_eq!(answer.status, 204, "{}", answer.text());
    assert_eq!(answer.header("upload-offset"), Some("300"));
    assert!(answered >= Duration::from_millis(1500), "ended after {answered:?}, before the body timeout");

    // The lease is free: a new PATCH at the recorded offset is accepted, not 423.
    assert_eq!(flow::offset(&server, &alice, &upload), 300);
    finish_and_check(&server, &alice, &id, &upload, 300, &data);
}

#[test]
fn a_patch_whose_client_goes_away_mid_body_keeps_what_arrived_and_frees_the_lease_at_once() {
    let server = Server::start(|c| c.limits.body_timeout_seconds = 30);
    let alice = server.token("alice@example.org");
    let (id, upload) = one_blob_upload(&server, &alice);
    let data = bytes(SIZE, 11);

    let gone = partial_patch(&server, &alice, &upload, &data[..400]);
    std::thread::sleep(Duration::from_millis(300));
    gone.shutdown(Shutdown::Both).unwrap();
    drop(gone);

    // Long before the body timeout (30 s here) the lease is free again.
    let resumed = wait_for(Duration::from_secs(3), || {
        let at = flow::offset(&server, &alice, &upload);
        (at == 400).then_some(at)
    });
    assert_eq!(resumed, Some(400), "the offset is what arrived before the client went away");
    finish_and_check(&server, &alice, &id, &upload, 400, &data);
}

#[test]
fn a_patch_at_another_offset_than_the_recorded_one_is_refused_with_the_offset() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let (id, upload) = one_blob_upload(&server, &alice);
    let data = bytes(SIZE, 13);
    flow::patch(&server, &alice, &upload, 0, &data[..100]).expect(204);
    let refused = flow::patch(&server, &alice, &upload, 50, &data[50..]).expect_error(409, "offset_mismatch");
    assert_eq!(refused.json()["error"]["offset"], 100);
    // A body past Upload-Length is refused, and what fitted is not lost.
    let mut too_long = data[100..].to_vec();
    too_long.push(0);
    flow::patch(&server, &alice, &upload, 100, &too_long).expect_error(413, "too_large");
    let at = flow::offset(&server, &alice, &upload) as usize;
    assert!((100..SIZE).contains(&at), "offset {at} after a body past the end");
    finish_and_check(&server, &alice, &id, &upload, at, &data);
}

/// How many `uploaded` events the package has in the audit log.
fn uploaded_events(server: &Server, id: &str) -> i64 {
    server.db().value(&format!("SELECT COUNT(*) FROM audit WHERE event = 'uploaded' AND package_id = '{id}'")).int()
}

#[test]
fn a_whole_upload_whose_answer_was_lost_says_so_and_takes_the_same_patch_again() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let (id, upload) = one_blob_upload(&server, &alice);
    let data = bytes(SIZE, 17);
    flow::patch(&server, &alice, &upload, 0, &data).expect(204);

    // A client whose connection broke before the answer asks where to go on: at the end.
    assert_eq!(flow::offset(&server, &alice, &upload), SIZE as u64);
    let again = flow::patch(&server, &alice, &upload, SIZE as u64, &[]).expect(204);
    assert_eq!(again.header("upload-offset"), Some(SIZE.to_string().as_str()));
    let refused = flow::patch(&server, &alice, &upload, 0, &data).expect_error(409, "offset_mismatch");
    assert_eq!(refused.json()["error"]["offset"], SIZE);
    flow::patch(&server, &alice, &upload, SIZE as u64, b"x").expect_error(413, "too_large");
    // A whole upload no longer counts as open, and its blob was recorded once.
    assert_eq!(uploaded_events(&server, &id), 1);
    let link = kluis_crypto::package::LinkSecret::from_bytes(flow::rand32());
    flow::finalize(&server, &alice, &id, &link, None).expect(200);
    assert_eq!(flow::offset(&server, &alice, &upload), SIZE as u64, "still whole after finalize");
}

#[test]
fn an_upload_cut_short_between_its_last_write_and_becoming_a_blob_is_finished_when_asked_for_its_offset() {
    let server = Server::start(|c| c.blob_store = "fs".into());
    let alice = server.token("alice@example.org");
    let (id, upload) = one_blob_upload(&server, &alice);
    let data = bytes(SIZE, 19);
    flow::patch(&server, &alice, &upload, 0, &data).expect(204);
    // Put the server back where a crash right after recording the last offset leaves it:
    // every byte in the upload's file, not yet renamed to the blob, the blob not complete.
    let upload_id = upload.rsplit('/').next().unwrap();
    std::fs::rename(
        server.data_dir.join("blobs").join(&id).join("0"),
        server.data_dir.join("uploads").join(format!("{upload_id}.part")),
    )
    .unwrap();
    server.db().execute(&format!("UPDATE blobs SET complete = false WHERE package_id = '{id}'"));
    let link = kluis_crypto::package::LinkSecret::from_bytes(flow::rand32());
    flow::finalize(&server, &alice, &id, &link, None).expect_error(409, "upload_incomplete");

    // The client asks where to go on: at the end, and the upload is its blob now.
    assert_eq!(flow::offset(&server, &alice, &upload), SIZE as u64);
    assert_eq!(uploaded_events(&server, &id), 2, "the restored state's event, and the finished one");
    flow::finalize(&server, &alice, &id, &link, None).expect(200);
    let granted = flow::access(&server, &id, &flow::proof(&id, &link, None), None, None).send().expect(200).json();
    let url = flow::path_of(&server, granted["blobs"][0]["url"].as_str().unwrap());
    let blob = server.get(&url).bearer(granted["download_token"].as_str().unwrap()).send().expect(200);
    assert_eq!(blob.body, data);
}

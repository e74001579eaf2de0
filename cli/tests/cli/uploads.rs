//! Uploads over tus: an independent client (tuspy, from PyPI) against the
//! server; the CLI waiting and retrying when another request holds the
//! upload (`423 upload_busy`); and the CLI resuming an upload after the
//! server was killed with `kill -9` in the middle of it. Each result is
//! checked the way a recipient sees it, by downloading through the API.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kluis_crypto::package::{LinkSecret, PackageId, access_proof, link_proof};
use kluis_protocol::Link;
use kluis_protocol::api::{
    AccessGranted, BlobSpec, CreatePackage, CreatedPackage, FinalizeRequest, PackageDetail, Verify,
};

use crate::support::proxy::{Proxy, Rule};
use crate::support::{ALICE, BOB, Server, api::Api, data, free_port, ok, package_id, wait_for, write};

const TUS: (&str, &str) = ("Tus-Resumable", "1.0.0");

/// A path of tus upload requests (`/api/v1/uploads/{id}`).
fn is_upload(path: &str) -> bool {
    path.starts_with("/api/v1/uploads/")
}

#[test]
fn tuspy_uploads_a_blob() {
    // tuspy talks to the server through a proxy that counts its requests.
    let port = free_port();
    let proxy = Proxy::start(port, |_, _| Rule::Forward);
    let server = Server::builder().port(port).public_url(&proxy.url).start();
    let token = server.token(ALICE);
    let api = server.api();
    let work = tempfile::tempdir().unwrap();
    let blob = data(1_300_000, 11);
    let path = work.path().join("blob.age");
    std::fs::write(&path, &blob).unwrap();
    let manifest = data(1000, 12);

    let create = CreatePackage {
        recipients: vec![BOB.into()],
        expires_in_days: None,
        max_downloads: None,
        verify: Verify::None,
        password: false,
        notify_on_download: false,
        blobs: vec![BlobSpec { size: manifest.len() as u64 }, BlobSpec { size: blob.len() as u64 }],
        file_types: None,
        message: None,
        colleagues: Vec::new(),
    };
    let created: CreatedPackage = api.post("/packages", &token, &create).json();
    let id = created.package.id.clone();

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tus/tuspy_upload.py");
    let out = Command::new("python3")
        .arg(script)
        .args([&created.upload_url, &token, id.as_str(), "1", path.to_str().unwrap()])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "tuspy failed (pip install tuspy): {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("/api/v1/uploads/"));
    let patches = proxy.seen().iter().filter(|s| s.method == "PATCH" && s.status == Some(204)).count();
    assert!(patches >= 5, "tuspy used {patches} PATCH requests");
    let status: PackageDetail = api.package(&token, id.as_str());
    assert!(status.package.blobs[1].complete && !status.package.blobs[0].complete, "{status:?}");

    // Blob 0 by hand (one PATCH), finalize, and download blob 1 as a recipient.
    let metadata = format!("package {},blob {}", b64(id.as_str()), b64("0"));
    let length = manifest.len().to_string();
    let made =
        api.send("POST", "/uploads", &token, &[TUS, ("Upload-Length", &length), ("Upload-Metadata", &metadata)], b"");
    assert_eq!(made.status, 201, "{}", made.text());
    let location = made.header("Location").unwrap().to_string();
    let patch_headers = [TUS, ("Upload-Offset", "0"), ("Content-Type", "application/offset+octet-stream")];
    assert_eq!(api.send("PATCH", &location, &token, &patch_headers, &manifest).status, 204);
    let secret = LinkSecret::generate().unwrap();
    let verifier = access_proof(&id, &secret, None).verifier().to_base64url();
    let link_verifier = link_proof(&id, &secret).verifier().to_base64url();
    let finalize = FinalizeRequest { access_verifier: verifier, link_verifier };
    let finalized = api.post(&format!("/packages/{id}/finalize"), &token, &finalize);
    assert_eq!(finalized.status, 200, "{}", finalized.text());
    let link = Link::new(&server.public_url, PackageId::parse(id.as_str()).unwrap(), secret).to_string();
    let granted: AccessGranted = api.granted(&link, None, None);
    assert_eq!(api.get(&granted.blobs[1].url, &granted.download_token).body, blob);
    assert_eq!(api.get(&granted.blobs[0].url, &granted.download_token).body, manifest);
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn send_waits_and_retries_while_another_request_holds_the_upload() {
    // The proxy makes the first PATCH meet a stalled PATCH of its own that
    // holds the upload's lease, so the server answers the CLI with 423.
    let port = free_port();
    let patches = AtomicUsize::new(0);
    let proxy = Proxy::start(port, move |method, path| {
        if method == "PATCH" && is_upload(path) && patches.fetch_add(1, Ordering::Relaxed) == 0 {
            Rule::HoldLease
        } else {
            Rule::Forward
        }
    });
    let server = Server::builder().port(port).public_url(&proxy.url).start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let original = data(50_000, 13);
    let link =
        ok(server.kluis(&token, &["send", &write(work.path(), "f.bin", &original), "--to", BOB, "--verify", "none"]));

    let seen: Vec<_> = proxy.seen().into_iter().filter(|s| is_upload(&s.path)).collect();
    let busy = seen.iter().position(|s| s.method == "PATCH").unwrap();
    assert_eq!(seen[busy].rule, Rule::HoldLease);
    assert_eq!(seen[busy].status, Some(423), "the server said the upload is busy: {seen:#?}");
    // Then: a pause, HEAD for the offset, and the same PATCH again, accepted.
    let (head, retry) = (&seen[busy + 1], &seen[busy + 2]);
    assert_eq!((head.method.as_str(), head.status), ("HEAD", Some(200)), "{seen:#?}");
    assert_eq!((retry.method.as_str(), retry.status, retry.path == seen[busy].path), ("PATCH", Some(204), true));
    let pause = head.at.duration_since(seen[busy].at);
    assert!(pause >= Duration::from_millis(1500), "the CLI backed off before retrying ({pause:?})");
    assert!(pause < Duration::from_secs(10), "and not for long ({pause:?})");

    let dest = work.path().join("in");
    ok(server.kluis("", &["receive", &link, "-o", dest.to_str().unwrap()]));
    assert!(std::fs::read(dest.join("f.bin")).unwrap() == original);
}

#[test]
fn upload_survives_kill_9_of_the_server() {
    let port = free_port();
    // The first PATCH stops at 36 MiB until the server is dead: the kill
    // lands mid-body whatever the machine's speed.
    let patches = AtomicUsize::new(0);
    let proxy = Proxy::start(port, move |method, _| {
        if method == "PATCH" && patches.fetch_add(1, Ordering::Relaxed) == 0 {
            Rule::HoldAfter(36 << 20)
        } else {
            Rule::Forward
        }
    });
    // The killed server's write lease on the upload outlives it (it lapses
    // after three body timeouts and 5 s): a short body timeout keeps the
    // CLI's wait for it short.
    let mut server = Server::builder().port(port).public_url(&proxy.url).limit("body_timeout_seconds = 5").start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let original = data(64 << 20, 6);
    let file = write(work.path(), "big.bin", &original);
    let child = server
        .command_as(&token)
        .args(["send", &file, "--to", BOB, "--verify", "none"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the server once it made 32 MiB durable (a checkpoint every 16
    // MiB), then start it again on the same data and let the body go on.
    wait_for(60, "the upload held at 36 MiB", || proxy.holding().then_some(()));
    let upload = proxy.seen().into_iter().find(|s| s.method == "PATCH").unwrap().path;
    let head = || Api::new(&server.url).head(&format!("{}{upload}", server.url), &token, &[TUS]);
    let durable = || head().header("Upload-Offset").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    wait_for(20, "32 MiB durable", || (durable() >= 32 << 20).then_some(()));
    server.kill9();
    std::thread::sleep(Duration::from_millis(500));
    server.restart();
    proxy.release();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "send failed: {err}\nserver: {}", server.log());
    assert!(err.contains("resuming"), "the CLI resumed rather than failed: {err}");
    // The CLI went on from what the server had made durable, not from 0,
    // once the dead writer's lease had lapsed (423 until then).
    let resumed = proxy.seen().into_iter().filter(|s| s.method == "PATCH" && s.upload_offset.unwrap_or(0) > 0).count();
    assert!(resumed >= 1, "a PATCH went on from where the server stopped: {:#?}", proxy.seen());
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let dest = work.path().join("in");
    ok(server.kluis("", &["receive", &link, "-o", dest.to_str().unwrap()]));
    assert!(std::fs::read(dest.join("big.bin")).unwrap() == original, "bytes differ after a resumed upload");
    assert_eq!(server.api().package(&token, &package_id(&link)).package.downloads, 1);
}

//! `kluis send` / `kluis receive` / `kluis revoke` against a real server
//! process on 127.0.0.1: verification codes from the outbox, passwords,
//! expiry, revocation, download limits, tampering, and uploads that survive
//! `kill -9` of the server.

mod support;

use std::process::{Command, Stdio};

use support::{Server, data, ok, stderr};

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

fn package_id(link: &str) -> String {
    link.rsplit_once("/p/").unwrap().1.split('#').next().unwrap().to_string()
}

#[test]
fn send_and_receive_several_files_without_verification() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let files = [
        ("empty.txt", vec![]),
        ("one.bin", data(1, 1)),
        ("report.pdf", data(1_000_000, 2)),
        ("chunky", data(65_536 * 3, 3)),
    ];
    let paths: Vec<String> = files.iter().map(|(n, d)| write(work.path(), n, d)).collect();
    let mut args = vec!["send", "--to", BOB, "--verify", "none", "--message", "Hoi Bob"];
    args.extend(paths.iter().map(String::as_str));
    let link = ok(server.kluis(&token, &args));
    assert!(link.starts_with(&format!("{}/p/", server.url)), "{link}");
    assert!(link.contains('#'));

    let out = work.path().join("received");
    let saved = ok(server.kluis("", &["receive", &link, "-o", out.to_str().unwrap()]));
    assert_eq!(saved.lines().count(), files.len(), "one saved path per file: {saved}");
    for (name, bytes) in &files {
        assert!(std::fs::read(out.join(name)).unwrap() == *bytes, "{name} differs");
    }
    // Receiving again does not overwrite: the second copy gets a new name.
    ok(server.kluis("", &["receive", &link, "-o", out.to_str().unwrap()]));
    assert!(out.join("report (1).pdf").exists());
}

#[test]
fn verification_code_by_mail() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "secret.txt", b"for Bob only");
    let link = ok(server.kluis(&token, &["send", &file, "--to", BOB]));
    let dest = work.path().join("in");
    let dest = dest.to_str().unwrap();

    // Without an address there is nobody to send the code to.
    let out = server.kluis("", &["receive", &link, "-o", dest]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--email"), "{}", stderr(&out));

    // Without a terminal: the code is sent and the exit status is 2.
    let out = server.kluis("", &["receive", &link, "-o", dest, "--email", BOB]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let code = server.code_for(BOB);

    let wrong = if code == "000000" { "000001" } else { "000000" };
    let out = server.kluis("", &["receive", &link, "-o", dest, "--email", BOB, "--code", wrong]);
    assert!(stderr(&out).contains("4 tries left"), "{}", stderr(&out));

    // An address that is not a recipient never gets a code.
    let mails = server.mails().len();
    let out = server.kluis("", &["receive", &link, "-o", dest, "--email", "mallory@example.org"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(server.mails().len(), mails);

    ok(server.kluis("", &["receive", &link, "-o", dest, "--email", BOB, "--code", &code]));
    assert_eq!(std::fs::read(work.path().join("in/secret.txt")).unwrap(), b"for Bob only");
    // A code works once.
    let out = server.kluis("", &["receive", &link, "-o", dest, "--email", BOB, "--code", &code]);
    assert!(!out.status.success());
}

#[test]
fn five_wrong_codes_lock() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let link = ok(server.kluis(&token, &["send", &write(work.path(), "f", b"x"), "--to", BOB]));
    let dest = work.path().to_str().unwrap().to_string();
    assert_eq!(server.kluis("", &["receive", &link, "-o", &dest, "--email", BOB]).status.code(), Some(2));
    let code = server.code_for(BOB);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..4 {
        server.kluis("", &["receive", &link, "-o", &dest, "--email", BOB, "--code", wrong]);
    }
    let out = server.kluis("", &["receive", &link, "-o", &dest, "--email", BOB, "--code", wrong]);
    assert!(stderr(&out).contains("Too many wrong codes"), "{}", stderr(&out));
    let out = server.kluis("", &["receive", &link, "-o", &dest, "--email", BOB, "--code", &code]);
    assert!(!out.status.success(), "the right code no longer works once locked");
}

#[test]
fn password_protected_package() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "plan.txt", &data(100_000, 9));
    let pw = write(work.path(), "pw", b"correct horse\n");
    let wrong = write(work.path(), "wrong", b"incorrect horse\n");
    let link = ok(server.kluis(&token, &["send", &file, "--to", BOB, "--verify", "none", "--password-file", &pw]));
    let dest = work.path().join("in");
    let out = server.kluis("", &["receive", &link, "-o", dest.to_str().unwrap()]);
    assert!(stderr(&out).contains("password"), "a password is asked for before anything is downloaded");
    let out = server.kluis("", &["receive", &link, "-o", dest.to_str().unwrap(), "--password-file", &wrong]);
    assert!(stderr(&out).contains("the password is wrong"), "{}", stderr(&out));
    ok(server.kluis("", &["receive", &link, "-o", dest.to_str().unwrap(), "--password-file", &pw]));
    assert_eq!(std::fs::read(dest.join("plan.txt")).unwrap(), data(100_000, 9));
}

#[test]
fn link_without_its_secret_cannot_open() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let link = ok(server.kluis(&token, &["send", &write(work.path(), "f", b"x"), "--to", BOB, "--verify", "none"]));
    let (base, secret) = link.split_once('#').unwrap();
    let out = server.kluis("", &["receive", base, "-o", work.path().to_str().unwrap()]);
    assert!(stderr(&out).contains("incomplete"), "{}", stderr(&out));
    // A different (valid-looking) secret: the server releases S, but the key is wrong.
    let mut other = secret.chars().collect::<Vec<_>>();
    other[0] = if other[0] == 'A' { 'B' } else { 'A' };
    let forged = format!("{base}#{}", other.into_iter().collect::<String>());
    let out = server.kluis("", &["receive", &forged, "-o", work.path().to_str().unwrap()]);
    assert!(stderr(&out).contains("does not open this package"), "{}", stderr(&out));
}

#[test]
fn download_limit() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "f.txt", b"twice");
    let link =
        ok(server.kluis(&token, &["send", &file, "--to", BOB, "--verify", "none", "--max-downloads", "2", "--notify"]));
    for i in 0..2 {
        ok(server.kluis("", &["receive", &link, "-o", work.path().join(format!("d{i}")).to_str().unwrap()]));
    }
    let out = server.kluis("", &["receive", &link, "-o", work.path().join("d3").to_str().unwrap()]);
    assert!(stderr(&out).contains("downloaded as often as the sender allowed"), "{}", stderr(&out));
    // The sender asked to hear about the first download, once.
    let notices = server.mails().iter().filter(|m| m.contains("opened for the first time")).count();
    assert_eq!(notices, 1);
}

#[test]
fn revocation_deletes_the_blobs() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let link =
        ok(server
            .kluis(&token, &["send", &write(work.path(), "f", &data(200_000, 4)), "--to", BOB, "--verify", "none"]));
    let blobs = server.data().join("blobs").join(package_id(&link));
    assert!(blobs.join("1").exists());
    // Only the sender may revoke.
    let other = server.token("eve@example.org");
    let out = server.kluis(&other, &["revoke", &link]);
    assert!(!out.status.success());
    ok(server.kluis(&token, &["revoke", &link]));
    assert!(!blobs.exists(), "blobs are deleted at once");
    let out = server.kluis("", &["receive", &link, "-o", work.path().to_str().unwrap()]);
    assert!(stderr(&out).contains("withdrew"), "{}", stderr(&out));
}

#[test]
fn expiry_then_janitor() {
    let mut server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let link = ok(server.kluis(
        &token,
        &["send", &write(work.path(), "f", b"soon gone"), "--to", BOB, "--verify", "none", "--expires", "1d"],
    ));
    let id = package_id(&link);
    server.sql(&format!("UPDATE packages SET expires_at = strftime('%s','now') - 1 WHERE id = '{id}'"));
    let out = server.kluis("", &["receive", &link, "-o", work.path().to_str().unwrap()]);
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
    // The janitor runs at start: S and the blobs go, the audit log remembers.
    server.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.data().join("blobs").join(&id).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!server.data().join("blobs").join(&id).exists());
    let conn = rusqlite::Connection::open(server.data().join("kluis.db")).unwrap();
    let (share, state): (Option<Vec<u8>>, String) = conn
        .query_row("SELECT server_share, state FROM packages WHERE id = ?1", [&id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((share, state.as_str()), (None, "expired"));
    let events: Vec<String> = conn
        .prepare("SELECT event FROM audit WHERE package_id = ?1 ORDER BY id")
        .unwrap()
        .query_map([&id], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events, ["created", "uploaded", "uploaded", "finalized", "expired"]);
}

#[test]
fn tampered_blob_is_detected_and_nothing_is_saved() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let original = data(500_000, 5);
    let link =
        ok(server
            .kluis(&token, &["send", &write(work.path(), "data.bin", &original), "--to", BOB, "--verify", "none"]));
    let blob = server.data().join("blobs").join(package_id(&link)).join("1");
    let mut bytes = std::fs::read(&blob).unwrap();
    let i = bytes.len() - 1000;
    bytes[i] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();
    let dest = work.path().join("in");
    let out = server.kluis("", &["receive", &link, "-o", dest.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("failed authentication: the file was modified or damaged"), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(&dest).unwrap().collect();
    assert!(left.is_empty(), "no file, not even a partial one, is left: {left:?}");
}

#[test]
fn upload_survives_kill_9_of_the_server() {
    let mut server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let original = data(96 << 20, 6);
    let file = write(work.path(), "big.bin", &original);
    // A slow, steady upload: the server is killed while it runs.
    let child = Command::new(support::KLUIS)
        .args(["send", &file, "--to", BOB, "--verify", "none"])
        .env("KLUIS_SERVER", &server.url)
        .env("KLUIS_TOKEN", &token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until part of the blob is on disk, then kill the server mid-upload.
    let uploads = server.data().join("uploads");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let written: u64 = std::fs::read_dir(&uploads)
            .map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0);
        if written > 20 << 20 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "upload did not start: {}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    server.kill9();
    std::thread::sleep(std::time::Duration::from_millis(500));
    server.restart();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "send failed: {err}\nserver: {}", server.log());
    assert!(err.contains("resuming"), "the CLI resumed rather than failed: {err}");
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let dest = work.path().join("in");
    ok(server.kluis("", &["receive", &link, "-o", dest.to_str().unwrap()]));
    assert!(std::fs::read(dest.join("big.bin")).unwrap() == original, "bytes differ after a resumed upload");
}

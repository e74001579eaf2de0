//! `kluis send` and `kluis receive` against a real server: several files,
//! passwords (refused before anything is counted), a link without its
//! secret, download limits and the sender's notice, revocation, and a
//! blob damaged on its way to the recipient.

use crate::support::proxy::{Proxy, Rule};
use crate::support::{ALICE, BOB, Server, data, free_port, ok, package_id, stderr, write};

/// The sender's count of downloads, from `GET /packages/{id}`.
fn downloads(server: &Server, token: &str, link: &str) -> i64 {
    server.api().package(token, &package_id(link)).package.downloads
}

fn events(server: &Server, token: &str, link: &str) -> Vec<String> {
    server.api().package(token, &package_id(link)).events.into_iter().map(|e| e.event).collect()
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
    // The link alone shows who sent it (`kluis send` registered the link verifier).
    let card = server.api().sender(&link);
    assert_eq!((card.sender.email.as_str(), card.files), (ALICE, files.len() as u32));

    let out = work.path().join("received");
    let saved = ok(server.kluis("", &["receive", &link, "-o", out.to_str().unwrap()]));
    assert_eq!(saved.lines().count(), files.len(), "one saved path per file: {saved}");
    for (name, bytes) in &files {
        assert!(std::fs::read(out.join(name)).unwrap() == *bytes, "{name} differs");
    }
    // Receiving again does not overwrite: the second copy gets a new name.
    ok(server.kluis("", &["receive", &link, "-o", out.to_str().unwrap()]));
    assert!(out.join("report (1).pdf").exists());
    assert_eq!(downloads(&server, &token, &link), 2);
}

#[test]
fn wrong_password_is_refused_before_anything_is_counted() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "plan.txt", &data(100_000, 9));
    let pw = write(work.path(), "pw", b"correct horse\n");
    let wrong = write(work.path(), "wrong", b"incorrect horse\n");
    let link = ok(server.kluis(
        &token,
        &["send", &file, "--to", BOB, "--verify", "none", "--password-file", &pw, "--max-downloads", "1"],
    ));
    let dest = work.path().join("in");
    let dest = dest.to_str().unwrap();
    // Who sent it shows without the password.
    assert_eq!(server.api().sender(&link).sender.email, ALICE);

    let out = server.kluis("", &["receive", &link, "-o", dest]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--password-file"), "a password is asked for first: {}", stderr(&out));
    for _ in 0..3 {
        let out = server.kluis("", &["receive", &link, "-o", dest, "--password-file", &wrong]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("the password is wrong (nothing was counted)"), "{}", stderr(&out));
    }
    assert!(!work.path().join("in").exists() || std::fs::read_dir(dest).unwrap().next().is_none());
    // The server agrees: no download counted, so the only one allowed is still there.
    assert_eq!(downloads(&server, &token, &link), 0);
    assert!(!events(&server, &token, &link).contains(&"accessed".to_string()));

    ok(server.kluis("", &["receive", &link, "-o", dest, "--password-file", &pw]));
    assert_eq!(std::fs::read(work.path().join("in/plan.txt")).unwrap(), data(100_000, 9));
    assert_eq!(downloads(&server, &token, &link), 1);
}

#[test]
fn wrong_password_mails_no_code() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let pw = write(work.path(), "pw", b"correct horse\n");
    let wrong = write(work.path(), "wrong", b"incorrect horse\n");
    let link = ok(server.kluis(&token, &["send", &write(work.path(), "f", b"x"), "--to", BOB, "--password-file", &pw]));
    let dest = work.path().to_str().unwrap().to_string();
    let mark = server.mark();
    let out = server.kluis("", &["receive", &link, "-o", &dest, "--email", BOB, "--password-file", &wrong]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("the password is wrong"), "{}", stderr(&out));
    server.flush_mail();
    assert!(server.new_mails(&mark, BOB).is_empty(), "a wrong password sent Bob a code");

    let out = server.kluis("", &["receive", &link, "-o", &dest, "--email", BOB, "--password-file", &pw]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let code = server.new_code(&mark, BOB);
    ok(server.kluis("", &["receive", &link, "-o", &dest, "--email", BOB, "--password-file", &pw, "--code", &code]));
    assert_eq!(downloads(&server, &token, &link), 1);
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
    // A different (valid-looking) secret: the access proof is wrong, so the
    // server releases nothing and counts nothing.
    let mut other = secret.chars().collect::<Vec<_>>();
    other[0] = if other[0] == 'A' { 'B' } else { 'A' };
    let forged = format!("{base}#{}", other.into_iter().collect::<String>());
    let out = server.kluis("", &["receive", &forged, "-o", work.path().to_str().unwrap()]);
    assert!(stderr(&out).contains("does not open this package"), "{}", stderr(&out));
    assert_eq!(downloads(&server, &token, &link), 0);
    assert_eq!(server.api().access(&forged, None, None).error_code(), "wrong_link");
}

#[test]
fn download_limit_and_the_senders_notice() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "f.txt", b"twice");
    let mark = server.mark();
    let link =
        ok(server.kluis(&token, &["send", &file, "--to", BOB, "--verify", "none", "--max-downloads", "2", "--notify"]));
    for i in 0..2 {
        ok(server.kluis("", &["receive", &link, "-o", work.path().join(format!("d{i}")).to_str().unwrap()]));
    }
    let out = server.kluis("", &["receive", &link, "-o", work.path().join("d3").to_str().unwrap()]);
    assert!(stderr(&out).contains("downloaded as often as the sender allowed"), "{}", stderr(&out));
    let view = server.api().package(&token, &package_id(&link)).package;
    assert_eq!((view.downloads, view.downloads_left), (2, Some(0)));
    // The sender asked to hear about the first download, once.
    server.wait_mail(&mark, ALICE, |m| m.text.contains("opened for the first time"));
    server.flush_mail();
    let notices =
        server.new_mails(&mark, ALICE).iter().filter(|m| m.text.contains("opened for the first time")).count();
    assert_eq!(notices, 1);
}

#[test]
fn revocation_ends_the_package_at_once() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let link =
        ok(server
            .kluis(&token, &["send", &write(work.path(), "f", &data(200_000, 4)), "--to", BOB, "--verify", "none"]));
    // A recipient opened it before the revocation; their session may download.
    let api = server.api();
    let session = api.granted(&link, None, None);
    let blob = &session.blobs[1].url;
    assert_eq!(api.get(blob, &session.download_token).status, 200);

    // Only the sender may revoke.
    let other = server.token("eve@example.org");
    let out = server.kluis(&other, &["revoke", &link]);
    assert!(!out.status.success());
    ok(server.kluis(&token, &["revoke", &link]));

    let refused = api.get(blob, &session.download_token);
    assert!(refused.status >= 400, "the blob is gone at once: HTTP {}", refused.status);
    assert_eq!(api.package(&token, &package_id(&link)).package.state, kluis_protocol::api::PackageState::Revoked);
    assert!(events(&server, &token, &link).contains(&"revoked".to_string()));
    let out = server.kluis("", &["receive", &link, "-o", work.path().to_str().unwrap()]);
    assert!(stderr(&out).contains("withdrew"), "{}", stderr(&out));
}

/// Each file is bound to its blob by the blob's header hash: a server that
/// hands out another blob of the same package (same key, same length, so it
/// decrypts) is caught before a byte is written.
#[test]
fn swapped_blobs_are_refused_before_anything_is_saved() {
    let port = free_port();
    let proxy = Proxy::start(port, |method, path| {
        if method == "GET" && path.ends_with("/blobs/1") { Rule::BlobInstead(2) } else { Rule::Forward }
    });
    let server = Server::builder().port(port).public_url(&proxy.url).start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (data(200_000, 1), data(200_000, 2));
    let files = [write(work.path(), "a.bin", &a), write(work.path(), "b.bin", &b)];
    let link = ok(server.kluis(&token, &["send", &files[0], &files[1], "--to", BOB, "--verify", "none"]));
    let dest = work.path().join("in");
    let out = server.kluis("", &["receive", &link, "-o", dest.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not the file that was sent"), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(&dest).unwrap().collect();
    assert!(left.is_empty(), "no file, not even a partial one, is left: {left:?}");
    assert!(proxy.seen().iter().any(|s| s.rule == Rule::BlobInstead(2) && s.status == Some(200)));
}

#[test]
fn tampered_blob_is_detected_and_nothing_is_saved() {
    // A proxy in front of the server flips one bit of the file's ciphertext
    // on its way to the recipient.
    let port = free_port();
    let proxy = Proxy::start(port, |method, path| {
        if method == "GET" && path.ends_with("/blobs/1") { Rule::FlipByte(400_000) } else { Rule::Forward }
    });
    let server = Server::builder().port(port).public_url(&proxy.url).start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let original = data(500_000, 5);
    let link =
        ok(server
            .kluis(&token, &["send", &write(work.path(), "data.bin", &original), "--to", BOB, "--verify", "none"]));
    let dest = work.path().join("in");
    let out = server.kluis("", &["receive", &link, "-o", dest.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("failed authentication: the file was modified or damaged"), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(&dest).unwrap().collect();
    assert!(left.is_empty(), "no file, not even a partial one, is left: {left:?}");
    assert!(proxy.seen().iter().any(|s| s.rule == Rule::FlipByte(400_000) && s.status == Some(200)));
}

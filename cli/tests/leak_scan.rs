//! The server never holds plaintext, link secrets, passwords or keys: after
//! a full send and receive, scan every byte the server wrote (database and
//! its WAL, blobs, uploads, outbox, logs) for them.

mod support;

use kluis_crypto::package::{LinkSecret, ServerShare, package_identity, stretch_password};
use kluis_protocol::Link;
use support::{Server, ok};

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom(&mut b);
    hex::encode(b)
}

fn getrandom(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom").unwrap().read_exact(buf).unwrap();
}

fn all_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn server_never_sees_plaintext_link_secrets_passwords_or_keys() {
    let server = Server::start();
    let token = server.token("alice@example.org");
    let work = tempfile::tempdir().unwrap();

    let marker = format!("PLAINTEXT-{}", random_hex(16));
    let name = format!("secret-name-{}.txt", random_hex(8));
    let subject = format!("secret-subject-{}", random_hex(8));
    let message = format!("secret-message-{}", random_hex(8));
    let password = format!("secret-password-{}", random_hex(8));
    let mut content = marker.clone().into_bytes();
    content.extend(support::data(300_000, 77));
    content.extend(marker.as_bytes());
    let file = work.path().join(&name);
    std::fs::write(&file, &content).unwrap();
    let pw = work.path().join("pw");
    std::fs::write(&pw, format!("{password}\n")).unwrap();

    let link = ok(server.kluis(
        &token,
        &[
            "send",
            file.to_str().unwrap(),
            "--to",
            "bob@example.org",
            "--subject",
            &subject,
            "--message",
            &message,
            "--password-file",
            pw.to_str().unwrap(),
        ],
    ));
    let dest = work.path().join("in");
    assert_eq!(
        server
            .kluis(
                "",
                &[
                    "receive",
                    &link,
                    "-o",
                    dest.to_str().unwrap(),
                    "--email",
                    "bob@example.org",
                    "--password-file",
                    pw.to_str().unwrap()
                ]
            )
            .status
            .code(),
        Some(2)
    );
    let code = server.code_for("bob@example.org");
    ok(server.kluis(
        "",
        &[
            "receive",
            &link,
            "-o",
            dest.to_str().unwrap(),
            "--email",
            "bob@example.org",
            "--code",
            &code,
            "--password-file",
            pw.to_str().unwrap(),
        ],
    ));
    assert_eq!(std::fs::read(dest.join(&name)).unwrap(), content);

    // What the client knows and the server must not.
    let parsed = Link::parse(&link).unwrap();
    let l_text = parsed.link_secret.to_base64url().to_string();
    let l_raw = parsed.link_secret.expose().to_vec();
    let conn = rusqlite::Connection::open(server.data().join("kluis.db")).unwrap();
    let share: Vec<u8> = conn
        .query_row("SELECT server_share FROM packages WHERE id = ?1", [parsed.package_id.as_str()], |r| r.get(0))
        .unwrap();
    let share = ServerShare::from_bytes(share.try_into().unwrap());
    let stretched = stretch_password(&parsed.package_id, &password);
    let link_again = LinkSecret::from_bytes(l_raw.clone().try_into().unwrap());
    let identity = package_identity(&parsed.package_id, &link_again, &share, Some(&stretched));
    let secret_key = identity.to_secret_string().to_string();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&content))
    };
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("plaintext", marker.into_bytes()),
        ("file name", name.into_bytes()),
        ("subject", subject.into_bytes()),
        ("message", message.into_bytes()),
        ("password", password.into_bytes()),
        ("link secret (text)", l_text.into_bytes()),
        ("link secret (bytes)", l_raw),
        ("stretched password", stretched.expose().to_vec()),
        ("package identity", secret_key.into_bytes()),
        ("file checksum", sha.into_bytes()),
    ];

    drop(conn);
    let mut files = Vec::new();
    all_files(&server.data(), &mut files);
    let mut scanned = 0;
    let mut blobs = 0;
    let log = server.log();
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        scanned += bytes.len();
        blobs += path.components().any(|c| c.as_os_str() == "blobs") as usize;
        for (what, secret) in &secrets {
            assert!(!contains(&bytes, secret), "{what} found in {}", path.display());
        }
    }
    for (what, secret) in &secrets {
        assert!(!contains(log.as_bytes(), secret), "{what} found in the server log");
    }
    assert!(blobs >= 2 && scanned > 300_000, "the scan covered the blobs ({blobs} files, {scanned} bytes)");
    assert!(log.contains("request"), "the scan covered a real log");
}

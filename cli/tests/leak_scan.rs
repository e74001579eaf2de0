//! End-to-end leak scan: the server never holds plaintext, link secrets,
//! passwords, keys, access proofs or bearer tokens. After a full round of
//! every flow — sign-in with a mailed code, `kluis token list`, `kluis
//! send` with subject, message and password, a wrong password, a mailed
//! verification code, `kluis receive`, the access call that releases S,
//! `kluis key init`, `kluis request`, an outsider's upload through the link
//! and `kluis fetch`, a package to a colleague's key fetched from their
//! inbox — scan every byte the server wrote (database and its
//! WAL, blobs, uploads, outbox, log) for them.
//!
//! This is the one test that reads the server's data directory, and it may
//! because it made it: it creates the directory, hands it to the server
//! (`Builder::data_dir`) and scans it afterwards. Everything it needs to
//! know it learns as a client would — S comes from the access answer, not
//! from the database — so it reads the files only to scan them. The CLI's
//! other tests (`cli/tests/cli/`) never look inside.

#[path = "cli/support/mod.rs"]
mod support;

use kluis_crypto::package::{ServerShare, access_proof, package_identities, stretch_password};
use kluis_protocol::Link;
use kluis_protocol::api::AccessGranted;
use support::{ALICE, BOB, Server, ok};

const CAROL: &str = "carol@example.org";

fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut b = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut b).unwrap();
    hex::encode(b)
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

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn server_never_sees_plaintext_link_secrets_passwords_keys_or_tokens() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = Server::builder().data_dir(data_dir.path()).start();
    let api = server.api();
    let work = tempfile::tempdir().unwrap();

    // Sign-in: a token from the admin command, then one for a mailed code.
    let admin_token = server.token(ALICE);
    let mark = server.mark();
    let token = server.sign_in(ALICE, "leak scan");
    let signin_code = server.wait_mail(&mark, ALICE, |m| m.subject.contains("sign-in code")).code();
    let list = ok(server.kluis(&token, &["token", "list"]));
    assert!(list.contains("leak scan"), "{list}");

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
    let wrong = work.path().join("wrong");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let (pw, wrong) = (pw.to_str().unwrap(), wrong.to_str().unwrap());

    let link = ok(server.kluis(
        &token,
        &[
            "send",
            file.to_str().unwrap(),
            "--to",
            BOB,
            "--to",
            CAROL,
            "--subject",
            &subject,
            "--message",
            &message,
            "--password-file",
            pw,
        ],
    ));
    let dest = work.path().join("in");
    let dest = dest.to_str().unwrap();
    let receive = |extra: &[&str]| {
        let mut args = vec!["receive", &link, "-o", dest, "--email", BOB];
        args.extend(extra);
        server.kluis("", &args)
    };
    assert!(!receive(&["--password-file", wrong]).status.success());
    let mark = server.mark();
    assert_eq!(receive(&["--password-file", pw]).status.code(), Some(2));
    let verification_code = server.new_code(&mark, BOB);
    ok(receive(&["--password-file", pw, "--code", &verification_code]));
    assert_eq!(std::fs::read(work.path().join("in").join(&name)).unwrap(), content);

    // S, as a recipient gets it: the other recipient's code (one a minute
    // per address), and the access call with A.
    let mark = server.mark();
    assert_eq!(api.request_code(&link, Some(&password), CAROL).status, 202);
    let second_code = server.new_code(&mark, CAROL);
    let granted: AccessGranted = api.granted(&link, Some(&password), Some((CAROL, &second_code)));
    let share = ServerShare::from_base64url(&granted.server_share).unwrap();
    server.flush_mail();

    // What the client knows and the server must not.
    let parsed = Link::parse(&link).unwrap();
    let id = &parsed.package_id;
    let stretched = stretch_password(id, &password);
    let [identity, post_quantum_identity] = package_identities(id, &parsed.link_secret, &share, Some(&stretched));
    let proof = access_proof(id, &parsed.link_secret, Some(&stretched));
    let proof_text = proof.to_base64url().to_string();
    let proof_raw = proof.expose().to_vec();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&content))
    };
    let link_raw = parsed.link_secret.expose().to_vec();
    // Receiving files: Alice's key (its passphrase and identity stay with her),
    // a request, an outsider's upload through it, and `kluis fetch`.
    let config = work.path().join("config");
    let passphrase = format!("secret-passphrase-{}", random_hex(8));
    let pass_file = work.path().join("passphrase");
    std::fs::write(&pass_file, format!("{passphrase}\n")).unwrap();
    let receiving =
        |args: &[&str]| server.command_as(&token).env("KLUIS_CONFIG_DIR", &config).args(args).output().unwrap();
    ok(receiving(&["key", "init", "--passphrase-file", pass_file.to_str().unwrap()]));
    let identity_text = std::fs::read_to_string(config.join("identity.txt")).unwrap();
    let own_identity = identity_text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).unwrap().to_string();
    let request_link = ok(receiving(&["request", "--to", "jan@klant.nl"])).trim().to_string();
    let inbound_marker = format!("INBOUND-PLAINTEXT-{}", random_hex(16));
    let inbound_name = format!("inbound-name-{}.txt", random_hex(8));
    let inbound_message = format!("inbound-message-{}", random_hex(8));
    let mut inbound_content = inbound_marker.clone().into_bytes();
    inbound_content.extend(support::data(50_000, 9));
    let files = [(inbound_name.as_str(), inbound_content.clone())];
    let delivery = support::outsider::upload_through(&server, &request_link, "jan@klant.nl", &inbound_message, &files);
    let fetched = work.path().join("fetched");
    std::fs::create_dir_all(&fetched).unwrap();
    ok(receiving(&["fetch", &delivery, "--out", fetched.to_str().unwrap()]));
    assert_eq!(std::fs::read(fetched.join(&inbound_name)).unwrap(), inbound_content, "the round was real");

    // A package to Bob, a colleague with a key: in his inbox, fetched with his identity.
    let bob_token = server.token(BOB);
    let bob_config = work.path().join("bob-config");
    let bob_passphrase = format!("secret-bob-passphrase-{}", random_hex(8));
    let bob_pass_file = work.path().join("bob-passphrase");
    std::fs::write(&bob_pass_file, format!("{bob_passphrase}\n")).unwrap();
    let as_bob =
        |args: &[&str]| server.command_as(&bob_token).env("KLUIS_CONFIG_DIR", &bob_config).args(args).output().unwrap();
    ok(as_bob(&["key", "init", "--passphrase-file", bob_pass_file.to_str().unwrap()]));
    let bob_identity_text = std::fs::read_to_string(bob_config.join("identity.txt")).unwrap();
    let bob_identity = bob_identity_text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).unwrap().to_string();
    let colleague_marker = format!("COLLEAGUE-PLAINTEXT-{}", random_hex(16));
    let colleague_name = format!("colleague-name-{}.txt", random_hex(8));
    let mut colleague_content = colleague_marker.clone().into_bytes();
    colleague_content.extend(support::data(40_000, 13));
    let colleague_file = work.path().join(&colleague_name);
    std::fs::write(&colleague_file, &colleague_content).unwrap();
    let colleague_link =
        ok(server.kluis(&token, &["send", colleague_file.to_str().unwrap(), "--to", BOB, "--verify", "none"]));
    let colleague_package = Link::parse(&colleague_link).unwrap().package_id.as_str().to_string();
    let bob_fetched = work.path().join("bob-fetched");
    ok(as_bob(&["fetch", &colleague_package, "--out", bob_fetched.to_str().unwrap()]));
    assert_eq!(std::fs::read(bob_fetched.join(&colleague_name)).unwrap(), colleague_content, "the round was real");
    let colleague_link_secret = Link::parse(&colleague_link).unwrap().link_secret.to_base64url().to_string();

    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("plaintext", marker.into_bytes()),
        ("file name", name.into_bytes()),
        ("subject", subject.into_bytes()),
        ("message", message.into_bytes()),
        ("password", password.clone().into_bytes()),
        ("link secret (base64url)", parsed.link_secret.to_base64url().to_string().into_bytes()),
        ("link secret (bytes)", link_raw.clone()),
        ("link secret (hex)", hex::encode(&link_raw).into_bytes()),
        ("stretched password (bytes)", stretched.expose().to_vec()),
        ("stretched password (base64url)", b64url(stretched.expose()).into_bytes()),
        ("package identity", identity.to_secret_string().to_string().into_bytes()),
        ("package identity (post-quantum)", post_quantum_identity.to_secret_string().to_string().into_bytes()),
        ("access proof A (base64url)", proof_text.into_bytes()),
        ("access proof A (bytes)", proof_raw),
        ("file checksum", sha.into_bytes()),
        ("API token (admin)", admin_token.into_bytes()),
        ("API token (signed in)", token.into_bytes()),
        ("download token", granted.download_token.into_bytes()),
        ("passphrase of the user's key", passphrase.into_bytes()),
        ("the user's identity", own_identity.into_bytes()),
        ("uploaded plaintext", inbound_marker.into_bytes()),
        ("uploaded file name", inbound_name.into_bytes()),
        ("uploader's message", inbound_message.into_bytes()),
        ("API token (colleague)", bob_token.into_bytes()),
        ("passphrase of the colleague's key", bob_passphrase.into_bytes()),
        ("the colleague's identity", bob_identity.into_bytes()),
        ("plaintext sent to a colleague", colleague_marker.into_bytes()),
        ("file name sent to a colleague", colleague_name.into_bytes()),
        ("link secret of the colleague's package", colleague_link_secret.into_bytes()),
    ];
    // Codes are mailed, so the outbox holds them; nothing else may.
    let codes: Vec<(&str, String)> = vec![
        ("sign-in code", signin_code),
        ("verification code", verification_code),
        ("second verification code", second_code),
    ];

    // While the server runs: every secret but the codes, in every file of
    // the data directory (the database's WAL still holds the pages of mail
    // before it was sent, codes and all, until SQLite overwrites them).
    let scan_data_dir = |with_codes: bool| {
        let mut files = Vec::new();
        all_files(data_dir.path(), &mut files);
        let (mut scanned, mut blobs) = (0, 0);
        for path in &files {
            let bytes = std::fs::read(path).unwrap();
            scanned += bytes.len();
            blobs += path.components().any(|c| c.as_os_str() == "blobs") as usize;
            for (what, secret) in &secrets {
                assert!(!contains(&bytes, secret), "{what} found in {}", path.display());
            }
            for (what, code) in codes.iter().filter(|_| with_codes) {
                assert!(!contains(&bytes, code.as_bytes()), "{what} found in {}", path.display());
            }
        }
        (files.len(), scanned, blobs)
    };
    let (_, scanned, blobs) = scan_data_dir(false);
    assert!(blobs >= 2 && scanned > 300_000, "the scan covered the blobs ({blobs} files, {scanned} bytes)");

    let mut outbox = Vec::new();
    all_files(server.outbox(), &mut outbox);
    for path in &outbox {
        let bytes = std::fs::read(path).unwrap();
        for (what, secret) in &secrets {
            assert!(!contains(&bytes, secret), "{what} found in the mail {}", path.display());
        }
    }
    assert!(outbox.len() >= 4, "the scan covered the mail ({} files)", outbox.len());

    // Once stopped: no code either, anywhere the server keeps data (sent
    // mail keeps neither subject nor body, and deleted content is zeroed).
    server.stop();
    let (files, scanned, _) = scan_data_dir(true);
    assert!(files >= 3 && scanned > 300_000, "the scan covered the data directory ({files} files)");

    let log = server.log();
    for (what, secret) in &secrets {
        assert!(!contains(log.as_bytes(), secret), "{what} found in the server log");
    }
    // Log lines start with a time whose fraction has six digits too.
    let messages: String = log.lines().map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest)).collect();
    for (what, code) in &codes {
        assert!(!messages.contains(code.as_str()), "{what} found in the server log");
    }
    assert!(log.contains("request") && log.contains("stopped"), "the scan covered a real log");
}

//! Receiving files on the command line (docs/inbound.md): `kluis key`
//! makes the user's key, `kluis request` an upload link; an outsider
//! uploads through it over HTTP as the upload page would (a mailed code, a
//! delivery, tus, finalize); `kluis inbox` lists it and `kluis fetch`
//! decrypts it with the identity file.

use std::path::Path;
use std::process::Output;

use kluis_crypto::x25519;
use kluis_protocol::RequestLink;
use kluis_protocol::inbound::{InboxItem, InboxKind};
use serde_json::json;

use crate::support::outsider::upload_through;
use crate::support::{ALICE, BOB, Server, data, ok, stderr, stdout, write};

const JAN: &str = "jan@klant.nl";
const PASSPHRASE: &str = "correct horse battery staple";

/// A command that must fail; returns its stderr.
fn fails(out: Output) -> String {
    assert_eq!(out.status.code(), Some(1), "expected a failure: {}\n{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{err}");
    err
}

/// The mode bits of a file.
fn mode(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        0o600
    }
}

#[test]
fn a_request_link_brings_files_that_only_the_key_opens() {
    let server = Server::start();
    let alice = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("config");
    let pass = write(work.path(), "pass", format!("{PASSPHRASE}\n").as_bytes());
    let kluis = |args: &[&str]| server.command_as(&alice).env("KLUIS_CONFIG_DIR", &config).args(args).output().unwrap();

    // No key yet: a request says what to do.
    let err = fails(kluis(&["request", "--to", JAN]));
    assert!(err.contains("run `kluis key init` first"), "{err}");
    assert!(stderr(&kluis(&["key", "show"])).contains("no key yet"));

    // A passphrase under 10 characters is refused before anything is kept.
    let short = write(work.path(), "short", b"too short\n");
    let err = fails(kluis(&["key", "init", "--passphrase-file", &short]));
    assert!(err.contains("too short"), "{err}");
    assert!(!config.join("identity.txt").exists());

    // The key: an identity file (0600) in the configuration folder, its recipient on stdout.
    let recipient = ok(kluis(&["key", "init", "--passphrase-file", &pass]));
    assert!(recipient.starts_with("age1"), "{recipient}");
    let identity_file = config.join("identity.txt");
    let identity_text = std::fs::read_to_string(&identity_file).unwrap();
    let identity: x25519::Identity = identity_text.lines().find(|l| !l.starts_with('#')).unwrap().parse().unwrap();
    assert_eq!(identity.to_public().to_string(), recipient);
    assert_eq!(mode(&identity_file), 0o600);
    let shown = ok(kluis(&["key", "show"]));
    assert!(shown.contains(&recipient) && shown.contains("recoverable  no"), "{shown}");
    // A second key only with --replace; the file is never overwritten.
    let err = fails(kluis(&["key", "init", "--passphrase-file", &pass]));
    assert!(err.contains("already have a key") && err.contains("--replace"), "{err}");

    // The request link carries the key's recipient.
    let link = ok(kluis(&["request", "--to", JAN, "--message", "Your tax return, please", "--uploads", "2"]));
    assert!(link.starts_with(&format!("{}/r/", server.public_url)), "{link}");
    assert_eq!(RequestLink::parse(&link).unwrap().recipient.to_string(), recipient);
    let json: serde_json::Value =
        serde_json::from_str(&ok(kluis(&["request", "--verify", "none", "--max-size", "1MB", "--json"]))).unwrap();
    assert_eq!((json["max_bytes"].as_u64(), json["verify"].as_str()), (Some(1_000_000), Some("none")));
    assert!(json["link"].as_str().unwrap().ends_with(&format!("#{recipient}")), "{json}");

    // Nothing in yet; then Jan uploads two files.
    assert!(stderr(&kluis(&["inbox"])).contains("nothing received yet"));
    let report = data(300_000, 5);
    let files = [("return.pdf", report.clone()), ("notes.txt", b"see page 2".to_vec())];
    let delivery = upload_through(&server, &link, JAN, "Here you are", &files);

    let inbox = ok(kluis(&["inbox"]));
    let line = inbox.lines().find(|l| l.starts_with(&delivery)).unwrap_or_else(|| panic!("{delivery} in\n{inbox}"));
    assert!(line.contains(JAN) && !line.contains("not verified"), "{line}");
    assert_eq!(line.split_whitespace().nth(3), Some("2"), "two files: {line}");
    let items: Vec<InboxItem> = serde_json::from_str(&ok(kluis(&["inbox", "--json"]))).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!((items[0].id.as_str(), items[0].from.as_str(), items[0].verified), (delivery.as_str(), JAN, true));

    // Fetch with the identity file in the configuration folder: the same bytes, and the message.
    let dest = work.path().join("in");
    let out = kluis(&["fetch", &delivery, "--out", dest.to_str().unwrap()]);
    let saved = ok(out.clone());
    assert_eq!(std::fs::read(dest.join("return.pdf")).unwrap(), report);
    assert_eq!(std::fs::read(dest.join("notes.txt")).unwrap(), b"see page 2");
    assert_eq!(saved.lines().count(), 2, "{saved}");
    let told = stderr(&out);
    assert!(told.contains(&format!("from {JAN} (address verified)")) && told.contains("Here you are"), "{told}");
    // Again: nothing is overwritten.
    ok(kluis(&["fetch", &delivery, "--out", dest.to_str().unwrap()]));
    assert_eq!(std::fs::read(dest.join("return (1).pdf")).unwrap(), report);

    // Another identity does not open it, and says so.
    let stranger =
        write(work.path(), "stranger.txt", x25519::Identity::generate().unwrap().to_secret_string().as_bytes());
    let err = fails(kluis(&["fetch", &delivery, "--identity", &stranger, "--out", dest.to_str().unwrap()]));
    assert!(err.contains("not for your key") && err.contains("kluis key unlock"), "{err}");
    let err = fails(kluis(&["fetch", "AAAAAAAAAAAAAAAAAAAAAA", "--out", dest.to_str().unwrap()]));
    assert!(err.contains("no item"), "{err}");

    // A second computer: the identity back from the server's copy, with the passphrase only.
    let second = work.path().join("second.txt");
    let wrong = write(work.path(), "wrong", b"not the passphrase\n");
    let err = fails(kluis(&["key", "unlock", "--identity", second.to_str().unwrap(), "--passphrase-file", &wrong]));
    assert!(err.contains("does not unlock"), "{err}");
    assert!(!second.exists());
    let unlocked = ok(kluis(&["key", "unlock", "--identity", second.to_str().unwrap(), "--passphrase-file", &pass]));
    assert_eq!(unlocked, recipient);
    let again: Vec<String> = std::fs::read_to_string(&second).unwrap().lines().map(String::from).collect();
    assert_eq!(again.last().unwrap().as_str(), identity.to_secret_string().as_str());
    assert_eq!(mode(&second), 0o600);
    let err = fails(kluis(&["key", "unlock", "--identity", second.to_str().unwrap(), "--passphrase-file", &pass]));
    assert!(err.contains("already exists"), "{err}");

    // What Alice sends now is encrypted to her own key too: she reopens it
    // with `kluis fetch`, and the recipient's link still opens it.
    let letter = write(work.path(), "letter.txt", b"a copy for me");
    let link = ok(kluis(&["send", &letter, "--to", JAN, "--verify", "none", "--subject", "Copy"]));
    let package = kluis_protocol::Link::parse(&link).unwrap().package_id.as_str().to_string();
    let mine = work.path().join("mine");
    let out = kluis(&["fetch", &package, "--out", mine.to_str().unwrap()]);
    ok(out.clone());
    assert!(stderr(&out).contains("sent by you"), "{}", stderr(&out));
    assert_eq!(std::fs::read(mine.join("letter.txt")).unwrap(), b"a copy for me");
    let theirs = work.path().join("theirs");
    ok(server.kluis("", &["receive", &link, "-o", theirs.to_str().unwrap()]));
    assert_eq!(std::fs::read(theirs.join("letter.txt")).unwrap(), b"a copy for me");
}

#[test]
fn with_recovery_on_the_key_gets_a_copy_and_replace_says_what_is_lost() {
    let server = Server::start();
    let ada = server.admin_token("ada@example.org");
    let alice = server.token(ALICE);
    let api = server.api();
    let recovery = x25519::Identity::generate().unwrap();
    let on = json!({ "recipient": recovery.to_public().to_string() });
    let set =
        api.send("PUT", "/admin/recovery", &ada, &[("Content-Type", "application/json")], on.to_string().as_bytes());
    assert_eq!(set.status, 200, "{}", set.text());
    let work = tempfile::tempdir().unwrap();
    let pass = write(work.path(), "pass", PASSPHRASE.as_bytes());
    let first = work.path().join("first.txt");
    let kluis = |args: &[&str]| server.kluis(&alice, args);

    let recipient = ok(kluis(&["key", "init", "--identity", first.to_str().unwrap(), "--passphrase-file", &pass]));
    assert!(ok(kluis(&["key", "show"])).contains("recoverable  yes"));
    // The organisation's copy holds this identity.
    let state: serde_json::Value = api.get("/key", &alice).json();
    assert_eq!(state["key"]["recipient"], recipient.as_str());
    let users: serde_json::Value = api.get("/admin/users?q=alice", &ada).json();
    let copy: serde_json::Value = api.get(&format!("/admin/users/{}/key", users["users"][0]["id"]), &ada).json();
    let identity = kluis_crypto::decrypt(&[&recovery], copy["recovery"].as_str().unwrap().as_bytes()).unwrap();
    let first_text = std::fs::read_to_string(&first).unwrap();
    assert_eq!(first_text.lines().last().unwrap().as_bytes(), identity.as_slice());

    // A new key only with --replace, which says what the old one keeps.
    let second = work.path().join("second.txt");
    let out = kluis(&["key", "init", "--identity", second.to_str().unwrap(), "--passphrase-file", &pass, "--replace"]);
    let replaced = ok(out.clone());
    assert_ne!(replaced, recipient);
    assert!(stderr(&out).contains(&format!("Replacing your key {recipient}")), "{}", stderr(&out));
    assert!(ok(kluis(&["key", "show"])).contains(&replaced));
    let link = ok(kluis(&["request", "--verify", "none"]));
    assert!(link.ends_with(&format!("#{replaced}")), "{link}");
}

/// Alice sends to Bob, a colleague with a key: the package is also
/// encrypted to his key and in his inbox, where `kluis fetch` opens it with
/// his identity file, without the link; the link still opens it too.
#[test]
fn a_package_to_a_colleague_is_in_their_inbox_and_opens_with_their_key() {
    let server = Server::start();
    let alice = server.token(ALICE);
    let bob = server.token(BOB);
    let work = tempfile::tempdir().unwrap();
    let pass = write(work.path(), "pass", format!("{PASSPHRASE}\n").as_bytes());
    let bob_config = work.path().join("bob");
    let as_bob =
        |args: &[&str]| server.command_as(&bob).env("KLUIS_CONFIG_DIR", &bob_config).args(args).output().unwrap();
    ok(as_bob(&["key", "init", "--passphrase-file", &pass]));

    let report = data(200_000, 9);
    let file = write(work.path(), "report.pdf", &report);
    let out =
        server.command_as(&alice).args(["send", &file, "--to", BOB, "--to", JAN, "--verify", "none"]).output().unwrap();
    let link = ok(out.clone());
    assert!(stderr(&out).contains(&format!("inbox of {BOB}")), "{}", stderr(&out));
    let package = kluis_protocol::Link::parse(&link).unwrap().package_id.as_str().to_string();

    let items: Vec<InboxItem> = serde_json::from_str(&ok(as_bob(&["inbox", "--json"]))).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].id.as_str(), items[0].kind, items[0].from.as_str()),
        (package.as_str(), InboxKind::Package, ALICE)
    );
    let listed = ok(as_bob(&["inbox"]));
    assert!(listed.contains(&package) && listed.contains("a colleague's package"), "{listed}");

    let dest = work.path().join("bob-in");
    let out = as_bob(&["fetch", &package, "--out", dest.to_str().unwrap()]);
    ok(out.clone());
    assert!(stderr(&out).contains(&format!("from {ALICE} (a colleague")), "{}", stderr(&out));
    assert_eq!(std::fs::read(dest.join("report.pdf")).unwrap(), report);

    // The link works as before.
    let theirs = work.path().join("theirs");
    ok(server.kluis("", &["receive", &link, "-o", theirs.to_str().unwrap()]));
    assert_eq!(std::fs::read(theirs.join("report.pdf")).unwrap(), report);

    // Revoked: gone from Bob's inbox.
    ok(server.kluis(&alice, &["revoke", &link]));
    assert!(stderr(&as_bob(&["inbox"])).contains("nothing received yet"));
}

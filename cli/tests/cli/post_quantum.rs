//! Post-quantum keys on the command line (issue 14; docs/architecture.md §3,
//! "Post-quantum recipients"): `kluis key init --pq`, a request link to such
//! a key (about 2000 characters) that an outsider uploads through and `kluis
//! fetch` opens, and a package from a sender with such a key, which is
//! post-quantum itself: `kluis receive` opens it from the link, the sender
//! reopens it with `kluis fetch`, and a colleague whose key is classic is
//! left out of its colleagues (they get the link).

use kluis_crypto::format::read_stanzas;
use kluis_protocol::RequestLink;
use kluis_protocol::inbound::InboxItem;

use crate::support::outsider::upload_through;
use crate::support::{ALICE, BOB, Server, data, ok, stderr, write};

const JAN: &str = "jan@klant.nl";
const PASSPHRASE: &str = "correct horse battery staple";

/// The stanza types of an age file's header.
fn stanza_types(file: &[u8]) -> Vec<String> {
    read_stanzas(file).unwrap().into_iter().map(|s| s.tag).collect()
}

#[test]
fn a_post_quantum_key_receives_through_a_request_and_sends_post_quantum_packages() {
    let server = Server::start();
    let (alice, bob) = (server.token(ALICE), server.token(BOB));
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("config");
    let pass = write(work.path(), "pass", format!("{PASSPHRASE}\n").as_bytes());
    let kluis = |args: &[&str]| server.command_as(&alice).env("KLUIS_CONFIG_DIR", &config).args(args).output().unwrap();

    // The key: post-quantum, in the identity file and on the server.
    let recipient = ok(kluis(&["key", "init", "--pq", "--passphrase-file", &pass]));
    assert!(recipient.starts_with("age1pq1") && recipient.len() > 1900, "{recipient}");
    let identity_text = std::fs::read_to_string(config.join("identity.txt")).unwrap();
    assert!(identity_text.lines().any(|l| l.starts_with("AGE-SECRET-KEY-PQ-1")), "{identity_text}");
    let shown = ok(kluis(&["key", "show"]));
    assert!(shown.contains(&recipient) && shown.contains("kind         post-quantum"), "{shown}");

    // A request link carries it; Jan uploads through it; `kluis fetch` opens it.
    let link = ok(kluis(&["request", "--to", JAN]));
    assert!(link.len() > 1950, "{}", link.len());
    assert_eq!(RequestLink::parse(&link).unwrap().recipient.to_string(), recipient);
    let report = data(150_000, 3);
    let delivery = upload_through(&server, &link, JAN, "Here you are", &[("return.pdf", report.clone())]);
    let dest = work.path().join("in");
    ok(kluis(&["fetch", &delivery, "--out", dest.to_str().unwrap()]));
    assert_eq!(std::fs::read(dest.join("return.pdf")).unwrap(), report);

    // Bob's key is classic: he is left out of the package's colleagues, and told why.
    let bob_config = work.path().join("bob");
    let as_bob =
        |args: &[&str]| server.command_as(&bob).env("KLUIS_CONFIG_DIR", &bob_config).args(args).output().unwrap();
    assert!(ok(as_bob(&["key", "init", "--passphrase-file", &pass])).starts_with("age1"));

    // Alice's package is post-quantum: every blob's header has mlkem768x25519 stanzas only.
    let letter = write(work.path(), "letter.txt", b"post-quantum all the way");
    let out = kluis(&["send", &letter, "--to", JAN, "--to", BOB, "--verify", "none", "--subject", "PQ"]);
    let package_link = ok(out.clone());
    assert!(stderr(&out).contains(&format!("{BOB}'s key is classic")), "{}", stderr(&out));
    let package = kluis_protocol::Link::parse(&package_link).unwrap().package_id.as_str().to_string();
    for idx in 0..2 {
        let blob = server.api().get(&format!("/packages/{package}/blobs/{idx}"), &alice);
        assert_eq!(blob.status, 200, "{}", blob.text());
        let types = stanza_types(&blob.body);
        assert!(!types.is_empty() && types.iter().all(|t| t == "mlkem768x25519"), "{types:?}");
    }
    let bobs: Vec<InboxItem> = serde_json::from_str(&ok(as_bob(&["inbox", "--json"]))).unwrap();
    assert!(bobs.is_empty(), "a classic key cannot open a post-quantum package: {bobs:?}");

    // The recipient opens it from the link, not told its kind; the sender reopens it.
    let theirs = work.path().join("theirs");
    ok(server.kluis("", &["receive", &package_link, "-o", theirs.to_str().unwrap()]));
    assert_eq!(std::fs::read(theirs.join("letter.txt")).unwrap(), b"post-quantum all the way");
    let mine = work.path().join("mine");
    let out = kluis(&["fetch", &package, "--out", mine.to_str().unwrap()]);
    ok(out.clone());
    assert!(stderr(&out).contains("sent by you"), "{}", stderr(&out));
    assert_eq!(std::fs::read(mine.join("letter.txt")).unwrap(), b"post-quantum all the way");

    // Bob's package, from a classic key, is classic; the link opens it the same way.
    let note = write(work.path(), "note.txt", b"classic");
    let bob_link = ok(as_bob(&["send", &note, "--to", JAN, "--verify", "none"]));
    let bob_package = kluis_protocol::Link::parse(&bob_link).unwrap().package_id.as_str().to_string();
    let blob = server.api().get(&format!("/packages/{bob_package}/blobs/1"), &bob);
    assert!(stanza_types(&blob.body).iter().all(|t| t == "X25519"));
    let again = work.path().join("again");
    ok(server.kluis("", &["receive", &bob_link, "-o", again.to_str().unwrap()]));
    assert_eq!(std::fs::read(again.join("note.txt")).unwrap(), b"classic");
}

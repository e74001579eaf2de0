//! What `kluis receive` shows of what the sender wrote: subject, message
//! and file names reach the terminal without control characters, so a
//! package cannot drive the recipient's terminal (escape sequences, bell,
//! C1 controls) or disguise a name (bidirectional overrides).

use crate::support::fake::FakeHost;
use crate::support::{ALICE, BOB, Server, kluis_command, ok, write};

/// Bytes that must never reach the terminal: ESC, BEL, C1 CSI (U+009B) and
/// RIGHT-TO-LEFT OVERRIDE (U+202E), as UTF-8.
const FORBIDDEN: &[&[u8]] = &[b"\x1b", b"\x07", "\u{9b}".as_bytes(), "\u{202e}".as_bytes()];

fn assert_clean(what: &str, bytes: &[u8]) {
    for needle in FORBIDDEN {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == *needle),
            "{what} contains {needle:02x?}: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn receive_strips_terminal_control_characters() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let name = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}txt.exe";
    let file = write(work.path(), name, b"harmless bytes");
    let subject = "\u{1b}[31mred subject\u{7}";
    let message = "line one\n\u{1b}]0;title\u{7}line two\u{9b}2J \u{202e}reversed";
    let link = ok(server
        .kluis(&token, &["send", &file, "--to", BOB, "--verify", "none", "--subject", subject, "--message", message]));
    let dest = work.path().join("in");
    let out = server.kluis("", &["receive", &link, "-o", dest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_clean("stdout", &out.stdout);
    assert_clean("stderr", &out.stderr);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("red subject") && stderr.contains("line one\n"), "{stderr}");
    assert!(stderr.contains("line two"), "the message is shown, line breaks kept: {stderr}");

    // The file is saved under a name without those characters, with its bytes.
    let saved: Vec<_> = std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_clean("the saved name", saved[0].file_name().unwrap().as_encoded_bytes());
    assert_eq!(std::fs::read(&saved[0]).unwrap(), b"harmless bytes");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), saved[0].to_str().unwrap());
}

#[test]
fn receive_strips_terminal_control_characters_from_a_servers_errors() {
    // A link names its server, so anyone can make one that points at a
    // server of their own: its error messages are text from a stranger too.
    let evil = FakeHost::start(
        "410 Gone",
        r#"{"error":{"code":"expired","message":"\u001b]0;pwned\u0007\u001b[2JGone\u202e, \u009b31mreally."}}"#,
    );
    let link = format!("{}/p/abcDEF123#{}", evil.url, "A".repeat(43));
    let out = kluis_command().args(["receive", &link]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_clean("stderr", &out.stderr);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Gone"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(evil.requests().len(), 1);
}

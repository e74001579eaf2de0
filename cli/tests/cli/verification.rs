//! Packages that ask the recipient for a code mailed to their address:
//! the exit status when a code was sent, wrong codes, the lock after five,
//! addresses that are not recipients, and a second request's new code.
//! Mail leaves through a queue: every code is read from a mail that was
//! not there before it was asked for.

use crate::support::{ALICE, BOB, Server, ok, package_id, stderr, write};

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
    let mark = server.mark();
    let out = server.kluis("", &["receive", &link, "-o", dest, "--email", BOB]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let code = server.new_code(&mark, BOB);

    let wrong = if code == "000000" { "000001" } else { "000000" };
    // A wrong code: its own exit status, to run again with another --code.
    let out = server.kluis("", &["receive", &link, "-o", dest, "--email", BOB, "--code", wrong]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("(4 tries left)"), "{}", stderr(&out));

    // An address that is not a recipient gets the same answer and no mail.
    let mark = server.mark();
    let out = server.kluis("", &["receive", &link, "-o", dest, "--email", "mallory@example.org"]);
    assert_eq!(out.status.code(), Some(2));
    server.flush_mail();
    assert!(server.new_mails(&mark, "mallory@example.org").is_empty());

    ok(server.kluis("", &["receive", &link, "-o", dest, "--email", BOB, "--code", &code]));
    assert_eq!(std::fs::read(work.path().join("in/secret.txt")).unwrap(), b"for Bob only");
    // A code works once.
    let out = server.kluis("", &["receive", &link, "-o", dest, "--email", BOB, "--code", &code]);
    assert!(!out.status.success());
    let events: Vec<String> =
        server.api().package(&token, &package_id(&link)).events.into_iter().map(|e| e.event).collect();
    for event in ["verification_sent", "verification_failed", "accessed"] {
        assert!(events.iter().any(|e| e == event), "no {event} in {events:?}");
    }
}

#[test]
fn five_wrong_codes_lock() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let link = ok(server.kluis(&token, &["send", &write(work.path(), "f", b"x"), "--to", BOB]));
    let dest = work.path().to_str().unwrap().to_string();
    let mark = server.mark();
    assert_eq!(server.kluis("", &["receive", &link, "-o", &dest, "--email", BOB]).status.code(), Some(2));
    let code = server.new_code(&mark, BOB);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..4 {
        server.kluis("", &["receive", &link, "-o", &dest, "--email", BOB, "--code", wrong]);
    }
    let out = server.kluis("", &["receive", &link, "-o", &dest, "--email", BOB, "--code", wrong]);
    assert!(stderr(&out).starts_with("error: too many wrong codes"), "{}", stderr(&out));
    let out = server.kluis("", &["receive", &link, "-o", &dest, "--email", BOB, "--code", &code]);
    assert!(!out.status.success(), "the right code no longer works once locked");
    assert_eq!(server.api().package(&token, &package_id(&link)).package.downloads, 0);
}

#[test]
fn asking_again_within_a_minute_mails_no_second_code() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let link = ok(server.kluis(&token, &["send", &write(work.path(), "f", b"x"), "--to", BOB]));
    let dest = work.path().join("in");
    let dest = dest.to_str().unwrap();
    let mark = server.mark();
    assert_eq!(server.kluis("", &["receive", &link, "-o", dest, "--email", BOB]).status.code(), Some(2));
    let code = server.new_code(&mark, BOB);
    let out = server.kluis("", &["receive", &link, "-o", dest, "--email", BOB]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    server.flush_mail();
    assert_eq!(server.new_mails(&mark, BOB).len(), 1, "one code a minute");
    ok(server.kluis("", &["receive", &link, "-o", dest, "--email", BOB, "--code", &code]));
}

//! The command line as a new user meets it: usage errors that name what is
//! missing, help that says what Kluis is, `--to` only where it is needed,
//! errors in the words of the flags and in one style, prompts on a
//! terminal (the package password, a wrong code asked again) and progress
//! bars with whole names and the web's units.

use std::process::Output;

use crate::support::terminal::Terminal;
use crate::support::{ALICE, BOB, Server, data, kluis_command, ok, stderr, write};

/// A runtime error: status 1 and one line "error: " + a sentence that starts
/// lower-case (or with a flag) and has no final full stop.
fn assert_error_line(out: &Output) -> String {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    let sentence = text.strip_prefix("error: ").unwrap_or_else(|| panic!("no error: prefix: {text:?}"));
    let first = sentence.chars().next().unwrap();
    assert!(first.is_lowercase() || first == '-' || first == '`', "starts lower-case: {text:?}");
    assert!(!sentence.ends_with('.'), "no final full stop: {text:?}");
    text
}

/// The package link a terminal showed (among progress bar redraws).
fn link_in(shown: &str) -> String {
    let start = shown.rfind("http://").unwrap_or_else(|| panic!("no link in {shown:?}"));
    shown[start..].split(|c: char| c.is_whitespace() || c.is_control()).next().unwrap().to_string()
}

#[test]
fn usage_errors_are_clap_s_whole_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "f.txt", b"x");
    let run = |args: &[&str]| kluis_command().args(args).output().unwrap();

    let out = run(&["send", &file]);
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    assert!(text.contains("required arguments were not provided") && text.contains("--to <EMAIL>"), "{text}");
    assert!(text.contains("Usage: kluis send"), "{text}");

    let out = run(&["send", "--to", BOB]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("<FILE>"), "{}", stderr(&out));

    let out = run(&["send", &file, "--verfy", "none"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("a similar argument exists: '--verify'"), "{}", stderr(&out));

    // Errors found while running stay one line.
    let out = run(&["send", "missing.txt", "--to", BOB, "--server", "http://127.0.0.1:9", "--token", "t"]);
    assert!(assert_error_line(&out).contains("cannot read missing.txt"));
    let out = run(&["send", &file, "--to", BOB, "--expires", "soon", "--server", "http://127.0.0.1:9", "--token", "t"]);
    assert!(assert_error_line(&out).contains("--expires"));
}

#[test]
fn help_says_what_kluis_is_without_clutter() {
    let out = kluis_command().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("end-to-end encrypted"), "{help}");
    assert!(help.contains("Examples:") && help.contains("kluis send report.pdf"), "{help}");

    let out = kluis_command()
        .args(["send", "--help"])
        .env("KLUIS_SERVER", "https://private.example.org")
        .env("KLUIS_TOKEN", "kluis_secret")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("[env: KLUIS_SERVER]"), "{help}");
    assert!(!help.contains("private.example.org") && !help.contains("kluis_secret"), "{help}");
    assert!(!help.contains("[default: \"\"]"), "{help}");
}

#[test]
fn to_is_needed_only_for_codes_by_mail() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "open.txt", b"for anyone with the link");

    let link = ok(server.kluis(&token, &["send", &file, "--verify", "none"]));
    let dest = work.path().join("in");
    ok(server.kluis("", &["receive", &link, "-o", dest.to_str().unwrap()]));
    assert_eq!(std::fs::read(dest.join("open.txt")).unwrap(), b"for anyone with the link");

    for args in [&["send", &file][..], &["send", &file, "--verify", "email"]] {
        let out = server.kluis(&token, args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("--to <EMAIL>"), "{}", stderr(&out));
    }
}

#[test]
fn a_refused_token_says_how_to_get_one() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "f.txt", b"x");
    for args in [&["token", "list"][..], &["send", &file, "--to", BOB]] {
        let out = server.kluis("kluis_not-a-real-token", args);
        let text = assert_error_line(&out);
        assert!(text.contains("refused the API token"), "{text}");
        assert!(text.contains("kluis-server token create"), "{text}");
        assert!(!text.contains("Sign in first"), "{text}");
    }
    // No token at all: the same advice.
    let out = kluis_command().args(["send", &file, "--to", BOB, "--server", &server.url]).output().unwrap();
    assert!(assert_error_line(&out).contains("kluis-server token create"));
}

#[test]
fn too_long_an_expiry_names_the_flag_and_the_server_s_range() {
    let server = Server::builder().limit("max_expiry_days = 14").start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "f.txt", b"x");
    let out = server.kluis(&token, &["send", &file, "--to", BOB, "--expires", "90d"]);
    let text = assert_error_line(&out);
    assert!(text.contains("--expires 90d") && text.contains("1d to 14d"), "{text}");
    assert!(!text.contains("expires_in_days"), "{text}");
    ok(server.kluis(&token, &["send", &file, "--to", BOB, "--expires", "14d"]));

    let out = server.kluis(&token, &["send", &file, "--to", BOB, "--max-downloads", "20000"]);
    let text = assert_error_line(&out);
    assert!(text.contains("--max-downloads"), "{text}");
}

#[test]
fn send_asks_for_a_password_on_a_terminal() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "plan.txt", b"the plan");
    let env = [("KLUIS_SERVER", server.public_url.as_str()), ("KLUIS_TOKEN", token.as_str())];

    // Typed differently the second time: refused.
    let mut terminal = Terminal::start(&["send", &file, "--verify", "none", "--password"], &env, work.path(), 100);
    terminal.expect("Password for the package: ");
    terminal.type_line("correct horse");
    terminal.expect("Type it again: ");
    terminal.type_line("correct hose");
    let (status, shown) = terminal.finish();
    assert!(!status.success() && shown.contains("error: the passwords do not match"), "{shown}");

    let mut terminal = Terminal::start(&["send", &file, "--verify", "none", "--password"], &env, work.path(), 100);
    terminal.expect("Password for the package: ");
    terminal.type_line("correct horse");
    terminal.expect("Type it again: ");
    terminal.type_line("correct horse");
    let (status, shown) = terminal.finish();
    assert!(status.success(), "{shown}");
    assert!(!shown.contains("correct horse"), "the password is not echoed: {shown}");
    let link = link_in(&shown);

    let pw = write(work.path(), "pw", b"correct horse\n");
    let dest = work.path().join("in");
    ok(server.kluis("", &["receive", &link, "-o", dest.to_str().unwrap(), "--password-file", &pw]));
    assert_eq!(std::fs::read(dest.join("plan.txt")).unwrap(), b"the plan");

    // Without a terminal there is nobody to ask.
    let out = server.kluis(&token, &["send", &file, "--verify", "none", "--password"]);
    assert!(assert_error_line(&out).contains("--password-file"));
}

#[test]
fn a_wrong_code_is_asked_again_on_a_terminal() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let link = ok(server.kluis(&token, &["send", &write(work.path(), "f.txt", b"for Bob"), "--to", BOB]));
    let dest = work.path().join("in");
    let dest = dest.to_str().unwrap();

    let mark = server.mark();
    let mut terminal = Terminal::start(&["receive", &link, "-o", dest, "--email", BOB], &[], work.path(), 100);
    terminal.expect("Code: ");
    let code = server.new_code(&mark, BOB);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    terminal.type_line(wrong);
    terminal.expect("That code is not right, or it has expired (4 tries left). Code: ");
    terminal.type_line(wrong);
    terminal.expect("(3 tries left). Code: ");
    terminal.type_line(&code);
    let (status, shown) = terminal.finish();
    assert!(status.success(), "{shown}");
    assert_eq!(std::fs::read(work.path().join("in/f.txt")).unwrap(), b"for Bob");

    // Asked again until the package locks; then the program ends.
    let link = ok(server.kluis(&token, &["send", &write(work.path(), "g.txt", b"x"), "--to", BOB]));
    let mark = server.mark();
    let mut terminal = Terminal::start(&["receive", &link, "-o", dest, "--email", BOB], &[], work.path(), 100);
    terminal.expect("Code: ");
    let code = server.new_code(&mark, BOB);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    terminal.type_line(wrong);
    for left in ["4 tries", "3 tries", "2 tries", "1 try"] {
        terminal.expect(&format!("({left} left). Code: "));
        terminal.type_line(wrong);
    }
    let (status, shown) = terminal.finish();
    assert_eq!(status.code(), Some(1), "{shown}");
    assert!(shown.contains("error: too many wrong codes"), "{shown}");
}

#[test]
fn progress_bars_show_whole_names_and_the_web_s_units() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    // 1,549,900 bytes is "1.5 MB"; its ciphertext, about 600 bytes more, would be "1.6 MB".
    let name = "quarterly-report-for-the-board-2026-final.pdf";
    let file = write(work.path(), name, &data(1_549_900, 5));
    let env = [("KLUIS_SERVER", server.public_url.as_str()), ("KLUIS_TOKEN", token.as_str())];

    let terminal = Terminal::start(&["send", &file, "--verify", "none"], &env, work.path(), 120);
    let (status, shown) = terminal.finish();
    assert!(status.success(), "{shown}");
    assert!(shown.contains(name), "the whole name: {shown:?}");
    assert!(shown.contains("/1.5 MB"), "plaintext bytes in decimal units: {shown:?}");
    // (The total, not the speed: "1.6 MB/s" is a speed this machine may well show.)
    assert!(!shown.contains("/1.6 MB ") && !shown.contains("MiB"), "{shown:?}");
    let link = link_in(&shown);

    // A narrow terminal shortens the name but keeps its extension.
    let dest = work.path().join("in");
    let terminal = Terminal::start(&["receive", &link, "-o", dest.to_str().unwrap()], &[], work.path(), 70);
    let (status, shown) = terminal.finish();
    assert!(status.success(), "{shown}");
    assert!(shown.contains("quarterly-re") && shown.contains("….pdf"), "a shortened name: {shown:?}");
    assert!(shown.contains("/1.5 MB"), "{shown:?}");
    assert_eq!(std::fs::read(dest.join(name)).unwrap().len(), 1_549_900);
}

//! `kluis age` on bad input: exit status, one `error:` line, and no output
//! file left behind.

use std::path::Path;
use std::process::Output;

use crate::support::kluis_command;

fn kluis(args: &[&str], dir: &Path) -> Output {
    kluis_command().args(args).current_dir(dir).output().unwrap()
}

fn assert_one_error_line(out: &Output) {
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
}

fn setup() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = kluis(&["age", "keygen", "-o", "id.txt"], dir.path());
    assert!(out.status.success());
    let text = std::fs::read_to_string(dir.path().join("id.txt")).unwrap();
    let recipient = text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().to_string();
    std::fs::write(dir.path().join("plain.txt"), vec![b'x'; 200_000]).unwrap();
    (dir, recipient)
}

#[test]
fn tampered_file_fails_and_leaves_no_output() {
    let (dir, r) = setup();
    assert!(kluis(&["age", "encrypt", "-r", &r, "-o", "c.age", "plain.txt"], dir.path()).status.success());
    let mut bytes = std::fs::read(dir.path().join("c.age")).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 1;
    std::fs::write(dir.path().join("c.age"), bytes).unwrap();
    let out = kluis(&["age", "decrypt", "-i", "id.txt", "-o", "out.txt", "c.age"], dir.path());
    assert_one_error_line(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("chunk 3 failed authentication"));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!dir.path().join("out.txt").exists(), "partial plaintext left behind: {left:?}");
    assert_eq!(left.len(), 3, "temporary file left behind: {left:?}");
}

#[test]
fn truncated_file_fails() {
    let (dir, r) = setup();
    assert!(kluis(&["age", "encrypt", "-r", &r, "-o", "c.age", "plain.txt"], dir.path()).status.success());
    let bytes = std::fs::read(dir.path().join("c.age")).unwrap();
    std::fs::write(dir.path().join("c.age"), &bytes[..bytes.len() - 1000]).unwrap();
    let out = kluis(&["age", "decrypt", "-i", "id.txt", "c.age"], dir.path());
    assert_one_error_line(&out);
}

#[test]
fn wrong_key_and_bad_arguments() {
    let (dir, r) = setup();
    assert!(kluis(&["age", "encrypt", "-r", &r, "-o", "c.age", "plain.txt"], dir.path()).status.success());
    assert!(kluis(&["age", "keygen", "-o", "other.txt"], dir.path()).status.success());
    let out = kluis(&["age", "decrypt", "-i", "other.txt", "c.age"], dir.path());
    assert_one_error_line(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no identity matched"));

    for args in [
        &["age", "encrypt", "plain.txt"][..],
        &["age", "encrypt", "-r", "age1notakey", "plain.txt"],
        &["age", "encrypt", "-r", &r, "missing.txt"],
        &["age", "decrypt", "-i", "missing.txt", "c.age"],
        &["age", "decrypt", "-i", "plain.txt", "c.age"],
        &["age", "decrypt", "-i", "id.txt", "plain.txt"],
        &["age", "decrypt", "c.age"],
        &["age", "keygen", "-o", "id.txt"],
    ] {
        assert_one_error_line(&kluis(args, dir.path()));
    }
    // A usage error is clap's whole message, with status 2.
    let out = kluis(&["age", "encrypt", "--frobnicate"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: unexpected argument '--frobnicate'") && stderr.contains("Usage:"), "{stderr}");
    // The existing key was not overwritten.
    assert!(std::fs::read_to_string(dir.path().join("id.txt")).unwrap().contains(&r));
}

#[test]
fn passphrase_round_trip() {
    let (dir, _) = setup();
    std::fs::write(dir.path().join("pass"), "correct horse battery staple\n").unwrap();
    std::fs::write(dir.path().join("wrong"), "incorrect\n").unwrap();
    let enc = kluis(
        &["age", "encrypt", "--passphrase-file", "pass", "--work-factor", "10", "-a", "-o", "p.age", "plain.txt"],
        dir.path(),
    );
    assert!(enc.status.success(), "{}", String::from_utf8_lossy(&enc.stderr));
    let dec = kluis(&["age", "decrypt", "--passphrase-file", "pass", "p.age"], dir.path());
    assert!(dec.status.success());
    assert_eq!(dec.stdout, vec![b'x'; 200_000]);
    assert_one_error_line(&kluis(&["age", "decrypt", "--passphrase-file", "wrong", "p.age"], dir.path()));
    // Without a terminal there is nobody to ask for the passphrase.
    let out = kluis(&["age", "decrypt", "p.age"], dir.path());
    assert_one_error_line(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("passphrase"));
}

#[test]
fn passphrase_protected_identity_file() {
    let (dir, r) = setup();
    std::fs::write(dir.path().join("pass"), "keyfile secret\n").unwrap();
    assert!(kluis(&["age", "encrypt", "-r", &r, "-o", "c.age", "plain.txt"], dir.path()).status.success());
    // Protect the identity file itself with a passphrase, as age allows.
    let protect = kluis(
        &["age", "encrypt", "--passphrase-file", "pass", "--work-factor", "10", "-a", "-o", "id.txt.age", "id.txt"],
        dir.path(),
    );
    assert!(protect.status.success());
    let out = kluis(&["age", "decrypt", "-i", "id.txt.age", "--passphrase-file", "pass", "c.age"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout.len(), 200_000);
    std::fs::write(dir.path().join("wrong"), "nope\n").unwrap();
    let out = kluis(&["age", "decrypt", "-i", "id.txt.age", "--passphrase-file", "wrong", "c.age"], dir.path());
    assert_one_error_line(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot decrypt identity file"));
}

#[test]
fn write_errors_name_the_output() {
    let (dir, r) = setup();
    assert!(Path::new("/dev/full").exists(), "this test needs /dev/full");
    let out = kluis(&["age", "encrypt", "-r", &r, "-o", "/dev/full", "plain.txt"], dir.path());
    assert_one_error_line(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write"), "{}", String::from_utf8_lossy(&out.stderr));
}

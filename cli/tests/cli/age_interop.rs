//! Round trips between `kluis age` and the reference implementation (`age`
//! and `age-keygen` from Debian), in both directions, binary and armored, for
//! sizes around the 64 KiB chunk boundary and with several recipients.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::{KLUIS, data};

const SIZES: &[usize] = &[0, 1, 65_535, 65_536, 65_537, 10 << 20];

fn run(cmd: &mut Command) -> Output {
    let out =
        cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is `age` installed?)"));
    assert!(out.status.success(), "{cmd:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

struct Keys {
    dir: tempfile::TempDir,
    kluis_identity: PathBuf,
    kluis_recipient: String,
    age_identity: PathBuf,
    age_recipient: String,
}

fn public_key_of(identity_file: &Path) -> String {
    let text = std::fs::read_to_string(identity_file).unwrap();
    text.lines().find_map(|l| l.strip_prefix("# public key: ")).expect("public key comment").to_string()
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let kluis_identity = dir.path().join("kluis-id.txt");
    let age_identity = dir.path().join("age-id.txt");
    let keygen = run(Command::new(KLUIS).args(["age", "keygen", "-o"]).arg(&kluis_identity));
    let kluis_recipient = public_key_of(&kluis_identity);
    assert_eq!(String::from_utf8_lossy(&keygen.stderr).trim(), format!("Public key: {kluis_recipient}"));
    run(Command::new("age-keygen").arg("-o").arg(&age_identity));
    let age_recipient = public_key_of(&age_identity);
    // Each tool derives the same public key from the other's identity file.
    let converted = run(Command::new("age-keygen").arg("-y").arg(&kluis_identity));
    assert_eq!(String::from_utf8_lossy(&converted.stdout).trim(), kluis_recipient);
    let converted = run(Command::new(KLUIS).args(["age", "keygen", "-y"]).arg(&age_identity));
    assert_eq!(String::from_utf8_lossy(&converted.stdout).trim(), age_recipient);
    Keys { dir, kluis_identity, kluis_recipient, age_identity, age_recipient }
}

#[test]
fn kluis_encrypts_age_decrypts() {
    let k = keys();
    for (i, &size) in SIZES.iter().enumerate() {
        let plain = data(size, i as u64 + 1);
        let input = k.dir.path().join(format!("plain-{size}"));
        std::fs::write(&input, &plain).unwrap();
        for armor in [false, true] {
            let encrypted = k.dir.path().join(format!("k-{size}-{armor}.age"));
            let mut cmd = Command::new(KLUIS);
            cmd.args(["age", "encrypt", "-r", &k.kluis_recipient, "-r", &k.age_recipient, "-o"])
                .arg(&encrypted)
                .arg(&input);
            if armor {
                cmd.arg("-a");
            }
            run(&mut cmd);
            for identity in [&k.age_identity, &k.kluis_identity] {
                let out = run(Command::new("age").arg("-d").arg("-i").arg(identity).arg(&encrypted));
                assert!(out.stdout == plain, "age could not decrypt kluis output: size {size}, armor {armor}");
            }
        }
    }
}

#[test]
fn age_encrypts_kluis_decrypts() {
    let k = keys();
    for (i, &size) in SIZES.iter().enumerate() {
        let plain = data(size, i as u64 + 100);
        let input = k.dir.path().join(format!("plain-{size}"));
        std::fs::write(&input, &plain).unwrap();
        for armor in [false, true] {
            let encrypted = k.dir.path().join(format!("a-{size}-{armor}.age"));
            let mut cmd = Command::new("age");
            cmd.args(["-r", &k.kluis_recipient, "-r", &k.age_recipient, "-o"]).arg(&encrypted);
            if armor {
                cmd.arg("-a");
            }
            run(cmd.arg(&input));
            for identity in [&k.kluis_identity, &k.age_identity] {
                let decrypted = k.dir.path().join("out");
                run(Command::new(KLUIS)
                    .args(["age", "decrypt", "-i"])
                    .arg(identity)
                    .arg("-o")
                    .arg(&decrypted)
                    .arg(&encrypted));
                assert!(
                    std::fs::read(&decrypted).unwrap() == plain,
                    "kluis could not decrypt age output: size {size}, armor {armor}"
                );
            }
        }
    }
}

#[test]
fn stdin_to_stdout_and_recipient_files() {
    let k = keys();
    let recipients = k.dir.path().join("recipients.txt");
    std::fs::write(&recipients, format!("# team\n{}\n\n{}\n", k.kluis_recipient, k.age_recipient)).unwrap();
    let plain = data(200_000, 7);
    let mut child = Command::new(KLUIS)
        .args(["age", "encrypt", "-R"])
        .arg(&recipients)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&plain).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let encrypted = k.dir.path().join("piped.age");
    std::fs::write(&encrypted, &out.stdout).unwrap();
    let back = run(Command::new("age").arg("-d").arg("-i").arg(&k.age_identity).arg(&encrypted));
    assert!(back.stdout == plain);
}

/// Runs `command` under a pseudo-terminal (util-linux `script`), typing each
/// of `answers` once its prompt (any text containing "passphrase") appears,
/// as both tools read passphrases from the terminal.
fn run_with_terminal(command: &str, answers: &[&str], dir: &Path) {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let mut child = Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux script");
    let seen = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]).to_lowercase());
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    for (i, answer) in answers.iter().enumerate() {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while seen.lock().unwrap().matches("passphrase").count() <= i {
            assert!(std::time::Instant::now() < deadline, "{command}: no prompt {}: {:?}", i + 1, seen.lock().unwrap());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "{command}: {}", seen.lock().unwrap());
}

#[test]
fn passphrases_interoperate() {
    let dir = tempfile::tempdir().unwrap();
    let plain = data(100_000, 42);
    std::fs::write(dir.path().join("plain"), &plain).unwrap();
    std::fs::write(dir.path().join("pass"), "tr0ub4dor & 3\n").unwrap();

    // kluis (passphrase file) -> age (typed).
    run(Command::new(KLUIS).current_dir(dir.path()).args([
        "age",
        "encrypt",
        "--passphrase-file",
        "pass",
        "--work-factor",
        "12",
        "-o",
        "k.age",
        "plain",
    ]));
    run_with_terminal("age -d -o k.out k.age", &["tr0ub4dor & 3"], dir.path());
    assert!(std::fs::read(dir.path().join("k.out")).unwrap() == plain);

    // age (typed) -> kluis (passphrase file).
    run_with_terminal("age -p -o a.age plain", &["tr0ub4dor & 3", "tr0ub4dor & 3"], dir.path());
    run(Command::new(KLUIS).current_dir(dir.path()).args([
        "age",
        "decrypt",
        "--passphrase-file",
        "pass",
        "-o",
        "a.out",
        "a.age",
    ]));
    assert!(std::fs::read(dir.path().join("a.out")).unwrap() == plain);

    // kluis typed at its own prompts, both ways.
    run_with_terminal(
        &format!("{KLUIS} age encrypt -p --work-factor 12 -o t.age plain"),
        &["tr0ub4dor & 3", "tr0ub4dor & 3"],
        dir.path(),
    );
    run_with_terminal(&format!("{KLUIS} age decrypt -o t.out t.age"), &["tr0ub4dor & 3"], dir.path());
    assert!(std::fs::read(dir.path().join("t.out")).unwrap() == plain);
}

//! `kluis-licence` from the outside: make a key, sign a licence, show and
//! check it, and the errors a vendor meets.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kluis-licence")).args(args).output().unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn a_vendor_makes_a_key_signs_a_licence_and_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("vendor.key");
    let key_arg = key.to_str().unwrap();

    let made = tool(&["keygen", "--id", "kluis-2026-a", "--out", key_arg]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let public = text(&made.stdout).trim().to_string();
    assert!(public.starts_with("kluis-licence-key kluis-2026-a "), "{public}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Never over an existing key.
    let again = tool(&["keygen", "--id", "kluis-2026-a", "--out", key_arg]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("must not exist yet"), "{}", text(&again.stderr));
    assert_eq!(text(&tool(&["public", "--key", key_arg]).stdout).trim(), public);

    let signed = tool(&[
        "sign",
        "--key",
        key_arg,
        "--licensee",
        "Ziekenhuis Oost",
        "--domain",
        "ZHO.nl",
        "--seats",
        "250",
        "--feature",
        "single-sign-on",
        "--from",
        "2026-12-01",
        "--until",
        "2027-11-30",
        "--id",
        "L-1",
    ]);
    assert!(signed.status.success(), "{}", text(&signed.stderr));
    let licence = text(&signed.stdout);
    assert!(
        licence.starts_with("-----BEGIN KLUIS LICENCE-----\nLicensee: Ziekenhuis Oost\nDomains: zho.nl\n"),
        "{licence}"
    );

    // Pasted from a reply, through standard input, checked with the public key.
    let quoted: String = licence.lines().map(|l| format!("> {l}\r\n")).collect();
    let mut show = Command::new(env!("CARGO_BIN_EXE_kluis-licence"))
        .args(["show", "-", "--trust", &public])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    show.stdin.take().unwrap().write_all(format!("Here it is:\r\n{quoted}").as_bytes()).unwrap();
    let shown = show.wait_with_output().unwrap();
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let out = text(&shown.stdout);
    for line in [
        "licence:   L-1",
        "seats:     250",
        "features:  single-sign-on",
        "valid:     2026-12-01 to 2027-11-30",
        "key:       kluis-2026-a",
        "signature: verified",
    ] {
        assert!(out.contains(line), "{line} in {out}");
    }

    // Checked with another key: refused, saying why.
    let file = dir.path().join("licence.txt");
    std::fs::write(&file, &licence).unwrap();
    let other = dir.path().join("other.key");
    let other_public = text(&tool(&["keygen", "--id", "kluis-2026-a", "--out", other.to_str().unwrap()]).stdout);
    let refused = tool(&["show", file.to_str().unwrap(), "--trust", other_public.trim()]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("signature does not match"), "{}", text(&refused.stderr));
    // Without a key: shown, and said to be unchecked.
    let unchecked = tool(&["show", file.to_str().unwrap()]);
    assert!(text(&unchecked.stdout).contains("signature: not checked"), "{}", text(&unchecked.stdout));
}

#[test]
fn a_vendor_is_told_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("v.key");
    let key_arg = key.to_str().unwrap();
    assert!(tool(&["keygen", "--id", "v", "--out", key_arg]).status.success());
    let sign = |extra: &[&str]| {
        let mut args = vec!["sign", "--key", key_arg, "--licensee", "X", "--domain", "x.nl"];
        args.extend_from_slice(extra);
        tool(&args)
    };
    let cases: [(&[&str], &str); 4] = [
        (&["--seats", "5", "--from", "2026-12-01", "--until", "2026-11-01"], "ends before it begins"),
        (&["--seats", "5", "--from", "1 December", "--until", "2027-11-30"], "not a day like"),
        (
            &["--seats", "5", "--from", "2026-12-01", "--until", "2027-11-30", "--feature", "holograms"],
            "unknown feature \"holograms\"",
        ),
        (&["--seats", "0", "--from", "2026-12-01", "--until", "2027-11-30"], "grants no seats"),
    ];
    for (extra, says) in cases {
        let out = sign(extra);
        assert!(!out.status.success(), "{extra:?}");
        assert!(text(&out.stderr).contains(says), "{extra:?}: {}", text(&out.stderr));
    }
    let none = tool(&[
        "sign",
        "--key",
        dir.path().join("missing.key").to_str().unwrap(),
        "--licensee",
        "X",
        "--domain",
        "x.nl",
        "--seats",
        "5",
        "--from",
        "2026-12-01",
        "--until",
        "2027-11-30",
    ]);
    assert!(text(&none.stderr).contains("cannot read the signing key"), "{}", text(&none.stderr));
}

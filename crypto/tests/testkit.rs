//! Runs every age test vector in `tests/data/age-testkit/` (a verbatim copy of
//! the official vectors; format in its README) through the streaming decryptor and checks the expected
//! category and the SHA-256 of the plaintext released before any failure.

use std::io::Read;
use std::path::{Path, PathBuf};

use kluis_crypto::io::CodecReader;
use kluis_crypto::{Decryptor, Error, Identity, InputFormat, mlkem768x25519, scrypt, x25519};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

struct Vector {
    name: String,
    expect: String,
    payload: Option<String>,
    identities: Vec<String>,
    passphrases: Vec<String>,
    armored: bool,
    body: Vec<u8>,
    unknown_key: Option<String>,
}

fn testkit_dir() -> PathBuf {
    let dir = std::env::var_os("AGE_TESTKIT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/age-testkit"));
    assert!(dir.is_dir(), "age testkit not found at {} (set AGE_TESTKIT)", dir.display());
    dir
}

fn parse(name: &str, bytes: &[u8]) -> Vector {
    let mut v = Vector {
        name: name.into(),
        expect: String::new(),
        payload: None,
        identities: vec![],
        passphrases: vec![],
        armored: false,
        body: vec![],
        unknown_key: None,
    };
    let mut compressed = false;
    let mut rest = bytes;
    loop {
        let end = rest.iter().position(|&b| b == b'\n').expect("header line");
        let line = std::str::from_utf8(&rest[..end]).expect("header is UTF-8");
        rest = &rest[end + 1..];
        if line.is_empty() {
            break;
        }
        let (key, value) = line.split_once(": ").expect("key: value");
        match key {
            "expect" => v.expect = value.into(),
            "payload" => v.payload = Some(value.into()),
            "identity" => v.identities.push(value.into()),
            "passphrase" => v.passphrases.push(value.into()),
            "armored" => v.armored = value == "yes",
            "compressed" => compressed = value == "zlib",
            "file key" | "comment" => {}
            other => v.unknown_key = Some(other.into()),
        }
    }
    v.body = if compressed {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(rest).read_to_end(&mut out).expect("zlib");
        out
    } else {
        rest.to_vec()
    };
    v
}

/// Decrypts through the streaming reader in small pieces, collecting every
/// byte released before the first error.
fn run(v: &Vector, step: usize, batch: usize) -> (Vec<u8>, Result<(), Error>) {
    let mut identities: Vec<Box<dyn Identity>> = Vec::new();
    for s in &v.identities {
        identities.push(if s.starts_with(PQ_PREFIX) {
            Box::new(s.parse::<mlkem768x25519::Identity>().expect("vector identity parses"))
        } else {
            Box::new(s.parse::<x25519::Identity>().expect("vector identity parses"))
        });
    }
    for p in &v.passphrases {
        identities.push(Box::new(scrypt::Identity::new(Zeroizing::new(p.clone()))));
    }
    let format = if v.armored { InputFormat::Armored } else { InputFormat::Binary };
    let decryptor = Decryptor::new(identities).with_format(format).with_batch(batch);
    let mut reader = CodecReader::new(decryptor, SlowReader { data: &v.body, step });
    let mut released = Vec::new();
    let mut buf = vec![0u8; 7919];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return (released, Ok(())),
            Ok(n) => released.extend_from_slice(&buf[..n]),
            Err(e) => return (released, Err(Error::from(e))),
        }
    }
}

/// A reader that returns at most `step` bytes per call, to exercise short reads.
struct SlowReader<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for SlowReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.len().min(buf.len()).min(self.step);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

const PQ_PREFIX: &str = "AGE-SECRET-KEY-PQ-";

#[test]
fn age_testkit() {
    let mut entries: Vec<_> = std::fs::read_dir(testkit_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    let (mut passed, mut skipped, mut failures) = (0, Vec::new(), Vec::new());
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "README.md" || name == "LICENSE" {
            continue;
        }
        let v = parse(&name, &std::fs::read(&path).unwrap());
        if let Some(key) = &v.unknown_key {
            skipped.push(format!("{name} (unknown key {key})"));
            continue;
        }
        // One byte at a time catches state-machine bugs; big steps and
        // batches the fast and parallel paths.
        for (step, batch) in [(1, 1), (100, 2), (1 << 20, 1), (1 << 20, 8)] {
            let (released, result) = run(&v, step, batch);
            let got = match &result {
                Ok(()) => "success",
                Err(e) => e.category(),
            };
            let hash = hex::encode(Sha256::digest(&released));
            let mut problems = Vec::new();
            if got != v.expect {
                problems.push(format!("expected {}, got {got} ({:?})", v.expect, result.as_ref().err()));
            }
            if let Some(want) = &v.payload
                && (v.expect == "success" || v.expect == "payload failure")
                && &hash != want
            {
                problems.push(format!("released plaintext ({} bytes) has the wrong hash", released.len()));
            }
            if v.expect != "success" && v.expect != "payload failure" && !released.is_empty() {
                problems.push(format!("released {} bytes despite a {}", released.len(), v.expect));
            }
            if !problems.is_empty() {
                failures.push(format!("{} [step {step}, batch {batch}]: {}", v.name, problems.join("; ")));
            }
        }
        passed += 1;
    }
    println!("age testkit: {passed} vectors passed, {} skipped:", skipped.len());
    for s in &skipped {
        println!("  skipped {s}");
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(passed, 143, "every vector must run");
    assert!(skipped.is_empty(), "no vector may be skipped");
}

//! Runs the frozen vectors (`tests/data/vectors.json`): every text whole,
//! and pushed in pieces of 1 and 7 bytes (which cut numbers, keywords and
//! UTF-8 sequences at every possible place).

use kluis_policy::{ContentPolicy, Finding, MessageFacts, Scanner, Verdict, decide};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/vectors.json")).expect("vectors.json is JSON")
}

fn bytes(vector: &Value) -> Vec<u8> {
    if let Some(text) = vector["text"].as_str() {
        return text.as_bytes().to_vec();
    }
    let hex = vector["hex"].as_str().expect("text or hex");
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
}

fn scan(policy: &ContentPolicy, text: &[u8], piece: usize) -> Vec<Finding> {
    let mut scanner = Scanner::new(policy);
    for chunk in text.chunks(piece.max(1)) {
        scanner.push(chunk);
    }
    scanner.finish().into_vec()
}

fn policy(vector: &Value, default: &Value) -> ContentPolicy {
    serde_json::from_value(vector.get("policy").unwrap_or(default).clone()).expect("policy")
}

#[test]
fn scan_vectors() {
    let all = vectors();
    let mut failures = Vec::new();
    let scans = all["scan"].as_array().expect("scan vectors");
    for vector in scans {
        let name = vector["name"].as_str().expect("name");
        let policy = policy(vector, &all["scan_policy"]);
        let text = bytes(vector);
        let want: Vec<Finding> = serde_json::from_value(vector["findings"].clone()).expect("findings");
        for piece in [usize::MAX, 1, 7] {
            let got = scan(&policy, &text, piece);
            if got != want {
                failures.push(format!("{name} (pieces of {piece}): got {}", serde_json::to_string(&got).unwrap()));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(scans.len() >= 60);
}

#[test]
fn decide_vectors() {
    let all = vectors();
    let mut failures = Vec::new();
    for vector in all["decide"].as_array().expect("decide vectors") {
        let name = vector["name"].as_str().expect("name");
        let policy: ContentPolicy = serde_json::from_value(vector["policy"].clone()).expect("policy");
        let facts: MessageFacts = serde_json::from_value(vector["facts"].clone()).expect("facts");
        let want: Verdict = serde_json::from_value(vector["verdict"].clone()).expect("verdict");
        for piece in [usize::MAX, 1, 7] {
            let findings = scan(&policy, &bytes(vector), piece);
            let got = decide(&policy, &facts, &findings);
            if got != want {
                failures.push(format!("{name} (pieces of {piece}): got {}", serde_json::to_string(&got).unwrap()));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn any_cut_gives_the_same_findings() {
    let all = vectors();
    let policy = ContentPolicy {
        keyword_lists: ContentPolicy::default().keyword_lists,
        ..policy(&Value::Null, &all["scan_policy"])
    };
    let mut text = Vec::new();
    for vector in all["scan"].as_array().unwrap().iter().chain(all["decide"].as_array().unwrap()) {
        text.extend_from_slice(&bytes(vector));
        text.extend_from_slice(b"\n");
    }
    let whole = scan(&policy, &text, usize::MAX);
    assert!(whole.len() > 5);
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..200 {
        let mut scanner = Scanner::new(&policy);
        let mut rest = &text[..];
        while !rest.is_empty() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed % 40) as usize;
            let (piece, tail) = rest.split_at(n.min(rest.len()));
            scanner.push(piece);
            rest = tail;
        }
        assert_eq!(scanner.finish().into_vec(), whole);
    }
}

#[test]
fn odd_inputs_do_not_panic() {
    let policy: ContentPolicy = serde_json::from_value(vectors()["scan_policy"].clone()).unwrap();
    let policy = ContentPolicy { keyword_lists: ContentPolicy::default().keyword_lists, ..policy };
    let inputs: Vec<Vec<u8>> = vec![
        vec![b'1'; 1 << 20],
        b"1 ".repeat(1 << 18),
        b"NL91 ".repeat(1 << 16),
        b"a@".repeat(1 << 16),
        b"a.".repeat(1 << 16),
        "\u{e9}".repeat(1 << 16).into_bytes(),
        (0..=255u8).cycle().take(1 << 20).collect(),
        [0xf0, 0x9f, 0x98].repeat(1 << 10),
        b"BSN 123456782 ".repeat(1 << 14),
    ];
    for input in inputs {
        scan(&policy, &input, 4096);
        scan(&policy, &input, 3);
    }
    let many = scan(&policy, &b"BSN 123456782 ".repeat(1 << 14), 4096);
    assert_eq!(many[0].count, 1 << 14);
}

//! The content check as JavaScript sees it: the frozen vectors of
//! `policy/tests/data/vectors.json`, in Node and (with
//! WASM_BINDGEN_USE_BROWSER=1) in headless Chromium.

#![cfg(target_arch = "wasm32")]

use js_sys::{JSON, Uint8Array};
use kluis_wasm::{PolicyScanner, check_message, decide};
use serde_json::Value;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

const VECTORS: &str = include_str!("../../policy/tests/data/vectors.json");

fn js(value: &Value) -> JsValue {
    JSON::parse(&value.to_string()).unwrap()
}

fn json(value: &JsValue) -> Value {
    serde_json::from_str(&JSON::stringify(value).unwrap().as_string().unwrap()).unwrap()
}

fn bytes(vector: &Value) -> Vec<u8> {
    if let Some(text) = vector["text"].as_str() {
        return text.as_bytes().to_vec();
    }
    let hex = vector["hex"].as_str().unwrap();
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn scan(policy: &Value, text: &[u8], piece: usize) -> Value {
    let mut scanner = PolicyScanner::new(&js(policy)).unwrap();
    for chunk in text.chunks(piece.max(1)) {
        scanner.push(&Uint8Array::from(chunk)).unwrap();
    }
    json(&scanner.finish().unwrap())
}

#[wasm_bindgen_test]
fn scan_vectors() {
    let all: Value = serde_json::from_str(VECTORS).unwrap();
    for vector in all["scan"].as_array().unwrap() {
        let policy = vector.get("policy").unwrap_or(&all["scan_policy"]);
        for piece in [usize::MAX, 1, 7] {
            let got = scan(policy, &bytes(vector), piece);
            assert_eq!(got, vector["findings"], "{} (pieces of {piece})", vector["name"]);
        }
    }
}

#[wasm_bindgen_test]
fn decide_vectors() {
    let all: Value = serde_json::from_str(VECTORS).unwrap();
    for vector in all["decide"].as_array().unwrap() {
        let (policy, facts) = (&vector["policy"], &vector["facts"]);
        let findings = scan(policy, &bytes(vector), 7);
        let verdict = json(&decide(&js(policy), &js(facts), &js(&findings)).unwrap());
        assert_eq!(verdict, vector["verdict"], "{}", vector["name"]);
        let text = vector["text"].as_str().unwrap();
        let verdict = json(&check_message(&js(policy), &js(facts), text).unwrap());
        assert_eq!(verdict, vector["verdict"], "{} (checkMessage)", vector["name"]);
    }
}

fn kind(error: JsValue) -> String {
    js_sys::Reflect::get(&error, &JsValue::from_str("kind")).unwrap().as_string().unwrap()
}

#[wasm_bindgen_test]
fn errors_have_kinds() {
    let bad = js(&serde_json::json!({"mode": "sometimes"}));
    assert_eq!(kind(PolicyScanner::new(&bad).err().unwrap()), "invalid_policy");
    let ok = js(&serde_json::json!({}));
    let facts = js(&serde_json::json!({"recipients": "not a list"}));
    assert_eq!(kind(decide(&ok, &facts, &js(&serde_json::json!([]))).unwrap_err()), "invalid_facts");
    let findings = js(&serde_json::json!([{"kind": "bsn"}]));
    assert_eq!(kind(decide(&ok, &js(&serde_json::json!({})), &findings).unwrap_err()), "invalid_findings");
    let mut scanner = PolicyScanner::new(&ok).unwrap();
    scanner.finish().unwrap();
    assert_eq!(kind(scanner.push(&Uint8Array::from(&b"x"[..])).unwrap_err()), "finished");
    assert_eq!(kind(scanner.finish().unwrap_err()), "finished");
}

#[wasm_bindgen_test]
fn large_pieces_keep_memory_small() {
    let policy = js(&serde_json::json!({}));
    let mut scanner = PolicyScanner::new(&policy).unwrap();
    let piece = Uint8Array::from(&b"BSN 123456782, ".repeat(300_000)[..]);
    let before = kluis_wasm::memory_bytes();
    scanner.push(&piece).unwrap();
    let findings = json(&scanner.finish().unwrap());
    assert_eq!(findings[0]["count"], 300_000);
    assert!(kluis_wasm::memory_bytes() - before < 1024.0 * 1024.0, "a 4.5 MB piece grew memory");
}

//! Arbitrary text into the tus `Upload-Metadata` parser: must never panic,
//! and what it accepts must encode to a header that parses back to the same
//! pairs. Values are also checked against the `base64` crate's strict
//! standard engine (what the server used before).
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kluis_protocol::tus::{MAX_HEADER_LEN, MAX_PAIRS, encode_metadata, parse_metadata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(metadata) = parse_metadata(text) {
        assert!(text.len() <= MAX_HEADER_LEN && metadata.len() <= MAX_PAIRS);
        let pairs: Vec<(&str, &[u8])> = metadata.iter().collect();
        for (key, value) in &pairs {
            assert_eq!(metadata.get(key), Some(*value));
        }
        let encoded = encode_metadata(&pairs);
        assert!(encoded.len() <= text.len(), "{text:?} grew to {encoded:?}");
        let again = parse_metadata(&encoded).expect("encoded metadata parses");
        assert_eq!(again.iter().collect::<Vec<_>>(), pairs, "{text:?} -> {encoded:?}");
    }

    // One value on its own: accepted exactly when the base64 crate accepts it.
    if !text.is_empty() && !text.contains([',', ' ', '\t']) && text.len() < MAX_HEADER_LEN - 2 {
        let ours = parse_metadata(&format!("k {text}")).map(|m| m.get("k").unwrap().to_vec());
        match (ours, STANDARD.decode(text)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text:?}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("{text:?}: ours {a:?}, base64 crate {b:?}"),
        }
    }
});

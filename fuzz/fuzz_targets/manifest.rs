//! Arbitrary bytes into the manifest parser, as if decrypted from blob 0 of
//! a package whose blob count is the first input byte. Must never panic,
//! and an accepted manifest must serialize to bytes that parse back to the
//! same manifest, and that are a fixed point of serialization.
#![no_main]

use kluis_protocol::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&blobs, json)) = data.split_first() else { return };
    let blobs = usize::from(blobs);
    let Ok(manifest) = Manifest::parse(json, blobs) else { return };
    assert_eq!(manifest.files.len() + 1, blobs);
    let bytes = manifest.to_bytes();
    let again = Manifest::parse(&bytes, blobs).expect("a serialized manifest parses");
    assert_eq!(again, manifest);
    assert_eq!(again.to_bytes(), bytes);
});

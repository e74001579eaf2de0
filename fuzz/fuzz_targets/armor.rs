//! Arbitrary text into the armor decoder in pieces: must never panic, and
//! whatever it accepts must re-encode to the canonical form of itself.
#![no_main]

use kluis_crypto::armor::{ArmorDecoder, ArmorEncoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&step, text)) = data.split_first() else { return };
    let step = (step as usize % 67) + 1;
    let mut dec = ArmorDecoder::new();
    let mut out = Vec::new();
    for piece in text.chunks(step) {
        let mut rest = piece;
        while !rest.is_empty() {
            match dec.decode(rest, &mut out, 4096) {
                Ok(n) => rest = &rest[n..],
                Err(_) => return,
            }
        }
    }
    if dec.finish().is_err() {
        return;
    }
    // Accepted armor is canonical: encoding the bytes again gives the same
    // text, up to surrounding whitespace and line endings.
    let mut enc = ArmorEncoder::new();
    let mut again = Vec::new();
    enc.encode(&out, &mut again);
    enc.finish(&mut again);
    let normalize = |t: &[u8]| -> Vec<u8> {
        String::from_utf8_lossy(t).replace("\r\n", "\n").trim().as_bytes().to_vec()
    };
    assert_eq!(normalize(text), normalize(&again));
});

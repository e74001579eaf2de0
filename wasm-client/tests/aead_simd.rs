//! Differential tests of the WebAssembly SIMD ChaCha20-Poly1305
//! (`kluis-crypto`'s `aead/simd128.rs`) against the native build, which uses
//! the `chacha20poly1305` crate.
//!
//! `fixtures/aead_simd.json` holds, for payloads of many lengths, the header
//! (with payload nonce) of an age file encrypted natively and the SHA-256 of
//! its payload. The header fixes the payload key, so re-encrypting the same
//! plaintext must reproduce that payload byte for byte: checked here in wasm
//! (Node, and headless Chromium with WASM_BINDGEN_USE_BROWSER=1) and, as a
//! check of the fixtures themselves, natively. Regenerate the fixtures with
//! `cargo test -p kluis-wasm --test aead_simd -- --ignored`.

use kluis_crypto::stream::PayloadEncryptor;
use kluis_crypto::{UnlockedHeader, x25519};
use sha2::{Digest, Sha256};

#[derive(serde::Deserialize, serde::Serialize)]
struct Fixtures {
    comment: String,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Case {
    len: usize,
    /// Header and payload nonce, hex.
    header: String,
    /// SHA-256 of the payload, hex.
    payload_sha256: String,
}

fn fixtures() -> Fixtures {
    serde_json::from_str(include_str!("fixtures/aead_simd.json")).unwrap()
}

/// The identity all fixtures are encrypted to (test-only key).
fn identity() -> x25519::Identity {
    x25519::Identity::from_secret_bytes(core::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(3)))
}

/// Pseudo-random plaintext of `len` bytes (xorshift64*, seeded by the length).
fn plaintext(len: usize) -> Vec<u8> {
    let mut s = len as u64 ^ 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Seals `plaintext` as an age payload under the key the header `header` holds,
/// feeding it in pieces of `piece` bytes.
fn seal_payload(header: &[u8], plaintext: &[u8], piece: usize) -> Vec<u8> {
    let identity = identity();
    let unlocked = UnlockedHeader::parse(header, &[&identity]).unwrap().expect("whole header");
    assert_eq!(unlocked.header_len(), header.len());
    let mut enc = PayloadEncryptor::new(unlocked.payload_key(), 0);
    let mut out = Vec::new();
    let mut rest = plaintext;
    loop {
        let n = enc.push(&rest[..rest.len().min(piece)]).unwrap();
        rest = &rest[n..];
        out.extend_from_slice(enc.output());
        enc.consume(enc.output().len());
        if rest.is_empty() {
            break;
        }
    }
    loop {
        enc.finish().unwrap();
        let ready = enc.output().len();
        if ready == 0 {
            break;
        }
        out.extend_from_slice(enc.output());
        enc.consume(ready);
    }
    assert!(enc.is_done());
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The native file of `case`, rebuilt from its header and a re-sealed payload
/// that is checked to hash to the native one.
fn native_file(case: &Case, piece: usize) -> Vec<u8> {
    let header = hex::decode(&case.header).unwrap();
    let payload = seal_payload(&header, &plaintext(case.len), piece);
    assert_eq!(sha256_hex(&payload), case.payload_sha256, "payload of {} bytes, pieces of {piece}", case.len);
    [header, payload].concat()
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::*;
    use js_sys::{Array, Uint8Array};
    use kluis_wasm::Decryptor;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_test::*;

    fn bytes(pieces: Array) -> Vec<u8> {
        pieces.iter().flat_map(|p| p.unchecked_into::<Uint8Array>().to_vec()).collect()
    }

    fn identity_string() -> String {
        identity().to_secret_string().to_string()
    }

    fn decrypt_in_pieces(data: &[u8], piece: usize) -> Result<Vec<u8>, String> {
        let err = |e: wasm_bindgen::JsValue| format!("{e:?}");
        let mut dec = Decryptor::new(vec![identity_string()]).map_err(|e| err(e.into()))?;
        let mut out = Vec::new();
        for p in data.chunks(piece) {
            out.extend(bytes(dec.push(&Uint8Array::from(p)).map_err(err)?));
        }
        out.extend(bytes(dec.finish().map_err(err)?));
        Ok(out)
    }

    #[wasm_bindgen_test]
    fn sealing_matches_the_native_payloads() {
        for case in fixtures().cases {
            for piece in [1 << 20, 4_099] {
                native_file(&case, piece);
            }
        }
    }

    #[wasm_bindgen_test]
    fn native_files_open() {
        for case in fixtures().cases {
            let file = native_file(&case, 1 << 20);
            let expect = plaintext(case.len);
            // Through the bindings, in pieces that split chunks and tags.
            assert_eq!(decrypt_in_pieces(&file, 50_001).unwrap(), expect, "{} bytes", case.len);
            // In one go.
            assert_eq!(kluis_crypto::decrypt(&[&identity()], &file).unwrap(), expect, "{} bytes", case.len);
        }
    }

    #[wasm_bindgen_test]
    fn damaged_native_files_are_rejected() {
        for case in fixtures().cases.into_iter().filter(|c| [0, 1, 17, 256, 65_536, 65_537, 200_000].contains(&c.len)) {
            let file = native_file(&case, 1 << 20);
            let header_len = case.header.len() / 2;
            // First ciphertext byte, a byte mid-payload, the last tag byte.
            for at in [header_len, (header_len + file.len()) / 2, file.len() - 1] {
                for bit in [0x01, 0x80] {
                    let mut bad = file.clone();
                    bad[at] ^= bit;
                    let err = decrypt_in_pieces(&bad, 1 << 20).unwrap_err();
                    assert!(err.contains("failed authentication"), "{} bytes, byte {at}: {err}", case.len);
                }
            }
        }
    }

    /// A file cut at a chunk boundary, or with data after a full final
    /// chunk, is told apart from a damaged one by opening the full chunk
    /// again with the other final flag: only possible if the failed first
    /// attempt left the chunk untouched.
    #[wasm_bindgen_test]
    fn failed_opens_leave_the_chunk_untouched() {
        let cases = fixtures().cases;
        let case = |len| cases.iter().find(|c| c.len == len).unwrap();
        let chunk = 65_536 + 16;

        let file = native_file(case(131_072), 1 << 20);
        let cut = &file[..case(131_072).header.len() / 2 + chunk];
        let err = decrypt_in_pieces(cut, 1 << 20).unwrap_err();
        assert!(err.contains("truncated"), "{err}");

        let mut file = native_file(case(65_536), 1 << 20);
        file.extend_from_slice(&[0x55; 100]);
        let err = decrypt_in_pieces(&file, 1 << 20).unwrap_err();
        assert!(err.contains("unexpected data after the final chunk"), "{err}");
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::*;

    /// The fixtures agree with the native implementation.
    #[test]
    fn fixtures_match_the_native_implementation() {
        for case in fixtures().cases {
            let file = native_file(&case, 1 << 20);
            assert_eq!(kluis_crypto::decrypt(&[&identity()], &file).unwrap(), plaintext(case.len));
        }
    }

    /// Rewrites `fixtures/aead_simd.json` from fresh native encryptions.
    #[test]
    #[ignore = "regenerates the fixtures"]
    fn regenerate_fixtures() {
        let mut lens = vec![
            0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 191, 192, 193, 255, 256, 257, 511, 512, 513, 1000,
            4095, 4096, 4097, 65_535, 65_536, 65_537, 65_791, 65_792, 65_793, 131_072, 131_073, 200_000,
        ];
        // Plus some arbitrary lengths, from a fixed seed.
        let mut s = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..24 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lens.push((s % if i < 16 { 4_096 } else { 300_000 }) as usize);
        }
        let recipient = identity().to_public();
        let cases = lens
            .into_iter()
            .map(|len| {
                let file = kluis_crypto::encrypt(&[&recipient], &plaintext(len)).unwrap();
                let identity = identity();
                let header_len = UnlockedHeader::parse(&file, &[&identity]).unwrap().unwrap().header_len();
                Case { len, header: hex::encode(&file[..header_len]), payload_sha256: sha256_hex(&file[header_len..]) }
            })
            .collect();
        let fixtures = Fixtures {
            comment: "age files encrypted natively (chacha20poly1305 crate): header and payload nonce, \
                      SHA-256 of the payload. Written by tests/aead_simd.rs (regenerate_fixtures)."
                .into(),
            cases,
        };
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aead_simd.json");
        std::fs::write(path, serde_json::to_string_pretty(&fixtures).unwrap() + "\n").unwrap();
    }
}

//! The bindings as JavaScript sees them, run by wasm-bindgen-test in Node
//! and (with WASM_BINDGEN_USE_BROWSER=1) in headless Chromium.

#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Uint8Array};
use kluis_wasm::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

/// Concatenates the pieces a codec returned.
fn bytes(pieces: Array) -> Vec<u8> {
    pieces.iter().flat_map(|p| p.unchecked_into::<Uint8Array>().to_vec()).collect()
}

fn js(data: &[u8]) -> Uint8Array {
    Uint8Array::from(data)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn encrypt_in_pieces(mut enc: Encryptor, data: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for p in data.chunks(piece.max(1)) {
        out.extend(bytes(enc.push(&js(p)).unwrap()));
    }
    out.extend(bytes(enc.finish().unwrap()));
    out
}

fn decrypt_in_pieces(mut dec: Decryptor, data: &[u8], piece: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for p in data.chunks(piece.max(1)) {
        out.extend(bytes(dec.push(&js(p)).map_err(|e| format!("{e:?}"))?));
    }
    out.extend(bytes(dec.finish().map_err(|e| format!("{e:?}"))?));
    Ok(out)
}

#[wasm_bindgen_test]
fn round_trips_in_any_piece_size() {
    let identity = generate_identity(None).unwrap();
    let recipient = identity_to_recipient(&identity).unwrap();
    for len in [0, 1, 65_535, 65_536, 65_537, 300_000] {
        let data = pattern(len);
        for armor in [false, true] {
            for piece in [1_000, 65_536, 1 << 20] {
                let ct = encrypt_in_pieces(Encryptor::new(vec![recipient.clone()], armor).unwrap(), &data, piece);
                let back = decrypt_in_pieces(Decryptor::new(vec![identity.clone()]).unwrap(), &ct, piece + 3).unwrap();
                assert_eq!(back, data, "len {len} armor {armor} piece {piece}");
            }
        }
    }
}

#[wasm_bindgen_test]
fn tampering_is_an_error() {
    let identity = generate_identity(None).unwrap();
    let recipient = identity_to_recipient(&identity).unwrap();
    let mut ct = encrypt_in_pieces(Encryptor::new(vec![recipient], false).unwrap(), &pattern(200_000), 1 << 20);
    let n = ct.len();
    ct[n - 10] ^= 0x80;
    let err = decrypt_in_pieces(Decryptor::new(vec![identity.clone()]).unwrap(), &ct, 50_000).unwrap_err();
    assert!(err.contains("failed authentication"), "{err}");
    let other = generate_identity(None).unwrap();
    let err = decrypt_in_pieces(Decryptor::new(vec![other.clone()]).unwrap(), &ct, 50_000).unwrap_err();
    assert!(err.contains("no identity matched"), "{err}");
    // Pages branch on the kind, never on these words.
    let first_error = |identity: String| {
        let mut dec = Decryptor::new(vec![identity]).unwrap();
        dec.push(&js(&ct)).err().or_else(|| dec.finish().err()).expect("an error")
    };
    assert_eq!(kind(first_error(identity)), "damaged");
    assert_eq!(kind(first_error(other)), "no_match");
}

#[wasm_bindgen_test]
fn passphrases() {
    let data = pattern(70_000);
    let ct = encrypt_in_pieces(Encryptor::with_passphrase("hunter2".into(), 10, true).unwrap(), &data, 4096);
    assert_eq!(decrypt_in_pieces(Decryptor::with_passphrase("hunter2".into()), &ct, 4096).unwrap(), data);
    assert!(decrypt_in_pieces(Decryptor::with_passphrase("hunter3".into()), &ct, 4096).is_err());
}

#[wasm_bindgen_test]
fn random_access_from_the_header() {
    let identity = generate_identity(None).unwrap();
    let recipient = identity_to_recipient(&identity).unwrap();
    let data = pattern(5 * 65_536 + 777);
    let ct = encrypt_in_pieces(Encryptor::new(vec![recipient], false).unwrap(), &data, 1 << 20);
    assert!(Header::unlock(&ct[..20], vec![identity.clone()]).unwrap().is_none());
    let header = Header::unlock(&ct[..1000], vec![identity]).unwrap().unwrap();
    assert_eq!(header.plaintext_length(ct.len() as f64).unwrap(), data.len() as f64);
    for offset in [0usize, 1, 65_536, 200_000, data.len() - 1] {
        let mut range = header.decrypt_from(offset as f64, ct.len() as f64).unwrap();
        let mut out = bytes(range.push(&js(&ct[range.file_offset() as usize..])).unwrap());
        out.extend(bytes(range.finish().unwrap()));
        assert_eq!(out, &data[offset..], "offset {offset}");
    }
}

#[derive(serde::Deserialize)]
struct Case {
    package_id: String,
    link_secret: String,
    server_share: String,
    password: Option<String>,
    identity: String,
    recipient: String,
    access_proof: String,
    access_verifier: String,
    link_proof: String,
    link_verifier: String,
    post_quantum_identity: String,
    post_quantum_recipient: String,
}

#[wasm_bindgen_test]
fn package_key_schedule_vectors() {
    let cases: Vec<Case> = serde_json::from_str(include_str!("../../crypto/tests/vectors/package.json")).unwrap();
    for case in cases {
        let stretched = case.password.as_deref().map(|p| stretch_password(&case.package_id, p).unwrap());
        let ids = package_identities(&case.package_id, &case.link_secret, &case.server_share, stretched.clone());
        assert_eq!(ids.unwrap(), [case.identity.clone(), case.post_quantum_identity.clone()]);
        for (post_quantum, expected) in [(None, &case.recipient), (Some(false), &case.recipient)]
            .into_iter()
            .chain([(Some(true), &case.post_quantum_recipient)])
        {
            let (id, l, s) = (&case.package_id, &case.link_secret, &case.server_share);
            let r = package_recipient(id, l, s, stretched.clone(), post_quantum).unwrap();
            assert_eq!(&r, expected);
            assert_eq!(recipient_is_post_quantum(&r).unwrap(), post_quantum == Some(true));
        }
        let proof = access_proof(&case.package_id, &case.link_secret, stretched.clone()).unwrap();
        assert_eq!(proof, case.access_proof);
        let verifier = access_verifier(&case.package_id, &case.link_secret, stretched).unwrap();
        assert_eq!(verifier, case.access_verifier);
        assert_eq!(link_proof(&case.package_id, &case.link_secret).unwrap(), case.link_proof);
        assert_eq!(link_verifier(&case.package_id, &case.link_secret).unwrap(), case.link_verifier);
    }
    assert_eq!(generate_link_secret().unwrap().len(), 43);
}

/// The `kind` of a thrown error: what pages branch on.
fn kind(e: wasm_bindgen::JsValue) -> String {
    js_sys::Reflect::get(&e, &"kind".into()).unwrap().as_string().unwrap_or_default()
}

#[wasm_bindgen_test]
fn package_errors_are_typed() {
    let link = generate_link_secret().unwrap();
    let share = generate_link_secret().unwrap();
    assert_eq!(kind(access_proof("a/b", &link, None).unwrap_err()), "invalid_id");
    assert_eq!(kind(access_verifier("", &link, None).unwrap_err()), "invalid_id");
    assert_eq!(kind(stretch_password(&"x".repeat(65), "pw").unwrap_err()), "invalid_id");
    assert_eq!(kind(package_identities("ok", &link[1..], &share, None).unwrap_err()), "invalid_secret");
    assert_eq!(kind(package_recipient("ok", &link, "", None, Some(true)).unwrap_err()), "invalid_secret");
    assert_eq!(kind(recipient_is_post_quantum("age1nope").unwrap_err()), "bad_recipient");
    assert_eq!(kind(access_proof("ok", &link, Some(vec![0; 31])).unwrap_err()), "invalid_password");
    let e = access_proof("ok", "nope", None).unwrap_err();
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(kind(e), "invalid_secret");
    // Without a password the proof does not depend on anything but the id and L.
    assert_eq!(access_proof("ok", &link, None).unwrap(), access_proof("ok", &link, None).unwrap());
    assert_ne!(access_proof("ok", &link, None).unwrap(), access_proof("ok", &link, Some(vec![0; 32])).unwrap());
    assert_eq!(kind(link_proof("a/b", &link).unwrap_err()), "invalid_id");
    assert_eq!(kind(link_verifier("ok", &link[1..]).unwrap_err()), "invalid_secret");
    // The link proof is not the access proof.
    assert_ne!(link_proof("ok", &link).unwrap(), access_proof("ok", &link, None).unwrap());
}

#[wasm_bindgen_test]
fn sha256_known_answer() {
    let mut h = Sha256::new();
    h.update(b"a");
    h.update(b"bc");
    assert_eq!(h.hex_digest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

#[wasm_bindgen_test]
fn post_quantum_keys() {
    let identity = generate_identity(Some(true)).unwrap();
    assert!(identity.starts_with("AGE-SECRET-KEY-PQ-1"));
    let recipient = identity_to_recipient(&identity).unwrap();
    assert!(recipient.starts_with("age1pq1"));
    assert_eq!(parse_recipient(&recipient.to_uppercase()).unwrap(), recipient);
    let data = pattern(150_000);
    let ct = encrypt_in_pieces(Encryptor::new(vec![recipient.clone()], false).unwrap(), &data, 1 << 16);
    assert_eq!(decrypt_in_pieces(Decryptor::new(vec![identity]).unwrap(), &ct, 4096).unwrap(), data);
    // Post-quantum and classic recipients never share a file.
    let classic = identity_to_recipient(&generate_identity(None).unwrap()).unwrap();
    let Err(mixed) = Encryptor::new(vec![recipient, classic], false) else { panic!("mixed recipients accepted") };
    assert_eq!(kind(mixed), "mixed_post_quantum");
}

#[wasm_bindgen_test]
fn a_package_of_either_kind_opens_with_both_identities() {
    let (link, share) = (generate_link_secret().unwrap(), generate_link_secret().unwrap());
    let data = pattern(70_000);
    for post_quantum in [false, true] {
        let recipient = package_recipient("pkg", &link, &share, None, Some(post_quantum)).unwrap();
        let ct = encrypt_in_pieces(Encryptor::new(vec![recipient], false).unwrap(), &data, 1 << 16);
        let identities = package_identities("pkg", &link, &share, None).unwrap();
        assert_eq!(decrypt_in_pieces(Decryptor::new(identities).unwrap(), &ct, 4096).unwrap(), data);
    }
}

#[wasm_bindgen_test]
fn bad_keys_are_errors() {
    assert!(parse_recipient("age1nope").is_err());
    assert!(Encryptor::new(vec![], false).is_err());
    assert!(Decryptor::new(vec!["AGE-SECRET-KEY-1XYZ".into()]).is_err());
    assert!(memory_bytes() > 0.0);
}

#[wasm_bindgen_test]
fn push_into_reused_buffers_matches_push() {
    let identity = generate_identity(None).unwrap();
    let recipient = identity_to_recipient(&identity).unwrap();
    let data = pattern(400_000);
    for armor in [false, true] {
        let mut enc = Encryptor::new(vec![recipient.clone()], armor).unwrap();
        let mut ct = Vec::new();
        for piece in data.chunks(100_000) {
            let sink = Uint8Array::new_with_length(enc.output_bound(piece.len()) as u32);
            let n = enc.push_into(&js(piece), &sink).unwrap();
            ct.extend(sink.subarray(0, n).to_vec());
        }
        let sink = Uint8Array::new_with_length(enc.output_bound(0) as u32);
        let n = enc.finish_into(&sink).unwrap();
        ct.extend(sink.subarray(0, n).to_vec());

        let mut dec = Decryptor::new(vec![identity.clone()]).unwrap();
        let mut back = Vec::new();
        for piece in ct.chunks(70_000) {
            let sink = Uint8Array::new_with_length(dec.output_bound(piece.len()) as u32);
            let n = dec.push_into(&js(piece), &sink).unwrap();
            back.extend(sink.subarray(0, n).to_vec());
        }
        let sink = Uint8Array::new_with_length(dec.output_bound(0) as u32);
        let n = dec.finish_into(&sink).unwrap();
        back.extend(sink.subarray(0, n).to_vec());
        assert_eq!(back, data, "armor {armor}");
    }
    // A sink that is too small is an error, not a truncation.
    let mut enc = Encryptor::new(vec![recipient], false).unwrap();
    assert!(enc.push_into(&js(&data), &Uint8Array::new_with_length(1000)).is_err());
}

#[wasm_bindgen_test]
fn resume_state_survives_a_reload() {
    let identity = generate_identity(None).unwrap();
    let recipient = identity_to_recipient(&identity).unwrap();
    let data = pattern(200_000);
    let enc = Encryptor::new(vec![recipient], false).unwrap();
    let state = enc.resume_state().unwrap();
    let whole = encrypt_in_pieces(enc, &data, 50_000);
    assert_eq!(Encryptor::from_resume_state(&state).unwrap().encrypted_length(data.len() as f64), whole.len() as f64);
    let offset = 130_000usize;
    let mut again = Encryptor::from_resume_state(&state).unwrap();
    let r = again.resume_at(offset as f64).unwrap();
    let rest = encrypt_in_pieces(again, &data[r.plaintext_offset() as usize..], 50_000);
    assert_eq!(&rest[r.skip_output()..], &whole[offset..]);
}

/// The manifest binds a file to its blob by the header hash: a decryptor
/// told to expect it opens that file and refuses any other before output.
#[wasm_bindgen_test]
fn header_hash_binds_the_blob() {
    let identity = generate_identity(None).unwrap();
    let recipient = identity_to_recipient(&identity).unwrap();
    let data = pattern(100_000);
    let enc = Encryptor::new(vec![recipient.clone()], false).unwrap();
    let hash = enc.header_hash();
    assert_eq!(hash.len(), 64);
    let ct = encrypt_in_pieces(enc, &data, 30_000);
    let expecting = |h: &str| Decryptor::new(vec![identity.clone()]).unwrap().expect_header(h);
    assert_eq!(decrypt_in_pieces(expecting(&hash).unwrap(), &ct, 30_000).unwrap(), data);
    let other = Encryptor::new(vec![recipient], false).unwrap().header_hash();
    let err = decrypt_in_pieces(expecting(&other).unwrap(), &ct, 30_000).unwrap_err();
    assert!(err.contains("not the file that was sent"), "{err}");
    assert_eq!(kind(expecting("00").err().unwrap()), "damaged");
}

#[wasm_bindgen_test]
fn manifests_and_links() {
    let files = js_sys::JSON::parse(r#"[{"name":"a.pdf","size":3,"type":"application/pdf","header":"00"}]"#).unwrap();
    let bytes = build_manifest("s", "m", files).unwrap();
    assert!(parse_manifest(&bytes, 2).is_err(), "a short hash is refused");
    let hash = placeholder_header_hash();
    let files =
        js_sys::JSON::parse(&format!(r#"[{{"name":"a.pdf","size":3,"type":"application/pdf","header":"{hash}"}}]"#))
            .unwrap();
    let bytes = build_manifest("s", "m", files).unwrap();
    let parsed = parse_manifest(&bytes, 2).unwrap();
    assert_eq!(js_sys::Reflect::get(&parsed, &"subject".into()).unwrap().as_string().unwrap(), "s");
    // Errors are typed: a newer format is not damage.
    assert_eq!(kind(parse_manifest(&bytes, 3).unwrap_err()), "damaged");
    let newer = String::from_utf8(bytes.clone()).unwrap().replacen("\"kluis\":2", "\"kluis\":99", 1);
    assert_eq!(kind(parse_manifest(newer.as_bytes(), 2).unwrap_err()), "newer");
    let secret = generate_link_secret().unwrap();
    let link = format_link("https://k.example.org", "AAAAAAAAAAAAAAAAAAAAAA", &secret).unwrap();
    let back = parse_link(&link).unwrap();
    assert_eq!(js_sys::Reflect::get(&back, &"linkSecret".into()).unwrap().as_string().unwrap(), secret);
    assert_eq!(kind(parse_link("https://k.example.org/p/AAAAAAAAAAAAAAAAAAAAAA").unwrap_err()), "bad_secret");
    assert_eq!(kind(parse_link("ftp://k.example.org/p/AAAAAAAAAAAAAAAAAAAAAA#x").unwrap_err()), "not_a_link");
    assert_eq!(safe_file_name("../x/y.txt"), "y.txt");
}

#[wasm_bindgen_test]
fn request_links() {
    let recipient = identity_to_recipient(&generate_identity(None).unwrap()).unwrap();
    let link = format_request_link("https://k.example.org/", "AAAAAAAAAAAAAAAAAAAAAA", &recipient).unwrap();
    assert_eq!(link, format!("https://k.example.org/r/AAAAAAAAAAAAAAAAAAAAAA#{recipient}"));
    let back = parse_request_link(&link).unwrap();
    let get = |name: &str| js_sys::Reflect::get(&back, &name.into()).unwrap().as_string().unwrap();
    assert_eq!(get("recipient"), recipient);
    assert_eq!(get("requestId"), "AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(get("server"), "https://k.example.org");
    // A cut or missing recipient, a package link, and a bad recipient to format.
    assert_eq!(kind(parse_request_link(&link[..link.len() - 1]).unwrap_err()), "bad_recipient");
    assert_eq!(kind(parse_request_link(link.split('#').next().unwrap()).unwrap_err()), "bad_recipient");
    assert_eq!(kind(parse_request_link(&link.replace("/r/", "/p/")).unwrap_err()), "not_a_link");
    assert_eq!(
        kind(format_request_link("https://k.example.org", "AAAAAAAAAAAAAAAAAAAAAA", "age1nope").unwrap_err()),
        "bad_recipient"
    );
    assert_eq!(kind(format_request_link("https://k.example.org", "no/id", &recipient).unwrap_err()), "invalid_id");

    // A post-quantum recipient (about 1950 characters) travels the same way.
    let post_quantum = identity_to_recipient(&generate_identity(Some(true)).unwrap()).unwrap();
    let link = format_request_link("https://k.example.org", "AAAAAAAAAAAAAAAAAAAAAA", &post_quantum).unwrap();
    assert!(link.len() > 1950, "{}", link.len());
    let back = parse_request_link(&link).unwrap();
    assert_eq!(js_sys::Reflect::get(&back, &"recipient".into()).unwrap().as_string().unwrap(), post_quantum);
    assert_eq!(kind(parse_request_link(&link[..link.len() - 1]).unwrap_err()), "bad_recipient");
}

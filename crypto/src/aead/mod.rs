//! ChaCha20-Poly1305 (RFC 8439) as age uses it: empty associated data,
//! detached 16-byte tags, in place.
//!
//! Three implementations behind one type, chosen by target:
//! - natively, `ring` (`native`): BoringSSL's one-pass assembly, the fastest
//!   audited candidate measured (`crypto/benches/aead.rs`); a failed open
//!   zeroes the buffer;
//! - on WebAssembly with SIMD, our own (`simd128`: 4-way vector ChaCha20,
//!   scalar Poly1305 with four blocks per reduction), because no crate has a
//!   wasm SIMD backend and the portable code runs at 0.3 GB/s there against
//!   our 0.7;
//! - elsewhere the `chacha20poly1305` crate (`portable`), which also checks
//!   the other two: `native` in its unit tests, `simd128` in wasm
//!   (`differential` below), and both through the age tests of `wasm-client`.
//!
//! Callers may rely on a failed open returning `false`, not on what the
//! buffer then holds.

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::ChaCha20Poly1305;

#[cfg(any(test, all(target_arch = "wasm32", not(target_feature = "simd128"))))]
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
mod portable;
#[cfg(all(target_arch = "wasm32", not(target_feature = "simd128")))]
pub(crate) use portable::ChaCha20Poly1305;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) use simd128::ChaCha20Poly1305;

/// Length of a Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;
/// Length of a ChaCha20-Poly1305 nonce.
pub(crate) const NONCE_LEN: usize = 12;

/// The SIMD implementation against the crate, both compiled to wasm:
/// `cargo test -p kluis-crypto --lib --target wasm32-unknown-unknown --no-default-features`.
#[cfg(all(test, target_arch = "wasm32", target_feature = "simd128"))]
mod differential {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::{portable, simd128};

    /// xorshift64*: deterministic, so a failure names its case.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                *b = self.next() as u8;
            }
        }
    }

    fn check(key: &[u8; 32], nonce: &[u8; 12], plain: &[u8], case: &str) {
        let ours = simd128::ChaCha20Poly1305::new(key);
        let reference = portable::ChaCha20Poly1305::new(key);
        let mut a = plain.to_vec();
        let mut b = plain.to_vec();
        let tag_a = ours.seal(nonce, &mut a);
        let tag_b = reference.seal(nonce, &mut b);
        assert!(a == b && tag_a == tag_b, "seal differs: {case}");
        // Each opens the other's output.
        let mut c = a.clone();
        assert!(reference.open(nonce, &mut c, &tag_a) && c == plain, "reference cannot open ours: {case}");
        assert!(ours.open(nonce, &mut a, &tag_b) && a == plain, "we cannot open the reference's: {case}");
        // A flipped bit anywhere fails and leaves the buffer as it was.
        if !b.is_empty() {
            let i = (tag_a[0] as usize * 7919) % b.len();
            b[i] ^= 1 << (tag_a[1] % 8);
            let before = b.clone();
            assert!(!ours.open(nonce, &mut b, &tag_b), "tampered ciphertext opened: {case}");
            assert!(b == before, "failed open changed the buffer: {case}");
        }
        let mut bad_tag = tag_b;
        bad_tag[15] ^= 0x80;
        let mut d = c.clone();
        let tampered = reference.seal(nonce, &mut d);
        assert!(!ours.open(nonce, &mut d, &bad_tag) || tampered == bad_tag, "bad tag accepted: {case}");
    }

    #[wasm_bindgen_test]
    fn random_messages_match_the_crate() {
        let mut rng = Rng(0x6b6c_7569_7321);
        for i in 0..3000 {
            let mut key = [0u8; 32];
            let mut nonce = [0u8; 12];
            rng.fill(&mut key);
            rng.fill(&mut nonce);
            let len = if i < 2900 { i % 1100 } else { (rng.next() % 300_000) as usize };
            let mut plain = vec![0u8; len];
            rng.fill(&mut plain);
            check(&key, &nonce, &plain, &format!("case {i}, {len} bytes"));
        }
    }

    #[wasm_bindgen_test]
    fn extreme_values() {
        // All-ones data and keys drive Poly1305's limbs and carries to their
        // maximum; all-zero ones to the bottom of the final reduction.
        for (k, n, p) in [(0xff, 0xff, 0xff), (0, 0, 0), (0xff, 0, 0xff), (0, 0xff, 0xff)] {
            for len in [0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1024, 65_536, 65_552] {
                check(&[k; 32], &[n; 12], &vec![p; len], &format!("key {k:#x} nonce {n:#x} data {p:#x} len {len}"));
            }
        }
    }

    /// RFC 8439, section 2.8.2 has associated data, which age never uses; its
    /// key and nonce with empty associated data must still agree with the crate.
    #[wasm_bindgen_test]
    fn rfc8439_key_and_nonce() {
        let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
        let nonce = [0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47];
        let plain = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        check(&key, &nonce, plain, "RFC 8439 2.8.2 without AAD");
    }
}

//! Thin wrappers over the primitives age v1 is built from (c2sp.org/age,
//! "Conventions"): HKDF-SHA-256 with 32-byte output, HMAC-SHA-256,
//! ChaCha20-Poly1305 with the all-zero nonce for stanza bodies, and scrypt.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{EncryptError, Result};

pub(crate) use crate::aead::TAG_LEN;
use crate::aead::{ChaCha20Poly1305, NONCE_LEN};

/// `HKDF-SHA-256(ikm, salt, info)` with a 32-byte output.
pub(crate) fn hkdf(salt: &[u8], info: &[u8], ikm: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut okm = Zeroizing::new([0u8; 32]);
    hkdf::Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, okm.as_mut())
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    okm
}

/// `HMAC-SHA-256(key, message)`.
pub(crate) fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Checks `HMAC-SHA-256(key, message) == expected` in constant time.
pub(crate) fn hmac_verify(key: &[u8], message: &[u8], expected: &[u8]) -> bool {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.verify_slice(expected).is_ok()
}

/// ChaCha20-Poly1305 with a fixed all-zero nonce, as used for stanza bodies.
/// Safe because every wrap key is used exactly once.
pub(crate) fn aead_seal_zero_nonce(key: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    let mut out = plaintext.to_vec();
    let tag = ChaCha20Poly1305::new(key).seal(&[0; NONCE_LEN], &mut out);
    out.extend_from_slice(&tag);
    out
}

/// Opens a ChaCha20-Poly1305 box sealed with the all-zero nonce.
pub(crate) fn aead_open_zero_nonce(key: &[u8; 32], ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let split = ciphertext.len().checked_sub(TAG_LEN)?;
    let (body, tag) = ciphertext.split_at(split);
    let mut out = Zeroizing::new(body.to_vec());
    ChaCha20Poly1305::new(key).open(&[0; NONCE_LEN], &mut out, tag.try_into().expect("tag is 16 bytes")).then_some(out)
}

/// scrypt with r = 8, p = 1 and a 32-byte output (RFC 7914).
pub(crate) fn scrypt(salt: &[u8], log_n: u8, password: &[u8]) -> Zeroizing<[u8; 32]> {
    let params = scrypt::Params::new(log_n, 8, 1).expect("log_n checked by callers");
    let mut out = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, salt, &params, out.as_mut()).expect("32 is a valid output length");
    out
}

/// Fills `buf` from the operating system's CSPRNG (the browser's `crypto.getRandomValues` in wasm).
pub(crate) fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| EncryptError::Random.into())
}

/// `N` random bytes that are wiped when dropped.
pub(crate) fn random_secret<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut buf = Zeroizing::new([0u8; N]);
    random(buf.as_mut())?;
    Ok(buf)
}

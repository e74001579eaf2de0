//! ChaCha20-Poly1305 from the `chacha20poly1305` crate.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Nonce, Tag};

use super::{NONCE_LEN, TAG_LEN};

/// A ChaCha20-Poly1305 key; wiped on drop (crate feature `zeroize`).
#[derive(Clone)]
pub(crate) struct ChaCha20Poly1305(chacha20poly1305::ChaCha20Poly1305);

impl ChaCha20Poly1305 {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        ChaCha20Poly1305(chacha20poly1305::ChaCha20Poly1305::new(key.into()))
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let tag: Tag = self
            .0
            .encrypt_inout_detached(&Nonce::from(*nonce), &[], buf.into())
            .expect("age never seals more than the AEAD limit");
        tag.into()
    }

    /// Checks `tag` and only then decrypts `buf` in place; on failure `buf` is untouched.
    pub(crate) fn open(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        self.0.decrypt_inout_detached(&Nonce::from(*nonce), &[], buf.into(), &Tag::from(*tag)).is_ok()
    }
}

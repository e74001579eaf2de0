//! The file key and the keys derived from it (c2sp.org/age, "File key",
//! "Header MAC", "Payload").

use std::fmt;

use zeroize::Zeroizing;

use crate::error::Result;
use crate::primitives::{hkdf, random_secret};
use crate::stream::PayloadKey;

/// Length of a file key in bytes.
pub const FILE_KEY_LEN: usize = 16;

/// The 128-bit symmetric key that encrypts one file. Wiped when dropped.
///
/// Recipients wrap it into stanzas ([`crate::Recipient::wrap_file_key`]);
/// identities unwrap it ([`crate::Identity::unwrap_stanza`]).
pub struct FileKey(Zeroizing<[u8; FILE_KEY_LEN]>);

impl FileKey {
    /// A fresh file key from the CSPRNG. The spec forbids reusing one across files.
    pub(crate) fn generate() -> Result<Self> {
        Ok(FileKey(random_secret()?))
    }

    /// Wraps raw key bytes, e.g. after an identity decrypted a stanza body.
    pub fn from_bytes(bytes: [u8; FILE_KEY_LEN]) -> Self {
        FileKey(Zeroizing::new(bytes))
    }

    /// The raw key, for recipient implementations that encrypt it.
    pub fn expose(&self) -> &[u8; FILE_KEY_LEN] {
        &self.0
    }

    /// `HMAC key = HKDF-SHA-256(ikm = file key, salt = empty, info = "header")`.
    pub(crate) fn header_mac_key(&self) -> Zeroizing<[u8; 32]> {
        hkdf(&[], b"header", self.0.as_ref())
    }

    /// `payload key = HKDF-SHA-256(ikm = file key, salt = nonce, info = "payload")`.
    pub(crate) fn payload_key(&self, nonce: &[u8; crate::format::PAYLOAD_NONCE_LEN]) -> PayloadKey {
        PayloadKey::from_bytes(&hkdf(nonce, b"payload", self.0.as_ref()))
    }
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileKey(<redacted>)")
    }
}

//! Random tokens, codes and the hashes they are stored as. Nothing secret is
//! stored in the clear: API tokens and download sessions as SHA-256 (they
//! are 256-bit random), one-time codes as HMAC-SHA-256 under the server key
//! (they are only 6 digits). Comparisons of secrets are constant time.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random number generator works");
    b
}

/// A 256-bit random token as unpadded base64url, with a prefix that says what it is.
pub fn random_token(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// A 128-bit random id (22 characters of base64url), e.g. for packages.
pub fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// A uniformly random 6-digit code (rejection sampling, no modulo bias).
pub fn random_code() -> String {
    loop {
        let n = u32::from_le_bytes(random_bytes::<4>());
        // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Constant-time equality of two hex digests.
pub fn digests_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The server's own secret key, made at first start (`<data>/secret.key`, mode 0600).
#[derive(Clone)]
pub struct ServerKey(std::sync::Arc<Zeroizing<[u8; 32]>>);

impl ServerKey {
    pub fn load_or_create(path: &Path) -> Result<ServerKey> {
        if let Ok(bytes) = std::fs::read(path) {
            let key: [u8; 32] = bytes.as_slice().try_into().context("secret.key is not 32 bytes")?;
            return Ok(ServerKey(std::sync::Arc::new(Zeroizing::new(key))));
        }
        let key = Zeroizing::new(random_bytes::<32>());
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
        file.write_all(key.as_ref())?;
        file.sync_all()?;
        Ok(ServerKey(std::sync::Arc::new(key)))
    }

    /// HMAC-SHA-256 of `parts` joined by NUL, hex.
    pub fn mac_hex(&self, parts: &[&str]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0[..]).expect("any key length");
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                mac.update(&[0]);
            }
            mac.update(p.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(random_code().len(), 6);
        assert!(random_code().bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(random_id().len(), 22);
        assert!(random_token("kt_").starts_with("kt_"));
        assert!(digests_equal("abc", "abc") && !digests_equal("abc", "abd") && !digests_equal("ab", "abc"));
    }

    #[test]
    fn server_key_persists() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret.key");
        let a = ServerKey::load_or_create(&p).unwrap().mac_hex(&["x"]);
        let b = ServerKey::load_or_create(&p).unwrap().mac_hex(&["x"]);
        assert_eq!(a, b);
        assert_ne!(a, ServerKey::load_or_create(&p).unwrap().mac_hex(&["y"]));
    }
}

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

    /// The key at `path` if there is one (never makes one: for commands that
    /// only compare, like `certificate verify`).
    pub fn load(path: &Path) -> Result<Option<ServerKey>> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.as_slice().try_into().context("secret.key is not 32 bytes")?;
                Ok(Some(ServerKey(std::sync::Arc::new(Zeroizing::new(key)))))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// An Ed25519 signing key for one purpose, its seed derived from the
    /// server key: stable for this server, and nothing else signs with it.
    pub fn signing_key(&self, purpose: &str) -> ring::signature::Ed25519KeyPair {
        ring::signature::Ed25519KeyPair::from_seed_unchecked(&self.derive(purpose)[..]).expect("32-byte seed")
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

    /// A key for one purpose, derived from the server key: HMAC-SHA-256(key, `purpose`).
    fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0[..]).expect("any key length");
        mac.update(purpose.as_bytes());
        Zeroizing::new(mac.finalize().into_bytes().into())
    }

    /// A base64url value derived from the server key for `parts` (e.g. the
    /// nonce and PKCE verifier of a sign-in, from its `state`).
    pub fn derive_token(&self, parts: &[&str]) -> String {
        URL_SAFE_NO_PAD.encode(hex::decode(self.mac_hex(parts)).expect("hex"))
    }

    /// Seals `secret` (ChaCha20-Poly1305 under a key derived for `purpose`,
    /// a random nonce, `context` as associated data): nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, purpose: &str, context: &[u8], secret: &[u8]) -> Vec<u8> {
        use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
        let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &self.derive(purpose)[..]).expect("32 bytes"));
        let nonce = random_bytes::<12>();
        let mut buf = secret.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut buf)
            .expect("small secrets seal");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        out
    }

    /// Opens what [`ServerKey::seal`] sealed with the same purpose and context.
    pub fn open(&self, purpose: &str, context: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
        let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &self.derive(purpose)[..]).expect("32 bytes"));
        let (nonce, ciphertext) = sealed.split_at_checked(12)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let plain = key.open_in_place(nonce, Aad::from(context), &mut buf[..]).ok()?.to_vec();
        Some(Zeroizing::new(plain))
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

    #[test]
    fn sealed_secrets_open_only_with_their_context() {
        let dir = tempfile::tempdir().unwrap();
        let key = ServerKey::load_or_create(&dir.path().join("secret.key")).unwrap();
        let sealed = key.seal("kluis/sso", b"1", b"client secret");
        assert!(!sealed.windows(6).any(|w| w == b"client"));
        assert_eq!(key.open("kluis/sso", b"1", &sealed).unwrap().as_slice(), b"client secret");
        assert!(key.open("kluis/sso", b"2", &sealed).is_none(), "another organisation's");
        assert!(key.open("kluis/other", b"1", &sealed).is_none());
        let other = ServerKey::load_or_create(&dir.path().join("other.key")).unwrap();
        assert!(other.open("kluis/sso", b"1", &sealed).is_none());
    }
}

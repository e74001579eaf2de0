//! The Kluis package key schedule (DESIGN.md, section 3).
//!
//! A package's blobs are age files to one X25519 recipient whose identity
//! nobody stores. Every party that may open the package re-derives it:
//!
//! ```text
//! L  = 32 random bytes from the sender's client (only in the link's #fragment)
//! S  = 32 random bytes from the server (released after the access checks)
//! P' = scrypt(NFC(password), salt = "kluis/v1/password" || package-id,
//!             log2 N = 17, r = 8, p = 1, 32 bytes)        -- only with a password
//! package identity = X25519 secret
//!       HKDF-SHA-256(ikm = L || S || P', salt = package-id, info = "kluis/v1/package")
//! ```
//!
//! The package id is the ASCII string in the link (`/p/<package-id>`), used
//! as bytes. Without a password `P'` is empty. The password is normalised to
//! Unicode NFC first, so the same password typed on any system gives the same key.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::primitives::{hkdf, random_secret, scrypt};
use crate::x25519;

/// Length of the link secret L and the server share S.
pub const SECRET_LEN: usize = 32;
/// log2 of the scrypt work factor that stretches package passwords.
pub const PASSWORD_WORK_FACTOR: u8 = 17;
const PASSWORD_SALT_LABEL: &[u8] = b"kluis/v1/password";
const PACKAGE_INFO: &[u8] = b"kluis/v1/package";
/// Longest package id accepted.
pub const MAX_PACKAGE_ID_LEN: usize = 64;

/// Why package key material was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageError {
    /// Package ids are 1 to 64 characters of `A-Z a-z 0-9 - _`.
    InvalidId,
    /// A secret is not 32 bytes of unpadded base64url.
    InvalidSecret,
}

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackageError::InvalidId => f.write_str("invalid package id"),
            PackageError::InvalidSecret => {
                f.write_str("invalid key in the link: it is incomplete or was changed (copy the whole link)")
            }
        }
    }
}
impl std::error::Error for PackageError {}

fn check_id(package_id: &str) -> Result<(), PackageError> {
    let ok = !package_id.is_empty()
        && package_id.len() <= MAX_PACKAGE_ID_LEN
        && package_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(PackageError::InvalidId) }
}

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name(Zeroizing<[u8; SECRET_LEN]>);

        impl $name {
            /// Fresh random bytes from the CSPRNG.
            pub fn generate() -> Result<Self> {
                Ok($name(random_secret()?))
            }
            /// Wraps raw bytes.
            pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Self {
                $name(Zeroizing::new(bytes))
            }
            /// The raw bytes.
            pub fn expose(&self) -> &[u8; SECRET_LEN] {
                &self.0
            }
            /// Unpadded base64url, as it appears in links and API messages.
            pub fn to_base64url(&self) -> Zeroizing<String> {
                Zeroizing::new(URL_SAFE_NO_PAD.encode(self.0.as_ref()))
            }
            /// Parses unpadded base64url (canonical only).
            pub fn from_base64url(s: &str) -> Result<Self, PackageError> {
                let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| PackageError::InvalidSecret)?);
                let arr: [u8; SECRET_LEN] = bytes.as_slice().try_into().map_err(|_| PackageError::InvalidSecret)?;
                Ok(Self::from_bytes(arr))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_type!(
    /// `L`: made by the sender's client; travels only in the link's fragment.
    LinkSecret
);
secret_type!(
    /// `S`: made by the server; released only to recipients who pass the access checks.
    ServerShare
);

/// `P'`: the package password after scrypt. Computing it takes about a
/// second and 128 MiB, so browsers do it in a Web Worker.
pub struct StretchedPassword(Zeroizing<[u8; 32]>);

impl StretchedPassword {
    /// The raw bytes (to move between workers).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
    /// Wraps bytes computed elsewhere.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        StretchedPassword(Zeroizing::new(bytes))
    }
}

impl fmt::Debug for StretchedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StretchedPassword(<redacted>)")
    }
}

/// `P' = scrypt(NFC(password), "kluis/v1/password" || package-id, 2^17, 8, 1)`.
pub fn stretch_password(package_id: &str, password: &str) -> Result<StretchedPassword, PackageError> {
    check_id(package_id)?;
    let normalized = Zeroizing::new(password.nfc().collect::<String>());
    let mut salt = PASSWORD_SALT_LABEL.to_vec();
    salt.extend_from_slice(package_id.as_bytes());
    Ok(StretchedPassword(scrypt(&salt, PASSWORD_WORK_FACTOR, normalized.as_bytes())))
}

/// The package identity: `HKDF-SHA-256(L || S || P', salt = package-id, info = "kluis/v1/package")`
/// taken as an X25519 secret key.
pub fn package_identity(
    package_id: &str,
    link: &LinkSecret,
    share: &ServerShare,
    password: Option<&StretchedPassword>,
) -> Result<x25519::Identity, PackageError> {
    check_id(package_id)?;
    let mut ikm = Zeroizing::new(Vec::with_capacity(3 * SECRET_LEN));
    ikm.extend_from_slice(link.expose());
    ikm.extend_from_slice(share.expose());
    if let Some(p) = password {
        ikm.extend_from_slice(p.expose());
    }
    let secret = hkdf(package_id.as_bytes(), PACKAGE_INFO, &ikm);
    Ok(x25519::Identity::from_secret_bytes(*secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        let l = LinkSecret::from_bytes([1; 32]);
        let s = ServerShare::from_bytes([2; 32]);
        for bad in ["", "a/b", "a b", "é", &"x".repeat(65)] {
            assert_eq!(package_identity(bad, &l, &s, None).unwrap_err(), PackageError::InvalidId, "{bad:?}");
        }
        assert!(package_identity("Ab-_9", &l, &s, None).is_ok());
    }

    #[test]
    fn secrets_round_trip_base64url() {
        let l = LinkSecret::generate().unwrap();
        let text = l.to_base64url();
        assert_eq!(text.len(), 43);
        assert_eq!(LinkSecret::from_base64url(&text).unwrap().expose(), l.expose());
        assert_eq!(LinkSecret::from_base64url("abc").unwrap_err(), PackageError::InvalidSecret);
        assert_eq!(LinkSecret::from_base64url(&format!("{}=", &*text)).unwrap_err(), PackageError::InvalidSecret);
    }

    #[test]
    fn every_input_matters() {
        let l = LinkSecret::from_bytes([1; 32]);
        let s = ServerShare::from_bytes([2; 32]);
        let p = StretchedPassword::from_bytes([3; 32]);
        let base = package_identity("id", &l, &s, None).unwrap().to_public();
        assert_ne!(base, package_identity("id2", &l, &s, None).unwrap().to_public());
        assert_ne!(base, package_identity("id", &LinkSecret::from_bytes([9; 32]), &s, None).unwrap().to_public());
        assert_ne!(base, package_identity("id", &l, &ServerShare::from_bytes([9; 32]), None).unwrap().to_public());
        assert_ne!(base, package_identity("id", &l, &s, Some(&p)).unwrap().to_public());
    }
}

//! The Kluis package key schedule (docs/architecture.md §3).
//!
//! A package's blobs are age files to one X25519 recipient whose identity
//! nobody stores. Every party that may open the package re-derives it:
//!
//! ```text
//! L  = 32 random bytes from the sender's client (only in the link's #fragment)
//! S  = 32 random bytes from the server (released after the access checks)
//! P' = scrypt(NFC(password), salt = "kluis/v1/password" || package-id,
//!             log2 N = 17, r = 8, p = 1, 32 bytes)        -- only with a password
//! package identity (classic) = X25519 secret
//!       HKDF-SHA-256(ikm = L || S || P', salt = package-id, info = "kluis/v1/package")
//! package identity (post-quantum, key schedule v2) = mlkem768x25519 seed
//!       HKDF-SHA-256(ikm = L || S || P', salt = package-id, info = "kluis/v2/package")
//! access proof A   = HKDF-SHA-256(ikm = L || P', salt = package-id, info = "kluis/v1/access")
//! access verifier  = SHA-256(A)                             -- what the server stores
//! link proof A_L   = HKDF-SHA-256(ikm = L, salt = package-id, info = "kluis/v1/link")
//! link verifier    = SHA-256(A_L)                           -- what the server stores
//! ```
//!
//! The sender picks the [`PackageKind`]: a package is post-quantum exactly
//! when the sender's own key is (docs/architecture.md §3, "Post-quantum
//! recipients"), since age never encrypts one file to both kinds. Recipients
//! are not told: they derive both with [`package_identities`] and give both
//! to the decryptor, which uses the one whose stanza type the header has.
//! Each kind has its own HKDF label, so the same bytes never serve two
//! algorithms.
//!
//! The package id is the ASCII string in the link (`/p/<package-id>`), used
//! as bytes; [`PackageId`] is its one grammar. Without a password `P'` is
//! empty. The password is normalised to Unicode NFC first, so the same
//! password typed on any system gives the same key.
//!
//! The access proof (docs/architecture.md §3, access proof) lets the server refuse a
//! recipient who knows only the package id before it counts anything: the
//! recipient presents `A`, the server compares `SHA-256(A)` with the
//! [`AccessVerifier`] the sender registered. `A` proves possession of `L`
//! (and of the password) without revealing either, and without `S` it does
//! not lead to the package identity.
//!
//! The link proof (docs/architecture.md §3, link proof) proves possession of
//! `L` alone, so a recipient page can present it before it asks for a
//! password: the server shows the sender of the package to whoever presents
//! `A_L` and nothing more. It unlocks no code, counts nothing and releases no
//! `S`; those keep requiring `A`. `A_L` and `A` come from the same `L` with
//! different HKDF labels, so neither tells anything about the other.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::primitives::{hkdf, random_secret, scrypt};
use crate::{mlkem768x25519, native, x25519};

/// Length of the link secret L, the server share S and the access proof A.
pub const SECRET_LEN: usize = 32;
/// log2 of the scrypt work factor that stretches package passwords.
pub const PASSWORD_WORK_FACTOR: u8 = 17;
const PASSWORD_SALT_LABEL: &[u8] = b"kluis/v1/password";
const PACKAGE_INFO: &[u8] = b"kluis/v1/package";
const POST_QUANTUM_PACKAGE_INFO: &[u8] = b"kluis/v2/package";
const ACCESS_INFO: &[u8] = b"kluis/v1/access";
const LINK_INFO: &[u8] = b"kluis/v1/link";

/// Why package key material was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageError {
    /// Package ids are 1 to 64 characters of `A-Z a-z 0-9 - _`.
    InvalidId,
    /// A secret is not 32 bytes of unpadded base64url.
    InvalidSecret,
    /// An access proof is not 32 bytes of unpadded base64url.
    InvalidProof,
    /// An access verifier is not 32 bytes of unpadded base64url.
    InvalidVerifier,
    /// A link proof is not 32 bytes of unpadded base64url.
    InvalidLinkProof,
    /// A link verifier is not 32 bytes of unpadded base64url.
    InvalidLinkVerifier,
}

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackageError::InvalidId => f.write_str("invalid package id"),
            PackageError::InvalidSecret => {
                f.write_str("invalid key in the link: it is incomplete or was changed (copy the whole link)")
            }
            PackageError::InvalidProof => f.write_str("invalid access proof: not 32 bytes of unpadded base64url"),
            PackageError::InvalidVerifier => f.write_str("invalid access verifier: not 32 bytes of unpadded base64url"),
            PackageError::InvalidLinkProof => f.write_str("invalid link proof: not 32 bytes of unpadded base64url"),
            PackageError::InvalidLinkVerifier => {
                f.write_str("invalid link verifier: not 32 bytes of unpadded base64url")
            }
        }
    }
}
impl std::error::Error for PackageError {}

/// A package id: 1 to [`PackageId::MAX_LEN`] characters of `A-Z a-z 0-9 - _`.
///
/// This is the one grammar of package ids (docs/architecture.md §3); links, the API and
/// the key schedule all go through [`PackageId::parse`]. The server mints
/// 22-character ids (16 random bytes as base64url), but any id of the grammar
/// is valid. The id is not secret.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct PackageId(String);

impl PackageId {
    /// Longest package id accepted.
    pub const MAX_LEN: usize = 64;

    /// Checks `s` against the grammar (exactly: no trimming, no case folding).
    pub fn parse(s: &str) -> Result<PackageId, PackageError> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(PackageId(s.to_owned())) } else { Err(PackageError::InvalidId) }
    }

    /// The id as text (ASCII).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PackageId {
    type Err = PackageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PackageId::parse(s)
    }
}

impl AsRef<str> for PackageId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for PackageId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for PackageId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        PackageId::parse(&text).map_err(|_| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&text),
                &"a package id (1 to 64 characters of A-Z a-z 0-9 - _)",
            )
        })
    }
}

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident, $invalid:expr) => {
        $(#[$doc])*
        pub struct $name(Zeroizing<[u8; SECRET_LEN]>);

        impl $name {
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
                let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| $invalid)?);
                let arr: [u8; SECRET_LEN] = bytes.as_slice().try_into().map_err(|_| $invalid)?;
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
    LinkSecret,
    PackageError::InvalidSecret
);
secret_type!(
    /// `S`: made by the server; released only to recipients who pass the access checks.
    ServerShare,
    PackageError::InvalidSecret
);
secret_type!(
    /// `A`: the access proof a recipient presents (docs/architecture.md §3, access proof),
    /// made by [`access_proof`]. Secret: whoever has it passes the first access
    /// check. The server keeps only its [`AccessVerifier`].
    AccessProof,
    PackageError::InvalidProof
);
secret_type!(
    /// `A_L`: the link proof a recipient presents to see who sent the package
    /// (docs/architecture.md §3, link proof), made by [`link_proof`]. It proves
    /// possession of `L` only and unlocks only the sender's card, never a
    /// code, a download or `S`. The server keeps only its [`LinkVerifier`].
    LinkProof,
    PackageError::InvalidLinkProof
);

impl LinkSecret {
    /// Fresh random bytes from the CSPRNG.
    pub fn generate() -> Result<Self> {
        Ok(LinkSecret(random_secret()?))
    }
}

impl ServerShare {
    /// Fresh random bytes from the CSPRNG.
    pub fn generate() -> Result<Self> {
        Ok(ServerShare(random_secret()?))
    }
}

impl AccessProof {
    /// `SHA-256(A)`: what the sender registers and the server stores.
    pub fn verifier(&self) -> AccessVerifier {
        AccessVerifier(Sha256::digest(self.expose()).into())
    }
}

impl LinkProof {
    /// `SHA-256(A_L)`: what the sender registers and the server stores.
    pub fn verifier(&self) -> LinkVerifier {
        LinkVerifier(Sha256::digest(self.expose()).into())
    }
}

macro_rules! verifier_type {
    ($(#[$doc:meta])* $name:ident, $proof:ident, $invalid:expr, $expecting:literal, $proof_invalid:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps a stored hash.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                $name(bytes)
            }
            /// The hash.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
            /// Unpadded base64url, as in API messages.
            pub fn to_base64url(&self) -> String {
                URL_SAFE_NO_PAD.encode(self.0)
            }
            /// Parses unpadded base64url (canonical only).
            pub fn from_base64url(s: &str) -> Result<Self, PackageError> {
                let bytes = URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| $invalid)?;
                Ok($name(bytes.as_slice().try_into().map_err(|_| $invalid)?))
            }
            /// True when `SHA-256(proof)` is this verifier, compared in constant time.
            pub fn matches(&self, proof: &$proof) -> bool {
                let hash: [u8; 32] = Sha256::digest(proof.expose()).into();
                hash.ct_eq(&self.0).into()
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }
        impl Eq for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "("))?;
                for b in self.0 {
                    write!(f, "{b:02x}")?;
                }
                write!(f, ")")
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_base64url())
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::from_base64url(&text).map_err(|_| {
                    serde::de::Error::invalid_value(serde::de::Unexpected::Str(&text), &$expecting)
                })
            }
        }

        /// Reads the proof from unpadded base64url. The text may stay in the
        /// deserializer's buffers; the proof itself is zeroized when dropped.
        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $proof {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = Zeroizing::new(<std::borrow::Cow<'de, str>>::deserialize(deserializer)?.into_owned());
                $proof::from_base64url(&text).map_err(|_| serde::de::Error::custom($proof_invalid))
            }
        }
    };
}

verifier_type!(
    /// `SHA-256(A)`, the access verifier (docs/architecture.md §3, access proof). The
    /// sender registers it with the package; the server keeps it and checks the
    /// [`AccessProof`] a recipient presents with [`AccessVerifier::matches`].
    /// Not secret: it opens nothing, and finding an `A` for it means inverting
    /// SHA-256. Equality (`==`) is constant-time too.
    AccessVerifier,
    AccessProof,
    PackageError::InvalidVerifier,
    "an access verifier (32 bytes of unpadded base64url)",
    "invalid access proof: not 32 bytes of unpadded base64url"
);

verifier_type!(
    /// `SHA-256(A_L)`, the link verifier (docs/architecture.md §3, link proof). The
    /// sender registers it with the package beside the [`AccessVerifier`]; the
    /// server keeps it and checks the [`LinkProof`] a recipient presents with
    /// [`LinkVerifier::matches`] before it shows who sent the package. Not
    /// secret, like the access verifier. Equality (`==`) is constant-time too.
    LinkVerifier,
    LinkProof,
    PackageError::InvalidLinkVerifier,
    "a link verifier (32 bytes of unpadded base64url)",
    "invalid link proof: not 32 bytes of unpadded base64url"
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
pub fn stretch_password(package_id: &PackageId, password: &str) -> StretchedPassword {
    let normalized = Zeroizing::new(password.nfc().collect::<String>());
    let mut salt = PASSWORD_SALT_LABEL.to_vec();
    salt.extend_from_slice(package_id.as_bytes());
    StretchedPassword(scrypt(&salt, PASSWORD_WORK_FACTOR, normalized.as_bytes()))
}

/// Which kind of identity a package is encrypted to (docs/architecture.md §3,
/// "Post-quantum recipients"). The sender picks it: post-quantum exactly when
/// the sender's own key is, because one age file cannot be encrypted to both
/// kinds and the sender's key is among every package's recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageKind {
    /// An X25519 identity (`age1…`), key schedule v1: info `"kluis/v1/package"`.
    Classic,
    /// An mlkem768x25519 identity (`age1pq1…`), key schedule v2: its seed
    /// with info `"kluis/v2/package"`.
    PostQuantum,
}

impl PackageKind {
    /// Both kinds, classic first.
    pub const ALL: [PackageKind; 2] = [PackageKind::Classic, PackageKind::PostQuantum];

    /// The kind whose recipients may share a file with `recipient`: a
    /// package for a sender with that key is of this kind.
    pub fn of(recipient: &native::Recipient) -> PackageKind {
        match recipient {
            native::Recipient::X25519(_) => PackageKind::Classic,
            native::Recipient::PostQuantum(_) => PackageKind::PostQuantum,
        }
    }
}

/// The package identity of `kind` (docs/architecture.md §3):
/// `HKDF-SHA-256(ikm = L || S || P', salt = package-id, info)` taken as an
/// X25519 secret key (info `"kluis/v1/package"`) or as an mlkem768x25519
/// seed (info `"kluis/v2/package"`).
pub fn package_identity(
    package_id: &PackageId,
    link: &LinkSecret,
    share: &ServerShare,
    password: Option<&StretchedPassword>,
    kind: PackageKind,
) -> native::Identity {
    let mut ikm = Zeroizing::new(Vec::with_capacity(3 * SECRET_LEN));
    ikm.extend_from_slice(link.expose());
    ikm.extend_from_slice(share.expose());
    if let Some(p) = password {
        ikm.extend_from_slice(p.expose());
    }
    match kind {
        PackageKind::Classic => {
            let secret = hkdf(package_id.as_bytes(), PACKAGE_INFO, &ikm);
            native::Identity::X25519(x25519::Identity::from_secret_bytes(*secret))
        }
        PackageKind::PostQuantum => {
            let seed = hkdf(package_id.as_bytes(), POST_QUANTUM_PACKAGE_INFO, &ikm);
            native::Identity::PostQuantum(mlkem768x25519::Identity::from_seed(*seed))
        }
    }
}

/// Both package identities, classic first: what a recipient gives the
/// decryptor, since it is not told the package's [`PackageKind`] (age skips
/// the stanzas of the other type).
pub fn package_identities(
    package_id: &PackageId,
    link: &LinkSecret,
    share: &ServerShare,
    password: Option<&StretchedPassword>,
) -> [native::Identity; 2] {
    PackageKind::ALL.map(|kind| package_identity(package_id, link, share, password, kind))
}

/// The access proof (docs/architecture.md §3, access proof):
/// `A = HKDF-SHA-256(ikm = L || P', salt = package-id, info = "kluis/v1/access")`,
/// with `P'` empty without a password. The sender registers
/// [`AccessProof::verifier`] when it finalizes the package; a recipient
/// presents `A` when it asks for a code or for access.
pub fn access_proof(package_id: &PackageId, link: &LinkSecret, password: Option<&StretchedPassword>) -> AccessProof {
    let mut ikm = Zeroizing::new(Vec::with_capacity(2 * SECRET_LEN));
    ikm.extend_from_slice(link.expose());
    if let Some(p) = password {
        ikm.extend_from_slice(p.expose());
    }
    AccessProof(hkdf(package_id.as_bytes(), ACCESS_INFO, &ikm))
}

/// The link proof (docs/architecture.md §3, link proof):
/// `A_L = HKDF-SHA-256(ikm = L, salt = package-id, info = "kluis/v1/link")`,
/// for every package, with or without a password. The sender registers
/// [`LinkProof::verifier`] beside the access verifier when it finalizes the
/// package; a recipient presents `A_L` to see who sent the package before it
/// is asked for anything. It proves possession of `L` only, so it opens
/// nothing else: codes, downloads and `S` keep requiring [`access_proof`].
pub fn link_proof(package_id: &PackageId, link: &LinkSecret) -> LinkProof {
    LinkProof(hkdf(package_id.as_bytes(), LINK_INFO, link.expose()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> PackageId {
        PackageId::parse(s).unwrap()
    }

    #[test]
    fn ids_are_checked() {
        for bad in ["", "a/b", "a b", "é", " ab", "ab\n", "a.b", &"x".repeat(65)] {
            assert_eq!(PackageId::parse(bad).unwrap_err(), PackageError::InvalidId, "{bad:?}");
            assert_eq!(bad.parse::<PackageId>().unwrap_err(), PackageError::InvalidId, "{bad:?}");
        }
        for good in ["Ab-_9", "x", "pkg_A1b2C3d4E5f6G7h8", "AAAAAAAAAAAAAAAAAAAAAA", &"Z".repeat(PackageId::MAX_LEN)] {
            let parsed: PackageId = good.parse().unwrap();
            assert_eq!(parsed.as_str(), good);
            assert_eq!(parsed.to_string(), good);
            assert_eq!(AsRef::<str>::as_ref(&parsed), good);
            assert_eq!(parsed.clone().into_string(), good);
        }
        assert!(id("a") < id("b"));
    }

    #[test]
    fn secrets_round_trip_base64url() {
        let l = LinkSecret::generate().unwrap();
        let text = l.to_base64url();
        assert_eq!(text.len(), 43);
        assert_eq!(LinkSecret::from_base64url(&text).unwrap().expose(), l.expose());
        assert_eq!(LinkSecret::from_base64url("abc").unwrap_err(), PackageError::InvalidSecret);
        assert_eq!(LinkSecret::from_base64url(&format!("{}=", &*text)).unwrap_err(), PackageError::InvalidSecret);
        assert_eq!(format!("{l:?}"), "LinkSecret(<redacted>)");
    }

    #[test]
    fn every_input_matters() {
        let l = LinkSecret::from_bytes([1; 32]);
        let s = ServerShare::from_bytes([2; 32]);
        let p = StretchedPassword::from_bytes([3; 32]);
        for kind in PackageKind::ALL {
            let base = package_identity(&id("id"), &l, &s, None, kind).to_public();
            assert_ne!(base, package_identity(&id("id2"), &l, &s, None, kind).to_public());
            assert_ne!(base, package_identity(&id("id"), &LinkSecret::from_bytes([9; 32]), &s, None, kind).to_public());
            assert_ne!(
                base,
                package_identity(&id("id"), &l, &ServerShare::from_bytes([9; 32]), None, kind).to_public()
            );
            assert_ne!(base, package_identity(&id("id"), &l, &s, Some(&p), kind).to_public());
            assert_eq!(PackageKind::of(&base), kind);
        }
    }

    #[test]
    fn the_two_kinds_use_different_bytes() {
        let (l, s) = (LinkSecret::from_bytes([1; 32]), ServerShare::from_bytes([2; 32]));
        let [classic, post_quantum] = package_identities(&id("id"), &l, &s, None);
        let (native::Identity::X25519(classic), native::Identity::PostQuantum(post_quantum)) = (classic, post_quantum)
        else {
            panic!("package_identities gives the classic identity, then the post-quantum one");
        };
        // Separate HKDF labels: the seed is not the X25519 secret.
        let decode = |text: &str, hrp| crate::bech32_keys::decode::<32>(text, hrp, "").unwrap();
        let classic_bytes = decode(&classic.to_secret_string(), "AGE-SECRET-KEY-");
        let post_quantum_bytes = decode(&post_quantum.to_secret_string(), "AGE-SECRET-KEY-PQ-");
        assert_ne!(*classic_bytes, *post_quantum_bytes);
    }

    #[test]
    fn a_recipient_opens_either_kind_with_both_identities() {
        let (l, s) = (LinkSecret::from_bytes([1; 32]), ServerShare::from_bytes([2; 32]));
        let identities = package_identities(&id("id"), &l, &s, None);
        let boxed: Vec<&dyn crate::Identity> = identities.iter().map(|i| i as &dyn crate::Identity).collect();
        for kind in PackageKind::ALL {
            let recipient = package_identity(&id("id"), &l, &s, None, kind).to_public();
            let file = crate::encrypt(&[&recipient], b"either kind").unwrap();
            assert_eq!(crate::decrypt(&boxed, &file).unwrap(), b"either kind", "{kind:?}");
            // The other kind's identity alone does not open it.
            let other = identities.iter().find(|i| PackageKind::of(&i.to_public()) != kind).unwrap();
            assert!(crate::decrypt(&[other as &dyn crate::Identity], &file).is_err(), "{kind:?}");
        }
    }

    #[test]
    fn every_access_proof_input_matters() {
        let l = LinkSecret::from_bytes([1; 32]);
        let p = StretchedPassword::from_bytes([3; 32]);
        let base = *access_proof(&id("id"), &l, None).expose();
        let others = [
            access_proof(&id("id2"), &l, None),
            access_proof(&id("id"), &LinkSecret::from_bytes([9; 32]), None),
            access_proof(&id("id"), &l, Some(&p)),
            access_proof(&id("id"), &l, Some(&StretchedPassword::from_bytes([4; 32]))),
        ];
        for other in &others {
            assert_ne!(&base, other.expose());
        }
        assert_eq!(&base, access_proof(&id("id"), &l, None).expose());
        // A is not the package identity, nor does it depend on S.
        let identity = package_identity(&id("id"), &l, &ServerShare::from_bytes([0; 32]), None, PackageKind::Classic);
        assert_ne!(identity.to_secret_string().as_str(), AccessProof::from_bytes(base).to_base64url().as_str());
    }

    #[test]
    fn a_proof_matches_its_own_verifier_only() {
        let l = LinkSecret::from_bytes([1; 32]);
        let p = StretchedPassword::from_bytes([3; 32]);
        let with = access_proof(&id("id"), &l, Some(&p));
        let without = access_proof(&id("id"), &l, None);
        let verifier = with.verifier();
        assert!(verifier.matches(&with));
        assert!(!verifier.matches(&without));
        assert!(!without.verifier().matches(&with));
        assert!(without.verifier().matches(&without));
        assert_ne!(verifier, without.verifier());
        assert_eq!(verifier, with.verifier());
        let mut flipped = *with.expose();
        flipped[31] ^= 1;
        assert!(!verifier.matches(&AccessProof::from_bytes(flipped)));
        assert_eq!(verifier.as_bytes(), &<[u8; 32]>::from(Sha256::digest(with.expose())));
    }

    #[test]
    fn proofs_and_verifiers_round_trip_base64url() {
        let proof = access_proof(&id("id"), &LinkSecret::from_bytes([7; 32]), None);
        let text = proof.to_base64url();
        assert_eq!(text.len(), 43);
        assert_eq!(AccessProof::from_base64url(&text).unwrap().expose(), proof.expose());
        assert_eq!(format!("{proof:?}"), "AccessProof(<redacted>)");
        assert_eq!(AccessProof::from_base64url("abc").unwrap_err(), PackageError::InvalidProof);
        assert_eq!(AccessProof::from_base64url(&format!("{}=", &*text)).unwrap_err(), PackageError::InvalidProof);

        let verifier = proof.verifier();
        let text = verifier.to_base64url();
        assert_eq!(text.len(), 43);
        assert_eq!(AccessVerifier::from_base64url(&text).unwrap(), verifier);
        assert_eq!(AccessVerifier::from_bytes(*verifier.as_bytes()), verifier);
        assert_eq!(AccessVerifier::from_base64url(&text[1..]).unwrap_err(), PackageError::InvalidVerifier);
        assert_eq!(AccessVerifier::from_base64url("+/+/").unwrap_err(), PackageError::InvalidVerifier);
        let debug = format!("{verifier:?}");
        assert!(debug.starts_with("AccessVerifier(") && debug.len() == "AccessVerifier()".len() + 64, "{debug}");
    }

    #[test]
    fn the_link_proof_depends_on_the_id_and_l_only() {
        let l = LinkSecret::from_bytes([1; 32]);
        let proof = link_proof(&id("id"), &l);
        assert_eq!(proof.expose(), link_proof(&id("id"), &l).expose());
        assert_ne!(proof.expose(), link_proof(&id("id2"), &l).expose());
        assert_ne!(proof.expose(), link_proof(&id("id"), &LinkSecret::from_bytes([9; 32])).expose());
        // A_L is neither A (with or without a password) nor L.
        assert_ne!(proof.expose(), access_proof(&id("id"), &l, None).expose());
        let p = StretchedPassword::from_bytes([3; 32]);
        assert_ne!(proof.expose(), access_proof(&id("id"), &l, Some(&p)).expose());
        assert_ne!(proof.expose(), l.expose());
    }

    #[test]
    fn a_link_proof_matches_its_own_verifier_only() {
        let l = LinkSecret::from_bytes([1; 32]);
        let proof = link_proof(&id("id"), &l);
        let verifier = proof.verifier();
        assert!(verifier.matches(&proof));
        assert!(!verifier.matches(&link_proof(&id("id2"), &l)));
        // The access proof's bytes presented as a link proof do not match.
        let access = access_proof(&id("id"), &l, None);
        assert!(!verifier.matches(&LinkProof::from_bytes(*access.expose())));
        assert_eq!(verifier.as_bytes(), &<[u8; 32]>::from(Sha256::digest(proof.expose())));
        assert_eq!(verifier, LinkVerifier::from_bytes(*verifier.as_bytes()));

        let text = proof.to_base64url();
        assert_eq!(text.len(), 43);
        assert_eq!(LinkProof::from_base64url(&text).unwrap().expose(), proof.expose());
        assert_eq!(format!("{proof:?}"), "LinkProof(<redacted>)");
        assert_eq!(LinkProof::from_base64url("abc").unwrap_err(), PackageError::InvalidLinkProof);
        let text = verifier.to_base64url();
        assert_eq!(LinkVerifier::from_base64url(&text).unwrap(), verifier);
        assert_eq!(LinkVerifier::from_base64url(&text[1..]).unwrap_err(), PackageError::InvalidLinkVerifier);
        let debug = format!("{verifier:?}");
        assert!(debug.starts_with("LinkVerifier(") && debug.len() == "LinkVerifier()".len() + 64, "{debug}");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_the_grammar() {
        let parsed: PackageId = serde_json::from_str("\"pkg_A1b2C3d4E5f6G7h8\"").unwrap();
        assert_eq!(parsed, id("pkg_A1b2C3d4E5f6G7h8"));
        assert_eq!(serde_json::to_string(&parsed).unwrap(), "\"pkg_A1b2C3d4E5f6G7h8\"");
        for bad in ["\"\"", "\"a/b\"", "3", "null"] {
            assert!(serde_json::from_str::<PackageId>(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<PackageId>("\"a b\"").unwrap_err().to_string();
        assert!(err.contains("package id"), "{err}");

        let proof = access_proof(&parsed, &LinkSecret::from_bytes([7; 32]), None);
        let verifier = proof.verifier();
        let json = serde_json::to_string(&verifier).unwrap();
        assert_eq!(json, format!("\"{}\"", verifier.to_base64url()));
        assert_eq!(serde_json::from_str::<AccessVerifier>(&json).unwrap(), verifier);
        assert!(serde_json::from_str::<AccessVerifier>("\"abc\"").is_err());
        let back: AccessProof = serde_json::from_str(&format!("\"{}\"", proof.to_base64url().as_str())).unwrap();
        assert!(verifier.matches(&back));
        assert!(serde_json::from_str::<AccessProof>("\"abc\"").is_err());

        let link = link_proof(&parsed, &LinkSecret::from_bytes([7; 32]));
        let verifier = link.verifier();
        let json = serde_json::to_string(&verifier).unwrap();
        assert_eq!(serde_json::from_str::<LinkVerifier>(&json).unwrap(), verifier);
        let err = serde_json::from_str::<LinkVerifier>("\"abc\"").unwrap_err().to_string();
        assert!(err.contains("link verifier"), "{err}");
        let back: LinkProof = serde_json::from_str(&format!("\"{}\"", link.to_base64url().as_str())).unwrap();
        assert!(verifier.matches(&back));
        let err = serde_json::from_str::<LinkProof>("\"abc\"").unwrap_err().to_string();
        assert!(err.contains("invalid link proof"), "{err}");
    }
}

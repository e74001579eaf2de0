//! The X25519 recipient type (c2sp.org/age, "The X25519 recipient type").
//!
//! Recipients are Bech32 strings with HRP `age` (`age1…`), identities Bech32
//! with HRP `AGE-SECRET-KEY-` (`AGE-SECRET-KEY-1…`).

use std::fmt;
use std::str::FromStr;

use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::bech32_keys::{decode, encode};
use crate::error::{EncryptError, Error, HeaderError, Result};
use crate::format::{Stanza, decode_b64, encode_b64};
use crate::keys::FileKey;
use crate::primitives::{aead_open_zero_nonce, aead_seal_zero_nonce, hkdf, random_secret};
use crate::recipient::WRAPPED_KEY_LEN;

const STANZA_TAG: &str = "X25519";
const KDF_LABEL: &[u8] = b"age-encryption.org/v1/X25519";
const RECIPIENT_HRP: &str = "age";
const IDENTITY_HRP: &str = "AGE-SECRET-KEY-";

/// Why a key string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseKeyError {
    /// Not valid Bech32 (bad characters, mixed case, wrong checksum).
    Encoding,
    /// Valid Bech32 with another prefix than expected.
    WrongPrefix {
        /// What was expected, e.g. `age1`.
        expected: &'static str,
    },
    /// The key has the wrong length.
    Length,
    /// The right length, but not a valid key (an ML-KEM key whose
    /// coefficients are not reduced, as FIPS 203's input check requires).
    Invalid,
}

impl fmt::Display for ParseKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseKeyError::Encoding => f.write_str("not a valid key: bad characters or checksum (typo?)"),
            ParseKeyError::WrongPrefix { expected } => {
                write!(f, "not a valid key: expected one starting with \"{expected}\"")
            }
            ParseKeyError::Length => f.write_str("not a valid key: wrong length"),
            ParseKeyError::Invalid => f.write_str("not a valid key: its public key is malformed"),
        }
    }
}
impl std::error::Error for ParseKeyError {}

/// An X25519 public key: what a file is encrypted to (`age1…`).
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient(PublicKey);

impl Recipient {
    /// The 32-byte public key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

impl FromStr for Recipient {
    type Err = ParseKeyError;
    fn from_str(s: &str) -> Result<Self, ParseKeyError> {
        let key = decode::<32>(s, RECIPIENT_HRP, "age1")?;
        Ok(Recipient(PublicKey::from(*key)))
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode(RECIPIENT_HRP, self.0.as_bytes()))
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({self})")
    }
}

impl crate::Recipient for Recipient {
    fn wrap_file_key(&self, file_key: &FileKey) -> Result<Vec<Stanza>> {
        let ephemeral = StaticSecret::from(*random_secret::<32>()?);
        let share = PublicKey::from(&ephemeral);
        let shared = ephemeral.diffie_hellman(&self.0);
        if !shared.was_contributory() {
            // A low-order public key would make the shared secret all zeros.
            return Err(EncryptError::LowOrderRecipient.into());
        }
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(share.as_bytes());
        salt[32..].copy_from_slice(self.0.as_bytes());
        let wrap_key = hkdf(&salt, KDF_LABEL, shared.as_bytes());
        Ok(vec![Stanza {
            tag: STANZA_TAG.into(),
            args: vec![encode_b64(share.as_bytes())],
            body: aead_seal_zero_nonce(&wrap_key, file_key.expose()),
        }])
    }
}

/// An X25519 secret key (`AGE-SECRET-KEY-1…`). Wiped when dropped.
#[derive(Clone)]
pub struct Identity(StaticSecret);

impl Identity {
    /// A new random identity.
    pub fn generate() -> Result<Self> {
        Ok(Identity(StaticSecret::from(*random_secret::<32>()?)))
    }

    /// An identity from 32 secret bytes (e.g. derived by the package key schedule).
    pub fn from_secret_bytes(bytes: [u8; 32]) -> Self {
        Identity(StaticSecret::from(bytes))
    }

    /// The recipient that files for this identity are encrypted to.
    pub fn to_public(&self) -> Recipient {
        Recipient(PublicKey::from(&self.0))
    }

    /// The Bech32 encoding, upper case as age-keygen writes it.
    pub fn to_secret_string(&self) -> Zeroizing<String> {
        let bytes = Zeroizing::new(self.0.to_bytes());
        Zeroizing::new(encode(IDENTITY_HRP, bytes.as_ref()).to_ascii_uppercase())
    }
}

impl FromStr for Identity {
    type Err = ParseKeyError;
    fn from_str(s: &str) -> Result<Self, ParseKeyError> {
        let key = decode::<32>(s, IDENTITY_HRP, "AGE-SECRET-KEY-1")?;
        Ok(Identity(StaticSecret::from(*key)))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity(<secret for {}>)", self.to_public())
    }
}

fn invalid(reason: &'static str) -> Error {
    HeaderError::InvalidStanza { kind: STANZA_TAG, reason }.into()
}

impl crate::Identity for Identity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        if stanza.args.len() != 1 {
            return Some(Err(invalid("expected exactly one argument, the ephemeral share")));
        }
        let Some(share) = decode_b64(&stanza.args[0]).and_then(|b| <[u8; 32]>::try_from(b).ok()) else {
            return Some(Err(invalid("the ephemeral share is not 32 bytes of canonical base64")));
        };
        if stanza.body.len() != WRAPPED_KEY_LEN {
            return Some(Err(invalid("the body is not 32 bytes")));
        }
        let shared = self.0.diffie_hellman(&PublicKey::from(share));
        if bool::from(shared.as_bytes().ct_eq(&[0u8; 32])) {
            return Some(Err(invalid("the ephemeral share is a low-order point")));
        }
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(&share);
        salt[32..].copy_from_slice(PublicKey::from(&self.0).as_bytes());
        let wrap_key = hkdf(&salt, KDF_LABEL, shared.as_bytes());
        // A body that does not open was meant for another X25519 recipient.
        let key = aead_open_zero_nonce(&wrap_key, &stanza.body)?;
        let key: [u8; 16] = key.as_slice().try_into().expect("body length checked");
        Some(Ok(FileKey::from_bytes(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // From c2sp.org/age, "The X25519 recipient type".
    const SPEC_IDENTITY: &str = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
    const SPEC_RECIPIENT: &str = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

    #[test]
    fn spec_example_keys() {
        let identity: Identity = SPEC_IDENTITY.parse().unwrap();
        assert_eq!(identity.to_public().to_string(), SPEC_RECIPIENT);
        assert_eq!(identity.to_secret_string().as_str(), SPEC_IDENTITY);
        assert_eq!(SPEC_RECIPIENT.parse::<Recipient>().unwrap(), identity.to_public());
        // Either case is one Bech32 string.
        assert!(SPEC_IDENTITY.to_lowercase().parse::<Identity>().is_ok());
    }

    #[test]
    fn rejects_bad_keys() {
        let mut typo = SPEC_RECIPIENT.to_string();
        typo.replace_range(10..11, "q");
        assert_eq!(typo.parse::<Recipient>(), Err(ParseKeyError::Encoding));
        assert!(matches!(SPEC_IDENTITY.parse::<Recipient>(), Err(ParseKeyError::WrongPrefix { .. })));
        assert!(matches!(SPEC_RECIPIENT.parse::<Identity>(), Err(ParseKeyError::WrongPrefix { .. })));
        // Mixed case is not Bech32.
        let mixed = format!("AGE1{}", &SPEC_RECIPIENT[4..]);
        assert_eq!(mixed.parse::<Recipient>(), Err(ParseKeyError::Encoding));
        assert_eq!("age1qqqq".parse::<Recipient>(), Err(ParseKeyError::Encoding));
    }

    #[test]
    fn wrap_unwrap() {
        use crate::{Identity as _, Recipient as _};
        let identity = Identity::generate().unwrap();
        let key = FileKey::from_bytes([9; 16]);
        let stanzas = identity.to_public().wrap_file_key(&key).unwrap();
        let back = identity.unwrap_stanzas(&stanzas).unwrap().unwrap();
        assert_eq!(back.expose(), key.expose());
        let other = Identity::generate().unwrap();
        assert!(other.unwrap_stanzas(&stanzas).is_none());
    }
}

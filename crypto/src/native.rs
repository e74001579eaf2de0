//! The native asymmetric recipient types together (c2sp.org/age, "Native
//! recipient types"): a key string of either kind parses into one value, so
//! callers that take keys from people (the CLI, the browser) need not know
//! which kind they were given.
//!
//! - [`x25519`](crate::x25519): `age1…` / `AGE-SECRET-KEY-1…`
//! - [`mlkem768x25519`](crate::mlkem768x25519): `age1pq1…` / `AGE-SECRET-KEY-PQ-1…`

use std::fmt;
use std::str::FromStr;

use zeroize::Zeroizing;

use crate::error::Result;
use crate::format::Stanza;
use crate::keys::FileKey;
use crate::x25519::ParseKeyError;
use crate::{mlkem768x25519, x25519};

/// The Bech32 prefix of post-quantum recipients, `age1pq1`. (`1` is not a
/// Bech32 data character, so no X25519 recipient starts like this.)
const PQ_RECIPIENT_PREFIX: &str = "age1pq1";
/// The Bech32 prefix of post-quantum identities.
const PQ_IDENTITY_PREFIX: &str = "AGE-SECRET-KEY-PQ-1";

fn has_prefix(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len()).is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// A recipient of either native type.
#[derive(Clone, PartialEq, Eq)]
pub enum Recipient {
    /// `age1…`
    X25519(x25519::Recipient),
    /// `age1pq1…`
    PostQuantum(mlkem768x25519::Recipient),
}

impl FromStr for Recipient {
    type Err = ParseKeyError;
    fn from_str(s: &str) -> Result<Self, ParseKeyError> {
        if has_prefix(s, PQ_RECIPIENT_PREFIX) {
            s.parse().map(Recipient::PostQuantum)
        } else {
            s.parse().map(Recipient::X25519)
        }
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::X25519(r) => r.fmt(f),
            Recipient::PostQuantum(r) => r.fmt(f),
        }
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::X25519(r) => r.fmt(f),
            Recipient::PostQuantum(r) => r.fmt(f),
        }
    }
}

impl crate::Recipient for Recipient {
    fn wrap_file_key(&self, file_key: &FileKey) -> Result<Vec<Stanza>> {
        match self {
            Recipient::X25519(r) => r.wrap_file_key(file_key),
            Recipient::PostQuantum(r) => r.wrap_file_key(file_key),
        }
    }
    fn is_post_quantum(&self) -> bool {
        matches!(self, Recipient::PostQuantum(_))
    }
}

/// An identity of either native type. Wiped when dropped.
#[derive(Clone)]
pub enum Identity {
    /// `AGE-SECRET-KEY-1…`
    X25519(x25519::Identity),
    /// `AGE-SECRET-KEY-PQ-1…`
    PostQuantum(mlkem768x25519::Identity),
}

impl Identity {
    /// A new random identity, post-quantum or X25519.
    pub fn generate(post_quantum: bool) -> Result<Self> {
        Ok(if post_quantum {
            Identity::PostQuantum(mlkem768x25519::Identity::generate()?)
        } else {
            Identity::X25519(x25519::Identity::generate()?)
        })
    }

    /// The recipient that files for this identity are encrypted to.
    pub fn to_public(&self) -> Recipient {
        match self {
            Identity::X25519(i) => Recipient::X25519(i.to_public()),
            Identity::PostQuantum(i) => Recipient::PostQuantum(i.to_public()),
        }
    }

    /// The Bech32 encoding, upper case as age-keygen writes it.
    pub fn to_secret_string(&self) -> Zeroizing<String> {
        match self {
            Identity::X25519(i) => i.to_secret_string(),
            Identity::PostQuantum(i) => i.to_secret_string(),
        }
    }
}

impl FromStr for Identity {
    type Err = ParseKeyError;
    fn from_str(s: &str) -> Result<Self, ParseKeyError> {
        if has_prefix(s, PQ_IDENTITY_PREFIX) {
            s.parse().map(Identity::PostQuantum)
        } else {
            s.parse().map(Identity::X25519)
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::X25519(i) => i.fmt(f),
            Identity::PostQuantum(i) => i.fmt(f),
        }
    }
}

impl crate::Identity for Identity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey>> {
        match self {
            Identity::X25519(i) => i.unwrap_stanza(stanza),
            Identity::PostQuantum(i) => i.unwrap_stanza(stanza),
        }
    }
    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey>> {
        match self {
            Identity::X25519(i) => i.unwrap_stanzas(stanzas),
            Identity::PostQuantum(i) => i.unwrap_stanzas(stanzas),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_either_kind() {
        for post_quantum in [false, true] {
            let identity = Identity::generate(post_quantum).unwrap();
            let text = identity.to_secret_string();
            let parsed: Identity = text.parse().unwrap();
            assert_eq!(matches!(parsed, Identity::PostQuantum(_)), post_quantum);
            let recipient = identity.to_public().to_string();
            assert_eq!(recipient.starts_with(PQ_RECIPIENT_PREFIX), post_quantum);
            let back: Recipient = recipient.parse().unwrap();
            assert!(back == identity.to_public());
            assert!(back.to_string().to_uppercase().parse::<Recipient>().is_ok());
            let file = crate::encrypt(&[&back], b"either").unwrap();
            assert_eq!(crate::decrypt(&[&parsed], &file).unwrap(), b"either");
        }
    }

    #[test]
    fn errors_name_the_expected_prefix() {
        let e = "AGE-SECRET-KEY-PQ-1QQQQ".parse::<Recipient>().unwrap_err();
        assert!(matches!(e, ParseKeyError::Encoding | ParseKeyError::WrongPrefix { .. }));
        assert_eq!("age1pq1qqqq".parse::<Recipient>().unwrap_err(), ParseKeyError::Encoding);
    }
}

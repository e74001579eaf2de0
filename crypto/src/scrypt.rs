//! The scrypt passphrase recipient type (c2sp.org/age, "The scrypt recipient type").

use zeroize::Zeroizing;

use crate::error::{EncryptError, Error, HeaderError, Result};
use crate::format::{Stanza, decode_b64, encode_b64};
use crate::keys::FileKey;
use crate::primitives::{aead_open_zero_nonce, aead_seal_zero_nonce, random_secret, scrypt};
use crate::recipient::WRAPPED_KEY_LEN;

const STANZA_TAG: &str = "scrypt";
const SALT_LABEL: &[u8] = b"age-encryption.org/v1/scrypt";
const SALT_LEN: usize = 16;

/// Work factor (log2 N) used when encrypting unless told otherwise; about a
/// second on a laptop, like the reference implementation.
pub const DEFAULT_WORK_FACTOR: u8 = 18;
/// Highest work factor accepted when decrypting, as in the reference
/// implementation: higher would let a hostile file burn minutes of CPU and
/// gigabytes of memory.
pub const MAX_WORK_FACTOR: u8 = 22;

fn wrap_key(salt: &[u8; SALT_LEN], log_n: u8, passphrase: &str) -> Zeroizing<[u8; 32]> {
    let mut full_salt = [0u8; SALT_LABEL.len() + SALT_LEN];
    full_salt[..SALT_LABEL.len()].copy_from_slice(SALT_LABEL);
    full_salt[SALT_LABEL.len()..].copy_from_slice(salt);
    scrypt(&full_salt, log_n, passphrase.as_bytes())
}

/// Encrypts a file to a passphrase.
pub struct Recipient {
    passphrase: Zeroizing<String>,
    work_factor: u8,
}

impl Recipient {
    /// A passphrase recipient with the default work factor.
    pub fn new(passphrase: Zeroizing<String>) -> Self {
        Recipient { passphrase, work_factor: DEFAULT_WORK_FACTOR }
    }

    /// Sets log2 of the scrypt work factor (1..=30; decryptors refuse more than 22 by default).
    pub fn with_work_factor(mut self, log_n: u8) -> Result<Self> {
        if !(1..=30).contains(&log_n) {
            return Err(EncryptError::InvalidWorkFactor(log_n).into());
        }
        self.work_factor = log_n;
        Ok(self)
    }
}

impl crate::Recipient for Recipient {
    fn wrap_file_key(&self, file_key: &FileKey) -> Result<Vec<Stanza>> {
        let salt = random_secret::<SALT_LEN>()?;
        let key = wrap_key(&salt, self.work_factor, &self.passphrase);
        Ok(vec![Stanza {
            tag: STANZA_TAG.into(),
            args: vec![encode_b64(salt.as_ref()), self.work_factor.to_string()],
            body: aead_seal_zero_nonce(&key, file_key.expose()),
        }])
    }

    fn must_be_alone(&self) -> bool {
        true
    }
}

/// Decrypts files encrypted to a passphrase.
pub struct Identity {
    passphrase: Zeroizing<String>,
    max_work_factor: u8,
}

impl Identity {
    /// A passphrase identity that accepts work factors up to [`MAX_WORK_FACTOR`].
    pub fn new(passphrase: Zeroizing<String>) -> Self {
        Identity { passphrase, max_work_factor: MAX_WORK_FACTOR }
    }

    /// Changes the highest accepted work factor.
    pub fn with_max_work_factor(mut self, log_n: u8) -> Self {
        self.max_work_factor = log_n.min(30);
        self
    }
}

fn invalid(reason: &'static str) -> Error {
    HeaderError::InvalidStanza { kind: STANZA_TAG, reason }.into()
}

/// Parses a work factor: decimal, no sign, no leading zeros (`^[1-9][0-9]*$`).
fn parse_work_factor(arg: &str) -> Option<u8> {
    let bytes = arg.as_bytes();
    if bytes.is_empty() || bytes.len() > 2 || bytes[0] == b'0' || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    arg.parse().ok()
}

impl crate::Identity for Identity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        if stanza.args.len() != 2 {
            return Some(Err(invalid("expected exactly two arguments, salt and work factor")));
        }
        let Some(salt) = decode_b64(&stanza.args[0]).and_then(|b| <[u8; SALT_LEN]>::try_from(b).ok()) else {
            return Some(Err(invalid("the salt is not 16 bytes of canonical base64")));
        };
        let Some(log_n) = parse_work_factor(&stanza.args[1]) else {
            return Some(Err(invalid("the work factor is not a decimal number without leading zeros")));
        };
        if log_n > self.max_work_factor {
            return Some(Err(HeaderError::WorkFactorTooHigh { log_n, max: self.max_work_factor }.into()));
        }
        if stanza.body.len() != WRAPPED_KEY_LEN {
            return Some(Err(invalid("the body is not 32 bytes")));
        }
        let key = wrap_key(&salt, log_n, &self.passphrase);
        // A body that does not open means a wrong passphrase.
        let file_key = aead_open_zero_nonce(&key, &stanza.body)?;
        let file_key: [u8; 16] = file_key.as_slice().try_into().expect("body length checked");
        Some(Ok(FileKey::from_bytes(file_key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity as _, Recipient as _};

    #[test]
    fn work_factor_syntax() {
        assert_eq!(parse_work_factor("18"), Some(18));
        for bad in ["", "0", "018", "+18", "-1", "0x12", "18 ", "999", "1a"] {
            assert_eq!(parse_work_factor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn wrap_unwrap_and_limits() {
        let key = FileKey::from_bytes([3; 16]);
        let r = Recipient::new(Zeroizing::new("correct horse".into())).with_work_factor(10).unwrap();
        let stanzas = r.wrap_file_key(&key).unwrap();
        let id = Identity::new(Zeroizing::new("correct horse".into()));
        assert_eq!(id.unwrap_stanzas(&stanzas).unwrap().unwrap().expose(), key.expose());
        assert!(Identity::new(Zeroizing::new("wrong".into())).unwrap_stanzas(&stanzas).is_none());
        let strict = Identity::new(Zeroizing::new("correct horse".into())).with_max_work_factor(9);
        assert!(matches!(
            strict.unwrap_stanzas(&stanzas),
            Some(Err(Error::Header(HeaderError::WorkFactorTooHigh { log_n: 10, max: 9 })))
        ));
        assert!(Recipient::new(Zeroizing::new(String::new())).with_work_factor(31).is_err());
    }
}

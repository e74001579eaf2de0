//! Signing (the vendor's side) and verifying (the server's side) with Ed25519 (RFC 8032).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use time::Date;
use zeroize::Zeroizing;

use crate::document::format_day;
use crate::{Licence, LicenceError, armor};

/// The label of a licence's text form.
pub const LICENCE_LABEL: &str = "KLUIS LICENCE";
/// The label of a signing key's text form.
const KEY_LABEL: &str = "KLUIS LICENCE SIGNING KEY";
/// The first bytes of a signed licence.
const MAGIC: &[u8; 8] = b"KLUISLIC";
/// The version of the signed form.
const VERSION: u8 = 1;
/// What the signature is over, before the document: no other Kluis signature can be taken for a licence.
const CONTEXT: &[u8] = b"kluis-licence-v1\0";
/// The first word of a public key's line.
const PUBLIC_WORD: &str = "kluis-licence-key";

fn signed_message(document: &[u8]) -> Vec<u8> {
    [CONTEXT, document].concat()
}

/// A key id: 1 to 64 letters, digits, `-`, `_` or `.`.
fn check_key_id(id: &str) -> Result<(), LicenceError> {
    let ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok { Ok(()) } else { Err(LicenceError::Malformed(format!("{id:?} is not a key id (letters, digits, - _ .)"))) }
}

/// The vendor's private key, with its id. Kept offline; never in a server.
pub struct SigningKey {
    id: String,
    pkcs8: Zeroizing<Vec<u8>>,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new key named `id`.
    pub fn generate(id: &str) -> Result<SigningKey, LicenceError> {
        check_key_id(id)?;
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| LicenceError::Malformed("the system's random source failed".into()))?;
        SigningKey::from_pkcs8(id, Zeroizing::new(pkcs8.as_ref().to_vec()))
    }

    fn from_pkcs8(id: &str, pkcs8: Zeroizing<Vec<u8>>) -> Result<SigningKey, LicenceError> {
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| LicenceError::Malformed("the signing key is damaged".into()))?;
        Ok(SigningKey { id: id.to_string(), pkcs8, pair })
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its text form (to keep offline, readable only by the vendor).
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(armor::encode(KEY_LABEL, &[("Key", self.id.clone())], &self.pkcs8))
    }

    /// A key from its text form.
    pub fn from_text(text: &str) -> Result<SigningKey, LicenceError> {
        let block = armor::decode(KEY_LABEL, text)?;
        let id =
            block.header("Key").ok_or_else(|| LicenceError::Malformed("the signing key names no key id".into()))?;
        check_key_id(id)?;
        let id = id.to_string();
        SigningKey::from_pkcs8(&id, Zeroizing::new(block.bytes))
    }

    /// Its public key, for servers to trust.
    pub fn public(&self) -> PublicKey {
        let mut key = [0u8; 32];
        key.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey { id: self.id.clone(), key }
    }

    /// Signs `licence` (its `key_id` set to this key's) and answers its text form.
    pub fn sign(&self, licence: &Licence) -> Result<String, LicenceError> {
        let mut licence = licence.clone();
        licence.key_id = self.id.clone();
        licence.check()?;
        let document = serde_json::to_vec(&licence).map_err(|e| LicenceError::Malformed(e.to_string()))?;
        let signature = self.pair.sign(&signed_message(&document));
        let bytes = [MAGIC.as_slice(), &[VERSION], signature.as_ref(), &document].concat();
        Ok(armor::encode(LICENCE_LABEL, &licence.headers(), &bytes))
    }
}

/// A vendor public key with its id; as a line: `kluis-licence-key <id> <base64>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The key id licences name.
    pub id: String,
    /// The Ed25519 public key.
    pub key: [u8; 32],
}

impl PublicKey {
    /// Its line, e.g. for the server's list of vendor keys.
    pub fn to_line(&self) -> String {
        format!("{PUBLIC_WORD} {} {}", self.id, STANDARD.encode(self.key))
    }

    /// A key from its line.
    pub fn from_line(line: &str) -> Result<PublicKey, LicenceError> {
        let bad = || LicenceError::Malformed(format!("{line:?} is not a line `{PUBLIC_WORD} <id> <base64 key>`"));
        let mut words = line.split_whitespace();
        if words.next() != Some(PUBLIC_WORD) {
            return Err(bad());
        }
        let (Some(id), Some(key), None) = (words.next(), words.next(), words.next()) else { return Err(bad()) };
        check_key_id(id)?;
        let key: [u8; 32] = STANDARD.decode(key).ok().and_then(|k| k.try_into().ok()).ok_or_else(bad)?;
        Ok(PublicKey { id: id.to_string(), key })
    }
}

/// The vendor keys a server accepts licences from.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    keys: Vec<PublicKey>,
}

impl Trust {
    /// Trusting these keys.
    pub fn new(keys: Vec<PublicKey>) -> Trust {
        Trust { keys }
    }

    /// The ids of the keys trusted.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// The licence in `text`, if a trusted key signed it and it is valid on
    /// `today`; else why not (in this order: malformed, unknown key, bad
    /// signature, not yet valid, expired).
    pub fn verify(&self, text: &str, today: Date) -> Result<Licence, LicenceError> {
        let licence = self.verify_signature(text)?;
        let (from, until) = (licence.from()?, licence.until()?);
        if today < from {
            return Err(LicenceError::NotYetValid(format_day(from)));
        }
        if today > until {
            return Err(LicenceError::Expired(format_day(until)));
        }
        Ok(licence)
    }

    /// The licence in `text` if a trusted key signed it, whatever the day
    /// (a licence installed before keeps being read after it ends).
    pub fn verify_signature(&self, text: &str) -> Result<Licence, LicenceError> {
        let bytes = signed_bytes(text)?;
        let (signature, document) = bytes.split_at(64);
        // Only to find the key: nothing in it is used before the signature is checked.
        let named: serde_json::Value = serde_json::from_slice(document)
            .map_err(|_| LicenceError::Malformed("the signed document is not JSON".into()))?;
        let key_id = named.get("key_id").and_then(serde_json::Value::as_str).unwrap_or_default();
        let key = self.keys.iter().find(|k| k.id == key_id).ok_or_else(|| LicenceError::UnknownKey(key_id.into()))?;
        UnparsedPublicKey::new(&ED25519, key.key)
            .verify(&signed_message(document), signature)
            .map_err(|_| LicenceError::BadSignature)?;
        document_of(document)
    }
}

/// The signature (64 bytes) and the document after it, from a licence's text form.
fn signed_bytes(text: &str) -> Result<Vec<u8>, LicenceError> {
    let bytes = armor::decode(LICENCE_LABEL, text)?.bytes;
    let short = || LicenceError::Malformed("the licence is cut short".into());
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(short)?;
    let (&version, rest) = rest.split_first().ok_or_else(short)?;
    if version != VERSION {
        return Err(LicenceError::Malformed(format!("version {version} is not one this server reads")));
    }
    if rest.len() < 64 {
        return Err(short());
    }
    Ok(rest.to_vec())
}

fn document_of(document: &[u8]) -> Result<Licence, LicenceError> {
    let licence: Licence = serde_json::from_slice(document)
        .map_err(|e| LicenceError::Malformed(format!("the signed document does not fit: {e}")))?;
    licence.check()?;
    Ok(licence)
}

/// The licence in `text` without checking who signed it: only to show it
/// (the vendor's tool without a key to check with). Never trust what it says.
pub fn read_unverified(text: &str) -> Result<Licence, LicenceError> {
    document_of(&signed_bytes(text)?[64..])
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn licence() -> Licence {
        Licence {
            format: 1,
            id: "L-2026-0042".into(),
            key_id: String::new(),
            licensee: "Ziekenhuis Oost".into(),
            domains: vec!["zho.nl".into()],
            seats: 250,
            features: vec!["single-sign-on".into()],
            valid_from: "2026-12-01".into(),
            valid_until: "2027-11-30".into(),
            issued_at: "2026-11-27T12:00:00Z".into(),
        }
    }

    #[test]
    fn a_signed_licence_verifies_and_every_bad_one_says_why() {
        let vendor = SigningKey::generate("vendor-2026").unwrap();
        let trust = Trust::new(vec![vendor.public()]);
        let text = vendor.sign(&licence()).unwrap();
        assert!(text.contains("Licensee: Ziekenhuis Oost") && text.contains("Seats: 250"), "{text}");
        let read = trust.verify(&text, date!(2027 - 01 - 15)).unwrap();
        assert_eq!(read.key_id, "vendor-2026");
        assert_eq!((read.seats, read.domains.clone()), (250, vec!["zho.nl".to_string()]));

        let at = date!(2027 - 01 - 15);
        assert_eq!(
            trust.verify(&text, date!(2026 - 11 - 30)).unwrap_err(),
            LicenceError::NotYetValid("2026-12-01".into())
        );
        assert_eq!(trust.verify(&text, date!(2027 - 12 - 01)).unwrap_err(), LicenceError::Expired("2027-11-30".into()));
        assert!(trust.verify_signature(&text).is_ok(), "after its end it is still read, with its dates");

        // Another vendor's key with the same id, a key this server does not know.
        let impostor = SigningKey::generate("vendor-2026").unwrap();
        assert_eq!(trust.verify(&impostor.sign(&licence()).unwrap(), at).unwrap_err(), LicenceError::BadSignature);
        let unknown = SigningKey::generate("vendor-2030").unwrap();
        assert_eq!(
            trust.verify(&unknown.sign(&licence()).unwrap(), at).unwrap_err(),
            LicenceError::UnknownKey("vendor-2030".into())
        );

        // The headers are for people: changing them changes nothing; changing the signed bytes breaks the signature.
        let relabelled = text.replace("Seats: 250", "Seats: 9999");
        assert_eq!(trust.verify(&relabelled, at).unwrap().seats, 250);
        let mut bytes = armor::decode(LICENCE_LABEL, &text).unwrap().bytes;
        let at_seats = bytes.windows(10).position(|w| w == b"\"seats\":25").unwrap() + 9;
        bytes[at_seats] = b'9';
        let forged = armor::encode(LICENCE_LABEL, &[], &bytes);
        assert_eq!(trust.verify(&forged, at).unwrap_err(), LicenceError::BadSignature);

        assert_eq!(trust.verify("hello", at).unwrap_err().code(), "licence_malformed");
        let empty = armor::encode(LICENCE_LABEL, &[], b"KLUISLIC\x01");
        assert!(trust.verify(&empty, at).unwrap_err().to_string().contains("cut short"));
        let later = armor::encode(LICENCE_LABEL, &[], b"KLUISLIC\x02");
        assert!(trust.verify(&later, at).unwrap_err().to_string().contains("version 2"));
    }

    #[test]
    fn keys_survive_their_text_forms() {
        let vendor = SigningKey::generate("vendor.2026_a").unwrap();
        let again = SigningKey::from_text(&vendor.to_text()).unwrap();
        assert_eq!(again.public(), vendor.public());
        let line = vendor.public().to_line();
        assert!(line.starts_with("kluis-licence-key vendor.2026_a "));
        assert_eq!(PublicKey::from_line(&line).unwrap(), vendor.public());
        for bad in ["", "kluis-licence-key", "kluis-licence-key id", "kluis-licence-key id AAAA", "other id AAAA"] {
            assert!(PublicKey::from_line(bad).is_err(), "{bad}");
        }
        assert!(SigningKey::generate("no spaces").is_err());
        assert!(!format!("{vendor:?}").contains(&*vendor.to_text()));
    }

    #[test]
    fn a_senseless_licence_is_not_signed() {
        let vendor = SigningKey::generate("v").unwrap();
        let mut l = licence();
        l.seats = 0;
        assert!(vendor.sign(&l).is_err());
    }
}

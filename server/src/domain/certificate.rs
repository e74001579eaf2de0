//! The deletion certificate (DESIGN §9): what deleting an organisation
//! removed — its id and name, when, rows per table, a digest of its audit
//! chain and of its blobs — signed with Ed25519 under a key derived from the
//! server key (`ServerKey::signing_key`), so the server that deleted can be
//! recognised later and nobody can change a figure unseen.
//!
//! Text form: the armor of licences (`kluis_licence::armor`), label
//! `KLUIS DELETION CERTIFICATE`, headers for people (not trusted), and base64 of
//!
//! ```text
//! "KLUISDEL" || version (1) || public key (32) || signature (64) || record (JSON)
//! ```
//!
//! The signature is over `"kluis-deletion-certificate-v1\0" || public key ||
//! record` exactly as written (no canonical JSON needed). The public key
//! travels inside: verifying needs nothing else, and says whose key it is.

use std::collections::BTreeMap;

use ring::signature::{ED25519, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::secrets::ServerKey;

/// The armor label.
pub(crate) const LABEL: &str = "KLUIS DELETION CERTIFICATE";
/// What the signing key is derived for.
const PURPOSE: &str = "kluis/v1/deletion-certificate";
const MAGIC: &[u8; 8] = b"KLUISDEL";
const VERSION: u8 = 1;
const CONTEXT: &[u8] = b"kluis-deletion-certificate-v1\0";

/// What was deleted, as signed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct DeletionRecord {
    /// Always `kluis-deletion-certificate`.
    pub kind: String,
    pub organisation: DeletedOrganisation,
    /// RFC 3339, UTC.
    pub deleted_at: String,
    /// The server's public URL.
    pub server: String,
    /// The server's version.
    pub software: String,
    /// Rows deleted per table of the metadata store.
    pub rows: BTreeMap<String, u64>,
    /// SHA-256 (hex) of the newest row of the organisation's audit chain as
    /// deleted: it commits to every row of the chain (an export holds them).
    pub audit_chain_head: Option<String>,
    pub blobs: DeletedBlobs,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct DeletedOrganisation {
    pub id: i64,
    pub name: String,
    pub domains: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct DeletedBlobs {
    /// Encrypted files deleted.
    pub count: u64,
    pub bytes: u64,
    /// SHA-256 (hex) over one line `<package>/<index> <size> <sha256 of the file>\n`
    /// per file, in that order: an export's MANIFEST.sha256 lets anyone recompute it.
    pub sha256: String,
    /// Files the blob store would not delete (the orphan sweep removes them later).
    pub not_deleted: u64,
}

/// The certificate's text: `record` signed with this server's certificate key.
pub(crate) fn sign(key: &ServerKey, record: &DeletionRecord) -> String {
    let pair = key.signing_key(PURPOSE);
    let public = pair.public_key().as_ref().to_vec();
    let json = serde_json::to_vec_pretty(record).expect("a record serialises");
    let mut message = CONTEXT.to_vec();
    message.extend_from_slice(&public);
    message.extend_from_slice(&json);
    let signature = pair.sign(&message);
    let mut bytes = MAGIC.to_vec();
    bytes.push(VERSION);
    bytes.extend_from_slice(&public);
    bytes.extend_from_slice(signature.as_ref());
    bytes.extend_from_slice(&json);
    let headers = [
        ("Organisation", format!("{} (id {})", record.organisation.name, record.organisation.id)),
        ("Deleted", record.deleted_at.clone()),
        ("Server", record.server.clone()),
        ("Signed-By", hex::encode(&public)),
    ];
    kluis_licence::armor::encode(LABEL, &headers, &bytes)
}

/// This server's certificate public key (hex): what `certificate verify` compares with.
pub(crate) fn public_key(key: &ServerKey) -> String {
    hex::encode(key.signing_key(PURPOSE).public_key().as_ref())
}

/// A certificate whose signature holds: the record and the public key (hex) that signed it.
pub(crate) fn verify(text: &str) -> Result<(DeletionRecord, String), String> {
    let block = kluis_licence::armor::decode(LABEL, text).map_err(|e| e.to_string())?;
    let bytes = block.bytes;
    let fixed = MAGIC.len() + 1 + 32 + 64;
    if bytes.len() < fixed || &bytes[..MAGIC.len()] != MAGIC {
        return Err("this is not a Kluis deletion certificate".into());
    }
    if bytes[MAGIC.len()] != VERSION {
        return Err(format!("certificate version {} is not known to this server", bytes[MAGIC.len()]));
    }
    let public = &bytes[MAGIC.len() + 1..MAGIC.len() + 33];
    let signature = &bytes[MAGIC.len() + 33..fixed];
    let json = &bytes[fixed..];
    let mut message = CONTEXT.to_vec();
    message.extend_from_slice(public);
    message.extend_from_slice(json);
    UnparsedPublicKey::new(&ED25519, public)
        .verify(&message, signature)
        .map_err(|_| "the signature does not match: the certificate was changed after it was signed".to_string())?;
    let record: DeletionRecord =
        serde_json::from_slice(json).map_err(|e| format!("the signed record cannot be read: {e}"))?;
    Ok((record, hex::encode(public)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> DeletionRecord {
        DeletionRecord {
            kind: "kluis-deletion-certificate".into(),
            organisation: DeletedOrganisation { id: 2, name: "Oost".into(), domains: vec!["oost.example".into()] },
            deleted_at: "2026-11-27T21:00:00Z".into(),
            server: "https://kluis.example".into(),
            software: "0.1.0".into(),
            rows: BTreeMap::from([("users".into(), 3), ("audit".into(), 40)]),
            audit_chain_head: Some("ab".repeat(32)),
            blobs: DeletedBlobs { count: 2, bytes: 10, sha256: "cd".repeat(32), not_deleted: 0 },
        }
    }

    #[test]
    fn a_certificate_verifies_and_names_its_key_and_a_changed_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let key = ServerKey::load_or_create(&dir.path().join("secret.key")).unwrap();
        let text = sign(&key, &record());
        let (read, public) = verify(&text).unwrap();
        assert_eq!(read, record());
        assert_eq!(public, public_key(&key));
        let other = ServerKey::load_or_create(&dir.path().join("other.key")).unwrap();
        assert_ne!(public, public_key(&other), "each server has its own certificate key");

        // A figure changed inside the signed bytes.
        let block = kluis_licence::armor::decode(LABEL, &text).unwrap();
        let mut bytes = block.bytes.clone();
        let at = bytes.windows(6).position(|w| w == b"\"Oost\"").unwrap();
        bytes[at + 1] = b'W';
        let forged = kluis_licence::armor::encode(LABEL, &[], &bytes);
        assert!(verify(&forged).unwrap_err().contains("signature does not match"));
        // The headers are for people only: changing them changes nothing.
        let relabelled = text.replace("Oost (id 2)", "Somebody else");
        assert_eq!(verify(&relabelled).unwrap().0, record());
        assert!(verify("nothing here").is_err());
    }
}

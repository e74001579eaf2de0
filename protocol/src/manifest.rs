//! The package manifest (docs/architecture.md §2): blob 0 of every package, an
//! age file holding this JSON. It carries what the server must not see: the
//! subject, the message, and each file's name, size and type, bound to its
//! blob by the blob's age header hash ([`HeaderHash`]: SHA-256 of the header
//! and payload nonce).
//!
//! ```json
//! {"kluis":2,"subject":"…","message":"…","files":[{"name":"a.pdf","size":12,"type":"application/pdf","header":"…"}]}
//! ```
//! File `i` of the manifest is blob `i + 1` of the package.
//!
//! Format 1 (until Kluis 0.1 of 2026-11-28) held the SHA-256 of each file's
//! plaintext (`"sha256"`) instead, which cost a second pass over every file
//! on both sides and added nothing: the payload of an age file cannot be
//! changed without the file key, and the header hash names the one
//! encryption whose payload authenticates. Format 1 manifests are still read
//! (packages live for weeks), and their files still checked by SHA-256.

use std::fmt;

use kluis_crypto::HeaderHash;
use serde::{Deserialize, Serialize};

/// Format version written in the `kluis` field.
pub const VERSION: u32 = 2;
/// The oldest format still read: files bound by the SHA-256 of their plaintext.
pub const VERSION_SHA256: u32 = 1;
/// Largest manifest accepted (the files list of a package of 1000 files fits easily).
pub const MAX_LEN: usize = 1 << 20;

/// Blob 0 of a package, encrypted: what the sender wrote and the files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version ([`VERSION`]).
    pub kluis: u32,
    /// The subject line.
    #[serde(default)]
    pub subject: String,
    /// The message.
    #[serde(default)]
    pub message: String,
    /// One entry per file blob, in blob order (blob 1 first).
    pub files: Vec<FileEntry>,
}

/// One file of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Its name as the sender had it (see [`safe_file_name`] before saving).
    pub name: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Media type, e.g. `application/pdf`.
    #[serde(rename = "type", default)]
    pub media_type: String,
    /// Format 2: the [`HeaderHash`] of the file's blob, lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Format 1: SHA-256 of the plaintext, lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// How a receiver checks that a blob is the file the manifest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileCheck {
    /// Format 2: the blob's header hash, checked before any plaintext is
    /// released (`Decryptor::expecting_header`).
    Header(HeaderHash),
    /// Format 1: the SHA-256 of the whole plaintext (lower-case hex),
    /// checked after the last byte.
    Sha256(String),
}

impl FileEntry {
    /// A file of a format-2 manifest, bound to the blob whose header hash is `header`.
    pub fn new(name: &str, size: u64, media_type: &str, header: HeaderHash) -> FileEntry {
        FileEntry {
            name: name.into(),
            size,
            media_type: media_type.into(),
            header: Some(header.to_hex()),
            sha256: None,
        }
    }

    /// What to check the blob against. Entries of a parsed manifest always have one.
    pub fn check(&self) -> Option<FileCheck> {
        match (&self.header, &self.sha256) {
            (Some(h), None) => HeaderHash::from_hex(h).map(FileCheck::Header),
            (None, Some(s)) if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(FileCheck::Sha256(s.to_ascii_lowercase()))
            }
            _ => None,
        }
    }
}

/// Why a decrypted manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestError {
    /// Larger than [`MAX_LEN`].
    TooLarge,
    /// Not the JSON of a manifest.
    Invalid(String),
    /// Made by a newer format version.
    UnsupportedVersion(u32),
    /// The number of files does not match the package's blobs.
    BlobCount {
        /// Files listed.
        files: usize,
        /// Blobs in the package, the manifest included.
        blobs: usize,
    },
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::TooLarge => f.write_str("the package's file list is too large"),
            ManifestError::Invalid(e) => write!(f, "the package's file list is damaged: {e}"),
            ManifestError::UnsupportedVersion(v) => {
                write!(f, "the package was made by a newer Kluis (format {v}); update this program")
            }
            ManifestError::BlobCount { files, blobs } => {
                write!(f, "the package lists {files} files but holds {blobs}")
            }
        }
    }
}
impl std::error::Error for ManifestError {}

/// A placeholder header hash, for sizing a manifest before the files are
/// encrypted: the encoded length does not depend on the hashes.
pub const PLACEHOLDER_HEADER: HeaderHash = HeaderHash::ZERO;

impl Manifest {
    /// A manifest of the current format version.
    pub fn new(subject: &str, message: &str, files: Vec<FileEntry>) -> Manifest {
        Manifest { kluis: VERSION, subject: subject.into(), message: message.into(), files }
    }

    /// The JSON bytes that are encrypted as blob 0.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serializes")
    }

    /// Parses a decrypted manifest and checks it against the package's blob count.
    pub fn parse(bytes: &[u8], blob_count: usize) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_LEN {
            return Err(ManifestError::TooLarge);
        }
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid(e.to_string()))?;
        if manifest.kluis != VERSION && manifest.kluis != VERSION_SHA256 {
            return Err(ManifestError::UnsupportedVersion(manifest.kluis));
        }
        if manifest.files.len() + 1 != blob_count {
            return Err(ManifestError::BlobCount { files: manifest.files.len(), blobs: blob_count.saturating_sub(1) });
        }
        for f in &manifest.files {
            let fits = match f.check() {
                Some(FileCheck::Header(_)) => manifest.kluis == VERSION,
                Some(FileCheck::Sha256(_)) => manifest.kluis == VERSION_SHA256,
                None => false,
            };
            if !fits {
                return Err(ManifestError::Invalid(format!("bad checksum for {:?}", f.name)));
            }
        }
        Ok(manifest)
    }
}

/// A file name that is safe to create on any system: no folders, no control
/// characters, no bidirectional overrides (which make `x\u{202e}txt.exe` look
/// like `xexe.txt`), no characters Windows forbids, no reserved device names,
/// not hidden, at most 200 bytes. Names from a manifest are the sender's
/// words, so they are never trusted as paths.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut clean: String = base
        .chars()
        .map(|c| {
            let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || bidi || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') { '_' } else { c }
        })
        .collect();
    clean = clean.trim_matches(|c: char| c == '.' || c.is_whitespace()).to_string();
    let mut end = clean.len().min(200);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean.truncate(end);
    let stem = clean.split('.').next().unwrap_or("").to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (stem.len() == 4
            && (stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.as_bytes()[3].is_ascii_digit());
    if clean.is_empty() {
        "file".into()
    } else if reserved {
        format!("_{clean}")
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_does_not_depend_on_hashes() {
        let entry = |h: HeaderHash| FileEntry::new("ä.pdf", 5, "application/pdf", h);
        let a = Manifest::new("s", "m", vec![entry(PLACEHOLDER_HEADER)]).to_bytes();
        let hash = HeaderHash::of(b"a header");
        let b = Manifest::new("s", "m", vec![entry(hash)]).to_bytes();
        assert_eq!(a.len(), b.len());
        assert_eq!(Manifest::parse(&b, 2).unwrap().files[0].check(), Some(FileCheck::Header(hash)));
        assert_eq!(Manifest::parse(&b, 2).unwrap().files[0].name, "ä.pdf");
        assert!(matches!(Manifest::parse(&b, 3), Err(ManifestError::BlobCount { .. })));
        assert!(matches!(Manifest::parse(b"{", 2), Err(ManifestError::Invalid(_))));
        let future = String::from_utf8(b).unwrap().replace("\"kluis\":2", "\"kluis\":3");
        assert_eq!(Manifest::parse(future.as_bytes(), 2), Err(ManifestError::UnsupportedVersion(3)));
    }

    /// Packages made before format 2 still open, checked by SHA-256; each
    /// format holds only its own kind of check.
    #[test]
    fn format_1_is_still_read() {
        let sha = "AB".repeat(32);
        let v1 = format!(r#"{{"kluis":1,"files":[{{"name":"a","size":1,"type":"","sha256":"{sha}"}}]}}"#);
        let parsed = Manifest::parse(v1.as_bytes(), 2).unwrap();
        assert_eq!(parsed.files[0].check(), Some(FileCheck::Sha256("ab".repeat(32))));
        let header = HeaderHash::of(b"h").to_hex();
        for wrong in [
            format!(r#"{{"kluis":1,"files":[{{"name":"a","size":1,"header":"{header}"}}]}}"#),
            format!(r#"{{"kluis":2,"files":[{{"name":"a","size":1,"sha256":"{sha}"}}]}}"#),
            format!(r#"{{"kluis":2,"files":[{{"name":"a","size":1,"header":"{header}","sha256":"{sha}"}}]}}"#),
            r#"{"kluis":2,"files":[{"name":"a","size":1,"header":"00"}]}"#.to_string(),
            r#"{"kluis":2,"files":[{"name":"a","size":1}]}"#.to_string(),
        ] {
            assert!(matches!(Manifest::parse(wrong.as_bytes(), 2), Err(ManifestError::Invalid(_))), "{wrong}");
        }
    }

    #[test]
    fn file_names() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("C:\\Users\\x\\report.pdf"), "report.pdf");
        assert_eq!(safe_file_name("a:b*c?.txt"), "a_b_c_.txt");
        assert_eq!(safe_file_name(".hidden"), "hidden");
        assert_eq!(safe_file_name(".."), "file");
        assert_eq!(safe_file_name("CON.txt"), "_CON.txt");
        assert_eq!(safe_file_name("com1"), "_com1");
        assert_eq!(safe_file_name("line\nbreak"), "line_break");
        assert_eq!(safe_file_name("invoice\u{202e}fdp.exe"), "invoice_fdp.exe");
        assert_eq!(safe_file_name("a\u{2067}b\u{2069}.txt"), "a_b_.txt");
        assert_eq!(safe_file_name(&"é".repeat(300)).len(), 200);
    }
}

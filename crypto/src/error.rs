//! Errors.
//!
//! [`Error`] has one variant per failure category of the age test vectors
//! (c2sp.org/CCTV/age: "header failure", "no match", "HMAC failure",
//! "payload failure", "armor failure"), plus I/O for the adapters in [`crate::io`].
//! Each category carries a precise reason whose message says what is wrong in
//! words a user can act on.

use std::fmt;
use std::sync::Arc;

/// Anything that can go wrong while encrypting or decrypting an age file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The header is malformed, or a stanza of a known type is invalid
    /// (testkit: "header failure").
    Header(HeaderError),
    /// The header is well formed but none of the identities or passphrases
    /// unwraps the file key (testkit: "no match").
    NoMatch,
    /// The file key unwrapped but the header MAC does not verify: the header
    /// was changed after it was written (testkit: "HMAC failure").
    HeaderMac,
    /// The encrypted payload is damaged, truncated or followed by extra data
    /// (testkit: "payload failure").
    Payload(PayloadError),
    /// The ASCII armor is not valid strict PEM (testkit: "armor failure").
    Armor(ArmorError),
    /// Encryption could not start (no recipients, scrypt mixed with others).
    Encrypt(EncryptError),
    /// The file is authentic but not the one expected: its [`HeaderHash`]
    /// differs from the one the caller was told to expect (Kluis binds each
    /// file of a package to its blob this way; docs/architecture.md §2).
    /// Raised before any plaintext is released.
    ///
    /// [`HeaderHash`]: crate::format::HeaderHash
    UnexpectedHeader,
    /// Reading or writing failed. Only the I/O adapters produce this.
    Io(Arc<std::io::Error>),
}

/// Why a header was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The input is empty.
    Empty,
    /// The input does not start with `age-encryption.org/`.
    NotAge,
    /// The version line names a version other than `v1`.
    UnsupportedVersion(String),
    /// The input ended inside the header.
    Truncated,
    /// The header exceeds [`crate::MAX_HEADER_LEN`].
    TooLarge(usize),
    /// A header line breaks the grammar of the age v1 header.
    Malformed {
        /// 1-based line number in the header.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A stanza addressed to a recipient type we implement is invalid.
    InvalidStanza {
        /// Stanza type, e.g. `X25519`.
        kind: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An scrypt stanza shares the header with other stanzas.
    ScryptNotAlone,
    /// The scrypt work factor is above the limit we accept.
    WorkFactorTooHigh {
        /// log2(N) found in the file.
        log_n: u8,
        /// Highest log2(N) we accept.
        max: u8,
    },
    /// The input ended before the 16-byte payload nonce was complete.
    MissingNonce,
}

/// Why a STREAM payload was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadError {
    /// The payload ended without a valid final chunk.
    Truncated,
    /// A chunk failed authentication.
    Tampered {
        /// Zero-based chunk index.
        chunk: u64,
    },
    /// The final chunk is empty although earlier chunks exist.
    EmptyFinalChunk,
    /// Data follows the final chunk.
    TrailingData,
    /// The payload length given for random access cannot be a valid payload.
    InvalidLength,
}

/// Why ASCII armor was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArmorError {
    /// No `-----BEGIN AGE ENCRYPTED FILE-----` line where one was required.
    MissingBegin,
    /// The input ended before the `-----END AGE ENCRYPTED FILE-----` line.
    MissingEnd,
    /// A line of the base64 body is malformed.
    BadLine {
        /// 1-based line number within the armored text.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Something other than whitespace follows the end line.
    TrailingGarbage,
}

/// Why encryption could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncryptError {
    /// No recipient was given.
    NoRecipients,
    /// A passphrase must be the only recipient of a file.
    ScryptNotAlone,
    /// Post-quantum and classic recipients in one file: the classic one
    /// would undo the quantum resistance.
    MixedPostQuantum,
    /// The scrypt work factor is outside 1..=30.
    InvalidWorkFactor(u8),
    /// The recipient's public key is a low-order point (a malicious key).
    LowOrderRecipient,
    /// Armored output cannot restart in the middle.
    ArmorNotResumable,
    /// A saved encryption state is damaged or from another version.
    InvalidResumeState,
    /// The operating system's random number generator failed.
    Random,
}

impl Error {
    /// The testkit category name of this error ("header failure", ...).
    pub fn category(&self) -> &'static str {
        match self {
            Error::Header(_) => "header failure",
            Error::NoMatch => "no match",
            Error::HeaderMac => "HMAC failure",
            Error::Payload(_) => "payload failure",
            Error::Armor(_) => "armor failure",
            Error::Encrypt(_) => "encrypt failure",
            Error::UnexpectedHeader => "unexpected header",
            Error::Io(_) => "I/O failure",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Header(e) => write!(f, "invalid age header: {e}"),
            Error::NoMatch => {
                f.write_str("no identity matched: the file was not encrypted to any of the given keys or passphrases")
            }
            Error::HeaderMac => f.write_str(
                "the header's authentication code does not match: the file was modified, or the key is wrong",
            ),
            Error::Payload(e) => write!(f, "damaged encrypted data: {e}"),
            Error::Armor(e) => write!(f, "invalid ASCII armor: {e}"),
            Error::Encrypt(e) => write!(f, "cannot encrypt: {e}"),
            Error::UnexpectedHeader => {
                f.write_str("this is not the file that was sent: its header differs from the one its sender recorded")
            }
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Empty => f.write_str("the input is empty"),
            HeaderError::NotAge => {
                f.write_str("the input is not an age-encrypted file (it does not start with \"age-encryption.org/\")")
            }
            HeaderError::UnsupportedVersion(v) => {
                write!(f, "the file uses age format version \"{v}\", which this program does not support")
            }
            HeaderError::Truncated => f.write_str("the file ends inside its header; it is truncated"),
            HeaderError::TooLarge(max) => write!(f, "the header is longer than {max} bytes"),
            HeaderError::Malformed { line, reason } => write!(f, "line {line}: {reason}"),
            HeaderError::InvalidStanza { kind, reason } => {
                write!(f, "invalid {kind} recipient stanza: {reason}")
            }
            HeaderError::ScryptNotAlone => f.write_str(
                "a passphrase-encrypted file must have no other recipients, but this one has (possible tampering)",
            ),
            HeaderError::WorkFactorTooHigh { log_n, max } => write!(
                f,
                "the passphrase work factor 2^{log_n} is above the limit 2^{max}; decrypting would take too long"
            ),
            HeaderError::MissingNonce => f.write_str("the file ends before the payload nonce; it is truncated"),
        }
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::Truncated => f.write_str("the file is truncated: it ends before its final chunk"),
            PayloadError::Tampered { chunk } => {
                write!(f, "chunk {chunk} failed authentication: the file was modified or damaged")
            }
            PayloadError::EmptyFinalChunk => f.write_str("the final chunk is empty, which a valid file never has"),
            PayloadError::TrailingData => f.write_str("unexpected data after the final chunk"),
            PayloadError::InvalidLength => f.write_str("the payload length is not possible for an age file"),
        }
    }
}

impl fmt::Display for ArmorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArmorError::MissingBegin => {
                f.write_str("expected \"-----BEGIN AGE ENCRYPTED FILE-----\" as the first line")
            }
            ArmorError::MissingEnd => {
                f.write_str("the text ends before \"-----END AGE ENCRYPTED FILE-----\"; it is truncated")
            }
            ArmorError::BadLine { line, reason } => write!(f, "line {line}: {reason}"),
            ArmorError::TrailingGarbage => f.write_str("unexpected text after \"-----END AGE ENCRYPTED FILE-----\""),
        }
    }
}

impl fmt::Display for EncryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncryptError::NoRecipients => f.write_str("no recipients given"),
            EncryptError::ScryptNotAlone => f.write_str("a passphrase cannot be combined with other recipients"),
            EncryptError::MixedPostQuantum => f.write_str(
                "post-quantum (age1pq1…) and classic recipients cannot share a file: the classic one would undo the quantum resistance",
            ),
            EncryptError::InvalidWorkFactor(n) => {
                write!(f, "scrypt work factor {n} is outside 1..=30")
            }
            EncryptError::ArmorNotResumable => f.write_str("armored output cannot be resumed"),
            EncryptError::InvalidResumeState => {
                f.write_str("the saved upload state is damaged; start the upload again")
            }
            EncryptError::LowOrderRecipient => {
                f.write_str("the recipient key is invalid (a low-order point); it cannot receive files")
            }
            EncryptError::Random => f.write_str("the system random number generator failed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}
impl std::error::Error for HeaderError {}
impl std::error::Error for PayloadError {}
impl std::error::Error for ArmorError {}
impl std::error::Error for EncryptError {}

impl From<HeaderError> for Error {
    fn from(e: HeaderError) -> Self {
        Error::Header(e)
    }
}
impl From<PayloadError> for Error {
    fn from(e: PayloadError) -> Self {
        Error::Payload(e)
    }
}
impl From<ArmorError> for Error {
    fn from(e: ArmorError) -> Self {
        Error::Armor(e)
    }
}
impl From<EncryptError> for Error {
    fn from(e: EncryptError) -> Self {
        Error::Encrypt(e)
    }
}
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        // An age error that travelled through an io::Error comes back as itself.
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let inner = e.into_inner().expect("checked above");
            return *inner.downcast::<Error>().expect("checked above");
        }
        Error::Io(Arc::new(e))
    }
}
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(io) => match Arc::try_unwrap(io) {
                Ok(io) => io,
                Err(shared) => std::io::Error::new(shared.kind(), shared.to_string()),
            },
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The two small traits every recipient type implements (c2sp.org/age,
//! "Recipient stanza"): a [`Recipient`] wraps a file key into stanzas, an
//! [`Identity`] unwraps it from the stanza addressed to it.

use crate::error::Result;
use crate::format::Stanza;
use crate::keys::FileKey;

/// Something a file can be encrypted to.
pub trait Recipient {
    /// Wraps `file_key` into one or more stanzas for the header.
    fn wrap_file_key(&self, file_key: &FileKey) -> Result<Vec<Stanza>>;

    /// True if this recipient must be the only one in a header, as scrypt
    /// must ("An scrypt stanza, if present, MUST be the only stanza").
    fn must_be_alone(&self) -> bool {
        false
    }

    /// True for a post-quantum recipient. A file is encrypted either to
    /// post-quantum recipients only or to none: mixing in a classic one would
    /// let a quantum computer read it anyway (c2sp.org/age: "the same file
    /// SHOULD NOT be encrypted to both this recipient type and to other
    /// non-quantum-resistant recipient types").
    fn is_post_quantum(&self) -> bool {
        false
    }
}

/// Something that can decrypt files encrypted to its recipient.
pub trait Identity {
    /// Tries to unwrap the file key from `stanza`.
    ///
    /// Returns `None` if the stanza is not addressed to this identity (another
    /// type, or a body that does not decrypt), `Some(Err(_))` if it is of this
    /// identity's type but malformed (a header failure), and `Some(Ok(key))` on
    /// success.
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey>>;

    /// Tries every stanza in header order; the first definite answer wins.
    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey>> {
        stanzas.iter().find_map(|stanza| self.unwrap_stanza(stanza))
    }
}

impl<T: Recipient + ?Sized> Recipient for Box<T> {
    fn wrap_file_key(&self, file_key: &FileKey) -> Result<Vec<Stanza>> {
        (**self).wrap_file_key(file_key)
    }
    fn must_be_alone(&self) -> bool {
        (**self).must_be_alone()
    }
    fn is_post_quantum(&self) -> bool {
        (**self).is_post_quantum()
    }
}

impl<T: Identity + ?Sized> Identity for Box<T> {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey>> {
        (**self).unwrap_stanza(stanza)
    }
    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey>> {
        (**self).unwrap_stanzas(stanzas)
    }
}

/// Checks that a stanza body is exactly one sealed file key (16 + 16 bytes),
/// as the spec requires before decrypting it, against partitioning oracles.
pub(crate) const WRAPPED_KEY_LEN: usize = crate::keys::FILE_KEY_LEN + crate::primitives::TAG_LEN;

impl<T: Identity + ?Sized> Identity for &T {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey>> {
        (**self).unwrap_stanza(stanza)
    }
    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey>> {
        (**self).unwrap_stanzas(stanzas)
    }
}

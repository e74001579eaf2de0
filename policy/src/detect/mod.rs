//! The detectors, one module each, named for what they find.
//!
//! The number detectors ([`bsn`], [`iban`], [`payment_card`],
//! [`nl_id_document`]) implement [`Detector`]: the scanner cuts the text into
//! runs of ASCII letters and digits (groups), and offers each detector the
//! groups where a number may start. A detector knows the shapes its number is
//! written in (contiguous, or grouped with one kind of separator), checks the
//! checksum, and says how many groups the number takes. [`email`] and
//! [`keywords`] work on the text as it streams by.
//!
//! Each module also offers its checksum on its own (`is_valid`), for callers
//! that check a single field rather than a text.

pub mod bsn;
pub mod email;
pub mod iban;
pub mod keywords;
pub mod nl_id_document;
pub mod payment_card;

use crate::document::{Confidence, DetectorKind};

/// The longest group the scanner offers: an IBAN written without spaces (34).
pub const MAX_GROUP: usize = 34;

/// A run of ASCII letters and digits in the text, with the separator before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Group<'a> {
    /// The run, if it is ASCII letters and digits of at most [`MAX_GROUP`]
    /// bytes; empty otherwise (such a run never matches).
    pub text: &'a [u8],
    /// The one separator (`b' '`, `b'.'` or `b'-'`; a no-break space counts as
    /// `b' '`) between this group and the one before it, or 0 when something
    /// else (punctuation, a line break, two separators) is in between.
    pub sep: u8,
}

impl Group<'_> {
    /// Whether the group is one or more ASCII digits.
    pub fn is_digits(&self) -> bool {
        !self.text.is_empty() && self.text.iter().all(u8::is_ascii_digit)
    }
}

/// A number that a [`Detector`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detected {
    /// How many groups the number takes, from `groups[1]` on.
    pub groups: usize,
    /// The confidence without a supporting keyword nearby (with one it is
    /// [`Confidence::High`]).
    pub confidence: Confidence,
}

/// A detector of numbers written as one or more [`Group`]s.
pub trait Detector {
    /// What it finds.
    const KIND: DetectorKind;
    /// Supporting keywords (lower case, single words): one of them within
    /// [`PROXIMITY`] characters before or after a number makes it
    /// [`Confidence::High`], as in Microsoft Purview.
    const KEYWORDS: &'static [&'static str];
    /// Looks for a number starting at `groups[1]`. `groups[0]` is the group
    /// before it (empty at the start of the text or after a break), so that a
    /// grouped number can check it is not part of a longer one; the scanner
    /// offers at least one group after the longest number it can take.
    fn detect(groups: &[Group<'_>]) -> Option<Detected>;
}

/// The distance in characters within which a keyword supports a number,
/// between the end of one and the start of the other (Purview's
/// `patternsProximity` for these types).
pub const PROXIMITY: u64 = 300;

/// Separators that may group the digits of a number.
pub(crate) const DIGIT_SEPARATORS: &[u8] = b" .-";

/// Up to 40 ASCII characters, gathered from groups without separators.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Compact {
    buf: [u8; 40],
    len: usize,
}

impl Compact {
    pub(crate) fn new() -> Self {
        Compact { buf: [0; 40], len: 0 }
    }

    pub(crate) fn push(&mut self, text: &[u8]) -> bool {
        let Some(room) = self.buf.get_mut(self.len..self.len + text.len()) else { return false };
        room.copy_from_slice(text);
        self.len += text.len();
        true
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The digits of `groups[1..=shape.len()]` if those groups are all digits
/// with exactly the lengths in `shape`, joined by one separator out of `seps`,
/// and the groups around them are not digits joined by that same separator
/// (which would make them part of a longer number).
pub(crate) fn digit_groups(groups: &[Group<'_>], shape: &[usize], seps: &[u8]) -> Option<Compact> {
    let parts = groups.get(1..=shape.len())?;
    let sep = parts.get(1)?.sep;
    if !seps.contains(&sep) {
        return None;
    }
    let mut out = Compact::new();
    for (i, (group, &len)) in parts.iter().zip(shape).enumerate() {
        if group.text.len() != len || !group.is_digits() || (i > 0 && group.sep != sep) || !out.push(group.text) {
            return None;
        }
    }
    isolated(groups, shape.len(), sep).then_some(out)
}

/// Whether the `n` groups from `groups[1]` on are not continued, before or
/// after, by digits joined with the same separator.
pub(crate) fn isolated(groups: &[Group<'_>], n: usize, sep: u8) -> bool {
    let continued = |g: Option<&Group<'_>>, s: u8| g.is_some_and(|g| g.is_digits() && s == sep);
    let before = continued(groups.first(), groups.get(1).map_or(0, |g| g.sep));
    let after = groups.get(n + 1);
    !before && !continued(after, after.map_or(0, |g| g.sep))
}

#[cfg(test)]
pub(crate) fn groups_of(text: &'static str) -> Vec<Group<'static>> {
    // "123 456.789": split at separators, the first group is the (empty) context.
    let mut groups = vec![Group::default()];
    let mut sep = 0;
    let mut start = None;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_alphanumeric() {
            start.get_or_insert(i);
        } else {
            if let Some(s) = start.take() {
                groups.push(Group { text: &bytes[s..i], sep });
                sep = b;
            } else {
                sep = 0;
            }
            if !DIGIT_SEPARATORS.contains(&b) {
                sep = 0;
            }
        }
    }
    if let Some(s) = start {
        groups.push(Group { text: &bytes[s..], sep });
    }
    groups
}

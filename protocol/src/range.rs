//! Single byte ranges from an HTTP `Range` header (RFC 9110, section 14),
//! resolved against the length of the blob being served. Used by the server
//! to answer ranged downloads and by clients to check what they were sent.
//!
//! The grammar (RFC 9110, section 14.1.1 and 14.2):
//!
//! ```text
//! Range            = ranges-specifier
//! ranges-specifier = range-unit "=" range-set
//! range-set        = 1#range-spec
//! range-spec       = int-range / suffix-range / other-range
//! int-range        = first-pos "-" [ last-pos ]
//! suffix-range     = "-" suffix-length
//! first-pos, last-pos, suffix-length = 1*DIGIT
//! ```
//!
//! Only single ranges are served. A server may ignore the `Range` header
//! altogether (section 14.2), so everything this module does not serve as a
//! part — several ranges, other units, syntax errors — is answered with the
//! whole representation, never with an error.

use std::cmp::Ordering;

/// What to send for a `Range` header, given the representation's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// Ignore the header and send the whole representation with 200 (OK).
    Whole,
    /// Send bytes `start..end` with 206 (Partial Content) and the
    /// [`content_range`] header. Always `start < end <= len`.
    Part {
        /// First byte.
        start: u64,
        /// Exclusive.
        end: u64,
    },
    /// Send 416 (Range Not Satisfiable) with [`content_range_unsatisfied`]
    /// (RFC 9110, section 15.5.17).
    Unsatisfiable,
}

/// Resolves a `Range` header against a representation of `len` bytes.
///
/// - No header, a unit other than `bytes` (section 14.2: "An origin server
///   MUST ignore a Range header field that contains a range unit it does
///   not understand"), a syntax error, an int-range whose last-pos is less
///   than its first-pos (which makes the ranges-specifier invalid, section
///   14.1.1), or more than one range → [`ByteRange::Whole`].
/// - An int-range whose first-pos is at or past `len`, or a suffix-range of
///   length 0 (neither is satisfiable, section 14.1.2) →
///   [`ByteRange::Unsatisfiable`].
/// - Otherwise the range, clipped to the representation: a last-pos past the
///   end, or a suffix longer than the representation, means "up to the end"
///   (section 14.1.2). Numbers of any length are read; those beyond `u64`
///   saturate, which does not change the result because `len` fits in `u64`
///   (so `bytes=0-18446744073709551615` is all of it, as a part).
/// - A suffix-range on an empty representation is satisfiable by the RFC's
///   definition (section 14.1.2) but selects no bytes, which `Content-Range`
///   cannot express, so it is answered with [`ByteRange::Whole`] (the empty
///   body).
///
/// Whitespace is allowed only where the grammar allows it: around the
/// whole field value and around the commas of the list (RFC 9110,
/// section 5.6.1), including empty list elements, which are ignored.
pub fn parse_range(header: Option<&str>, len: u64) -> ByteRange {
    let Some(header) = header else { return ByteRange::Whole };
    let Some((unit, set)) = header.trim_matches(is_ows).split_once('=') else { return ByteRange::Whole };
    if !unit.eq_ignore_ascii_case("bytes") {
        return ByteRange::Whole;
    }
    let mut specs = set.split(',').map(|s| s.trim_matches(is_ows)).filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else { return ByteRange::Whole };
    let Some((first, last)) = spec.split_once('-') else { return ByteRange::Whole };
    if !is_digits(last) && !last.is_empty() {
        return ByteRange::Whole;
    }
    if first.is_empty() {
        // suffix-range
        if last.is_empty() {
            return ByteRange::Whole;
        }
        let suffix = decimal(last);
        if suffix == 0 {
            return ByteRange::Unsatisfiable;
        }
        if len == 0 {
            return ByteRange::Whole;
        }
        return ByteRange::Part { start: len.saturating_sub(suffix), end: len };
    }
    if !is_digits(first) {
        return ByteRange::Whole;
    }
    // int-range
    let end = if last.is_empty() {
        len
    } else {
        if compare_decimal(last, first) == Ordering::Less {
            return ByteRange::Whole;
        }
        decimal(last).saturating_add(1).min(len)
    };
    let start = decimal(first);
    if start >= len {
        return ByteRange::Unsatisfiable;
    }
    // start < len and last >= first, so start < end <= len.
    ByteRange::Part { start, end }
}

/// The `Content-Range` value for a part: `bytes <first>-<last>/<len>`
/// (RFC 9110, section 14.4), from the exclusive `end` of
/// [`ByteRange::Part`]. Expects `start < end <= len`.
pub fn content_range(start: u64, end: u64, len: u64) -> String {
    format!("bytes {start}-{}/{len}", end.saturating_sub(1))
}

/// The `Content-Range` value for a 416 response: `bytes */<len>`
/// (RFC 9110, sections 14.4 and 15.5.17).
pub fn content_range_unsatisfied(len: u64) -> String {
    format!("bytes */{len}")
}

/// OWS = *( SP / HTAB ) (RFC 9110, section 5.6.3).
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// 1*DIGIT: no sign, no whitespace, only ASCII digits.
fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The value of a string of ASCII digits, saturating at `u64::MAX`.
fn decimal(digits: &str) -> u64 {
    digits.bytes().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0')))
}

/// Compares two strings of ASCII digits as numbers of any size.
fn compare_decimal(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> ByteRange {
        ByteRange::Part { start, end }
    }

    fn p(header: &str, len: u64) -> ByteRange {
        parse_range(Some(header), len)
    }

    #[test]
    fn int_ranges() {
        assert_eq!(parse_range(None, 100), ByteRange::Whole);
        assert_eq!(p("bytes=0-9", 100), part(0, 10));
        assert_eq!(p("bytes=0-0", 100), part(0, 1));
        assert_eq!(p("bytes=99-99", 100), part(99, 100));
        assert_eq!(p("bytes=90-", 100), part(90, 100));
        assert_eq!(p("bytes=0-", 100), part(0, 100));
        assert_eq!(p("bytes=95-200", 100), part(95, 100));
        assert_eq!(p("bytes=0-99", 100), part(0, 100));
        assert_eq!(p("bytes=007-0009", 100), part(7, 10));
        assert_eq!(p("bytes=100-", 100), ByteRange::Unsatisfiable);
        assert_eq!(p("bytes=100-200", 100), ByteRange::Unsatisfiable);
        // last-pos < first-pos makes the range invalid, not unsatisfiable.
        assert_eq!(p("bytes=5-1", 100), ByteRange::Whole);
        assert_eq!(p("bytes=200-100", 100), ByteRange::Whole);
    }

    #[test]
    fn suffix_ranges() {
        assert_eq!(p("bytes=-10", 100), part(90, 100));
        assert_eq!(p("bytes=-1", 100), part(99, 100));
        assert_eq!(p("bytes=-100", 100), part(0, 100));
        assert_eq!(p("bytes=-500", 100), part(0, 100));
        assert_eq!(p("bytes=-0", 100), ByteRange::Unsatisfiable);
        assert_eq!(p("bytes=-000", 100), ByteRange::Unsatisfiable);
        assert_eq!(p("bytes=-", 100), ByteRange::Whole);
    }

    #[test]
    fn last_byte_u64_max() {
        // `e + 1` used to wrap to 0 here and turn the request into a 416.
        assert_eq!(p("bytes=0-18446744073709551615", 100), part(0, 100));
        assert_eq!(p("bytes=5-18446744073709551615", 100), part(5, 100));
        assert_eq!(p("bytes=0-18446744073709551615", u64::MAX), part(0, u64::MAX));
        assert_eq!(p("bytes=0-18446744073709551614", u64::MAX), part(0, u64::MAX));
        assert_eq!(p("bytes=0-18446744073709551613", u64::MAX), part(0, u64::MAX - 1));
        assert_eq!(p("bytes=18446744073709551614-", u64::MAX), part(u64::MAX - 1, u64::MAX));
        assert_eq!(p("bytes=18446744073709551615-", u64::MAX), ByteRange::Unsatisfiable);
        assert_eq!(p("bytes=-18446744073709551615", u64::MAX), part(0, u64::MAX));
        assert_eq!(p("bytes=-18446744073709551615", 100), part(0, 100));
    }

    #[test]
    fn numbers_beyond_u64() {
        let huge = "99999999999999999999999999"; // > u64::MAX
        assert_eq!(p(&format!("bytes=0-{huge}"), 100), part(0, 100));
        assert_eq!(p(&format!("bytes=10-{huge}"), u64::MAX), part(10, u64::MAX));
        assert_eq!(p(&format!("bytes=-{huge}"), 100), part(0, 100));
        assert_eq!(p(&format!("bytes={huge}-"), 100), ByteRange::Unsatisfiable);
        assert_eq!(p(&format!("bytes={huge}-"), u64::MAX), ByteRange::Unsatisfiable);
        assert_eq!(p(&format!("bytes={huge}-{huge}9"), u64::MAX), ByteRange::Unsatisfiable);
        // Both beyond u64 and last < first: still invalid, compared exactly.
        assert_eq!(p(&format!("bytes={huge}9-{huge}"), u64::MAX), ByteRange::Whole);
        assert_eq!(p(&format!("bytes=00{huge}-{huge}"), 100), ByteRange::Unsatisfiable);
    }

    #[test]
    fn empty_representation() {
        assert_eq!(parse_range(None, 0), ByteRange::Whole);
        assert_eq!(p("bytes=0-", 0), ByteRange::Unsatisfiable);
        assert_eq!(p("bytes=0-0", 0), ByteRange::Unsatisfiable);
        assert_eq!(p("bytes=0-18446744073709551615", 0), ByteRange::Unsatisfiable);
        assert_eq!(p("bytes=-0", 0), ByteRange::Unsatisfiable);
        // Satisfiable but empty: the whole (empty) body with 200.
        assert_eq!(p("bytes=-5", 0), ByteRange::Whole);
    }

    #[test]
    fn whitespace() {
        assert_eq!(p("  bytes=0-9 \t", 100), part(0, 10));
        assert_eq!(p("bytes= 0-9", 100), part(0, 10));
        assert_eq!(p("bytes=0-9 , ", 100), part(0, 10));
        assert_eq!(p("bytes=,,0-9,", 100), part(0, 10));
        // Not allowed inside a range-spec or around `=`.
        assert_eq!(p("bytes=0 -9", 100), ByteRange::Whole);
        assert_eq!(p("bytes=0- 9", 100), ByteRange::Whole);
        assert_eq!(p("bytes =0-9", 100), ByteRange::Whole);
        assert_eq!(p("bytes=- 5", 100), ByteRange::Whole);
        assert_eq!(p("bytes=\n0-9", 100), ByteRange::Whole);
    }

    #[test]
    fn ignored() {
        assert_eq!(p("", 100), ByteRange::Whole);
        assert_eq!(p("bytes=", 100), ByteRange::Whole);
        assert_eq!(p("bytes=,", 100), ByteRange::Whole);
        assert_eq!(p("bytes", 100), ByteRange::Whole);
        assert_eq!(p("bytes=5", 100), ByteRange::Whole);
        assert_eq!(p("bytes=0-1,5-6", 100), ByteRange::Whole);
        assert_eq!(p("bytes=0-1, 200-300", 100), ByteRange::Whole);
        assert_eq!(p("items=0-1", 100), ByteRange::Whole);
        assert_eq!(p("bytes=1-2-3", 100), ByteRange::Whole);
        assert_eq!(p("bytes=+1-2", 100), ByteRange::Whole);
        assert_eq!(p("bytes=1-+2", 100), ByteRange::Whole);
        assert_eq!(p("bytes=-+2", 100), ByteRange::Whole);
        assert_eq!(p("bytes=a-b", 100), ByteRange::Whole);
        assert_eq!(p("bytes=١-٢", 100), ByteRange::Whole); // non-ASCII digits
        assert_eq!(p("bytes=0x10-", 100), ByteRange::Whole);
        // The unit is case-insensitive (RFC 9110, section 14.1).
        assert_eq!(p("Bytes=0-9", 100), part(0, 10));
        assert_eq!(p("BYTES=-1", 100), part(99, 100));
    }

    #[test]
    fn content_range_values() {
        assert_eq!(content_range(0, 10, 100), "bytes 0-9/100");
        assert_eq!(content_range(99, 100, 100), "bytes 99-99/100");
        assert_eq!(content_range(0, u64::MAX, u64::MAX), "bytes 0-18446744073709551614/18446744073709551615");
        assert_eq!(content_range_unsatisfied(100), "bytes */100");
        assert_eq!(content_range_unsatisfied(0), "bytes */0");
    }
}

//! Dutch citizen service number (burgerservicenummer, BSN).
//!
//! Nine digits that pass the 11-proof (elfproef) of the Wet algemene
//! bepalingen burgerservicenummer: `9·d1 + 8·d2 + … + 2·d8 − 1·d9 ≡ 0 (mod 11)`.
//! Numbers issued before 2007 (sofinummers) can have a leading zero that is
//! often left out, so eight digits are read with a leading zero, as
//! Microsoft Purview does ("eight or nine digits").
//!
//! Shapes: `123456782`, `123 456 782` / `123.456.782` / `123-456-782`,
//! `1234.56.782` (the way the Belastingdienst prints it), and for eight
//! digits `12345678` and `123 456 78`. Not after a group of one to four
//! digits joined by a separator: that is the rest of a longer number, most
//! often a phone number (`+31 612345678`, `06-12345678`).
//!
//! Confidence: nine digits Medium, eight digits Low (one in eleven random
//! eight-digit numbers, such as dates written `20240115`, pass), High with a
//! supporting keyword (Purview's `Keywords_netherlands_eu_national_id_card`,
//! single words) within 300 characters.

use super::{DIGIT_SEPARATORS, Detected, Detector, Group, digit_groups};
use crate::document::{Confidence, DetectorKind};

/// The BSN detector.
pub struct Bsn;

impl Detector for Bsn {
    const KIND: DetectorKind = DetectorKind::Bsn;
    const KEYWORDS: &'static [&'static str] = &[
        "bsn",
        "burgerservicenummer",
        "sofinummer",
        "sofi",
        "persoonsnummer",
        "persoonsgebonden",
        "burgerservicenr",
        "bsnnummer",
        "citizen",
        "identificatienummer",
        "identiteitsnummer",
    ];

    fn detect(groups: &[Group<'_>]) -> Option<Detected> {
        let first = groups.get(1)?;
        if !first.is_digits() {
            return None;
        }
        if matches!(first.text.len(), 8 | 9) {
            // After a short group of digits it is the rest of a longer
            // number, such as a phone number: +31 612345678, 06 12345678.
            let prefix = groups[0].is_digits() && groups[0].text.len() <= 4 && first.sep != 0;
            return (!prefix && is_valid(first.text))
                .then(|| Detected { groups: 1, confidence: confidence(first.text.len()) });
        }
        for shape in [&[3, 3, 3][..], &[4, 2, 3], &[3, 3, 2]] {
            if let Some(digits) = digit_groups(groups, shape, DIGIT_SEPARATORS) {
                let digits = digits.as_bytes();
                return is_valid(digits)
                    .then(|| Detected { groups: shape.len(), confidence: confidence(digits.len()) });
            }
        }
        None
    }
}

fn confidence(digits: usize) -> Confidence {
    if digits == 9 { Confidence::Medium } else { Confidence::Low }
}

/// Whether eight or nine ASCII digits pass the 11-proof (eight digits are
/// read with a leading zero). All zeros is not a BSN.
pub fn is_valid(digits: &[u8]) -> bool {
    if !(8..=9).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) || digits.iter().all(|&d| d == b'0') {
        return false;
    }
    let weights: &[i32] = &[9, 8, 7, 6, 5, 4, 3, 2, -1];
    let weights = &weights[9 - digits.len()..];
    let sum: i32 = digits.iter().zip(weights).map(|(&d, &w)| i32::from(d - b'0') * w).sum();
    sum % 11 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::groups_of;

    fn found(text: &'static str) -> Option<(usize, Confidence)> {
        Bsn::detect(&groups_of(text)).map(|d| (d.groups, d.confidence))
    }

    #[test]
    fn eleven_proof() {
        assert!(is_valid(b"123456782"));
        assert!(is_valid(b"111222333"));
        assert!(!is_valid(b"123456783"), "one digit off");
        assert!(!is_valid(b"123456789"));
        assert!(!is_valid(b"000000000"));
        assert!(!is_valid(b"12345678a"));
        // Eight digits are read with a leading zero: 012345672.
        assert!(is_valid(b"12345672"));
        assert!(is_valid(b"012345672"));
    }

    #[test]
    fn shapes() {
        assert_eq!(found("123456782"), Some((1, Confidence::Medium)));
        assert_eq!(found("123 456 782"), Some((3, Confidence::Medium)));
        assert_eq!(found("123.456.782"), Some((3, Confidence::Medium)));
        assert_eq!(found("1234.56.782"), Some((3, Confidence::Medium)));
        assert_eq!(found("12345672"), Some((1, Confidence::Low)));
        assert_eq!(found("123 456 72"), Some((3, Confidence::Low)));
        assert_eq!(found("123 456.782"), None, "mixed separators");
        assert_eq!(found("123 456 782 1"), None, "part of a longer number");
        assert_eq!(found("1234567820"), None);
        assert_eq!(found("612345671"), Some((1, Confidence::Medium)));
        assert_eq!(found("+31 612345671"), None, "a phone number");
        assert_eq!(found("06-12345672"), None, "a phone number");
        assert_eq!(found("123456782 111222333").map(|d| d.0), Some(1), "a list of numbers");
    }
}

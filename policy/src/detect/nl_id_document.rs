//! Dutch passport and identity card numbers (documentnummer).
//!
//! Nine characters as printed on the document: two letters, six letters or
//! digits, and a digit; the letter O is never used (it reads as the digit 0),
//! so a number with an O is not one. The last digit is the check digit of
//! ICAO Doc 9303 part 3 §4.9 over the first eight characters: weights 7, 3, 1
//! repeating, digits at their value and letters `A`–`Z` as 10–35, sum
//! modulo 10. Only upper case is read (numbers are printed and copied that
//! way; lower case would mostly find ordinary words with a digit).
//!
//! Confidence: Low (one in ten strings of this shape passes the check), High
//! with a supporting keyword within 300 characters (Purview's
//! `Keywords_eu_passport_number` and the Dutch words; not `id`, which is in
//! too many technical messages to support so weak a shape).

use super::{Detected, Detector, Group};
use crate::document::{Confidence, DetectorKind};

/// The Dutch ID document detector.
pub struct NlIdDocument;

impl Detector for NlIdDocument {
    const KIND: DetectorKind = DetectorKind::NlIdDocument;
    const KEYWORDS: &'static [&'static str] = &[
        "paspoort",
        "paspoortnummer",
        "passport",
        "passports",
        "passportno",
        "passportnumber",
        "identiteitskaart",
        "identiteitsbewijs",
        "identiteitskaartnummer",
        "idkaart",
        "documentnummer",
        "documentnr",
        "reisdocument",
    ];

    fn detect(groups: &[Group<'_>]) -> Option<Detected> {
        let first = groups.get(1)?;
        is_valid(first.text).then_some(Detected { groups: 1, confidence: Confidence::Low })
    }
}

/// Whether nine ASCII characters are a Dutch document number: shape, no O,
/// and the ICAO 9303 check digit.
pub fn is_valid(number: &[u8]) -> bool {
    let [a, b, middle @ .., check] = number else { return false };
    let letter = |c: &u8| c.is_ascii_uppercase() && *c != b'O';
    let shape = number.len() == 9
        && letter(a)
        && letter(b)
        && middle.iter().all(|c| c.is_ascii_digit() || letter(c))
        && check.is_ascii_digit();
    shape && check_digit(&number[..8]) == check - b'0'
}

/// The ICAO 9303 check digit of ASCII digits, upper-case letters and the
/// filler `<` (which counts 0).
pub fn check_digit(chars: &[u8]) -> u8 {
    let sum: u32 = chars
        .iter()
        .zip([7, 3, 1].iter().cycle())
        .map(|(&c, &w)| {
            w * match c {
                b'0'..=b'9' => u32::from(c - b'0'),
                b'A'..=b'Z' => u32::from(c - b'A') + 10,
                _ => 0,
            }
        })
        .sum();
    (sum % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit_and_shape() {
        assert!(is_valid(b"XR1001R58"));
        assert!(!is_valid(b"XR1001R57"), "check digit off by one");
        assert!(!is_valid(b"xr1001r58"), "lower case");
        assert!(!is_valid(b"XR1001R5"), "eight characters");
        assert!(!is_valid(b"1R1001R58"), "starts with a digit");
        // ICAO 9303 part 4's example passport: document number L898902C<, check digit 3.
        assert_eq!(check_digit(b"L898902C<"), 3);
    }

    #[test]
    fn letter_o_is_never_used() {
        // Same weights and value as XR1001R58 with the digit 0 replaced by the letter O would
        // need a different check digit anyway; make one that passes the sum and still refuse it.
        let with_o = b"XRO001R5";
        let check = check_digit(with_o);
        let mut number = with_o.to_vec();
        number.push(b'0' + check);
        assert!(!is_valid(&number));
    }
}

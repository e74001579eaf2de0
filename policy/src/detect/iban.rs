//! International bank account number (IBAN), ISO 13616.
//!
//! Two letters (ISO 3166-1 country code), two check digits and the national
//! account number (BBAN), with the length the IBAN registry (SWIFT, ISO
//! 13616-2) fixes for the country. Valid when the number read with its first
//! four characters moved to the end and letters as 10 (`A`) to 35 (`Z`) is 1
//! modulo 97 (ISO 7064 MOD 97-10).
//!
//! Shapes: contiguous (`NL91ABNA0417164300`) or in groups of four separated
//! by single spaces, the last group shorter (`NL91 ABNA 0417 1643 00`), the
//! way ISO 13616-1 prints it; either case.
//!
//! Confidence: Medium, High with a supporting keyword within 300 characters.

use super::{Compact, Detected, Detector, Group};
use crate::document::{Confidence, DetectorKind};

/// The IBAN detector.
pub struct Iban;

impl Detector for Iban {
    const KIND: DetectorKind = DetectorKind::Iban;
    const KEYWORDS: &'static [&'static str] = &[
        "iban",
        "rekening",
        "rekeningnummer",
        "rekeningnr",
        "bankrekening",
        "bankrekeningnummer",
        "bank",
        "account",
        "bic",
        "swift",
        "overmaken",
        "betalen",
    ];

    fn detect(groups: &[Group<'_>]) -> Option<Detected> {
        let first = groups.get(1)?;
        let len = country_length(first.text.get(..2)?)?;
        if first.text.len() < 4 || !first.text[2..4].iter().all(u8::is_ascii_digit) {
            return None;
        }
        if first.text.len() == len {
            return is_valid(first.text).then_some(Detected { groups: 1, confidence: Confidence::Medium });
        }
        if first.text.len() != 4 {
            return None;
        }
        let mut iban = Compact::new();
        for (i, group) in groups[1..].iter().enumerate() {
            let rest = len - iban.as_bytes().len();
            if (i > 0 && group.sep != b' ') || group.text.len() != rest.min(4) || !iban.push(group.text) {
                return None;
            }
            if iban.as_bytes().len() == len {
                return is_valid(iban.as_bytes()).then_some(Detected { groups: i + 1, confidence: Confidence::Medium });
            }
        }
        None
    }
}

/// Whether `iban` (ASCII letters and digits, no spaces, either case) has its
/// country's length and passes MOD 97-10.
pub fn is_valid(iban: &[u8]) -> bool {
    if iban.len() < 5 || country_length(&iban[..2]) != Some(iban.len()) || !iban[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in iban[4..].iter().chain(&iban[..4]) {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' | b'a'..=b'z' => (rem * 100 + u32::from(c.to_ascii_uppercase() - b'A') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

/// The IBAN length for a country code (either case), from the IBAN registry.
pub fn country_length(code: &[u8]) -> Option<usize> {
    let code = [code.first()?.to_ascii_uppercase(), code.get(1)?.to_ascii_uppercase()];
    COUNTRIES.binary_search_by(|(c, _)| c.as_slice().cmp(&code[..])).ok().map(|i| usize::from(COUNTRIES[i].1))
}

/// Country code and IBAN length, sorted by code: every SEPA country and the
/// other countries of the IBAN registry.
const COUNTRIES: &[([u8; 2], u8)] = &[
    (*b"AD", 24),
    (*b"AE", 23),
    (*b"AL", 28),
    (*b"AT", 20),
    (*b"AZ", 28),
    (*b"BA", 20),
    (*b"BE", 16),
    (*b"BG", 22),
    (*b"BH", 22),
    (*b"BI", 27),
    (*b"BR", 29),
    (*b"BY", 28),
    (*b"CH", 21),
    (*b"CR", 22),
    (*b"CY", 28),
    (*b"CZ", 24),
    (*b"DE", 22),
    (*b"DJ", 27),
    (*b"DK", 18),
    (*b"DO", 28),
    (*b"EE", 20),
    (*b"EG", 29),
    (*b"ES", 24),
    (*b"FI", 18),
    (*b"FK", 18),
    (*b"FO", 18),
    (*b"FR", 27),
    (*b"GB", 22),
    (*b"GE", 22),
    (*b"GI", 23),
    (*b"GL", 18),
    (*b"GR", 27),
    (*b"GT", 28),
    (*b"HN", 28),
    (*b"HR", 21),
    (*b"HU", 28),
    (*b"IE", 22),
    (*b"IL", 23),
    (*b"IQ", 23),
    (*b"IS", 26),
    (*b"IT", 27),
    (*b"JO", 30),
    (*b"KW", 30),
    (*b"KZ", 20),
    (*b"LB", 28),
    (*b"LC", 32),
    (*b"LI", 21),
    (*b"LT", 20),
    (*b"LU", 20),
    (*b"LV", 21),
    (*b"LY", 25),
    (*b"MC", 27),
    (*b"MD", 24),
    (*b"ME", 22),
    (*b"MK", 19),
    (*b"MN", 20),
    (*b"MR", 27),
    (*b"MT", 31),
    (*b"MU", 30),
    (*b"NI", 28),
    (*b"NL", 18),
    (*b"NO", 15),
    (*b"OM", 23),
    (*b"PK", 24),
    (*b"PL", 28),
    (*b"PS", 29),
    (*b"PT", 25),
    (*b"QA", 29),
    (*b"RO", 24),
    (*b"RS", 22),
    (*b"RU", 33),
    (*b"SA", 24),
    (*b"SC", 31),
    (*b"SD", 18),
    (*b"SE", 24),
    (*b"SI", 19),
    (*b"SK", 24),
    (*b"SM", 27),
    (*b"SO", 23),
    (*b"ST", 25),
    (*b"SV", 28),
    (*b"TL", 23),
    (*b"TN", 24),
    (*b"TR", 26),
    (*b"UA", 29),
    (*b"VA", 22),
    (*b"VG", 24),
    (*b"XK", 20),
    (*b"YE", 30),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::groups_of;

    fn found(text: &'static str) -> Option<usize> {
        Iban::detect(&groups_of(text)).map(|d| d.groups)
    }

    #[test]
    fn registry_is_sorted() {
        assert!(COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn mod_97() {
        assert!(is_valid(b"NL91ABNA0417164300"));
        assert!(is_valid(b"nl91abna0417164300"));
        assert!(is_valid(b"DE89370400440532013000"));
        assert!(is_valid(b"GB29NWBK60161331926819"));
        assert!(is_valid(b"BE71096123456769"));
        assert!(is_valid(b"FR1420041010050500013M02606"));
        assert!(is_valid(b"NO9386011117947"));
        assert!(!is_valid(b"NL91ABNA0417164301"), "one digit off");
        assert!(!is_valid(b"NL91ABNA04171643000"), "too long for NL");
        assert!(!is_valid(b"XX91ABNA0417164300"), "no such country");
    }

    #[test]
    fn shapes() {
        assert_eq!(found("NL91ABNA0417164300"), Some(1));
        assert_eq!(found("NL91 ABNA 0417 1643 00"), Some(5));
        assert_eq!(found("nl91 abna 0417 1643 00"), Some(5));
        assert_eq!(found("DE89 3704 0044 0532 0130 00"), Some(6));
        assert_eq!(found("NL91 ABNA 0417 1643"), None, "too short");
        assert_eq!(found("NL91-ABNA-0417-1643-00"), None, "dashes");
        assert_eq!(found("NL91 ABNA0417 1643 00"), None);
    }
}

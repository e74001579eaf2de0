//! Payment card numbers (primary account numbers, ISO/IEC 7812).
//!
//! A number is a card number when its issuer identification number (the
//! leading digits) belongs to a card scheme, its length is one that scheme
//! issues, and it passes the Luhn check (ISO/IEC 7812-1 annex B). A number
//! that passes Luhn but has no scheme's prefix (`1234 5678 1234 5670`) is not
//! reported.
//!
//! Schemes: Visa (4; 13, 16, 19 digits), Mastercard (51–55 and 2221–2720;
//! 16), American Express (34, 37; 15), Discover (6011, 644–649, 65; 16–19),
//! UnionPay (62; 16–19), JCB (3528–3589; 16–19), Diners Club (300–305,
//! 3095, 36, 38, 39; 14–19), Mir (2200–2204; 16–19), Maestro (50, 56–58,
//! 6304, 6759, 6761–6763; 12–19).
//!
//! Shapes: contiguous, or groups of four joined by single spaces or dashes
//! with a shorter last group (`4111 1111 1111 1111`, `6759-6498-2643-8453-3`),
//! or four-six-five / four-six-four (`3782 822463 10005`, American Express and
//! Diners Club).
//!
//! Confidence: Medium, High with a supporting keyword within 300 characters.

use super::{Compact, Detected, Detector, Group, digit_groups, isolated};
use crate::document::{Confidence, DetectorKind};

/// The payment card detector.
pub struct PaymentCard;

impl Detector for PaymentCard {
    const KIND: DetectorKind = DetectorKind::PaymentCard;
    const KEYWORDS: &'static [&'static str] = &[
        "card",
        "cards",
        "creditcard",
        "creditcardnummer",
        "kaartnummer",
        "cardnumber",
        "betaalkaart",
        "betaalpas",
        "pinpas",
        "debitcard",
        "visa",
        "mastercard",
        "amex",
        "maestro",
        "discover",
        "jcb",
        "diners",
        "cvv",
        "cvc",
        "vervaldatum",
        "expiry",
        "exp",
    ];

    fn detect(groups: &[Group<'_>]) -> Option<Detected> {
        let first = groups.get(1)?;
        if !first.is_digits() {
            return None;
        }
        if (12..=19).contains(&first.text.len()) {
            return is_valid(first.text).then_some(Detected { groups: 1, confidence: Confidence::Medium });
        }
        if first.text.len() != 4 {
            return None;
        }
        for shape in [&[4, 6, 5][..], &[4, 6, 4]] {
            if let Some(digits) = digit_groups(groups, shape, b" -") {
                return is_valid(digits.as_bytes()).then_some(Detected { groups: 3, confidence: Confidence::Medium });
            }
        }
        let sep = groups.get(2)?.sep;
        if sep != b' ' && sep != b'-' {
            return None;
        }
        let mut digits = Compact::new();
        let mut n = 0;
        for group in &groups[1..] {
            if !group.is_digits()
                || (n > 0 && group.sep != sep)
                || group.text.len() > 4
                || digits.as_bytes().len() + group.text.len() > 19
            {
                break;
            }
            digits.push(group.text);
            n += 1;
            if group.text.len() < 4 {
                break;
            }
        }
        let valid = n >= 3 && isolated(groups, n, sep) && is_valid(digits.as_bytes());
        valid.then_some(Detected { groups: n, confidence: Confidence::Medium })
    }
}

/// Whether ASCII digits are a card number: a scheme's prefix and length, and Luhn.
pub fn is_valid(digits: &[u8]) -> bool {
    digits.iter().all(u8::is_ascii_digit) && scheme(digits).is_some() && luhn(digits)
}

/// The Luhn check (ISO/IEC 7812-1 annex B) over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 0 {
                d
            } else if d > 4 {
                d * 2 - 9
            } else {
                d * 2
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// The card scheme whose prefix and length the digits have.
fn scheme(d: &[u8]) -> Option<&'static str> {
    let prefix = |k: usize| d.get(..k).map(|p| p.iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0')));
    let (p2, p3, p4) = (prefix(2)?, prefix(3)?, prefix(4)?);
    let len = d.len();
    let lengths = |r: std::ops::RangeInclusive<usize>| r.contains(&len);
    let schemes: [(&str, bool); 9] = [
        ("visa", d[0] == b'4' && matches!(len, 13 | 16 | 19)),
        ("mastercard", ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16),
        ("amex", matches!(p2, 34 | 37) && len == 15),
        ("discover", (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65) && lengths(16..=19)),
        ("unionpay", p2 == 62 && lengths(16..=19)),
        ("jcb", (3528..=3589).contains(&p4) && lengths(16..=19)),
        ("diners", ((300..=305).contains(&p3) || p4 == 3095 || matches!(p2, 36 | 38 | 39)) && lengths(14..=19)),
        ("mir", (2200..=2204).contains(&p4) && lengths(16..=19)),
        (
            "maestro",
            (p2 == 50 || (56..=58).contains(&p2) || matches!(p4, 6304 | 6759 | 6761..=6763)) && lengths(12..=19),
        ),
    ];
    schemes.iter().find(|(_, ok)| *ok).map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::groups_of;

    fn found(text: &'static str) -> Option<usize> {
        PaymentCard::detect(&groups_of(text)).map(|d| d.groups)
    }

    #[test]
    fn schemes_and_luhn() {
        for n in [
            "4111111111111111", // Visa
            "4222222222222",    // Visa, 13 digits
            "5555555555554444", // Mastercard
            "2223003122003222", // Mastercard 2-series
            "378282246310005",  // American Express
            "6011111111111117", // Discover
            "3530111333300000", // JCB
            "36227206271667",   // Diners Club, 14 digits
            "6759649826438453", // Maestro
            "6200000000000005", // UnionPay
        ] {
            assert!(is_valid(n.as_bytes()), "{n}");
        }
        assert!(luhn(b"1234567812345670"));
        assert!(!is_valid(b"1234567812345670"), "Luhn-valid, no scheme");
        assert!(!is_valid(b"4111111111111112"), "Luhn fails");
        assert!(!is_valid(b"411111111111111"), "Visa has no 15-digit numbers");
        assert!(!is_valid(b"2721000000000004"), "past the Mastercard 2-series");
    }

    #[test]
    fn shapes() {
        assert_eq!(found("4111111111111111"), Some(1));
        assert_eq!(found("4111 1111 1111 1111"), Some(4));
        assert_eq!(found("4111-1111-1111-1111"), Some(4));
        assert_eq!(found("3782 822463 10005"), Some(3));
        assert_eq!(found("6759 6498 2643 8453"), Some(4));
        assert_eq!(found("4111 1111-1111 1111"), None, "mixed separators");
        assert_eq!(found("4111 1111 1111 1111 1111"), None, "part of a longer number");
        assert_eq!(found("4111.1111.1111.1111"), None, "dots");
    }
}

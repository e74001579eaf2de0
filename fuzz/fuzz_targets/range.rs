//! Arbitrary `Range` header text against a representation length taken from
//! the first eight input bytes. Must never panic; a part is always
//! non-empty and inside the representation, and is what a reference
//! evaluation with 128-bit arithmetic gives for `bytes=<a>-<b>` headers.
#![no_main]

use kluis_protocol::range::{ByteRange, content_range, parse_range};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<8>() else { return };
    // Mostly small lengths, sometimes any u64.
    let len = u64::from_le_bytes(*len);
    let len = if len & 1 == 0 { len >> 1 } else { (len >> 1) % 4096 };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let header = (!text.starts_with('!')).then_some(text);
    let got = parse_range(header, len);
    match got {
        ByteRange::Whole => {}
        ByteRange::Part { start, end } => {
            assert!(start < end && end <= len, "{header:?} / {len}: {got:?}");
            let value = content_range(start, end, len);
            assert_eq!(value, format!("bytes {start}-{}/{len}", end - 1));
        }
        ByteRange::Unsatisfiable => assert!(header.is_some()),
    }
    if header.is_none() {
        assert_eq!(got, ByteRange::Whole);
    }
    if let Some(expected) = header.and_then(|h| reference(h, len)) {
        assert_eq!(got, expected, "{header:?} / {len}");
    }
});

/// RFC 9110 section 14.1.2 for the plain forms `bytes=a-b`, `bytes=a-` and
/// `bytes=-n` (no whitespace, digits up to 38 long), computed in u128.
fn reference(header: &str, len: u64) -> Option<ByteRange> {
    let spec = header.strip_prefix("bytes=")?;
    let (first, last) = spec.split_once('-')?;
    let number = |s: &str| -> Option<u128> {
        (!s.is_empty() && s.len() <= 38 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().unwrap())
    };
    let len128 = u128::from(len);
    let (start, end) = match (first.is_empty(), last.is_empty()) {
        (true, true) => return Some(ByteRange::Whole),
        (true, false) => {
            let n = number(last)?;
            if n == 0 {
                return Some(ByteRange::Unsatisfiable);
            }
            if len == 0 {
                return Some(ByteRange::Whole);
            }
            (len128.saturating_sub(n), len128)
        }
        (false, true) => (number(first)?, len128),
        (false, false) => {
            let (a, b) = (number(first)?, number(last)?);
            if b < a {
                return Some(ByteRange::Whole);
            }
            (a, (b + 1).min(len128))
        }
    };
    if start >= len128 {
        return Some(ByteRange::Unsatisfiable);
    }
    Some(ByteRange::Part { start: start as u64, end: end as u64 })
}

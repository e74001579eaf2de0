//! Keys as text (c2sp.org/age, "Conventions used in this document"): "Bech32
//! is as specified in BIP173, but without length limits on the data part".
//!
//! The `bech32` crate enforces BIP173's 90-character limit, or 1023 with its
//! [`Bech32`] checksum; a post-quantum recipient is about 1,950 characters.
//! [`Bech32Long`] is the same code (generator, residue) with no practical
//! length limit, so every key type shares one decoder.

use bech32::primitives::checksum::Checksum;
use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32, Fe1024, Hrp};
use zeroize::Zeroizing;

use crate::x25519::ParseKeyError;

/// BIP173's Bech32 checksum without its length limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Bech32Long {}

impl Checksum for Bech32Long {
    type MidstateRepr = u32;
    type CorrectionField = Fe1024;
    const ROOT_GENERATOR: Self::CorrectionField = Bech32::ROOT_GENERATOR;
    const ROOT_EXPONENTS: core::ops::RangeInclusive<usize> = Bech32::ROOT_EXPONENTS;
    // Long enough for any key this crate encodes; the checksum still detects
    // every error Bech32 detects within 1023 characters, and most beyond.
    const CODE_LENGTH: usize = 4096;
    const CHECKSUM_LENGTH: usize = Bech32::CHECKSUM_LENGTH;
    const GENERATOR_SH: [u32; 5] = Bech32::GENERATOR_SH;
    const TARGET_RESIDUE: u32 = Bech32::TARGET_RESIDUE;
}

/// Decodes a Bech32 key with the given HRP into exactly `N` bytes, accepting
/// only the canonical encoding (so each key has one spelling per case).
/// `expected` names the prefix in the error, e.g. `age1`.
pub(crate) fn decode<const N: usize>(
    s: &str,
    hrp: &str,
    expected: &'static str,
) -> Result<Zeroizing<[u8; N]>, ParseKeyError> {
    let parsed = CheckedHrpstring::new::<Bech32Long>(s).map_err(|_| ParseKeyError::Encoding)?;
    if !parsed.hrp().as_str().eq_ignore_ascii_case(hrp) {
        return Err(ParseKeyError::WrongPrefix { expected });
    }
    let bytes = Zeroizing::new(parsed.byte_iter().collect::<Vec<u8>>());
    let mut key = Zeroizing::new([0u8; N]);
    if bytes.len() != N {
        return Err(ParseKeyError::Length);
    }
    key.copy_from_slice(&bytes);
    // Reject non-zero padding bits: the canonical re-encoding must match.
    let canonical = Zeroizing::new(encode(hrp, key.as_ref()));
    if !canonical.eq_ignore_ascii_case(s) {
        return Err(ParseKeyError::Encoding);
    }
    Ok(key)
}

/// Encodes `key` as lower-case Bech32 with the given HRP.
pub(crate) fn encode(hrp: &str, key: &[u8]) -> String {
    let hrp = Hrp::parse(hrp).expect("constant HRP is valid");
    bech32::encode::<Bech32Long>(hrp, key).expect("keys fit in Bech32Long")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_encode_as_plain_bech32() {
        // The long variant changes nothing for keys within BIP173's limits.
        let hrp = Hrp::parse("age").unwrap();
        assert_eq!(encode("age", &[7; 32]), bech32::encode::<Bech32>(hrp, &[7; 32]).unwrap());
    }

    #[test]
    fn long_keys_round_trip() {
        let key = [0xa5u8; 1216];
        let text = encode("age1pq", &key);
        assert!(text.len() > 1023);
        assert_eq!(*decode::<1216>(&text, "age1pq", "age1pq1").unwrap(), key);
        assert_eq!(decode::<32>(&text, "age1pq", "age1pq1"), Err(ParseKeyError::Length));
    }
}

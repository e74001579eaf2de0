//! The tus 1.0.0 `Upload-Metadata` header (tus resumable upload protocol
//! 1.0.0, Creation extension, section "Upload-Metadata";
//! <https://tus.io/protocols/resumable-upload#upload-metadata>):
//!
//! > The Upload-Metadata request and response header MUST consist of one or
//! > more comma-separated key-value pairs. The key and value MUST be
//! > separated by a space. The key MUST NOT contain spaces and commas and
//! > MUST NOT be empty. The key SHOULD be ASCII encoded and the value MUST be
//! > Base64 encoded. All keys MUST be unique. The value MAY be empty. In
//! > these cases, the space, which would normally separate the key and the
//! > value, MAY be left out.
//!
//! Kluis sends `package` and `blob` in it when creating an upload. The
//! header is untrusted input to the server, so parsing is bounded:
//! [`MAX_HEADER_LEN`] bytes and [`MAX_PAIRS`] pairs.

use std::fmt;

/// Longest `Upload-Metadata` value accepted, in bytes.
pub const MAX_HEADER_LEN: usize = 4096;
/// Most key-value pairs accepted.
pub const MAX_PAIRS: usize = 32;

/// Parsed `Upload-Metadata`: unique keys with their decoded values, in the
/// order they were sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pairs: Vec<(String, Vec<u8>)>,
}

impl Metadata {
    /// The decoded value of `key` (keys are case-sensitive); empty if the
    /// key was sent without a value.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }

    /// The value of `key` as text; `None` if absent or not UTF-8.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// All pairs, in the order they were sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// No pairs at all.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Why an `Upload-Metadata` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// Longer than [`MAX_HEADER_LEN`] bytes.
    TooLong {
        /// Its length.
        len: usize,
    },
    /// More than [`MAX_PAIRS`] pairs.
    TooManyPairs,
    /// The key of the pair at this position (from 0) is not printable
    /// ASCII without spaces and commas.
    BadKey {
        /// Position of the pair, from 0.
        pair: usize,
    },
    /// The value of this key is not canonical, padded standard base64
    /// (RFC 4648, section 4).
    BadBase64 {
        /// The key.
        key: String,
    },
    /// This key appears more than once.
    DuplicateKey {
        /// The key.
        key: String,
    },
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::TooLong { len } => {
                write!(f, "Upload-Metadata is {len} bytes long; at most {MAX_HEADER_LEN} are accepted")
            }
            MetadataError::TooManyPairs => {
                write!(f, "Upload-Metadata has more than {MAX_PAIRS} key-value pairs")
            }
            MetadataError::BadKey { pair } => {
                write!(f, "Upload-Metadata pair {} has an empty key or one that is not printable ASCII", pair + 1)
            }
            MetadataError::BadBase64 { key } => {
                write!(f, "the Upload-Metadata value of {key:?} is not standard base64 with padding")
            }
            MetadataError::DuplicateKey { key } => write!(f, "Upload-Metadata names {key:?} more than once"),
        }
    }
}
impl std::error::Error for MetadataError {}

/// Parses an `Upload-Metadata` value.
///
/// Pairs are separated by commas, with optional spaces or tabs around them;
/// empty pairs are skipped, and so an empty header gives empty metadata.
/// Within a pair the key ends at the first space; the value may be padded
/// with more spaces and may be missing (an empty value). Keys are compared
/// case-sensitively and must be unique; they are accepted when made of
/// printable ASCII (`!` to `~`), the tus spec's "SHOULD be ASCII" made a
/// rule. Values must be canonical standard base64 with `=` padding
/// (RFC 4648, section 4; padding required per section 3.2, non-zero
/// unused bits rejected per section 3.5).
pub fn parse_metadata(header: &str) -> Result<Metadata, MetadataError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(MetadataError::TooLong { len: header.len() });
    }
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    for (index, pair) in header.split(',').map(|p| p.trim_matches(is_ows)).filter(|p| !p.is_empty()).enumerate() {
        if index == MAX_PAIRS {
            return Err(MetadataError::TooManyPairs);
        }
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        if !is_key(key) {
            return Err(MetadataError::BadKey { pair: index });
        }
        let value = base64_decode(value.trim_matches(is_ows))
            .ok_or_else(|| MetadataError::BadBase64 { key: key.to_string() })?;
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(MetadataError::DuplicateKey { key: key.to_string() });
        }
        pairs.push((key.to_string(), value));
    }
    Ok(Metadata { pairs })
}

/// Writes an `Upload-Metadata` value: `key base64`, joined by commas, and
/// a bare `key` for an empty value (allowed by the spec, and safe from HTTP
/// stacks that trim a trailing space).
///
/// Keys must be non-empty printable ASCII without spaces and commas, unique,
/// and at most [`MAX_PAIRS`]; the result must fit in [`MAX_HEADER_LEN`] for
/// [`parse_metadata`] to accept it. Those are the caller's to keep.
pub fn encode_metadata(pairs: &[(&str, &[u8])]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        debug_assert!(is_key(key), "invalid Upload-Metadata key {key:?}");
        if i > 0 {
            out.push(',');
        }
        out.push_str(key);
        if !value.is_empty() {
            out.push(' ');
            base64_encode(value, &mut out);
        }
    }
    out
}

/// OWS = *( SP / HTAB ) (RFC 9110, section 5.6.3).
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Non-empty, printable ASCII, no space (excluded by the range) or comma.
fn is_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
}

fn sextet(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Strict standard base64: padded to a multiple of 4, `=` only at the end,
/// and the bits left over by padding all zero, so that every byte string
/// has exactly one encoding.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let quads = text.len() / 4;
    for (q, quad) in text.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && q + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | sextet(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let keep = 3 - pad;
        if bytes[keep..].iter().any(|&b| b != 0) {
            return None; // non-canonical: padding hides non-zero bits
        }
        out.extend_from_slice(&bytes[..keep]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kluis_upload() {
        let m = parse_metadata("package QUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==,blob MQ==").unwrap();
        assert_eq!(m.get_str("package"), Some("AAAAAAAAAAAAAAAAAAAAAA"));
        assert_eq!(m.get_str("blob"), Some("1"));
        assert_eq!(m.get("blob"), Some(&b"1"[..]));
        assert_eq!(m.get("Blob"), None);
        assert_eq!(m.get("missing"), None);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn spec_example_and_empty_values() {
        // The example from the tus spec.
        let m = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential").unwrap();
        assert_eq!(m.get_str("filename"), Some("world_domination_plan.pdf"));
        assert_eq!(m.get("is_confidential"), Some(&b""[..]));
        assert_eq!(parse_metadata("a ").unwrap().get("a"), Some(&b""[..]));
        assert!(parse_metadata("").unwrap().is_empty());
        assert!(parse_metadata(" , ,").unwrap().is_empty());
    }

    #[test]
    fn whitespace() {
        let m = parse_metadata(" a  YQ== ,\tb Yg==\t, c").unwrap();
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![("a", &b"a"[..]), ("b", &b"b"[..]), ("c", &b""[..])]);
        // A tab does not separate key and value.
        assert_eq!(parse_metadata("a\tYQ==").unwrap_err(), MetadataError::BadKey { pair: 0 });
        assert_eq!(parse_metadata("a YQ== Yg==").unwrap_err(), MetadataError::BadBase64 { key: "a".into() });
    }

    #[test]
    fn non_utf8_value() {
        let m = parse_metadata("k /w==").unwrap();
        assert_eq!(m.get("k"), Some(&[0xff][..]));
        assert_eq!(m.get_str("k"), None);
    }

    #[test]
    fn errors() {
        assert_eq!(parse_metadata("a YQ==,a Yg=="), Err(MetadataError::DuplicateKey { key: "a".into() }));
        assert_eq!(parse_metadata("a YQ==,é YQ=="), Err(MetadataError::BadKey { pair: 1 }));
        assert_eq!(parse_metadata("a\u{1}b YQ=="), Err(MetadataError::BadKey { pair: 0 }));
        // Anything printable is a key, even what looks like base64.
        assert_eq!(parse_metadata(" YQ==").unwrap().get("YQ=="), Some(&b""[..]));
        for bad in ["YQ", "YQ=", "YR==", "Y===", "YQ==YQ==", "=YQ=", "YQ-_", "YQ\u{e9}=", "YWJj\n"] {
            assert_eq!(
                parse_metadata(&format!("k {bad}")),
                Err(MetadataError::BadBase64 { key: "k".into() }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bounds() {
        let many: Vec<String> = (0..MAX_PAIRS).map(|i| format!("k{i}")).collect();
        assert_eq!(parse_metadata(&many.join(",")).unwrap().len(), MAX_PAIRS);
        let too_many = format!("{},x", many.join(","));
        assert_eq!(parse_metadata(&too_many), Err(MetadataError::TooManyPairs));
        let long = format!("k   {}", "A".repeat(MAX_HEADER_LEN - 4));
        assert_eq!(long.len(), MAX_HEADER_LEN);
        assert_eq!(parse_metadata(&long).unwrap().get("k").unwrap().len(), (MAX_HEADER_LEN - 4) / 4 * 3);
        let longer = format!("{long}AAAA");
        assert_eq!(parse_metadata(&longer), Err(MetadataError::TooLong { len: MAX_HEADER_LEN + 4 }));
        // Empty elements do not count as pairs.
        assert_eq!(parse_metadata(&",".repeat(MAX_HEADER_LEN)).unwrap().len(), 0);
    }

    #[test]
    fn round_trip() {
        let values: [&[u8]; 6] = [b"", b"f", b"fo", b"foo", b"foob", &[0, 255, 254, 1, 2]];
        let keys = ["a", "b", "c", "d", "e", "!~"];
        let pairs: Vec<(&str, &[u8])> = keys.iter().copied().zip(values.iter().copied()).collect();
        let text = encode_metadata(&pairs);
        assert_eq!(text, "a,b Zg==,c Zm8=,d Zm9v,e Zm9vYg==,!~ AP/+AQI=");
        let back = parse_metadata(&text).unwrap();
        assert_eq!(back.iter().collect::<Vec<_>>(), pairs);
        assert_eq!(encode_metadata(&[]), "");
        // Every length and byte value through the codec.
        let all: Vec<u8> = (0..=255).collect();
        for n in 0..all.len() {
            let text = encode_metadata(&[("k", &all[..n])]);
            assert_eq!(parse_metadata(&text).unwrap().get("k"), Some(&all[..n]));
        }
    }

    #[test]
    fn display() {
        assert_eq!(
            MetadataError::BadBase64 { key: "blob".into() }.to_string(),
            "the Upload-Metadata value of \"blob\" is not standard base64 with padding"
        );
        assert!(MetadataError::BadKey { pair: 0 }.to_string().contains("pair 1"));
    }
}

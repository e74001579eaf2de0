//! The age v1 header (c2sp.org/age, "Header"): version line, recipient
//! stanzas, MAC line, then the 16-byte payload nonce.
//!
//! Parsing is strict: every deviation from the ABNF of the spec, including
//! non-canonical base64, is a [`HeaderError`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::HeaderError;
use crate::keys::FileKey;
use crate::primitives::{hmac, hmac_verify};

/// Every age v1 file starts with this line.
pub(crate) const V1_LINE: &[u8] = b"age-encryption.org/v1\n";
/// Prefix shared by all age versions.
pub(crate) const VERSION_PREFIX: &[u8] = b"age-encryption.org/";
/// Length of the nonce that starts the payload.
pub const PAYLOAD_NONCE_LEN: usize = 16;
/// Longest header accepted (a header with thousands of recipients fits).
/// Bounds the memory a hostile input can make a decryptor use.
pub const MAX_HEADER_LEN: usize = 1 << 20;
/// Base64 columns per stanza body line.
const BODY_COLUMNS: usize = 64;

/// SHA-256 of everything in a binary age file before its payload: the header
/// through its MAC line and the 16-byte payload nonce.
///
/// It names one encryption of one file: the header holds a fresh random file
/// key's stanzas and a MAC keyed by that file key, and the payload key is
/// derived from the file key and the nonce, so no other payload authenticates
/// under it. Kluis's manifest binds each file to its blob with it instead of
/// hashing the whole plaintext a second time (docs/architecture.md §2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HeaderHash([u8; 32]);

impl HeaderHash {
    /// Length of [`Self::to_hex`].
    pub const HEX_LEN: usize = 64;
    /// All zeros: no file's hash, a placeholder of the right length.
    pub const ZERO: HeaderHash = HeaderHash([0; 32]);

    /// The hash of `prefix`, the first [`crate::Encryptor::header_len`] bytes of a file.
    pub fn of(prefix: &[u8]) -> HeaderHash {
        HeaderHash(Sha256::digest(prefix).into())
    }

    pub(crate) fn from_digest(digest: Sha256) -> HeaderHash {
        HeaderHash(digest.finalize().into())
    }

    /// Lower-case hex, as the manifest holds it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`Self::HEX_LEN`] hex digits (either case).
    pub fn from_hex(hex: &str) -> Option<HeaderHash> {
        if hex.len() != Self::HEX_LEN || !hex.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(HeaderHash(bytes))
    }

    /// Compares in constant time: the manifest that holds the hash is secret.
    pub fn matches(&self, other: &HeaderHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// One recipient stanza: `-> tag args...` and a binary body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza {
    /// The first argument: the recipient type, e.g. `X25519`.
    pub tag: String,
    /// The remaining arguments.
    pub args: Vec<String>,
    /// The decoded body.
    pub body: Vec<u8>,
}

/// Decodes canonical unpadded base64 as the spec requires everywhere outside armor.
pub(crate) fn decode_b64(s: &str) -> Option<Vec<u8>> {
    if s.ends_with('=') {
        return None;
    }
    STANDARD_NO_PAD.decode(s).ok()
}

/// Encodes unpadded base64.
pub(crate) fn encode_b64(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

/// A parsed header.
#[derive(Debug)]
pub(crate) struct Header {
    pub stanzas: Vec<Stanza>,
    /// Length of the bytes the MAC covers: up to and including `---`.
    mac_input_len: usize,
    mac: [u8; 32],
}

fn malformed(line: usize, reason: &'static str) -> HeaderError {
    HeaderError::Malformed { line, reason }
}

fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// VCHAR: visible ASCII, 0x21..=0x7E.
fn is_vchar(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

/// Checks the start of the input as soon as it arrives, so that a file that
/// is not age at all is rejected at once instead of being buffered.
pub(crate) fn check_prefix(start: &[u8]) -> Result<(), HeaderError> {
    let n = start.len().min(VERSION_PREFIX.len());
    if start[..n] != VERSION_PREFIX[..n] {
        return Err(HeaderError::NotAge);
    }
    Ok(())
}

/// Checks a complete first line (without its LF).
pub(crate) fn check_version_line(line: &[u8]) -> Result<(), HeaderError> {
    check_prefix(line)?;
    if line.len() < VERSION_PREFIX.len() {
        return Err(HeaderError::NotAge);
    }
    let version = &line[VERSION_PREFIX.len()..];
    if version == b"v1" {
        Ok(())
    } else if !version.is_empty() && version.iter().all(|&b| is_vchar(b)) {
        Err(HeaderError::UnsupportedVersion(String::from_utf8_lossy(version).into_owned()))
    } else {
        Err(malformed(1, "the version line is not valid"))
    }
}

impl Header {
    /// Parses `bytes`, which must be exactly one complete header ending with
    /// the MAC line's LF (see [`HeaderScanner`]).
    pub fn parse(bytes: &[u8]) -> Result<Header, HeaderError> {
        let mut lines = bytes.split_inclusive(|&b| b == b'\n').enumerate().map(|(i, l)| (i + 1, l));
        let mut offset = 0;
        let mut next = |offset: &mut usize| -> Result<(usize, &[u8]), HeaderError> {
            let (n, line) = lines.next().ok_or(HeaderError::Truncated)?;
            *offset += line.len();
            let line = line.strip_suffix(b"\n").ok_or(HeaderError::Truncated)?;
            Ok((n, line))
        };

        let (_, version) = next(&mut offset)?;
        check_version_line(version)?;

        let mut stanzas = Vec::new();
        loop {
            let line_start = offset;
            let (n, line) = next(&mut offset)?;
            if let Some(rest) = line.strip_prefix(b"---") {
                if stanzas.is_empty() {
                    return Err(malformed(n, "the header has no recipient stanzas"));
                }
                let encoded = rest.strip_prefix(b" ").ok_or(malformed(n, "expected a space after \"---\""))?;
                if encoded.len() != 43 || !encoded.iter().all(|&b| is_base64_char(b)) {
                    return Err(malformed(n, "the MAC is not 43 base64 characters"));
                }
                let mac = decode_b64(std::str::from_utf8(encoded).expect("base64 is ASCII"))
                    .and_then(|m| <[u8; 32]>::try_from(m).ok())
                    .ok_or(malformed(n, "the MAC is not canonical base64"))?;
                if offset != bytes.len() {
                    return Err(malformed(n, "data after the MAC line"));
                }
                return Ok(Header { stanzas, mac_input_len: line_start + 3, mac });
            }
            let args = line
                .strip_prefix(b"-> ")
                .ok_or(malformed(n, "expected a stanza (\"-> \") or the MAC line (\"--- \")"))?;
            let mut words = Vec::new();
            for word in args.split(|&b| b == b' ') {
                if word.is_empty() {
                    return Err(malformed(n, "a stanza argument is empty"));
                }
                if !word.iter().all(|&b| is_vchar(b)) {
                    return Err(malformed(n, "a stanza argument has a character that is not visible ASCII"));
                }
                words.push(String::from_utf8(word.to_vec()).expect("VCHAR is ASCII"));
            }
            let tag = words.remove(0);

            // Body: full 64-column lines, then one shorter (possibly empty) line.
            let mut encoded = String::new();
            loop {
                let (n, body_line) = next(&mut offset)?;
                if body_line.len() > BODY_COLUMNS {
                    return Err(malformed(n, "a stanza body line is longer than 64 columns"));
                }
                if !body_line.iter().all(|&b| is_base64_char(b)) {
                    return Err(malformed(n, "a stanza body has a character that is not base64"));
                }
                encoded.push_str(std::str::from_utf8(body_line).expect("base64 is ASCII"));
                if body_line.len() < BODY_COLUMNS {
                    break;
                }
            }
            let body = decode_b64(&encoded).ok_or(malformed(n, "a stanza body is not canonical base64"))?;
            stanzas.push(Stanza { tag, args: words, body });
        }
    }

    /// Verifies the header MAC in constant time.
    pub fn verify_mac(&self, bytes: &[u8], file_key: &FileKey) -> bool {
        hmac_verify(file_key.header_mac_key().as_ref(), &bytes[..self.mac_input_len], &self.mac)
    }

    /// Serialises stanzas into a header with its MAC (without the payload nonce).
    pub fn write(stanzas: &[Stanza], file_key: &FileKey) -> Vec<u8> {
        let mut out = V1_LINE.to_vec();
        for stanza in stanzas {
            out.extend_from_slice(b"-> ");
            out.extend_from_slice(stanza.tag.as_bytes());
            for arg in &stanza.args {
                out.push(b' ');
                out.extend_from_slice(arg.as_bytes());
            }
            out.push(b'\n');
            let encoded = encode_b64(&stanza.body);
            let mut rest = encoded.as_bytes();
            loop {
                let n = rest.len().min(BODY_COLUMNS);
                out.extend_from_slice(&rest[..n]);
                out.push(b'\n');
                rest = &rest[n..];
                // A body always ends with a line shorter than 64 columns, even if empty.
                if n < BODY_COLUMNS {
                    break;
                }
            }
        }
        out.extend_from_slice(b"---");
        let mac = hmac(file_key.header_mac_key().as_ref(), &out);
        out.push(b' ');
        out.extend_from_slice(encode_b64(&mac).as_bytes());
        out.push(b'\n');
        out
    }
}

/// The recipient stanzas of an age file (binary, or ASCII-armored as
/// c2sp.org/age "ASCII armor" describes), read without any identity: what the
/// file is encrypted to, by recipient type. The header MAC is not checked
/// (that needs the file key), so this tells the shape of a file, not that it
/// is intact. The payload is not read beyond the header.
pub fn read_stanzas(file: &[u8]) -> crate::Result<Vec<Stanza>> {
    let trimmed = file.trim_ascii_start();
    let binary;
    let bytes = if trimmed.starts_with(b"-----BEGIN") {
        let mut decoder = crate::armor::ArmorDecoder::new();
        let mut out = Vec::new();
        let mut at = 0;
        while at < file.len() {
            let taken = decoder.decode(&file[at..], &mut out, file.len())?;
            if taken == 0 {
                break;
            }
            at += taken;
        }
        decoder.finish()?;
        binary = out;
        &binary[..]
    } else {
        file
    };
    let mut scanner = HeaderScanner::default();
    let len = scanner.scan(bytes)?.ok_or(HeaderError::Truncated)?;
    Ok(Header::parse(&bytes[..len])?.stanzas)
}

/// Finds where a header ends in a stream of bytes without parsing it twice:
/// the first line after the version line that starts with `---` is the MAC
/// line (stanza lines start with `->`, body lines are base64, which has no `-`).
#[derive(Default)]
pub(crate) struct HeaderScanner {
    scanned: usize,
    line_start: usize,
    lines: usize,
}

impl HeaderScanner {
    /// Looks at the newly appended part of `buf`; returns the header length
    /// (through the MAC line's LF) once it is complete.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, HeaderError> {
        if self.lines == 0 {
            check_prefix(buf)?;
        }
        while let Some(pos) = buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + pos;
            let line = &buf[self.line_start..end];
            self.lines += 1;
            if self.lines == 1 {
                check_version_line(line)?;
            } else if line.starts_with(b"---") {
                return Ok(Some(end + 1));
            }
            self.scanned = end + 1;
            self.line_start = end + 1;
        }
        self.scanned = buf.len();
        if buf.len() > MAX_HEADER_LEN {
            return Err(HeaderError::TooLarge(MAX_HEADER_LEN));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(tag: &str, args: &[&str], body_len: usize) -> Stanza {
        Stanza { tag: tag.into(), args: args.iter().map(|s| s.to_string()).collect(), body: vec![0xab; body_len] }
    }

    #[test]
    fn write_then_parse() {
        let key = FileKey::from_bytes([1; 16]);
        // 48 bytes is exactly one full body line, so an empty final line follows.
        let stanzas = vec![stanza("X25519", &["abc"], 32), stanza("grease", &[], 48), stanza("x", &["a", "b"], 0)];
        let bytes = Header::write(&stanzas, &key);
        let mut scanner = HeaderScanner::default();
        assert_eq!(scanner.scan(&bytes).unwrap(), Some(bytes.len()));
        let header = Header::parse(&bytes).unwrap();
        assert_eq!(header.stanzas, stanzas);
        assert!(header.verify_mac(&bytes, &key));
        assert!(!header.verify_mac(&bytes, &FileKey::from_bytes([2; 16])));
    }

    #[test]
    fn rejects_non_age_input_early() {
        let mut scanner = HeaderScanner::default();
        assert_eq!(scanner.scan(b"PK\x03\x04"), Err(HeaderError::NotAge));
        let mut scanner = HeaderScanner::default();
        assert_eq!(scanner.scan(b"age-enc"), Ok(None));
        assert!(matches!(
            HeaderScanner::default().scan(b"age-encryption.org/v2\n"),
            Err(HeaderError::UnsupportedVersion(v)) if v == "v2"
        ));
    }

    #[test]
    fn bounds_header_size() {
        let mut buf = V1_LINE.to_vec();
        buf.extend(std::iter::repeat_n(b'A', MAX_HEADER_LEN));
        assert_eq!(HeaderScanner::default().scan(&buf), Err(HeaderError::TooLarge(MAX_HEADER_LEN)));
    }

    #[test]
    fn stanzas_of_a_file_without_an_identity() {
        let identity = crate::x25519::Identity::generate().unwrap();
        let binary = crate::encrypt(&[&identity.to_public()], b"secret").unwrap();
        let stanzas = read_stanzas(&binary).unwrap();
        assert_eq!(stanzas.len(), 1);
        assert_eq!(stanzas[0].tag, "X25519");
        let passphrase = crate::scrypt::Recipient::new("pass".to_string().into()).with_work_factor(2).unwrap();
        let armored = crate::encrypt_armored(&[&passphrase], b"secret").unwrap();
        let stanzas = read_stanzas(format!("\n{armored}").as_bytes()).unwrap();
        assert_eq!((stanzas.len(), stanzas[0].tag.as_str(), stanzas[0].args[1].as_str()), (1, "scrypt", "2"));
        assert!(read_stanzas(b"not age").is_err());
        assert!(read_stanzas(&binary[..20]).is_err());
        assert!(read_stanzas(armored.replace("BEGIN AGE", "BEGIN XYZ").as_bytes()).is_err());
    }
}

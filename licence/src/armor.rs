//! The text form of a licence or a signing key: a BEGIN line, header lines
//! for people (`Name: value`), a blank line, the bytes in base64 wrapped at
//! 64 columns, an END line.
//!
//! Reading forgives what pasting from an e-mail does: text around the
//! block, quote marks (`>`) and indentation before lines, CR LF, other line
//! lengths, spaces and non-breaking spaces inside the base64, and a
//! missing `=` padding. Headers are read but never trusted by a verifier:
//! what counts is inside the signed bytes.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

use crate::LicenceError;

/// Columns of the base64 lines.
const WIDTH: usize = 64;

fn begin(label: &str) -> String {
    format!("-----BEGIN {label}-----")
}

fn end(label: &str) -> String {
    format!("-----END {label}-----")
}

/// The block with `label` (e.g. `KLUIS LICENCE`), `headers` and `bytes`.
pub fn encode(label: &str, headers: &[(&str, String)], bytes: &[u8]) -> String {
    let mut out = begin(label);
    out.push('\n');
    for (name, value) in headers {
        // A header is one line whatever the value holds.
        let value: String = value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        out.push_str(&format!("{name}: {value}\n"));
    }
    if !headers.is_empty() {
        out.push('\n');
    }
    let text = STANDARD.encode(bytes);
    for line in text.as_bytes().chunks(WIDTH) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&end(label));
    out.push('\n');
    out
}

/// A line without what mail clients put before it: quote marks and spaces.
fn unquoted(line: &str) -> &str {
    line.trim_start_matches(|c: char| c == '>' || c.is_whitespace()).trim_end()
}

/// What a block holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// `Name: value` lines, in order (for people: not signed).
    pub headers: Vec<(String, String)>,
    /// The base64 decoded.
    pub bytes: Vec<u8>,
}

impl Block {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The first block with `label` in `text`.
pub fn decode(label: &str, text: &str) -> Result<Block, LicenceError> {
    let (begin, end) = (begin(label), end(label));
    let mut lines = text.lines().map(unquoted);
    if !lines.any(|l| l == begin) {
        return Err(LicenceError::Malformed(format!("no line {begin:?} was found")));
    }
    let mut headers = Vec::new();
    let mut body = String::new();
    let mut ended = false;
    for line in lines {
        if line == end {
            ended = true;
            break;
        }
        match line.split_once(':') {
            // Base64 has no colon: a line with one is a header.
            Some((name, value)) => headers.push((name.trim().to_string(), value.trim().to_string())),
            None => body.extend(line.chars().filter(|c| !c.is_whitespace())),
        }
    }
    if !ended {
        return Err(LicenceError::Malformed(format!("the line {end:?} is missing: was all of it copied?")));
    }
    let body = body.trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(body)
        .map_err(|e| LicenceError::Malformed(format!("the text between the BEGIN and END lines is damaged ({e})")))?;
    Ok(Block { headers, bytes })
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn what_is_written_is_read_back() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = encode("KLUIS TEST", &[("Licensee", "Example BV".into())], &bytes);
        assert!(text.lines().all(|l| l.len() <= 64), "{text}");
        let block = decode("KLUIS TEST", &text).unwrap();
        assert_eq!(block.bytes, bytes);
        assert_eq!(block.header("Licensee"), Some("Example BV"));
    }

    #[test]
    fn what_mail_does_to_text_is_forgiven() {
        let bytes: Vec<u8> = (0..200).map(|i| (i * 7) as u8).collect();
        let text = encode("KLUIS TEST", &[("Seats", "5".into())], &bytes);
        // Quoted in a reply, CR LF, re-wrapped at 40 columns with non-breaking spaces, padding lost, words around it.
        let mut body: String = text.lines().filter(|l| !l.starts_with("-----") && !l.contains(':')).collect();
        body = body.trim_end_matches('=').to_string();
        let rewrapped: Vec<String> =
            body.as_bytes().chunks(40).map(|c| format!("> \u{a0}{}", std::str::from_utf8(c).unwrap())).collect();
        let mangled = format!(
            "Hello,\r\n\r\nhere is your licence:\r\n\r\n> -----BEGIN KLUIS TEST-----\r\n> Seats: 5\r\n>\r\n{}\r\n>    -----END KLUIS TEST-----  \r\n\r\nRegards",
            rewrapped.join("\r\n")
        );
        assert_eq!(decode("KLUIS TEST", &mangled).unwrap().bytes, bytes);
    }

    #[test]
    fn cut_or_damaged_text_is_refused_with_why() {
        let text = encode("KLUIS TEST", &[], b"some bytes to carry");
        let cut: String = text.lines().take(2).collect::<Vec<_>>().join("\n");
        assert!(decode("KLUIS TEST", &cut).unwrap_err().to_string().contains("missing"));
        assert!(decode("KLUIS TEST", "nothing here").unwrap_err().to_string().contains("BEGIN"));
        assert!(decode("KLUIS OTHER", &text).is_err());
        let damaged = text.replacen("c29", "c2!", 1);
        assert!(decode("KLUIS TEST", &damaged).unwrap_err().to_string().contains("damaged"));
    }
}

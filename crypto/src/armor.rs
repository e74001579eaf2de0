//! ASCII armor (c2sp.org/age, "ASCII armor"): strict PEM (RFC 7468, section 3)
//! with the label `AGE ENCRYPTED FILE`, 64-column base64 lines with `=`
//! padding. Only whitespace may surround the PEM block; LF and CRLF line
//! endings are accepted. Both directions are sans-I/O and stream line by line.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::ArmorError;

pub(crate) const BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
pub(crate) const END: &[u8] = b"-----END AGE ENCRYPTED FILE-----";
const COLUMNS: usize = 64;
const BYTES_PER_LINE: usize = COLUMNS / 4 * 3;
/// Longest line we buffer: a full line, CR, and a little room so that an
/// over-long line is reported as such rather than as garbage.
const MAX_LINE: usize = COLUMNS + 2;

/// Turns binary age output into armored text.
#[derive(Default)]
pub struct ArmorEncoder {
    started: bool,
    carry: Vec<u8>,
}

impl ArmorEncoder {
    /// A new encoder; the BEGIN line is written with the first output.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the armored text for `data` to `out`.
    pub fn encode(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        self.begin(out);
        if !self.carry.is_empty() {
            let n = data.len().min(BYTES_PER_LINE - self.carry.len());
            self.carry.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.carry.len() < BYTES_PER_LINE {
                return;
            }
            Self::line(&self.carry, out);
            self.carry.clear();
        }
        let mut lines = data.chunks_exact(BYTES_PER_LINE);
        for line in &mut lines {
            Self::line(line, out);
        }
        self.carry.extend_from_slice(lines.remainder());
    }

    /// Appends the last (padded) line and the END line.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.begin(out);
        if !self.carry.is_empty() {
            Self::line(&self.carry, out);
            self.carry.clear();
        }
        out.extend_from_slice(END);
        out.push(b'\n');
    }

    fn begin(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(BEGIN);
            out.push(b'\n');
            self.started = true;
        }
    }

    fn line(bytes: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + COLUMNS + 1, 0);
        let n = STANDARD.encode_slice(bytes, &mut out[start..]).expect("room for one line");
        out.truncate(start + n);
        out.push(b'\n');
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Skipping whitespace before the BEGIN line.
    Before,
    /// Reading the BEGIN line.
    Begin,
    /// Reading full body lines.
    Body,
    /// After a short (final) body line: only the END line may follow.
    AfterLast,
    /// After the END line: only whitespace may follow.
    After,
}

/// Turns armored text back into binary age data, rejecting anything but the
/// strict encoding (the armor would otherwise make files malleable).
pub struct ArmorDecoder {
    state: State,
    line: Vec<u8>,
    line_no: usize,
}

impl Default for ArmorDecoder {
    fn default() -> Self {
        ArmorDecoder { state: State::Before, line: Vec::with_capacity(MAX_LINE), line_no: 1 }
    }
}

fn bad(line: usize, reason: &'static str) -> ArmorError {
    ArmorError::BadLine { line, reason }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl ArmorDecoder {
    /// A new decoder expecting optional whitespace and then the BEGIN line.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes from `text`, appending at most about `room` bytes to `out`.
    /// Returns how much text was consumed.
    pub fn decode(&mut self, text: &[u8], out: &mut Vec<u8>, room: usize) -> Result<usize, ArmorError> {
        let limit = out.len() + room;
        let mut i = 0;
        while i < text.len() {
            let b = text[i];
            match self.state {
                State::Before | State::After if is_space(b) => {
                    if b == b'\n' {
                        self.line_no += 1;
                    }
                    i += 1;
                    continue;
                }
                State::Before => self.state = State::Begin,
                State::After => return Err(ArmorError::TrailingGarbage),
                _ => {}
            }
            if b != b'\n' {
                if self.line.len() == MAX_LINE {
                    return Err(match self.state {
                        State::Begin => ArmorError::MissingBegin,
                        _ => bad(self.line_no, "the line is longer than 64 characters"),
                    });
                }
                self.line.push(b);
                i += 1;
                continue;
            }
            // A complete line. Decode it only if there is room for its bytes.
            if out.len() + BYTES_PER_LINE > limit && self.state == State::Body {
                break;
            }
            i += 1;
            self.end_of_line(out)?;
        }
        Ok(i)
    }

    fn end_of_line(&mut self, out: &mut Vec<u8>) -> Result<(), ArmorError> {
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let result = self.handle_line(&line, out);
        line.clear();
        self.line = line;
        self.line_no += 1;
        result
    }

    fn handle_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Result<(), ArmorError> {
        let n = self.line_no;
        match self.state {
            State::Begin => {
                if line != BEGIN {
                    return Err(ArmorError::MissingBegin);
                }
                self.state = State::Body;
            }
            State::Body | State::AfterLast if line == END => self.state = State::After,
            State::AfterLast => return Err(bad(n, "expected the END line after a short line")),
            State::Body => {
                if line.is_empty() {
                    return Err(bad(n, "empty line"));
                }
                if line.len() > COLUMNS {
                    return Err(bad(n, "the line is longer than 64 characters"));
                }
                let last = line.len() < COLUMNS || line.ends_with(b"=");
                if !line.len().is_multiple_of(4) {
                    return Err(bad(n, "the base64 is not padded with '='"));
                }
                let start = out.len();
                out.resize(start + BYTES_PER_LINE, 0);
                match STANDARD.decode_slice(line, &mut out[start..]) {
                    Ok(len) => out.truncate(start + len),
                    Err(_) => {
                        out.truncate(start);
                        return Err(bad(n, "invalid or non-canonical base64"));
                    }
                }
                if last {
                    self.state = State::AfterLast;
                }
            }
            State::Before | State::After => unreachable!("whitespace states do not collect lines"),
        }
        Ok(())
    }

    /// Signals the end of the text.
    pub fn finish(&mut self) -> Result<(), ArmorError> {
        match self.state {
            State::After => Ok(()),
            // The END line may lack its final newline.
            State::Body | State::AfterLast if self.line.strip_suffix(b"\r").unwrap_or(&self.line) == END => {
                self.state = State::After;
                Ok(())
            }
            State::Before => Err(ArmorError::MissingBegin),
            State::Begin if self.line != BEGIN => Err(ArmorError::MissingBegin),
            _ => Err(ArmorError::MissingEnd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(data: &[u8], step: usize) -> Vec<u8> {
        let mut enc = ArmorEncoder::new();
        let mut out = Vec::new();
        for piece in data.chunks(step.max(1)) {
            enc.encode(piece, &mut out);
        }
        enc.finish(&mut out);
        out
    }

    fn decode(text: &[u8], step: usize) -> Result<Vec<u8>, ArmorError> {
        let mut dec = ArmorDecoder::new();
        let mut out = Vec::new();
        for piece in text.chunks(step.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let n = dec.decode(rest, &mut out, 1 << 20)?;
                rest = &rest[n..];
            }
        }
        dec.finish()?;
        Ok(out)
    }

    #[test]
    fn round_trip_all_lengths() {
        for len in [0, 1, 2, 3, 47, 48, 49, 95, 96, 97, 1000] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let text = encode(&data, 7);
            assert_eq!(text, encode(&data, 1 << 20));
            for line in text.split(|&b| b == b'\n') {
                assert!(line.len() <= COLUMNS || line == BEGIN);
            }
            for step in [1, 5, 65, 1 << 20] {
                assert_eq!(decode(&text, step).unwrap(), data, "len {len} step {step}");
            }
        }
    }

    #[test]
    fn strictness() {
        let good = encode(b"hello world, this is more than one line of armor data for sure!!", 100);
        let text = String::from_utf8(good.clone()).unwrap();
        assert!(decode(format!("  \n\t{text}\n \r\n").as_bytes(), 3).is_ok());
        assert!(decode(text.replace('\n', "\r\n").as_bytes(), 3).is_ok());
        assert_eq!(decode(format!("x{text}").as_bytes(), 3), Err(ArmorError::MissingBegin));
        assert_eq!(decode(format!("{text}x").as_bytes(), 3), Err(ArmorError::TrailingGarbage));
        assert_eq!(decode(&good[..good.len() - 10], 3), Err(ArmorError::MissingEnd));
        assert!(matches!(decode(text.replacen("\n", "\n\n", 2).as_bytes(), 3), Err(ArmorError::BadLine { .. })));
        assert!(matches!(decode(text.replace("=\n", "\n").as_bytes(), 3), Err(ArmorError::BadLine { .. })));
    }

    #[test]
    fn limits_output_per_call() {
        let data = vec![1u8; 4800];
        let text = encode(&data, 4800);
        let mut dec = ArmorDecoder::new();
        let mut out = Vec::new();
        let n = dec.decode(&text, &mut out, 480).unwrap();
        assert!(out.len() <= 480 && n < text.len());
    }
}

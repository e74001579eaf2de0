//! E-mail addresses (RFC 5322 `addr-spec` in its common form).
//!
//! A local part of letters, digits and `. _ % + - '` (at most 64 characters),
//! `@`, and a domain of at least two labels of letters, digits and `-`
//! separated by dots, the last label (the top-level domain) two or more
//! letters (RFC 1034 §3.5, RFC 5321 §4.5.3.1). Quoted local parts and address
//! literals (`user@[192.0.2.1]`) are not read.
//!
//! Confidence: Medium (the shape is unambiguous; there is no checksum and no
//! keyword). Addresses are in nearly every message, which is why this
//! detector is off by default.

/// Finds e-mail addresses in a stream of characters, one at a time, keeping
/// only counters.
#[derive(Clone, Debug, Default)]
pub struct Recognizer {
    state: State,
}

#[derive(Clone, Copy, Debug, Default)]
enum State {
    /// Reading what may be a local part: how many characters so far.
    #[default]
    Local0,
    Local(u16),
    /// After the `@`.
    Domain {
        /// Complete labels so far.
        labels: u8,
        /// Length and letters-only of the label being read.
        label: u16,
        alpha: bool,
        /// Whether the last complete label can be a top-level domain.
        last_tld: bool,
    },
}

const MAX_LOCAL: u16 = 64;
const MAX_LABEL: u16 = 63;

fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

impl Recognizer {
    /// Takes a run of ASCII letters and digits.
    pub fn alnum(&mut self, run: &[u8]) {
        let len = u16::try_from(run.len()).unwrap_or(u16::MAX);
        self.state = match self.state {
            State::Local0 => State::Local(len),
            State::Local(n) => State::Local(n.saturating_add(len)),
            State::Domain { labels, label, alpha: a, last_tld } => State::Domain {
                labels,
                label: label.saturating_add(len),
                alpha: a && run.iter().all(u8::is_ascii_alphabetic),
                last_tld,
            },
        };
    }

    /// Takes one character that is not an ASCII letter or digit (`0` for
    /// anything outside ASCII); returns whether an address ended just before it.
    pub fn other(&mut self, b: u8) -> bool {
        match (self.state, b) {
            (State::Local(n), b'@') if n <= MAX_LOCAL => {
                self.state = State::Domain { labels: 0, label: 0, alpha: true, last_tld: false };
                false
            }
            (State::Domain { labels, label, alpha, .. }, b'.') if label > 0 && label <= MAX_LABEL => {
                self.state = State::Domain {
                    labels: labels.saturating_add(1),
                    label: 0,
                    alpha: true,
                    last_tld: alpha && label >= 2,
                };
                false
            }
            (State::Domain { labels, label, last_tld, .. }, b'-') if label > 0 => {
                self.state = State::Domain { labels, label: label + 1, alpha: false, last_tld };
                false
            }
            (State::Domain { labels, label, alpha, last_tld }, _) => {
                let found = if label > 0 {
                    labels >= 1 && alpha && (2..=MAX_LABEL).contains(&label)
                } else {
                    labels >= 2 && last_tld
                };
                self.state = State::Local0;
                self.other(b);
                found
            }
            (State::Local0 | State::Local(_), b) => {
                self.state = match (self.state, local_char(b)) {
                    (State::Local(n), true) => State::Local(n.saturating_add(1)),
                    (State::Local0, true) => State::Local(1),
                    _ => State::Local0,
                };
                false
            }
        }
    }

    /// The end of the text; returns whether an address ended there.
    pub fn finish(&mut self) -> bool {
        self.other(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str) -> usize {
        let mut r = Recognizer::default();
        let bytes = text.as_bytes();
        let mut n = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_alphanumeric() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                r.alnum(&bytes[start..i]);
            } else {
                n += usize::from(r.other(if bytes[i] < 0x80 { bytes[i] } else { 0 }));
                i += 1;
            }
        }
        n + usize::from(r.finish())
    }

    #[test]
    fn addresses() {
        assert_eq!(count("jan.de-vries+kluis@mail.example.nl"), 1);
        assert_eq!(count("Mail a@b.nl, or c@d.co.uk."), 2);
        assert_eq!(count("<o'brien@example.ie>"), 1);
        assert_eq!(count("a@localhost"), 0, "one label");
        assert_eq!(count("a@example.n1"), 0, "top-level domain with a digit");
        assert_eq!(count("a@example.c"), 0, "one-letter top-level domain");
        assert_eq!(count("@example.nl"), 0, "no local part");
        assert_eq!(count("a@@example.nl"), 0);
        assert_eq!(count("a@.example.nl"), 0);
        assert_eq!(count("price: 5 @ 3.50"), 0);
    }
}

//! The streaming scanner: text in, in pieces of any size, findings out.
//!
//! Like the codecs of `kluis-crypto`, it is sans-I/O: [`Scanner::push`] takes
//! the next piece of the text and [`Scanner::finish`] ends it. A piece may
//! end anywhere, in the middle of a number, a word or a UTF-8 sequence; the
//! result is the same as for the whole text at once.
//!
//! How it reads the text, in one pass over the bytes:
//!
//! - UTF-8 is decoded as it comes; an invalid or cut-off sequence counts as
//!   one U+FFFD (so text is read lossily, never refused).
//! - Runs of letters and digits are words. Each word goes to the keyword
//!   lists. Runs of ASCII letters and digits of at most 34 characters are
//!   also groups for the number detectors, together with the one separator
//!   (space, no-break space, `.` or `-`) that joins a group to the one before.
//! - Groups wait in a window of eleven (the group before, the nine of the
//!   longest grouped IBAN, and one after) until a detector can decide where
//!   a number starts; words that cannot start a number skip the window.
//! - A number is High when a supporting keyword of its kind is within 300
//!   characters before or after it; a number waits in a queue (its kind,
//!   confidence and position, not its digits) until 300 characters have passed.
//!
//! Memory is bounded whatever the length of the text: the window, the queue
//! (at most 256 numbers, which 300 characters cannot exceed), a 64-byte
//! word, the last six words for keyword phrases, and counters. Nothing of the
//! text is kept once it has been read past, and findings are counts only.

use std::collections::VecDeque;
use std::hash::{BuildHasherDefault, Hasher};

use crate::detect::bsn::Bsn;
use crate::detect::iban::Iban;
use crate::detect::nl_id_document::NlIdDocument;
use crate::detect::payment_card::PaymentCard;
use crate::detect::{Detector, Group, MAX_GROUP, PROXIMITY, email, keywords};
use crate::document::{Confidence, ContentPolicy, DetectorKind};
use crate::finding::{Finding, FindingKind, Findings};

/// Bytes of a word that are kept (longer words match nothing).
const MAX_RUN: usize = keywords::MAX_WORD;
/// The group before a number, the nine groups of the longest grouped IBAN, and one after.
const WINDOW: usize = 11;
/// Numbers waiting for a keyword; 300 characters hold at most about 35.
const MAX_PENDING: usize = 256;
/// The number detectors, in the order they are tried where a number may start.
const NUMBER_DETECTORS: [DetectorKind; 4] =
    [DetectorKind::Iban, DetectorKind::PaymentCard, DetectorKind::Bsn, DetectorKind::NlIdDocument];
const CONFIDENCES: [Confidence; 3] = [Confidence::High, Confidence::Medium, Confidence::Low];

/// ASCII letters and digits.
const ALNUM: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    t
};

/// A small, fast hash for short keys (the Firefox/rustc "Fx" hash): the
/// keyword tables are looked up once per word.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// A run of letters and digits as the number detectors see it.
#[derive(Clone, Copy)]
struct Run {
    text: [u8; MAX_GROUP],
    /// 0 when the run is not a group (not ASCII, or longer than [`MAX_GROUP`]).
    len: u8,
    sep: u8,
    /// The detectors this word is a supporting keyword of (bit per [`DetectorKind`] index).
    support: u8,
    start: u64,
    end: u64,
}

impl Run {
    const EMPTY: Run = Run { text: [0; MAX_GROUP], len: 0, sep: 0, support: 0, start: 0, end: 0 };

    fn group(&self) -> Group<'_> {
        Group { text: &self.text[..usize::from(self.len)], sep: self.sep }
    }
}

/// Whether a number can start at this group: a digit, an IBAN's country and
/// check digits, or nine characters starting with a capital.
fn can_start(t: &[u8]) -> bool {
    match t {
        [] => false,
        [d, ..] if d.is_ascii_digit() => true,
        [a, b, c, d, ..]
            if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() && c.is_ascii_digit() && d.is_ascii_digit() =>
        {
            true
        }
        [a, ..] => t.len() == 9 && a.is_ascii_uppercase(),
    }
}

/// What came last, for joining groups: a run, a run and one separator, or something else.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    None,
    Run,
    Sep(u8),
}

/// A number waiting for a supporting keyword.
#[derive(Clone, Copy)]
struct Pending {
    kind: usize,
    confidence: Confidence,
    end: u64,
}

/// Scans a text that arrives in pieces, for the detectors and keyword lists
/// of a [`ContentPolicy`].
///
/// ```
/// use kluis_policy::{Confidence, ContentPolicy, FindingKind, Scanner};
/// let mut scanner = Scanner::new(&ContentPolicy::default());
/// scanner.push(b"Mijn BSN is 123 45");
/// scanner.push(b"6 782.");
/// let findings = scanner.finish();
/// assert_eq!(findings[0].kind, FindingKind::Bsn);
/// assert_eq!(findings[0].confidence, Confidence::High);
/// assert_eq!(findings[0].count, 1);
/// ```
#[derive(Clone)]
pub struct Scanner {
    /// Characters read so far.
    pos: u64,
    /// The word being read, when it started in an earlier piece or has
    /// letters outside ASCII (the first [`MAX_RUN`] bytes of it).
    in_run: bool,
    run: [u8; MAX_RUN],
    run_len: usize,
    run_ascii: bool,
    run_start: u64,
    run_sep: u8,
    link: Link,
    /// A UTF-8 sequence not complete yet.
    utf8: [u8; 4],
    utf8_len: usize,
    utf8_need: usize,
    email: Option<email::Recognizer>,
    words: Words,
}

/// What happens to each word once it is read.
#[derive(Clone)]
struct Words {
    numbers: [bool; 4],
    any_number: bool,
    /// The keyword lists, and the supporting keywords of the number
    /// detectors (marked with a bit per [`DetectorKind`] index).
    keywords: keywords::Matcher,
    lists: Vec<String>,
    lower: [u8; MAX_RUN],
    /// `window[0]` is the group before `window[1]`, where a number may start.
    window: [Run; WINDOW],
    window_len: usize,
    last_keyword: [Option<u64>; 4],
    pending: VecDeque<Pending>,
    counts: [[u32; 3]; 5],
}

impl Scanner {
    /// A scanner for the detectors and keyword lists of `policy` (its mode
    /// and the other fields do not matter here).
    pub fn new(policy: &ContentPolicy) -> Scanner {
        let mut numbers = [false; 4];
        let mut support = Vec::new();
        for kind in NUMBER_DETECTORS {
            if policy.detectors.contains(&kind) {
                numbers[kind as usize] = true;
                support.extend(keywords_of(kind).iter().map(|k| (*k, 1 << kind as usize)));
            }
        }
        Scanner {
            pos: 0,
            in_run: false,
            run: [0; MAX_RUN],
            run_len: 0,
            run_ascii: true,
            run_start: 0,
            run_sep: 0,
            link: Link::None,
            utf8: [0; 4],
            utf8_len: 0,
            utf8_need: 0,
            email: policy.detectors.contains(&DetectorKind::Email).then(email::Recognizer::default),
            words: Words {
                numbers,
                any_number: numbers.iter().any(|&n| n),
                keywords: keywords::Matcher::new(&policy.keyword_lists, support),
                lists: policy.keyword_lists.iter().map(|l| l.name.clone()).collect(),
                lower: [0; MAX_RUN],
                window: [Run::EMPTY; WINDOW],
                window_len: 1,
                last_keyword: [None; 4],
                pending: VecDeque::with_capacity(16),
                counts: [[0; 3]; 5],
            },
        }
    }

    /// Reads the next piece of the text (UTF-8; invalid bytes are read as U+FFFD).
    pub fn push(&mut self, input: &[u8]) {
        let mut i = 0;
        let n = input.len();
        while i < n {
            let b = input[i];
            if b >= 0x80 || self.utf8_len > 0 {
                self.utf8_byte(b);
                i += 1;
            } else if ALNUM[usize::from(b)] {
                let start = i;
                while i < n && ALNUM[usize::from(input[i])] {
                    i += 1;
                }
                let word = &input[start..i];
                if !self.in_run && i < n && input[i] < 0x80 {
                    // A whole ASCII word within this piece: read it in place.
                    let begin = self.pos;
                    self.pos += word.len() as u64;
                    self.email_alnum(word);
                    let sep = self.sep();
                    self.link = Link::Run;
                    self.words.word(word, word.len(), true, sep, begin, self.pos);
                } else {
                    self.ascii_run(word);
                }
            } else {
                self.separator_or_other(b, b);
                i += 1;
            }
        }
    }

    /// Ends the text and returns what was found.
    pub fn finish(mut self) -> Findings {
        if self.utf8_len > 0 {
            self.utf8_len = 0;
            self.char(char::REPLACEMENT_CHARACTER);
        }
        if self.in_run {
            self.end_run();
        }
        if let Some(email) = &mut self.email
            && email.finish()
        {
            self.words.count(DetectorKind::Email as usize, Confidence::Medium);
        }
        self.words.finish()
    }

    fn sep(&self) -> u8 {
        match self.link {
            Link::Sep(s) => s,
            _ => 0,
        }
    }

    fn email_alnum(&mut self, word: &[u8]) {
        if let Some(email) = &mut self.email {
            email.alnum(word);
        }
    }

    fn ascii_run(&mut self, bytes: &[u8]) {
        if !self.in_run {
            self.start_run();
        }
        let kept = self.run_len.min(MAX_RUN);
        let take = bytes.len().min(MAX_RUN - kept);
        self.run[kept..kept + take].copy_from_slice(&bytes[..take]);
        self.run_len += bytes.len();
        self.pos += bytes.len() as u64;
        self.email_alnum(bytes);
    }

    fn start_run(&mut self) {
        self.in_run = true;
        self.run_len = 0;
        self.run_ascii = true;
        self.run_start = self.pos;
        self.run_sep = self.sep();
    }

    fn end_run(&mut self) {
        self.in_run = false;
        self.link = Link::Run;
        let len = self.run_len;
        self.words.word(&self.run[..len.min(MAX_RUN)], len, self.run_ascii, self.run_sep, self.run_start, self.pos);
    }

    /// A character that is not a letter or digit: `sep` is its separator
    /// byte (`b' '` for no-break spaces), `ascii` the byte for the e-mail
    /// recognizer (0 outside ASCII).
    fn separator_or_other(&mut self, sep: u8, ascii: u8) {
        if self.in_run {
            self.end_run();
        }
        self.link = match (self.link, sep) {
            (Link::Run, b' ' | b'.' | b'-') => Link::Sep(sep),
            _ => Link::None,
        };
        self.pos += 1;
        if let Some(email) = &mut self.email
            && email.other(ascii)
        {
            self.words.count(DetectorKind::Email as usize, Confidence::Medium);
        }
    }

    fn utf8_byte(&mut self, b: u8) {
        if self.utf8_len > 0 {
            if b & 0xC0 == 0x80 {
                self.utf8[self.utf8_len] = b;
                self.utf8_len += 1;
                if self.utf8_len == self.utf8_need {
                    self.utf8_len = 0;
                    let c = std::str::from_utf8(&self.utf8[..self.utf8_need])
                        .ok()
                        .and_then(|s| s.chars().next())
                        .unwrap_or(char::REPLACEMENT_CHARACTER);
                    self.char(c);
                }
                return;
            }
            // A sequence cut short: one U+FFFD, then the byte on its own.
            self.utf8_len = 0;
            self.char(char::REPLACEMENT_CHARACTER);
            if b < 0x80 {
                self.push(&[b]);
                return;
            }
        }
        self.utf8_need = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return self.char(char::REPLACEMENT_CHARACTER),
        };
        self.utf8[0] = b;
        self.utf8_len = 1;
    }

    fn char(&mut self, c: char) {
        if c.is_alphanumeric() {
            if !self.in_run {
                self.start_run();
            }
            let mut buf = [0; 4];
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            let kept = self.run_len.min(MAX_RUN);
            if kept + bytes.len() <= MAX_RUN {
                self.run[kept..kept + bytes.len()].copy_from_slice(bytes);
                self.run_len += bytes.len();
            } else {
                self.run_len = MAX_RUN + 1;
            }
            self.run_ascii = false;
            self.pos += 1;
            if let Some(email) = &mut self.email
                && email.other(0)
            {
                self.words.count(DetectorKind::Email as usize, Confidence::Medium);
            }
        } else if matches!(c, '\u{a0}' | '\u{2007}' | '\u{202f}') {
            self.separator_or_other(b' ', 0);
        } else {
            self.separator_or_other(0, 0);
        }
    }
}

impl Words {
    /// A word of the text: `bytes` are its first [`MAX_RUN`] bytes, `len`
    /// its whole length, `sep` the separator joining it to the word before.
    fn word(&mut self, bytes: &[u8], len: usize, ascii: bool, sep: u8, start: u64, end: u64) {
        let mut support = 0;
        if !self.keywords.is_empty() && ascii && !self.keywords.may_match(bytes) {
            self.keywords.skip();
        } else if !self.keywords.is_empty() {
            let lower = if len > MAX_RUN {
                None
            } else if ascii {
                for (l, b) in self.lower.iter_mut().zip(bytes) {
                    *l = b.to_ascii_lowercase();
                }
                Some(len)
            } else {
                lowercase(bytes, &mut self.lower)
            };
            support = self.keywords.word(lower.map(|n| &self.lower[..n]));
        }
        if !self.any_number {
            return;
        }
        let group = ascii && len <= MAX_GROUP;
        // Only groups of digits, or of at most four characters (IBAN), can
        // be inside a grouped number; any other word ends the chain.
        let inside = group && (len <= 4 || bytes.iter().all(u8::is_ascii_digit));
        if sep == 0 || !inside {
            self.flush();
        }
        if self.window_len == 1 && !(group && can_start(bytes)) {
            // The common case, a word: no number starts here, and being no
            // group of digits it does not make the next group part of one.
            if support != 0 {
                self.settle(start);
                self.support(support, start, end);
            }
            self.window[0].len = 0;
            return;
        }
        let mut run = Run { sep, support, start, end, ..Run::EMPTY };
        if group {
            run.text[..len].copy_from_slice(bytes);
            run.len = len as u8;
        }
        self.window[self.window_len] = run;
        self.window_len += 1;
        if self.window_len == WINDOW {
            self.head();
        }
    }

    /// Decides on the group at `window[1]`: a number starts there, or not.
    fn head(&mut self) {
        let first = self.window[1];
        self.settle(first.start);
        let mut found = None;
        if can_start(&first.text[..usize::from(first.len)]) {
            let mut groups = [Group::default(); WINDOW];
            for (g, run) in groups.iter_mut().zip(&self.window[..self.window_len]) {
                *g = run.group();
            }
            let groups = &groups[..self.window_len];
            found = NUMBER_DETECTORS.into_iter().filter(|k| self.numbers[*k as usize]).find_map(|kind| {
                let detected = match kind {
                    DetectorKind::Bsn => Bsn::detect(groups),
                    DetectorKind::Iban => Iban::detect(groups),
                    DetectorKind::PaymentCard => PaymentCard::detect(groups),
                    DetectorKind::NlIdDocument => NlIdDocument::detect(groups),
                    DetectorKind::Email => None,
                };
                detected.map(|d| (kind, d))
            });
        }
        let taken = match found {
            Some((kind, d)) => {
                self.number(kind as usize, d.confidence, first.start, self.window[d.groups].end);
                d.groups
            }
            None => {
                self.support(first.support, first.start, first.end);
                1
            }
        };
        self.window.copy_within(taken..self.window_len, 0);
        self.window_len -= taken;
    }

    /// Decides on every group in the window (the chain of groups has ended).
    fn flush(&mut self) {
        while self.window_len > 1 {
            self.head();
        }
    }

    fn finish(mut self) -> Findings {
        self.flush();
        self.settle(u64::MAX);
        let mut findings = Vec::new();
        for kind in DetectorKind::ALL {
            for (i, confidence) in CONFIDENCES.into_iter().enumerate() {
                let count = self.counts[kind as usize][i];
                if count > 0 {
                    findings.push(Finding { kind: FindingKind::from(kind), list: None, confidence, count });
                }
            }
        }
        for (list, count, confidence) in self.keywords.results() {
            findings.push(Finding {
                kind: FindingKind::Keywords,
                list: Some(self.lists[list].clone()),
                confidence,
                count,
            });
        }
        Findings::from(findings)
    }

    fn number(&mut self, kind: usize, confidence: Confidence, start: u64, end: u64) {
        if self.last_keyword[kind].is_some_and(|k| start.saturating_sub(k) <= PROXIMITY) {
            self.count(kind, Confidence::High);
            return;
        }
        if self.pending.len() == MAX_PENDING {
            let oldest = self.pending.pop_front().expect("full");
            self.count(oldest.kind, oldest.confidence);
        }
        self.pending.push_back(Pending { kind, confidence, end });
    }

    /// A word that is not part of a number and supports the detectors in `kinds`.
    fn support(&mut self, kinds: u8, start: u64, end: u64) {
        for kind in 0..4 {
            if kinds & (1 << kind) == 0 {
                continue;
            }
            self.last_keyword[kind] = Some(end);
            let mut upgraded = 0;
            self.pending.retain(|p| {
                let near = p.kind == kind && start.saturating_sub(p.end) <= PROXIMITY;
                upgraded += u32::from(near);
                !near
            });
            self.counts[kind][0] = self.counts[kind][0].saturating_add(upgraded);
        }
    }

    /// Counts the numbers that no keyword can reach any more from `pos` on.
    fn settle(&mut self, pos: u64) {
        while let Some(p) = self.pending.front().copied() {
            if p.end.saturating_add(PROXIMITY) >= pos {
                break;
            }
            self.pending.pop_front();
            self.count(p.kind, p.confidence);
        }
    }

    fn count(&mut self, kind: usize, confidence: Confidence) {
        let i = CONFIDENCES.iter().position(|c| *c == confidence).expect("three confidences");
        self.counts[kind][i] = self.counts[kind][i].saturating_add(1);
    }
}

fn keywords_of(kind: DetectorKind) -> &'static [&'static str] {
    match kind {
        DetectorKind::Bsn => Bsn::KEYWORDS,
        DetectorKind::Iban => Iban::KEYWORDS,
        DetectorKind::PaymentCard => PaymentCard::KEYWORDS,
        DetectorKind::NlIdDocument => NlIdDocument::KEYWORDS,
        DetectorKind::Email => &[],
    }
}

/// The Unicode lower case of a word (valid UTF-8) into `out`; `None` if it does not fit.
fn lowercase(word: &[u8], out: &mut [u8; MAX_RUN]) -> Option<usize> {
    let word = std::str::from_utf8(word).ok()?;
    let mut n = 0;
    for c in word.chars().flat_map(char::to_lowercase) {
        let len = c.len_utf8();
        c.encode_utf8(out.get_mut(n..n + len)?);
        n += len;
    }
    Some(n)
}

impl std::fmt::Debug for Scanner {
    /// Shows no state: it would reveal the text being read.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner").field("characters", &self.pos).finish_non_exhaustive()
    }
}

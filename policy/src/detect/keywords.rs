//! Keyword lists: whole words and phrases, case-insensitive.
//!
//! Text is split into words at every character that is not a letter or a
//! digit (Unicode `Alphabetic` or `Numeric`), and words are compared in
//! their Unicode lower case. A keyword is split the same way, so a phrase
//! matches its words with any separators between them.

use std::collections::HashMap;

use crate::document::{Confidence, KeywordList};
use crate::scanner::FxBuild;

/// The built-in `"medical"` list: health, care and treatment, Dutch and English.
pub const MEDICAL: &[&str] = &[
    "diagnose",
    "diagnosis",
    "patiënt",
    "patient",
    "patiëntendossier",
    "medisch dossier",
    "medical record",
    "medical records",
    "behandeling",
    "behandelplan",
    "treatment plan",
    "medicatie",
    "medication",
    "medicijnen",
    "ziekte",
    "disease",
    "ziekenhuis",
    "hospital",
    "huisarts",
    "general practitioner",
    "bedrijfsarts",
    "occupational physician",
    "psychiater",
    "psychiatrist",
    "psycholoog",
    "psychologist",
    "therapie",
    "therapy",
    "zwangerschap",
    "zwanger",
    "pregnancy",
    "pregnant",
    "kanker",
    "cancer",
    "chemotherapie",
    "chemotherapy",
    "hiv",
    "aids",
    "diabetes",
    "depressie",
    "depression",
    "ggz",
    "verslaving",
    "addiction",
    "ziekmelding",
    "ziekteverzuim",
    "sick leave",
    "recept",
    "prescription",
    "allergie",
    "allergy",
    "symptomen",
    "symptoms",
    "vaccinatie",
    "vaccination",
    "zorgverzekeraar",
    "health insurer",
    "arbeidsongeschikt",
    "disability",
];

/// The built-in `"financial"` list: pay, debts and accounts, Dutch and English.
pub const FINANCIAL: &[&str] = &[
    "rekeningnummer",
    "bankrekening",
    "bankrekeningnummer",
    "bank account",
    "account number",
    "salaris",
    "salary",
    "loonstrook",
    "payslip",
    "pay slip",
    "jaaropgave",
    "belastingaangifte",
    "tax return",
    "aangifte inkomstenbelasting",
    "hypotheek",
    "mortgage",
    "schulden",
    "schuld",
    "debt",
    "debts",
    "lening",
    "loan",
    "schuldsanering",
    "debt restructuring",
    "beslaglegging",
    "loonbeslag",
    "wage garnishment",
    "bkr",
    "creditcard",
    "credit card",
    "pincode",
    "pin code",
    "inkomen",
    "income",
    "bankafschrift",
    "bank statement",
    "betalingsachterstand",
    "payment arrears",
    "incasso",
    "debt collection",
];

/// Words longer than this (in UTF-8 bytes, lower case) never match.
pub const MAX_WORD: usize = 64;
/// Phrases of more words than this never match.
pub const MAX_PHRASE_WORDS: usize = 6;

/// A keyword or phrase in lower case, its words split as in the text.
pub fn normalize(keyword: &str) -> Vec<String> {
    let lower: String = keyword.chars().flat_map(char::to_lowercase).collect();
    lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// The id of a word that is in no phrase.
const NO_WORD: u32 = u32::MAX;

/// What one word of the text means.
#[derive(Clone, Debug, Default)]
struct Word {
    /// A number for the word, to match phrases by the numbers of their words.
    id: u32,
    /// Keywords of one word: (list, index of the keyword in the list).
    hits: Vec<(usize, usize)>,
    /// Bit `n - 2` set: a phrase of `n` words ends with this word.
    phrase_ends: u8,
    /// An opaque mask returned to the caller (the scanner's supporting keywords).
    mark: u8,
}

/// Counts the keywords of several lists in a stream of words, and marks
/// other words of interest to the caller, with one hash lookup per word.
///
/// Memory: the lists themselves, and the ids of the last
/// [`MAX_PHRASE_WORDS`] words of the text to match phrases.
#[derive(Clone, Debug)]
pub struct Matcher {
    words: HashMap<Box<[u8]>, Word, FxBuild>,
    /// Phrases of two or more words, by the ids of their words.
    phrases: HashMap<Box<[u32]>, Vec<(usize, usize)>, FxBuild>,
    shortest: usize,
    longest: usize,
    /// A Bloom filter of the words (see [`Matcher::may_match`]), one bit each.
    filter: Vec<u64>,
    /// The ids of the last words of the text ([`NO_WORD`] for words in no
    /// phrase), the most recent at `recent[MAX_PHRASE_WORDS - 1]`.
    recent: [u32; MAX_PHRASE_WORDS],
    /// Per list: occurrences, which keywords were seen, and how many different ones.
    counts: Vec<u32>,
    seen: Vec<Vec<bool>>,
    distinct: Vec<u32>,
}

impl Matcher {
    /// A matcher for these lists (empty keywords and keywords that can never
    /// match are left out), which also returns `mark` for the given words
    /// (lower case, one word each).
    pub fn new<'a>(lists: &[KeywordList], marks: impl IntoIterator<Item = (&'a str, u8)>) -> Matcher {
        let mut m = Matcher {
            words: HashMap::default(),
            phrases: HashMap::default(),
            shortest: usize::MAX,
            longest: 0,
            filter: vec![0; FILTER_BITS / 64],
            recent: [NO_WORD; MAX_PHRASE_WORDS],
            counts: vec![0; lists.len()],
            seen: lists.iter().map(|l| vec![false; l.words.len()]).collect(),
            distinct: vec![0; lists.len()],
        };
        for (list, keywords) in lists.iter().enumerate() {
            for (index, keyword) in keywords.words.iter().enumerate() {
                let words = normalize(keyword);
                if words.is_empty() || words.len() > MAX_PHRASE_WORDS || words.iter().any(|w| w.len() > MAX_WORD) {
                    continue;
                }
                let ids: Vec<u32> = words.iter().map(|w| m.word_entry(w).id).collect();
                let last = m.word_entry(words.last().expect("not empty"));
                let hits = if words.len() == 1 {
                    &mut last.hits
                } else {
                    last.phrase_ends |= 1 << (words.len() - 2);
                    m.phrases.entry(ids.into()).or_default()
                };
                if !hits.contains(&(list, index)) {
                    hits.push((list, index));
                }
            }
        }
        for (word, mark) in marks {
            m.word_entry(word).mark |= mark;
        }
        m
    }

    fn word_entry(&mut self, word: &str) -> &mut Word {
        let bit = filter_bit(word.as_bytes());
        self.filter[bit / 64] |= 1 << (bit % 64);
        self.shortest = self.shortest.min(word.len());
        self.longest = self.longest.max(word.len());
        let id = self.words.len() as u32;
        self.words.entry(word.as_bytes().into()).or_insert_with(|| Word { id, ..Word::default() })
    }

    /// Whether there is nothing to match.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether a word may be in the table: `false` means it surely is not.
    /// Takes the word as it is in the text if it is ASCII (the filter folds
    /// ASCII case), in lower case otherwise. Nearly all words of a text are
    /// answered here, without hashing them.
    pub fn may_match(&self, word: &[u8]) -> bool {
        let bit = filter_bit(word);
        (self.shortest..=self.longest).contains(&word.len()) && self.filter[bit / 64] & (1 << (bit % 64)) != 0
    }

    /// Takes the next word that [`may_match`](Matcher::may_match) rejected.
    pub fn skip(&mut self) {
        self.remember(NO_WORD);
    }

    /// Takes the next word of the text, in lower case (`None` for a word
    /// longer than [`MAX_WORD`]), and returns its mark (0 for most words).
    pub fn word(&mut self, word: Option<&[u8]>) -> u8 {
        let entry = word.filter(|w| (self.shortest..=self.longest).contains(&w.len())).and_then(|w| self.words.get(w));
        let Some(entry) = entry else {
            self.remember(NO_WORD);
            return 0;
        };
        let (id, mark, mut ends) = (entry.id, entry.mark, entry.phrase_ends);
        for &(list, index) in &entry.hits {
            count(&mut self.counts, &mut self.seen, &mut self.distinct, list, index);
        }
        self.remember(id);
        while ends != 0 {
            let n = ends.trailing_zeros() as usize + 2;
            ends &= ends - 1;
            let last = &self.recent[MAX_PHRASE_WORDS - n..];
            if let Some(hits) = self.phrases.get(last) {
                for &(list, index) in hits {
                    count(&mut self.counts, &mut self.seen, &mut self.distinct, list, index);
                }
            }
        }
        mark
    }

    fn remember(&mut self, id: u32) {
        if !self.phrases.is_empty() {
            self.recent.copy_within(1.., 0);
            self.recent[MAX_PHRASE_WORDS - 1] = id;
        }
    }

    /// Per list: occurrences and confidence (one keyword Low, two different
    /// keywords Medium, three or more High), for lists with occurrences.
    pub fn results(&self) -> impl Iterator<Item = (usize, u32, Confidence)> + '_ {
        self.counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(list, &count)| {
            let confidence = match self.distinct[list] {
                0 | 1 => Confidence::Low,
                2 => Confidence::Medium,
                _ => Confidence::High,
            };
            (list, count, confidence)
        })
    }
}

const FILTER_BITS: usize = 1 << 16;

/// The filter bit of a word: its length, first two and last two bytes (ASCII
/// letters folded to lower case).
fn filter_bit(word: &[u8]) -> usize {
    let fold = |i: usize| u32::from(word.get(i).map_or(0, |&b| if b.is_ascii_uppercase() { b | 0x20 } else { b }));
    let n = word.len();
    let key = (n as u32)
        ^ fold(0) << 8
        ^ fold(1) << 16
        ^ fold(n.wrapping_sub(1)) << 24
        ^ fold(n.wrapping_sub(2)).rotate_left(4);
    (key.wrapping_mul(0x9e37_79b1) >> 16) as usize
}

fn count(counts: &mut [u32], seen: &mut [Vec<bool>], distinct: &mut [u32], list: usize, index: usize) {
    counts[list] = counts[list].saturating_add(1);
    if !std::mem::replace(&mut seen[list][index], true) {
        distinct[list] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lists: &[KeywordList], text: &str) -> Vec<(usize, u32, Confidence)> {
        let mut m = Matcher::new(lists, []);
        for w in normalize(text) {
            m.word((w.len() <= MAX_WORD).then_some(w.as_bytes()));
        }
        let mut marked = Matcher::new(lists, [("bsn", 4)]);
        for w in normalize(text) {
            assert_eq!(marked.word(Some(w.as_bytes())), if w == "bsn" { 4 } else { 0 });
        }
        m.results().collect()
    }

    fn list(words: &[&str]) -> KeywordList {
        KeywordList { name: "test".into(), words: words.iter().map(|w| (*w).to_owned()).collect() }
    }

    #[test]
    fn whole_words_any_case() {
        let l = [list(&["kanker", "Patiënt", "medisch dossier"])];
        assert_eq!(run(&l, "KANKER"), [(0, 1, Confidence::Low)]);
        assert_eq!(run(&l, "kankeronderzoek"), []);
        assert_eq!(run(&l, "De PATIËNT heeft kanker."), [(0, 2, Confidence::Medium)]);
        assert_eq!(run(&l, "het Medisch-Dossier, kanker, patiënt"), [(0, 3, Confidence::High)]);
        assert_eq!(run(&l, "medisch en dossier"), []);
        assert_eq!(run(&l, "kanker kanker kanker"), [(0, 3, Confidence::Low)]);
    }

    #[test]
    fn normalizes_keywords() {
        assert_eq!(normalize(" Medisch-Dossier "), ["medisch", "dossier"]);
        assert_eq!(normalize("ÉÉN"), ["één"]);
        assert!(normalize("--").is_empty());
    }
}

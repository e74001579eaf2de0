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

/// Counts the keywords of several lists in a stream of words.
///
/// Memory: the lists themselves, and the last [`MAX_PHRASE_WORDS`] words of
/// the text (at most [`MAX_WORD`] bytes each) to match phrases.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Phrase (words joined by one space) to (list, index of the keyword in the list).
    phrases: HashMap<Vec<u8>, Vec<(usize, usize)>, FxBuild>,
    /// The phrase lengths in words that occur, ascending.
    lengths: Vec<usize>,
    /// Quick rejection: first bytes and lengths of the last word of every phrase.
    last_first: [bool; 256],
    last_min: usize,
    last_max: usize,
    /// The last words of the text, most recent at `recent[(next + MAX - 1) % MAX]`.
    recent: [([u8; MAX_WORD], u8); MAX_PHRASE_WORDS],
    next: usize,
    /// Per list: occurrences, and which keywords were seen.
    counts: Vec<u32>,
    seen: Vec<Vec<bool>>,
    distinct: Vec<u32>,
    scratch: Vec<u8>,
}

impl Matcher {
    /// A matcher for these lists (empty words and phrases that can never
    /// match are left out).
    pub fn new(lists: &[KeywordList]) -> Matcher {
        let mut m = Matcher {
            phrases: HashMap::default(),
            lengths: Vec::new(),
            last_first: [false; 256],
            last_min: usize::MAX,
            last_max: 0,
            recent: [([0; MAX_WORD], 0); MAX_PHRASE_WORDS],
            next: 0,
            counts: vec![0; lists.len()],
            seen: lists.iter().map(|l| vec![false; l.words.len()]).collect(),
            distinct: vec![0; lists.len()],
            scratch: Vec::with_capacity(MAX_WORD * MAX_PHRASE_WORDS),
        };
        for (list, keywords) in lists.iter().enumerate() {
            for (index, keyword) in keywords.words.iter().enumerate() {
                let words = normalize(keyword);
                if words.is_empty() || words.len() > MAX_PHRASE_WORDS || words.iter().any(|w| w.len() > MAX_WORD) {
                    continue;
                }
                let last = words.last().expect("not empty").as_bytes();
                m.last_first[usize::from(last[0])] = true;
                m.last_min = m.last_min.min(last.len());
                m.last_max = m.last_max.max(last.len());
                if !m.lengths.contains(&words.len()) {
                    m.lengths.push(words.len());
                }
                let entry = m.phrases.entry(words.join(" ").into_bytes()).or_default();
                if !entry.contains(&(list, index)) {
                    entry.push((list, index));
                }
            }
        }
        m.lengths.sort_unstable();
        m
    }

    /// Whether there is nothing to match.
    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty()
    }

    /// Takes the next word of the text, in lower case (`None` for a word
    /// longer than [`MAX_WORD`]).
    pub fn word(&mut self, word: Option<&[u8]>) {
        let slot = &mut self.recent[self.next];
        match word {
            Some(w) => {
                slot.0[..w.len()].copy_from_slice(w);
                slot.1 = w.len() as u8;
            }
            None => slot.1 = 0,
        }
        self.next = (self.next + 1) % MAX_PHRASE_WORDS;
        let Some(w) = word else { return };
        if w.is_empty() || !self.last_first[usize::from(w[0])] || w.len() < self.last_min || w.len() > self.last_max {
            return;
        }
        for i in 0..self.lengths.len() {
            let n = self.lengths[i];
            self.scratch.clear();
            let mut complete = true;
            for k in (0..n).rev() {
                let (bytes, len) = &self.recent[(self.next + MAX_PHRASE_WORDS - 1 - k) % MAX_PHRASE_WORDS];
                if *len == 0 {
                    complete = false;
                    break;
                }
                if !self.scratch.is_empty() {
                    self.scratch.push(b' ');
                }
                self.scratch.extend_from_slice(&bytes[..usize::from(*len)]);
            }
            if !complete {
                continue;
            }
            if let Some(hits) = self.phrases.get(&self.scratch) {
                for &(list, index) in hits {
                    self.counts[list] = self.counts[list].saturating_add(1);
                    if !std::mem::replace(&mut self.seen[list][index], true) {
                        self.distinct[list] += 1;
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lists: &[KeywordList], text: &str) -> Vec<(usize, u32, Confidence)> {
        let mut m = Matcher::new(lists);
        for w in normalize(text) {
            m.word((w.len() <= MAX_WORD).then_some(w.as_bytes()));
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

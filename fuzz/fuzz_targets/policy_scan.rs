//! Arbitrary bytes (not necessarily UTF-8) into the content scanner with every
//! detector and the built-in keyword lists on. Must never panic, and pushing
//! the text in pieces (of 1 to 16 bytes, from the first input byte) must find
//! exactly what pushing it whole finds: matches across piece boundaries, in
//! bounded memory, are the scanner's promise. The decision over the findings
//! must not panic either.
#![no_main]

use kluis_policy::{ContentPolicy, DetectorKind, MessageFacts, Scanner, decide};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, text)) = data.split_first() else { return };
    let policy = ContentPolicy { detectors: DetectorKind::ALL.to_vec(), ..ContentPolicy::default() };

    let mut whole = Scanner::new(&policy);
    whole.push(text);
    let whole = whole.finish();

    let mut pieces = Scanner::new(&policy);
    for chunk in text.chunks(usize::from(piece % 16) + 1) {
        pieces.push(chunk);
    }
    let pieces = pieces.finish();
    assert_eq!(*whole, *pieces, "pieces of {} bytes found something else", piece % 16 + 1);

    let facts = MessageFacts { recipients: vec!["a@b.example".into()], attachments: 1, secured: false };
    let _ = decide(&policy, &facts, &whole);
});

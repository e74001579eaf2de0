//! The content policy of Kluis: the send-time check of a message's text, and
//! the decision on what happens to the message.
//!
//! Written once and built three ways: natively (CLI, SMTP relay), as
//! WebAssembly for the task pane and the send page (`wasm-client`), and as
//! plain ES2016 JavaScript for the Outlook event handler on classic Windows,
//! which has no WebAssembly (`policy/js`).
//!
//! - [`Policy`] is the organisation's policy document (JSON, versioned):
//!   the [`SendRules`] every package must meet ([`check`] a [`PackagePlan`]:
//!   the server from metadata, clients before encrypting) and the
//!   [`ContentPolicy`] of the send-time check.
//! - [`Scanner`] reads a message's text as it streams (`push` pieces,
//!   `finish`), in bounded memory, and returns [`Findings`].
//! - [`decide`] turns the policy, the [`MessageFacts`] (recipients,
//!   attachments) and the findings into a [`Verdict`]: allow, warn or block,
//!   with the findings and reasons.
//!
//! Findings are kinds, confidences and counts: the crate never keeps or
//! returns the text it matched.
//!
//! # Detectors and confidence
//!
//! Confidence follows Microsoft Purview's sensitive information types: a
//! checksum makes a number likely, a supporting keyword within 300
//! characters before or after it makes it High.
//!
//! | detector | checks | without keyword | with keyword |
//! | --- | --- | --- | --- |
//! | [`bsn`](detect::bsn) | 11-proof, 9 digits (3-3-3, 4-2-3 groups) | Medium (8 digits: Low) | High |
//! | [`iban`](detect::iban) | ISO 13616 country length, MOD 97-10 | Medium | High |
//! | [`payment_card`](detect::payment_card) | scheme prefix and length, Luhn | Medium | High |
//! | [`nl_id_document`](detect::nl_id_document) | shape, no letter O, ICAO 9303 check digit | Low | High |
//! | [`email`](detect::email) | address shape | Medium | — |
//! | [`keywords`](detect::keywords) | whole words and phrases of a list | one keyword Low, two different Medium, three or more High | — |
//!
//! ```
//! use kluis_policy::{Action, ContentPolicy, MessageFacts, Mode, Scanner, decide};
//! let policy = ContentPolicy { mode: Mode::Require, internal_domains: vec!["example.nl".into()], ..Default::default() };
//! let mut scanner = Scanner::new(&policy);
//! scanner.push("IBAN NL91 ABNA 0417 1643 00".as_bytes());
//! let findings = scanner.finish();
//! let facts = MessageFacts { recipients: vec!["jan@klant.nl".into()], ..Default::default() };
//! assert_eq!(decide(&policy, &facts, &findings).action, Action::Block);
//! ```

#![warn(missing_docs)]

pub mod detect;
mod document;
mod domains;
pub mod file_type;
mod finding;
mod rules;
mod scanner;
mod verdict;

pub use document::{Confidence, ContentPolicy, DetectorKind, KeywordList, Mode};
pub use finding::{Finding, FindingKind, Findings};
pub use rules::{Breach, Change, MessageRule, PackagePlan, Policy, SendRules, Verification, check, diff};
pub use scanner::Scanner;
pub use verdict::{Action, MessageFacts, Reason, Verdict, decide};

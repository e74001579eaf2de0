//! The content policy of Kluis: the send-time check of a message's text, and
//! the decision on what happens to the message.
//!
//! Written once and built three ways: natively (CLI, SMTP relay), as
//! WebAssembly for the task pane and the send page (`wasm-client`), and as
//! plain ES2016 JavaScript for the Outlook event handler on classic Windows,
//! which has no WebAssembly (`policy/js`).
//!
//! - [`ContentPolicy`] is the organisation's policy document (JSON).
//! - [`decide`] turns the policy, the [`MessageFacts`] (recipients,
//!   attachments) and the findings into a [`Verdict`]: allow, warn or block,
//!   with the findings and reasons.
//!
//! Findings are kinds, confidences and counts: the crate never keeps or
//! returns the text it matched.

#![warn(missing_docs)]

pub mod detect;
mod document;
mod finding;
mod verdict;

pub use document::{Confidence, ContentPolicy, DetectorKind, KeywordList, Mode};
pub use finding::{Finding, FindingKind, Findings};
pub use verdict::{Action, MessageFacts, Reason, Verdict, decide};

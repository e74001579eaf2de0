//! The send-time content check (`kluis-policy`) for the task pane and the
//! send page.
//!
//! Documents cross the boundary as plain JavaScript objects in the JSON shape
//! of `kluis-policy` (a policy, message facts, findings, a verdict), so pages
//! hold the same objects the server sends and the event handler's
//! JavaScript-only build returns. Errors carry a `kind`: `invalid_policy`,
//! `invalid_facts`, `invalid_findings` (the object does not have that
//! shape), or `finished` (the scanner was used after `finish`).

use js_sys::Uint8Array;
use kluis_policy::{ContentPolicy, Finding, MessageFacts, Scanner};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

use crate::typed_err;

/// Bytes copied into wasm memory at a time, so that memory stays small
/// whatever the size of the pieces pushed (wasm memory never shrinks).
const COPY: usize = 64 * 1024;

fn from_js<T: DeserializeOwned>(value: &JsValue, kind: &str) -> Result<T, JsValue> {
    let json = js_sys::JSON::stringify(value).map_err(|_| typed_err(kind, "not a JSON value"))?;
    let json = json.as_string().ok_or_else(|| typed_err(kind, "not a JSON value"))?;
    serde_json::from_str(&json).map_err(|e| typed_err(kind, e))
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(value).map_err(|e| typed_err("internal", e))?;
    js_sys::JSON::parse(&json)
}

/// Scans a message's text as it streams, for the policy's detectors and
/// keyword lists. Memory stays bounded whatever the text's length.
#[wasm_bindgen]
pub struct PolicyScanner {
    inner: Option<Scanner>,
    buffer: Vec<u8>,
}

#[wasm_bindgen]
impl PolicyScanner {
    /// A scanner for `policy` (an object in the policy document's shape;
    /// missing fields take their defaults).
    #[wasm_bindgen(constructor)]
    pub fn new(policy: &JsValue) -> Result<PolicyScanner, JsValue> {
        let policy: ContentPolicy = from_js(policy, "invalid_policy")?;
        Ok(PolicyScanner { inner: Some(Scanner::new(&policy)), buffer: vec![0; COPY] })
    }

    /// Reads the next piece of the text (UTF-8 bytes; a piece may end
    /// anywhere, even inside a character).
    pub fn push(&mut self, text: &Uint8Array) -> Result<(), JsValue> {
        let scanner = self.inner.as_mut().ok_or_else(|| typed_err("finished", "the scanner has finished"))?;
        let len = text.length();
        let mut at = 0;
        while at < len {
            let end = len.min(at + COPY as u32);
            let piece = &mut self.buffer[..(end - at) as usize];
            text.subarray(at, end).copy_to(piece);
            scanner.push(piece);
            at = end;
        }
        Ok(())
    }

    /// Ends the text; returns the findings, an array of
    /// `{kind, list?, confidence, count}`.
    pub fn finish(&mut self) -> Result<JsValue, JsValue> {
        let scanner = self.inner.take().ok_or_else(|| typed_err("finished", "the scanner has finished"))?;
        to_js(&scanner.finish())
    }
}

/// What happens to a message: `{action, findings, external_recipients,
/// reasons}` from the policy, the message facts (`{recipients, attachments,
/// secured}`) and the findings of a [`PolicyScanner`].
#[wasm_bindgen]
pub fn decide(policy: &JsValue, facts: &JsValue, findings: &JsValue) -> Result<JsValue, JsValue> {
    let policy: ContentPolicy = from_js(policy, "invalid_policy")?;
    let facts: MessageFacts = from_js(facts, "invalid_facts")?;
    let findings: Vec<Finding> = from_js(findings, "invalid_findings")?;
    to_js(&kluis_policy::decide(&policy, &facts, &findings))
}

/// Scans `text` and decides, in one call: the verdict for a message whose
/// text is at hand as a string.
#[wasm_bindgen(js_name = checkMessage)]
pub fn check_message(policy: &JsValue, facts: &JsValue, text: &str) -> Result<JsValue, JsValue> {
    let policy: ContentPolicy = from_js(policy, "invalid_policy")?;
    let facts: MessageFacts = from_js(facts, "invalid_facts")?;
    let mut scanner = Scanner::new(&policy);
    scanner.push(text.as_bytes());
    to_js(&kluis_policy::decide(&policy, &facts, &scanner.finish()))
}

/// Every rule of the organisation's policy a package would break, before
/// anything is encrypted: `policy` is the document (`{version, send,
/// content}`), `plan` what the sender means to send (`{recipients,
/// file_types, bytes, max_downloads, verification, password, message}`).
/// Answers an array of breaches `{rule, …}` (empty: it may be sent); the
/// server checks the same at creation.
#[wasm_bindgen(js_name = checkPackage)]
pub fn check_package(policy: &JsValue, plan: &JsValue) -> Result<JsValue, JsValue> {
    let policy: kluis_policy::Policy = from_js(policy, "invalid_policy")?;
    let plan: kluis_policy::PackagePlan = from_js(plan, "invalid_facts")?;
    to_js(&kluis_policy::check(&policy, &plan))
}

/// The types of a file named `name` whose first bytes are `head` (at least
/// the first 16 when the file has them): its extension and what the bytes
/// show, as the policy's `blocked_file_types` names them.
#[wasm_bindgen(js_name = fileTypes)]
pub fn file_types(name: &str, head: &[u8]) -> Vec<String> {
    kluis_policy::file_type::of(name, head)
}

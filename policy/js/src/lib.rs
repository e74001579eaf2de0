//! `kluis-policy` behind a plain C ABI, compiled to WebAssembly and then to
//! ES2016 JavaScript by `wasm2js` (binaryen), for the Outlook event handler
//! on classic Windows, whose JavaScript-only runtime has no WebAssembly.
//! `cargo xtask wasm` builds it into `web/pkg/kluis-policy.es2016.js`, which
//! defines one global:
//!
//! ```js
//! var verdictJson = KluisPolicy.check(policyJson, factsJson, text);
//! ```
//!
//! The wrapper around the generated code (`policy/js/wrapper.js`) encodes the
//! strings as UTF-8 by hand and streams the text through the scanner in
//! pieces, using these exports:
//!
//! 1. `kluis_buffer(len) -> pointer`: room for `len` bytes of input.
//! 2. `kluis_begin(len) -> status`: the policy JSON is in the buffer.
//! 3. `kluis_push(len) -> status`: the next piece of the text is in the buffer.
//! 4. `kluis_finish(len) -> length or status`: the message facts JSON is in
//!    the buffer; the verdict JSON is at `kluis_output()`.
//!
//! A negative status is an error: [`INVALID_POLICY`], [`INVALID_FACTS`],
//! [`NOT_BEGUN`]. No unsafe code: the buffers are owned by Rust, and
//! JavaScript reads and writes them through the module's memory.

use std::cell::RefCell;

use kluis_policy::{ContentPolicy, MessageFacts, Scanner, decide};

/// The policy JSON is not a policy document.
pub const INVALID_POLICY: i32 = -1;
/// The facts JSON is not a message facts document.
pub const INVALID_FACTS: i32 = -2;
/// `kluis_push` or `kluis_finish` without `kluis_begin`.
pub const NOT_BEGUN: i32 = -3;

/// The module's one state: a check in progress and the two buffers.
#[derive(Default)]
pub struct State {
    input: Vec<u8>,
    output: Vec<u8>,
    check: Option<(ContentPolicy, Scanner)>,
}

impl State {
    /// Room for `len` bytes of input.
    pub fn buffer(&mut self, len: usize) -> &mut [u8] {
        if self.input.len() < len {
            self.input.resize(len, 0);
        }
        &mut self.input[..len]
    }

    /// Starts a check with the policy JSON in the first `len` bytes of the buffer.
    pub fn begin(&mut self, len: usize) -> i32 {
        self.check = None;
        match serde_json::from_slice::<ContentPolicy>(&self.input[..len.min(self.input.len())]) {
            Ok(policy) => {
                let scanner = Scanner::new(&policy);
                self.check = Some((policy, scanner));
                0
            }
            Err(_) => INVALID_POLICY,
        }
    }

    /// Scans the first `len` bytes of the buffer.
    pub fn push(&mut self, len: usize) -> i32 {
        match &mut self.check {
            Some((_, scanner)) => {
                scanner.push(&self.input[..len.min(self.input.len())]);
                0
            }
            None => NOT_BEGUN,
        }
    }

    /// Ends the check with the facts JSON in the first `len` bytes of the
    /// buffer; the verdict JSON goes to the output, and its length is returned.
    pub fn finish(&mut self, len: usize) -> i32 {
        let Some((policy, scanner)) = self.check.take() else { return NOT_BEGUN };
        let Ok(facts) = serde_json::from_slice::<MessageFacts>(&self.input[..len.min(self.input.len())]) else {
            return INVALID_FACTS;
        };
        let verdict = decide(&policy, &facts, &scanner.finish());
        self.output = serde_json::to_vec(&verdict).expect("a verdict serialises");
        i32::try_from(self.output.len()).expect("a verdict is small")
    }

    /// The last verdict JSON.
    pub fn output(&self) -> &[u8] {
        &self.output
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::default();
}

/// The exports. `no_mangle` is an unsafe attribute because two items with
/// the same symbol name would clash at link time; these names are prefixed
/// `kluis_` and are this module's only exports. Nothing else here is unsafe.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod exports {
    use super::STATE;

    fn address(bytes: &[u8]) -> u32 {
        bytes.as_ptr() as usize as u32
    }

    /// See [`super::State::buffer`]; returns its address in memory.
    #[unsafe(no_mangle)]
    pub extern "C" fn kluis_buffer(len: u32) -> u32 {
        STATE.with_borrow_mut(|s| address(s.buffer(len as usize)))
    }

    /// See [`super::State::begin`].
    #[unsafe(no_mangle)]
    pub extern "C" fn kluis_begin(len: u32) -> i32 {
        STATE.with_borrow_mut(|s| s.begin(len as usize))
    }

    /// See [`super::State::push`].
    #[unsafe(no_mangle)]
    pub extern "C" fn kluis_push(len: u32) -> i32 {
        STATE.with_borrow_mut(|s| s.push(len as usize))
    }

    /// See [`super::State::finish`].
    #[unsafe(no_mangle)]
    pub extern "C" fn kluis_finish(len: u32) -> i32 {
        STATE.with_borrow_mut(|s| s.finish(len as usize))
    }

    /// The address of the last verdict JSON.
    #[unsafe(no_mangle)]
    pub extern "C" fn kluis_output() -> u32 {
        STATE.with_borrow(|s| address(s.output()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(state: &mut State, bytes: &[u8]) -> usize {
        state.buffer(bytes.len()).copy_from_slice(bytes);
        bytes.len()
    }

    #[test]
    fn a_check_through_the_buffers() {
        let mut s = State::default();
        let n = put(&mut s, br#"{"mode":"require"}"#);
        assert_eq!(s.begin(n), 0);
        for piece in [&b"BSN 123 45"[..], b"6 782"] {
            let n = put(&mut s, piece);
            assert_eq!(s.push(n), 0);
        }
        let n = put(&mut s, br#"{"recipients":["a@b.nl"]}"#);
        let len = s.finish(n);
        assert!(len > 0);
        let verdict: serde_json::Value = serde_json::from_slice(s.output()).unwrap();
        assert_eq!(verdict["action"], "block");
        assert_eq!(s.push(0), NOT_BEGUN);
    }

    #[test]
    fn errors() {
        let mut s = State::default();
        let n = put(&mut s, b"{\"mode\":1}");
        assert_eq!(s.begin(n), INVALID_POLICY);
        assert_eq!(s.finish(0), NOT_BEGUN);
        let n = put(&mut s, b"{}");
        assert_eq!(s.begin(n), 0);
        let n = put(&mut s, b"\"x\"");
        assert_eq!(s.finish(n), INVALID_FACTS);
    }
}

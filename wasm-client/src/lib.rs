//! WebAssembly bindings over `kluis-crypto` for browsers and Web Workers.
//!
//! Everything here is a thin wrapper: keys as strings, bytes as
//! `Uint8Array`, errors as `Error` objects with the crate's messages (the
//! package key functions add a `kind` property for pages to branch on). The
//! streaming [`Encryptor`] and [`Decryptor`] take one piece of a stream per
//! `push` and return the output it produced as an array of `Uint8Array`s,
//! which is what a JavaScript `TransformStream` needs (see
//! `web/js/shared/age-stream.js`). Bytes are copied once on the way in, straight
//! into the codec's chunk slot, and once on the way out, straight into a new
//! `Uint8Array`; wasm memory stays at about 2 MiB whatever the piece size.

#![warn(missing_docs)]

use js_sys::{Array, Uint8Array};
use kluis_crypto::package::{
    self, AccessProof, LinkProof, LinkSecret, PackageError, PackageId, PackageKind, ServerShare, StretchedPassword,
};
use kluis_crypto::{Codec, InputFormat, native, scrypt};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

mod policy;
pub use policy::{PolicyScanner, check_message, check_package, decide, file_types};

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// A new identity: X25519 (`AGE-SECRET-KEY-1…`), or post-quantum
/// (`AGE-SECRET-KEY-PQ-1…`, ML-KEM-768 + X25519) when `post_quantum`.
#[wasm_bindgen(js_name = generateIdentity)]
pub fn generate_identity(post_quantum: Option<bool>) -> Result<String, JsError> {
    let identity = native::Identity::generate(post_quantum.unwrap_or(false)).map_err(js_err)?;
    Ok(identity.to_secret_string().to_string())
}

/// The recipient (`age1…` or `age1pq1…`) of an identity.
#[wasm_bindgen(js_name = identityToRecipient)]
pub fn identity_to_recipient(identity: &str) -> Result<String, JsError> {
    Ok(identity.trim().parse::<native::Identity>().map_err(js_err)?.to_public().to_string())
}

/// Checks a recipient (`age1…` or `age1pq1…`) and returns its canonical
/// (lower-case) form.
#[wasm_bindgen(js_name = parseRecipient)]
pub fn parse_recipient(recipient: &str) -> Result<String, JsError> {
    Ok(recipient.trim().parse::<native::Recipient>().map_err(js_err)?.to_string())
}

/// A new link secret `L` (base64url), made by the sender's client.
#[wasm_bindgen(js_name = generateLinkSecret)]
pub fn generate_link_secret() -> Result<String, JsError> {
    Ok(LinkSecret::generate().map_err(js_err)?.to_base64url().to_string())
}

/// A codec's error as a typed error: `kind` is `no_match` (none of the keys
/// opens the file: a wrong password or a changed link), `damaged` (not an age
/// file, or changed, cut short, or not the file the manifest names),
/// `mixed_post_quantum`, `cannot_encrypt`, `io`, or `unexpected`.
fn codec_err(e: kluis_crypto::Error) -> JsValue {
    use kluis_crypto::{EncryptError, Error};
    let kind = match &e {
        Error::NoMatch => "no_match",
        Error::Header(_) | Error::HeaderMac | Error::Payload(_) | Error::Armor(_) | Error::UnexpectedHeader => {
            "damaged"
        }
        Error::Encrypt(EncryptError::MixedPostQuantum) => "mixed_post_quantum",
        Error::Encrypt(_) => "cannot_encrypt",
        Error::Io(_) => "io",
        _ => "unexpected",
    };
    typed_err(kind, e)
}

/// A JavaScript `Error` whose `kind` property names the category, so pages
/// branch on `e.kind` and never on the message (which is for people).
fn typed_err(kind: &str, message: impl std::fmt::Display) -> JsValue {
    let error = js_sys::Error::new(&message.to_string());
    error.set_name("KluisError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &JsValue::from_str("kind"), &JsValue::from_str(kind));
    error.into()
}

/// Package key errors as typed errors: `kind` is `invalid_id` (the package
/// id is not 1 to 64 characters of `A-Z a-z 0-9 - _`), `invalid_secret` (L
/// or S is not 32 bytes of base64url: the link is incomplete or changed),
/// `invalid_proof` or `invalid_verifier`.
fn package_err(e: PackageError) -> JsValue {
    let kind = match e {
        PackageError::InvalidId => "invalid_id",
        PackageError::InvalidSecret => "invalid_secret",
        PackageError::InvalidProof | PackageError::InvalidLinkProof => "invalid_proof",
        PackageError::InvalidVerifier | PackageError::InvalidLinkVerifier => "invalid_verifier",
    };
    typed_err(kind, e)
}

fn package_id(text: &str) -> Result<PackageId, JsValue> {
    PackageId::parse(text).map_err(package_err)
}

/// `P'` as JavaScript hands it over: 32 bytes, or `undefined` without a
/// password. Other lengths are an `invalid_password` error (a bug in the page).
fn stretched_password(stretched: Option<Vec<u8>>) -> Result<Option<StretchedPassword>, JsValue> {
    match stretched {
        Some(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let arr: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| typed_err("invalid_password", "stretched password must be 32 bytes"))?;
            Ok(Some(StretchedPassword::from_bytes(arr)))
        }
        None => Ok(None),
    }
}

/// `P'`: stretches a package password (scrypt, 2^17). Slow: call it in a worker.
/// Throws an `Error` with `kind` `invalid_id` for a malformed package id.
#[wasm_bindgen(js_name = stretchPassword)]
pub fn stretch_password(package_id: &str, password: &str) -> Result<Vec<u8>, JsValue> {
    let id = self::package_id(package_id)?;
    Ok(package::stretch_password(&id, password).expose().to_vec())
}

/// The parsed package id, `L`, `S` and `P'` of the package key functions.
type PackageInputs = (PackageId, LinkSecret, ServerShare, Option<StretchedPassword>);

fn package_inputs(
    package_id: &str,
    link: &str,
    share: &str,
    stretched: Option<Vec<u8>>,
) -> Result<PackageInputs, JsValue> {
    let id = self::package_id(package_id)?;
    let link = LinkSecret::from_base64url(link).map_err(package_err)?;
    let share = ServerShare::from_base64url(share).map_err(package_err)?;
    Ok((id, link, share, stretched_password(stretched)?))
}

/// Both package identities, `[AGE-SECRET-KEY-1…, AGE-SECRET-KEY-PQ-1…]`
/// (docs/architecture.md §3, key schedules v1 and v2), from the package id,
/// `L`, `S` (base64url) and, for password packages, `P'` from
/// [`stretch_password`]. A recipient is not told which kind the sender
/// picked: give both to the `Decryptor`, which uses the one the file is for.
/// Errors carry a `kind` (see `invalid_id`, `invalid_secret`, `invalid_password`).
#[wasm_bindgen(js_name = packageIdentities)]
pub fn package_identities(
    package_id: &str,
    link: &str,
    share: &str,
    stretched: Option<Vec<u8>>,
) -> Result<Vec<String>, JsValue> {
    let (id, link, share, stretched) = package_inputs(package_id, link, share, stretched)?;
    let identities = package::package_identities(&id, &link, &share, stretched.as_ref());
    Ok(identities.iter().map(|i| i.to_secret_string().to_string()).collect())
}

/// The package recipient the sender encrypts blobs to: `age1pq1…` (key
/// schedule v2) when `post_quantum`, which the sender sets exactly when its
/// own key is post-quantum (see [`recipient_is_post_quantum`]); else
/// `age1…`. Errors carry a `kind` as for [`package_identities`].
#[wasm_bindgen(js_name = packageRecipient)]
pub fn package_recipient(
    package_id: &str,
    link: &str,
    share: &str,
    stretched: Option<Vec<u8>>,
    post_quantum: Option<bool>,
) -> Result<String, JsValue> {
    let (id, link, share, stretched) = package_inputs(package_id, link, share, stretched)?;
    let kind = if post_quantum.unwrap_or(false) { PackageKind::PostQuantum } else { PackageKind::Classic };
    Ok(package::package_identity(&id, &link, &share, stretched.as_ref(), kind).to_public().to_string())
}

/// Whether a recipient is post-quantum (`age1pq1…`) rather than X25519
/// (`age1…`). Files go to recipients of one kind only (c2sp.org/age), so a
/// sender's package is of its own key's kind. Errors carry `kind`
/// `bad_recipient` for text that is neither.
#[wasm_bindgen(js_name = recipientIsPostQuantum)]
pub fn recipient_is_post_quantum(recipient: &str) -> Result<bool, JsValue> {
    let recipient = parse_native_recipient(recipient)?;
    Ok(PackageKind::of(&recipient) == PackageKind::PostQuantum)
}

fn parse_native_recipient(recipient: &str) -> Result<native::Recipient, JsValue> {
    recipient.trim().parse().map_err(|e| typed_err("bad_recipient", e))
}

fn derive_access_proof(package_id: &str, link: &str, stretched: Option<Vec<u8>>) -> Result<AccessProof, JsValue> {
    let id = self::package_id(package_id)?;
    let link = LinkSecret::from_base64url(link).map_err(package_err)?;
    let stretched = stretched_password(stretched)?;
    Ok(package::access_proof(&id, &link, stretched.as_ref()))
}

/// The access proof `A` (base64url) a recipient presents with its code
/// request and access call (docs/architecture.md §3, access proof), from the package
/// id, `L` (base64url) and, for password packages, `P'` from
/// [`stretch_password`]. Errors carry a `kind` as for [`package_identity`].
#[wasm_bindgen(js_name = accessProof)]
pub fn access_proof(package_id: &str, link: &str, stretched: Option<Vec<u8>>) -> Result<String, JsValue> {
    Ok(derive_access_proof(package_id, link, stretched)?.to_base64url().to_string())
}

/// The access verifier `SHA-256(A)` (base64url) the sender registers when it
/// finalizes the package; same inputs as [`access_proof`].
#[wasm_bindgen(js_name = accessVerifier)]
pub fn access_verifier(package_id: &str, link: &str, stretched: Option<Vec<u8>>) -> Result<String, JsValue> {
    Ok(derive_access_proof(package_id, link, stretched)?.verifier().to_base64url())
}

fn derive_link_proof(package_id: &str, link: &str) -> Result<LinkProof, JsValue> {
    let id = self::package_id(package_id)?;
    let link = LinkSecret::from_base64url(link).map_err(package_err)?;
    Ok(package::link_proof(&id, &link))
}

/// The link proof `A_L` (base64url) a recipient presents to see who sent the
/// package before it is asked for anything (docs/architecture.md §3, link
/// proof), from the package id and `L` (base64url); no password. Errors carry
/// a `kind` as for [`package_identity`].
#[wasm_bindgen(js_name = linkProof)]
pub fn link_proof(package_id: &str, link: &str) -> Result<String, JsValue> {
    Ok(derive_link_proof(package_id, link)?.to_base64url().to_string())
}

/// The link verifier `SHA-256(A_L)` (base64url) the sender registers beside
/// the access verifier when it finalizes the package; same inputs as
/// [`link_proof`].
#[wasm_bindgen(js_name = linkVerifier)]
pub fn link_verifier(package_id: &str, link: &str) -> Result<String, JsValue> {
    Ok(derive_link_proof(package_id, link)?.verifier().to_base64url())
}

/// Largest piece copied into a scratch buffer when the codec cannot take
/// input in place (header, armor).
const SCRATCH: usize = 64 * 1024;

/// Drives one codec from JavaScript.
struct Driver<C> {
    codec: C,
    scratch: Vec<u8>,
}

/// Where a driver puts output: new arrays, or a caller's buffer.
trait Sink {
    fn put(&mut self, bytes: &[u8]) -> Result<(), JsValue>;
}

/// A new `Uint8Array` per output piece, as Web Streams need.
impl Sink for Array {
    fn put(&mut self, bytes: &[u8]) -> Result<(), JsValue> {
        self.push(&Uint8Array::from(bytes));
        Ok(())
    }
}

/// Output written into a caller-owned buffer from its start. Nothing is
/// allocated, so callers that reuse buffers (uploads, writes to disk) avoid
/// the cost of a fresh array per chunk, a quarter of the time in Chromium.
struct BufferSink<'a> {
    buffer: &'a Uint8Array,
    written: u32,
}

impl Sink for BufferSink<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), JsValue> {
        let n = bytes.len() as u32;
        if self.buffer.length() - self.written < n {
            return Err(typed_err("buffer_too_small", "the output buffer is too small (see outputBound)"));
        }
        self.buffer.subarray(self.written, self.written + n).copy_from(bytes);
        self.written += n;
        Ok(())
    }
}

impl<C: Codec> Driver<C> {
    fn new(codec: C) -> Self {
        Driver { codec, scratch: Vec::new() }
    }

    /// Pushes one piece, sending all output it produced to `sink`.
    fn push(&mut self, input: &Uint8Array, sink: &mut impl Sink) -> Result<(), JsValue> {
        let len = input.length();
        let mut off = 0u32;
        loop {
            self.take(sink)?;
            if off == len {
                return Ok(());
            }
            let rest = len - off;
            let space = self.codec.input_space();
            if !space.is_empty() {
                // Straight from the JavaScript array into the chunk slot.
                let n = rest.min(space.len() as u32);
                input.subarray(off, off + n).copy_to(&mut space[..n as usize]);
                self.codec.commit(n as usize).map_err(codec_err)?;
                off += n;
            } else {
                let n = rest.min(SCRATCH as u32);
                self.scratch.resize(n as usize, 0);
                input.subarray(off, off + n).copy_to(&mut self.scratch);
                off += self.codec.push(&self.scratch).map_err(codec_err)? as u32;
            }
        }
    }

    /// Ends the input, sending the rest of the output to `sink`.
    fn finish(&mut self, sink: &mut impl Sink) -> Result<(), JsValue> {
        loop {
            self.codec.finish().map_err(codec_err)?;
            if self.codec.output().is_empty() {
                return Ok(());
            }
            self.take(sink)?;
        }
    }

    fn take(&mut self, sink: &mut impl Sink) -> Result<(), JsValue> {
        loop {
            let available = self.codec.output();
            if available.is_empty() {
                return Ok(());
            }
            sink.put(available)?;
            let n = available.len();
            self.codec.consume(n);
        }
    }

    fn push_array(&mut self, input: &Uint8Array) -> Result<Array, JsValue> {
        let mut out = Array::new();
        self.push(input, &mut out)?;
        Ok(out)
    }

    fn finish_array(&mut self) -> Result<Array, JsValue> {
        let mut out = Array::new();
        self.finish(&mut out)?;
        Ok(out)
    }

    fn push_into(&mut self, input: &Uint8Array, buffer: &Uint8Array) -> Result<u32, JsValue> {
        let mut sink = BufferSink { buffer, written: 0 };
        self.push(input, &mut sink)?;
        Ok(sink.written)
    }

    fn finish_into(&mut self, buffer: &Uint8Array) -> Result<u32, JsValue> {
        let mut sink = BufferSink { buffer, written: 0 };
        self.finish(&mut sink)?;
        Ok(sink.written)
    }
}

/// Streaming age encryption.
#[wasm_bindgen]
pub struct Encryptor {
    inner: Driver<kluis_crypto::Encryptor>,
    armor: bool,
}

/// Bytes a codec may hold back from earlier pushes and release later: two
/// chunk slots (wasm processes one chunk at a time, plus the one being filled).
const HELD_BACK: usize = 2 * kluis_crypto::stream::ENCRYPTED_CHUNK_SIZE;

#[wasm_bindgen]
impl Encryptor {
    /// Encrypts to the given `age1…` or `age1pq1…` recipients; `armor`
    /// writes ASCII armor. Errors carry a `kind`: `bad_recipient`, or
    /// `mixed_post_quantum` (post-quantum and classic recipients together).
    #[wasm_bindgen(constructor)]
    pub fn new(recipients: Vec<String>, armor: bool) -> Result<Encryptor, JsValue> {
        let parsed = recipients
            .iter()
            .map(|r| r.trim().parse::<native::Recipient>().map_err(|e| typed_err("bad_recipient", format!("{r}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&dyn kluis_crypto::Recipient> = parsed.iter().map(|r| r as _).collect();
        let inner = kluis_crypto::Encryptor::with_recipients(&refs).map_err(|e| match e {
            kluis_crypto::Error::Encrypt(kluis_crypto::EncryptError::MixedPostQuantum) => {
                typed_err("mixed_post_quantum", e)
            }
            e => JsValue::from(js_err(e)),
        })?;
        Ok(Encryptor { inner: Driver::new(if armor { inner.armored() } else { inner }), armor })
    }

    /// Encrypts to a passphrase with scrypt work factor `2^work_factor`.
    #[wasm_bindgen(js_name = withPassphrase)]
    pub fn with_passphrase(passphrase: String, work_factor: u8, armor: bool) -> Result<Encryptor, JsError> {
        let recipient =
            scrypt::Recipient::new(Zeroizing::new(passphrase)).with_work_factor(work_factor).map_err(js_err)?;
        let inner = kluis_crypto::Encryptor::with_recipients(&[&recipient]).map_err(js_err)?;
        Ok(Encryptor { inner: Driver::new(if armor { inner.armored() } else { inner }), armor })
    }

    /// Encrypts one piece of plaintext; returns the ciphertext ready so far
    /// (an array of `Uint8Array`s, possibly empty).
    pub fn push(&mut self, plaintext: &Uint8Array) -> Result<Array, JsValue> {
        self.inner.push_array(plaintext)
    }

    /// Like [`Self::push`], but writes the ciphertext into `sink` (from its
    /// start) and returns its length; nothing is allocated. `sink` needs
    /// [`Self::output_bound`] bytes for this piece.
    #[wasm_bindgen(js_name = pushInto)]
    pub fn push_into(&mut self, plaintext: &Uint8Array, sink: &Uint8Array) -> Result<u32, JsValue> {
        self.inner.push_into(plaintext, sink)
    }

    /// Ends the plaintext; returns the rest of the ciphertext.
    pub fn finish(&mut self) -> Result<Array, JsValue> {
        self.inner.finish_array()
    }

    /// Like [`Self::finish`], into `sink` (room: `outputBound(0)`); returns the length.
    #[wasm_bindgen(js_name = finishInto)]
    pub fn finish_into(&mut self, sink: &Uint8Array) -> Result<u32, JsValue> {
        self.inner.finish_into(sink)
    }

    /// Length of the whole encrypted file for `plaintext_length` bytes (binary output).
    #[wasm_bindgen(js_name = encryptedLength)]
    pub fn encrypted_length(&self, plaintext_length: f64) -> f64 {
        self.inner.codec.encrypted_len(plaintext_length as u64) as f64
    }

    /// Restarts output at byte `offset` of the file (where an interrupted
    /// upload stopped). Push plaintext from `plaintextOffset` on and drop the
    /// first `skipOutput` bytes of output.
    #[wasm_bindgen(js_name = resumeAt)]
    pub fn resume_at(&mut self, offset: f64) -> Result<ResumePoint, JsError> {
        let r = self.inner.codec.resume_at(offset as u64).map_err(js_err)?;
        Ok(ResumePoint { plaintext_offset: r.plaintext_offset as f64, skip_output: r.skip_output })
    }

    /// The secret state that lets another page continue this encryption
    /// (header, nonce, payload key). Keep it only until the upload is done.
    #[wasm_bindgen(js_name = resumeState)]
    pub fn resume_state(&self) -> Result<Vec<u8>, JsError> {
        Ok(self.inner.codec.resume_state().map_err(js_err)?.to_vec())
    }

    /// The file's header hash (SHA-256 of its header and payload nonce, hex):
    /// what the manifest binds the file's blob with. Known before any input,
    /// and the same after `fromResumeState`.
    #[wasm_bindgen(js_name = headerHash)]
    pub fn header_hash(&self) -> String {
        self.inner.codec.header_hash().to_hex()
    }

    /// Continues an encryption saved with `resumeState`; call `resumeAt` next.
    #[wasm_bindgen(js_name = fromResumeState)]
    pub fn from_resume_state(state: &[u8]) -> Result<Encryptor, JsError> {
        let inner = kluis_crypto::Encryptor::from_resume_state(state).map_err(js_err)?;
        Ok(Encryptor { inner: Driver::new(inner), armor: false })
    }

    /// Most output bytes a push of `input_length` bytes (or a finish, with 0) can produce.
    #[wasm_bindgen(js_name = outputBound)]
    pub fn output_bound(&self, input_length: usize) -> usize {
        let binary = self.inner.codec.header_len() + HELD_BACK + input_length + 16 * (input_length / 65_536 + 2);
        if self.armor {
            // 64 characters and a newline per 48 bytes, plus BEGIN and END lines.
            binary.div_ceil(48) * 65 + 80
        } else {
            binary
        }
    }
}

/// Where to continue an encryption; see [`Encryptor::resume_at`].
#[wasm_bindgen]
pub struct ResumePoint {
    plaintext_offset: f64,
    skip_output: usize,
}

#[wasm_bindgen]
impl ResumePoint {
    /// Where to start reading the plaintext again (a chunk boundary).
    #[wasm_bindgen(getter, js_name = plaintextOffset)]
    pub fn plaintext_offset(&self) -> f64 {
        self.plaintext_offset
    }
    /// Bytes of the encryptor's first output to drop (already on the server).
    #[wasm_bindgen(getter, js_name = skipOutput)]
    pub fn skip_output(&self) -> usize {
        self.skip_output
    }
}

/// Streaming age decryption (binary or armored, detected).
///
/// Plaintext is returned one authenticated 64 KiB chunk at a time. If a
/// later call throws, everything returned before belongs to a damaged file
/// and must be discarded.
#[wasm_bindgen]
pub struct Decryptor {
    inner: Driver<kluis_crypto::Decryptor<'static>>,
}

#[wasm_bindgen]
impl Decryptor {
    /// Decrypts with the given `AGE-SECRET-KEY-1…` or `AGE-SECRET-KEY-PQ-1…` identities.
    #[wasm_bindgen(constructor)]
    pub fn new(identities: Vec<String>) -> Result<Decryptor, JsError> {
        let parsed = identities
            .iter()
            .map(|i| {
                i.trim()
                    .parse::<native::Identity>()
                    .map(|i| Box::new(i) as Box<dyn kluis_crypto::Identity>)
                    .map_err(js_err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Decryptor { inner: Driver::new(kluis_crypto::Decryptor::new(parsed)) })
    }

    /// Decrypts a passphrase-encrypted file.
    #[wasm_bindgen(js_name = withPassphrase)]
    pub fn with_passphrase(passphrase: String) -> Decryptor {
        let identity = scrypt::Identity::new(Zeroizing::new(passphrase));
        Decryptor { inner: Driver::new(kluis_crypto::Decryptor::new(vec![Box::new(identity)])) }
    }

    /// Accepts binary age only (no armor detection).
    #[wasm_bindgen(js_name = binaryOnly)]
    pub fn binary_only(self) -> Decryptor {
        Decryptor { inner: Driver::new(self.inner.codec.with_format(InputFormat::Binary)) }
    }

    /// Refuses the file, before any plaintext, unless its header hash (hex,
    /// from the manifest) is `header`: the file bound to this blob. Throws a
    /// typed error of kind `damaged` for a malformed hash.
    #[wasm_bindgen(js_name = expectHeader)]
    pub fn expect_header(self, header: &str) -> Result<Decryptor, JsValue> {
        let hash = kluis_crypto::HeaderHash::from_hex(header)
            .ok_or_else(|| typed_err("damaged", "the file list holds a malformed header hash"))?;
        Ok(Decryptor { inner: Driver::new(self.inner.codec.expecting_header(hash)) })
    }

    /// Decrypts one piece of the file; returns the plaintext authenticated
    /// so far (an array of `Uint8Array`s, possibly empty).
    pub fn push(&mut self, ciphertext: &Uint8Array) -> Result<Array, JsValue> {
        self.inner.push_array(ciphertext)
    }

    /// Ends the file; returns the rest of the plaintext, or throws if the file
    /// is truncated or damaged.
    pub fn finish(&mut self) -> Result<Array, JsValue> {
        self.inner.finish_array()
    }

    /// Like [`Self::push`], but writes the plaintext into `sink` (from its
    /// start) and returns its length; nothing is allocated. `sink` needs
    /// [`Self::output_bound`] bytes for this piece.
    #[wasm_bindgen(js_name = pushInto)]
    pub fn push_into(&mut self, ciphertext: &Uint8Array, sink: &Uint8Array) -> Result<u32, JsValue> {
        self.inner.push_into(ciphertext, sink)
    }

    /// Like [`Self::finish`], into `sink` (room: `outputBound(0)`); returns the length.
    #[wasm_bindgen(js_name = finishInto)]
    pub fn finish_into(&mut self, sink: &Uint8Array) -> Result<u32, JsValue> {
        self.inner.finish_into(sink)
    }

    /// Most plaintext bytes a push of `input_length` bytes (or a finish, with 0) can produce.
    #[wasm_bindgen(js_name = outputBound)]
    pub fn output_bound(&self, input_length: usize) -> usize {
        input_length + HELD_BACK
    }

    /// Length of the binary header with its nonce, once parsed.
    #[wasm_bindgen(getter, js_name = headerLength)]
    pub fn header_length(&self) -> Option<usize> {
        self.inner.codec.header_len()
    }
}

/// An unlocked header for random access: decrypt from any plaintext offset
/// without fetching what comes before (ranged and resumed downloads).
#[wasm_bindgen]
pub struct Header {
    inner: kluis_crypto::UnlockedHeader,
}

#[wasm_bindgen]
impl Header {
    /// Unlocks the header at the start of a binary age file. Returns
    /// `undefined` while `start` is too short; fetch more and call again.
    pub fn unlock(start: &[u8], identities: Vec<String>) -> Result<Option<Header>, JsError> {
        let parsed = identities
            .iter()
            .map(|i| i.trim().parse::<native::Identity>().map_err(js_err))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&dyn kluis_crypto::Identity> = parsed.iter().map(|i| i as _).collect();
        Ok(kluis_crypto::UnlockedHeader::parse(start, &refs).map_err(js_err)?.map(|inner| Header { inner }))
    }

    /// Offset of the payload in the file.
    #[wasm_bindgen(getter, js_name = headerLength)]
    pub fn header_length(&self) -> usize {
        self.inner.header_len()
    }

    /// Plaintext length of a file of `file_length` bytes.
    #[wasm_bindgen(js_name = plaintextLength)]
    pub fn plaintext_length(&self, file_length: f64) -> Result<f64, JsError> {
        Ok(self.inner.plaintext_len(file_length as u64).map_err(js_err)? as f64)
    }

    /// A decryptor for the plaintext from `offset` on in a file of
    /// `file_length` bytes. Feed it the file from `fileOffset`.
    #[wasm_bindgen(js_name = decryptFrom)]
    pub fn decrypt_from(&self, offset: f64, file_length: f64) -> Result<RangeDecryptor, JsError> {
        let (inner, seek) = self.inner.decrypt_from(offset as u64, file_length as u64).map_err(js_err)?;
        Ok(RangeDecryptor {
            inner: Driver::new(inner),
            file_offset: (self.inner.header_len() as u64 + seek.payload_offset) as f64,
            skip: seek.skip,
        })
    }
}

/// Decrypts a range of a file's payload; see [`Header::decrypt_from`].
#[wasm_bindgen]
pub struct RangeDecryptor {
    inner: Driver<kluis_crypto::stream::PayloadDecryptor>,
    file_offset: f64,
    skip: usize,
}

#[wasm_bindgen]
impl RangeDecryptor {
    /// Where in the file to start fetching.
    #[wasm_bindgen(getter, js_name = fileOffset)]
    pub fn file_offset(&self) -> f64 {
        self.file_offset
    }

    /// Plaintext bytes before the requested offset, dropped automatically.
    #[wasm_bindgen(getter)]
    pub fn skip(&self) -> usize {
        self.skip
    }

    /// Decrypts one piece; returns plaintext from the requested offset on.
    pub fn push(&mut self, ciphertext: &Uint8Array) -> Result<Array, JsValue> {
        let out = self.inner.push_array(ciphertext)?;
        Ok(self.drop_skipped(out))
    }

    /// Ends the input (at the end of the file: checks the final chunk).
    pub fn finish(&mut self) -> Result<Array, JsValue> {
        let out = self.inner.finish_array()?;
        Ok(self.drop_skipped(out))
    }

    /// Drops the first [`Self::skip`] bytes of output.
    fn drop_skipped(&mut self, pieces: Array) -> Array {
        if self.skip == 0 {
            return pieces;
        }
        let out = Array::new();
        for piece in pieces.iter() {
            let piece: Uint8Array = piece.unchecked_into();
            let n = (self.skip as u32).min(piece.length());
            self.skip -= n as usize;
            if n < piece.length() {
                out.push(&piece.subarray(n, piece.length()));
            }
        }
        out
    }
}

/// Incremental SHA-256, for checking files of any size without holding them.
#[wasm_bindgen]
#[derive(Default)]
pub struct Sha256 {
    inner: sha2::Sha256,
}

#[wasm_bindgen]
impl Sha256 {
    /// A new hash.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Sha256 {
        Sha256::default()
    }

    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.inner.update(bytes);
    }

    /// The hex digest.
    #[wasm_bindgen(js_name = hexDigest)]
    pub fn hex_digest(self) -> String {
        use sha2::Digest;
        hex::encode(self.inner.finalize())
    }
}

/// The package manifest (blob 0) for `files`, an array of
/// `{name, size, type, header}` (see `kluis-protocol`; `header` is the
/// file's `Encryptor.headerHash()`). Use `placeholderHeaderHash()` for hashes
/// not known yet: the length is the same.
#[wasm_bindgen(js_name = buildManifest)]
pub fn build_manifest(subject: &str, message: &str, files: JsValue) -> Result<Vec<u8>, JsError> {
    let json = js_sys::JSON::stringify(&files).map_err(|_| JsError::new("files must be an array"))?;
    let files: Vec<kluis_protocol::FileEntry> =
        serde_json::from_str(&String::from(json)).map_err(|e| JsError::new(&format!("invalid file list: {e}")))?;
    Ok(kluis_protocol::Manifest::new(subject, message, files).to_bytes())
}

/// A header hash of the right length for sizing a manifest before the files are encrypted.
#[wasm_bindgen(js_name = placeholderHeaderHash)]
pub fn placeholder_header_hash() -> String {
    kluis_protocol::manifest::PLACEHOLDER_HEADER.to_hex()
}

/// Parses and checks a decrypted manifest; returns `{kluis, subject, message, files}`.
/// Errors carry a `kind`: `newer` (a newer format: the page must be updated)
/// or `damaged`.
#[wasm_bindgen(js_name = parseManifest)]
pub fn parse_manifest(bytes: &[u8], blob_count: usize) -> Result<JsValue, JsValue> {
    let manifest = kluis_protocol::Manifest::parse(bytes, blob_count).map_err(|e| {
        let kind = match e {
            kluis_protocol::ManifestError::UnsupportedVersion(_) => "newer",
            _ => "damaged",
        };
        typed_err(kind, e)
    })?;
    let json = serde_json::to_string(&manifest).expect("serializable");
    js_sys::JSON::parse(&json).map_err(|_| typed_err("damaged", "cannot convert the manifest"))
}

/// Splits a package link into `{server, packageId, linkSecret}` (base64url
/// secret). Errors carry a `kind`: `not_a_link`, or `bad_secret` (the part
/// after `#` is missing, cut short or changed).
#[wasm_bindgen(js_name = parseLink)]
pub fn parse_link(text: &str) -> Result<JsValue, JsValue> {
    let link = kluis_protocol::Link::parse(text).map_err(|e| {
        let kind = match e {
            kluis_protocol::LinkError::NotALink => "not_a_link",
            kluis_protocol::LinkError::BadSecret => "bad_secret",
        };
        typed_err(kind, e)
    })?;
    let json = serde_json::json!({
        "server": link.server,
        "packageId": link.package_id.as_str(),
        "linkSecret": link.link_secret.to_base64url().as_str(),
    });
    js_sys::JSON::parse(&json.to_string()).map_err(|_| typed_err("not_a_link", "cannot convert the link"))
}

/// The link for a package: `<server>/p/<id>#<secret>`. Errors carry a
/// `kind` (`invalid_id`, `invalid_secret`) as for [`package_identity`].
#[wasm_bindgen(js_name = formatLink)]
pub fn format_link(server: &str, package_id: &str, link_secret: &str) -> Result<String, JsValue> {
    let id = self::package_id(package_id)?;
    let secret = LinkSecret::from_base64url(link_secret).map_err(package_err)?;
    Ok(kluis_protocol::Link::new(server, id, secret).to_string())
}

/// Splits an upload request link (`https://HOST/r/<id>#age1…` or `#age1pq1…`) into
/// `{server, requestId, recipient}` (the recipient in its canonical form).
/// Errors carry a `kind`: `not_a_link`, or `bad_recipient` (the part after
/// `#` is missing, cut short or changed).
#[wasm_bindgen(js_name = parseRequestLink)]
pub fn parse_request_link(text: &str) -> Result<JsValue, JsValue> {
    let link = kluis_protocol::RequestLink::parse(text).map_err(|e| {
        let kind = match e {
            kluis_protocol::LinkError::NotALink => "not_a_link",
            kluis_protocol::LinkError::BadSecret => "bad_recipient",
        };
        typed_err(kind, e)
    })?;
    let json = serde_json::json!({
        "server": link.server,
        "requestId": link.request_id.as_str(),
        "recipient": link.recipient.to_string(),
    });
    js_sys::JSON::parse(&json.to_string()).map_err(|_| typed_err("not_a_link", "cannot convert the link"))
}

/// The link an uploader opens: `<server>/r/<id>#<recipient>` (`age1…` or,
/// about 1950 characters long, `age1pq1…`). Errors carry a `kind`:
/// `invalid_id`, or `bad_recipient` (not a recipient of either kind).
#[wasm_bindgen(js_name = formatRequestLink)]
pub fn format_request_link(server: &str, request_id: &str, recipient: &str) -> Result<String, JsValue> {
    let id = self::package_id(request_id)?;
    let recipient = parse_native_recipient(recipient)?;
    Ok(kluis_protocol::RequestLink::new(server, id, recipient).to_string())
}

/// A file name that is safe to save under on any system.
#[wasm_bindgen(js_name = safeFileName)]
pub fn safe_file_name(name: &str) -> String {
    kluis_protocol::safe_file_name(name)
}

/// Bytes of wasm linear memory in use (it grows but never shrinks).
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as f64
}

#[cfg(test)]
mod tests {
    // Exercised through wasm-bindgen-test in tests/; nothing native here.
    #[test]
    fn identity_round_trip_natively() {
        let id = super::generate_identity(None).unwrap();
        assert!(super::identity_to_recipient(&id).unwrap().starts_with("age1"));
    }
}

//! age v1 file encryption (<https://c2sp.org/age>) for Kluis, and the Kluis
//! package key schedule.
//!
//! The core is sans-I/O: [`Encryptor`] and [`Decryptor`] take bytes with
//! `push`, hand out bytes with `output`/`consume`, and never read, write,
//! block or spawn on their own. Memory stays at a few 64 KiB chunks whatever
//! the file size. On top sit [`io`] adapters for `Read`/`Write` and the
//! one-shot helpers [`encrypt`], [`encrypt_armored`] and [`decrypt`].
//!
//! Modules follow the spec: [`format`] (header), [`stream`] (STREAM payload),
//! [`armor`] (ASCII armor), [`mlkem768x25519`], [`x25519`] and [`scrypt`]
//! (recipient types), and
//! [`package`] (Kluis keys on top of age).
//!
//! ```
//! use kluis_crypto::{decrypt, encrypt, x25519};
//! let identity = x25519::Identity::generate()?;
//! let file = encrypt(&[&identity.to_public()], b"hello")?;
//! assert_eq!(decrypt(&[&identity], &file)?, b"hello");
//! # Ok::<(), kluis_crypto::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod aead;
pub mod armor;
mod bech32_keys;
mod decrypt;
mod encrypt;
mod error;
pub mod format;
mod hpke;
pub mod io;
mod keys;
pub mod mlkem768x25519;
pub mod native;
pub mod package;
mod primitives;
mod recipient;
pub mod scrypt;
pub mod stream;
pub mod x25519;

pub use decrypt::{Decryptor, InputFormat, UnlockedHeader};
pub use encrypt::{Encryptor, Resume};
pub use error::{ArmorError, EncryptError, Error, HeaderError, PayloadError, Result};
pub use format::{HeaderHash, MAX_HEADER_LEN, Stanza};
pub use keys::FileKey;
pub use recipient::{Identity, Recipient};

/// The push/pull interface shared by every streaming transform in this crate.
///
/// Drive it like this: push input, and whenever `push` takes nothing, take
/// the output. At the end, call `finish` and take output until `finish`
/// returns with no output left. Errors surface from `push` and `finish`, after
/// the output that was released before them.
pub trait Codec {
    /// Offers input; returns how many bytes were taken.
    fn push(&mut self, input: &[u8]) -> Result<usize>;
    /// Signals the end of input (call again after taking output).
    fn finish(&mut self) -> Result<()>;
    /// Output ready to be taken.
    fn output(&self) -> &[u8];
    /// Marks `n` output bytes as taken.
    fn consume(&mut self, n: usize);
    /// True once all input is processed and all output taken.
    fn is_done(&self) -> bool;
    /// Zero-copy input: space the next input bytes may be written into
    /// directly, followed by [`Codec::commit`]. Empty when the codec cannot
    /// take input this way right now; `push` always works.
    fn input_space(&mut self) -> &mut [u8];
    /// Takes `n` bytes written into [`Codec::input_space`].
    fn commit(&mut self, n: usize) -> Result<()>;
}

macro_rules! impl_codec {
    ($($t:ty),*) => {$(
        impl Codec for $t {
            fn push(&mut self, input: &[u8]) -> Result<usize> { <$t>::push(self, input) }
            fn finish(&mut self) -> Result<()> { <$t>::finish(self) }
            fn output(&self) -> &[u8] { <$t>::output(self) }
            fn consume(&mut self, n: usize) { <$t>::consume(self, n) }
            fn is_done(&self) -> bool { <$t>::is_done(self) }
            fn input_space(&mut self) -> &mut [u8] { <$t>::input_space(self) }
            fn commit(&mut self, n: usize) -> Result<()> { <$t>::commit(self, n) }
        }
    )*};
}
impl_codec!(Encryptor, Decryptor<'_>, stream::PayloadEncryptor, stream::PayloadDecryptor);

/// Runs a codec over a whole input held in memory.
pub fn run_to_end(codec: &mut impl Codec, mut input: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut take = |codec: &mut dyn Codec| {
        let n = codec.output().len();
        out.extend_from_slice(codec.output());
        codec.consume(n);
        n
    };
    while !input.is_empty() {
        let n = codec.push(input)?;
        input = &input[n..];
        take(codec);
    }
    loop {
        codec.finish()?;
        if take(codec) == 0 {
            break;
        }
    }
    debug_assert!(codec.is_done());
    Ok(out)
}

/// Encrypts `plaintext` to `recipients` into a binary age file.
pub fn encrypt(recipients: &[&dyn Recipient], plaintext: &[u8]) -> Result<Vec<u8>> {
    run_to_end(&mut Encryptor::with_recipients(recipients)?, plaintext)
}

/// Encrypts `plaintext` to `recipients` into an ASCII-armored age file.
pub fn encrypt_armored(recipients: &[&dyn Recipient], plaintext: &[u8]) -> Result<String> {
    let text = run_to_end(&mut Encryptor::with_recipients(recipients)?.armored(), plaintext)?;
    Ok(String::from_utf8(text).expect("armor is ASCII"))
}

/// Decrypts a binary or armored age file held in memory.
pub fn decrypt(identities: &[&dyn Identity], file: &[u8]) -> Result<Vec<u8>> {
    let boxed = identities.iter().map(|&i| Box::new(i) as Box<dyn Identity>).collect();
    run_to_end(&mut Decryptor::new(boxed), file)
}

/// A borrowed codec is a codec, so one encryptor can serve several readers in
/// turn (e.g. successive attempts of a resumed upload).
impl<C: Codec + ?Sized> Codec for &mut C {
    fn push(&mut self, input: &[u8]) -> Result<usize> {
        (**self).push(input)
    }
    fn finish(&mut self) -> Result<()> {
        (**self).finish()
    }
    fn output(&self) -> &[u8] {
        (**self).output()
    }
    fn consume(&mut self, n: usize) {
        (**self).consume(n)
    }
    fn is_done(&self) -> bool {
        (**self).is_done()
    }
    fn input_space(&mut self) -> &mut [u8] {
        (**self).input_space()
    }
    fn commit(&mut self, n: usize) -> Result<()> {
        (**self).commit(n)
    }
}

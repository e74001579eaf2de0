//! Sans-I/O encryption of a whole age file: header, nonce, STREAM payload,
//! optionally wrapped in ASCII armor.

use crate::armor::ArmorEncoder;
use crate::error::{EncryptError, Result};
use crate::format::{Header, PAYLOAD_NONCE_LEN};
use crate::keys::FileKey;
use crate::primitives::random;
use crate::recipient::Recipient;
use crate::stream::PayloadEncryptor;

/// Binary bytes converted to armor per step, a multiple of 48 (one armor line).
const ARMOR_STEP: usize = 48 * 1024;

struct Armor {
    encoder: ArmorEncoder,
    text: Vec<u8>,
    pos: usize,
    finished: bool,
}

/// Encrypts one file, push in / pull out:
///
/// ```
/// # use kluis_crypto::{Encryptor, x25519};
/// let identity = x25519::Identity::generate()?;
/// let recipient = identity.to_public();
/// let mut enc = Encryptor::with_recipients(&[&recipient])?;
/// let mut file = Vec::new();
/// let mut input: &[u8] = b"hello";
/// while !input.is_empty() {
///     let n = enc.push(input)?;
///     input = &input[n..];
///     file.extend_from_slice(enc.output());
///     enc.consume(enc.output().len());
/// }
/// loop {
///     enc.finish()?;
///     if enc.output().is_empty() { break; }
///     file.extend_from_slice(enc.output());
///     enc.consume(enc.output().len());
/// }
/// assert!(enc.is_done());
/// # Ok::<(), kluis_crypto::Error>(())
/// ```
pub struct Encryptor {
    header: Vec<u8>,
    header_pos: usize,
    payload: PayloadEncryptor,
    armor: Option<Armor>,
}

impl Encryptor {
    /// Encrypts to every recipient with a fresh file key and nonce.
    pub fn with_recipients(recipients: &[&dyn Recipient]) -> Result<Self> {
        if recipients.is_empty() {
            return Err(EncryptError::NoRecipients.into());
        }
        if recipients.len() > 1 && recipients.iter().any(|r| r.must_be_alone()) {
            return Err(EncryptError::ScryptNotAlone.into());
        }
        let file_key = FileKey::generate()?;
        let mut stanzas = Vec::new();
        for recipient in recipients {
            stanzas.extend(recipient.wrap_file_key(&file_key)?);
        }
        let mut header = Header::write(&stanzas, &file_key);
        let mut nonce = [0u8; PAYLOAD_NONCE_LEN];
        random(&mut nonce)?;
        header.extend_from_slice(&nonce);
        let payload = PayloadEncryptor::new(file_key.payload_key(&nonce), 0);
        Ok(Encryptor { header, header_pos: 0, payload, armor: None })
    }

    /// Wraps the output in ASCII armor.
    pub fn armored(mut self) -> Self {
        self.armor = Some(Armor { encoder: ArmorEncoder::new(), text: Vec::new(), pos: 0, finished: false });
        self.pump();
        self
    }

    /// Chunks sealed together, on all cores with feature `parallel`; see
    /// [`PayloadEncryptor::with_batch`].
    pub fn with_batch(mut self, chunks: usize) -> Self {
        self.payload = self.payload.with_batch(chunks);
        self
    }

    /// Length of the binary header including the payload nonce: where the payload starts.
    pub fn header_len(&self) -> usize {
        self.header.len()
    }

    /// Offers plaintext; returns how many bytes were taken (none while output waits).
    pub fn push(&mut self, input: &[u8]) -> Result<usize> {
        let n = self.payload.push(input)?;
        self.pump();
        Ok(n)
    }

    /// Signals the end of the plaintext. Call again after draining the output
    /// until no output is left.
    pub fn finish(&mut self) -> Result<()> {
        self.payload.finish()?;
        self.pump();
        Ok(())
    }

    /// Zero-copy input: where the next plaintext bytes can be written directly.
    pub fn input_space(&mut self) -> &mut [u8] {
        self.payload.input_space()
    }

    /// Takes `n` plaintext bytes written into [`Self::input_space`].
    pub fn commit(&mut self, n: usize) -> Result<()> {
        self.payload.commit(n)?;
        self.pump();
        Ok(())
    }

    /// Encrypted output ready to be taken.
    pub fn output(&self) -> &[u8] {
        match &self.armor {
            Some(a) => &a.text[a.pos..],
            None => self.binary_output(),
        }
    }

    /// Marks `n` bytes of [`Self::output`] as taken.
    pub fn consume(&mut self, n: usize) {
        match &mut self.armor {
            Some(a) => a.pos += n,
            None => self.consume_binary(n),
        }
        self.pump();
    }

    /// True once everything, including the armor's END line, has been taken.
    pub fn is_done(&self) -> bool {
        self.header_pos == self.header.len()
            && self.payload.is_done()
            && self.armor.as_ref().is_none_or(|a| a.finished && a.pos == a.text.len())
    }

    fn binary_output(&self) -> &[u8] {
        if self.header_pos < self.header.len() { &self.header[self.header_pos..] } else { self.payload.output() }
    }

    fn consume_binary(&mut self, n: usize) {
        if self.header_pos < self.header.len() {
            assert!(n <= self.header.len() - self.header_pos, "consumed more output than available");
            self.header_pos += n;
        } else {
            self.payload.consume(n);
        }
    }

    /// Moves binary output through the armor encoder once its text is taken.
    fn pump(&mut self) {
        loop {
            let Some(armor) = &self.armor else { return };
            if armor.pos < armor.text.len() || armor.finished {
                return;
            }
            let binary = self.binary_output();
            let n = binary.len().min(ARMOR_STEP);
            let armor = self.armor.as_mut().expect("checked above");
            armor.text.clear();
            armor.pos = 0;
            if n == 0 {
                if self.payload.is_done() {
                    armor.encoder.finish(&mut armor.text);
                    armor.finished = true;
                }
                return;
            }
            let binary = if self.header_pos < self.header.len() {
                &self.header[self.header_pos..self.header_pos + n]
            } else {
                &self.payload.output()[..n]
            };
            armor.encoder.encode(binary, &mut armor.text);
            self.consume_binary(n);
        }
    }
}

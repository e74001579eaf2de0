//! Sans-I/O encryption of a whole age file: header, nonce, STREAM payload,
//! optionally wrapped in ASCII armor.

use crate::armor::ArmorEncoder;
use crate::error::{EncryptError, Error, Result};
use crate::format::{Header, HeaderHash, PAYLOAD_NONCE_LEN};
use crate::keys::FileKey;
use crate::primitives::random;
use crate::recipient::Recipient;
use crate::stream::{PayloadEncryptor, PayloadKey};

/// Format version of [`Encryptor::resume_state`].
const RESUME_STATE_VERSION: u8 = 1;

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
    /// Kept to restart the payload at any chunk ([`Encryptor::resume_at`]).
    key: PayloadKey,
    batch: Option<usize>,
    armor: Option<Armor>,
}

/// Where to continue after [`Encryptor::resume_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// Push plaintext from this offset on.
    pub plaintext_offset: u64,
    /// Then drop this many bytes of output: they were sent already.
    pub skip_output: usize,
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
        if recipients.iter().any(|r| r.is_post_quantum()) && !recipients.iter().all(|r| r.is_post_quantum()) {
            return Err(EncryptError::MixedPostQuantum.into());
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
        let key = file_key.payload_key(&nonce);
        let payload = PayloadEncryptor::new(key.clone(), 0);
        Ok(Encryptor { header, header_pos: 0, payload, key, batch: None, armor: None })
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
        self.batch = Some(chunks);
        self
    }

    /// Length of the whole (binary) file for `plaintext_len` bytes of input.
    pub fn encrypted_len(&self, plaintext_len: u64) -> u64 {
        self.header.len() as u64 + crate::stream::encrypted_payload_len(plaintext_len)
    }

    /// Everything needed to continue this encryption in another process (a
    /// reloaded page, a restarted program): the header with its nonce and
    /// the payload key. It is secret: whoever holds it can read the file.
    /// Binary output only.
    pub fn resume_state(&self) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        if self.armor.is_some() {
            return Err(EncryptError::ArmorNotResumable.into());
        }
        let mut state = zeroize::Zeroizing::new(Vec::with_capacity(1 + 4 + self.header.len() + 32));
        state.push(RESUME_STATE_VERSION);
        state.extend_from_slice(&(self.header.len() as u32).to_be_bytes());
        state.extend_from_slice(&self.header);
        state.extend_from_slice(self.key.expose());
        Ok(state)
    }

    /// An encryptor that continues where [`Self::resume_state`] was taken;
    /// follow with [`Self::resume_at`].
    pub fn from_resume_state(state: &[u8]) -> Result<Self> {
        let invalid = || Error::Encrypt(EncryptError::InvalidResumeState);
        let (&version, rest) = state.split_first().ok_or_else(invalid)?;
        if version != RESUME_STATE_VERSION || rest.len() < 4 {
            return Err(invalid());
        }
        let header_len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let rest = &rest[4..];
        if rest.len() != header_len + 32 || header_len < PAYLOAD_NONCE_LEN {
            return Err(invalid());
        }
        let key = PayloadKey::from_bytes(rest[header_len..].try_into().expect("32 bytes"));
        Ok(Encryptor {
            header: rest[..header_len].to_vec(),
            header_pos: 0,
            payload: PayloadEncryptor::new(key.clone(), 0),
            key,
            batch: None,
            armor: None,
        })
    }

    /// Restarts output at byte `ciphertext_offset` of the file, e.g. where an
    /// interrupted upload stopped: the same file key and nonce give the same
    /// bytes again. Push plaintext from [`Resume::plaintext_offset`] on and
    /// drop the first [`Resume::skip_output`] bytes of output. Binary only.
    pub fn resume_at(&mut self, ciphertext_offset: u64) -> Result<Resume> {
        if self.armor.is_some() {
            return Err(EncryptError::ArmorNotResumable.into());
        }
        let header_len = self.header.len() as u64;
        let (chunk, skip, header_pos) = match ciphertext_offset.checked_sub(header_len) {
            None => (0, 0, ciphertext_offset as usize),
            Some(into_payload) => {
                let seek = crate::stream::seek_ciphertext(into_payload);
                (seek.chunk, seek.skip, self.header.len())
            }
        };
        self.header_pos = header_pos;
        let payload = PayloadEncryptor::new(self.key.clone(), chunk);
        self.payload = match self.batch {
            Some(batch) => payload.with_batch(batch),
            None => payload,
        };
        Ok(Resume { plaintext_offset: chunk * crate::stream::CHUNK_SIZE as u64, skip_output: skip })
    }

    /// Length of the binary header including the payload nonce: where the payload starts.
    pub fn header_len(&self) -> usize {
        self.header.len()
    }

    /// The [`HeaderHash`] of this file: known before any plaintext is pushed,
    /// and the same after [`Self::from_resume_state`].
    pub fn header_hash(&self) -> HeaderHash {
        HeaderHash::of(&self.header)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x25519;

    #[test]
    fn resumes_at_any_offset_with_identical_bytes() {
        let identity = x25519::Identity::generate().unwrap();
        let recipient = identity.to_public();
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut enc = Encryptor::with_recipients(&[&recipient]).unwrap().with_batch(2);
        let whole = crate::run_to_end(&mut enc, &plain).unwrap();
        assert_eq!(whole.len() as u64, enc.encrypted_len(plain.len() as u64));
        for offset in [0, 1, 100, whole.len() - plain.len() / 2, 65_552 * 2 + 300, whole.len() - 1] {
            let r = enc.resume_at(offset as u64).unwrap();
            let rest = crate::run_to_end(&mut enc, &plain[r.plaintext_offset as usize..]).unwrap();
            assert_eq!(&rest[r.skip_output..], &whole[offset..], "offset {offset}");
            // The same from a saved state, as after a reload.
            let mut restored = Encryptor::from_resume_state(&enc.resume_state().unwrap()).unwrap();
            let r = restored.resume_at(offset as u64).unwrap();
            let rest = crate::run_to_end(&mut restored, &plain[r.plaintext_offset as usize..]).unwrap();
            assert_eq!(&rest[r.skip_output..], &whole[offset..], "restored, offset {offset}");
        }
        assert!(Encryptor::from_resume_state(b"\x01garbage").is_err());
        assert_eq!(crate::decrypt(&[&identity], &whole).unwrap(), plain);
    }

    /// The header hash is known before any plaintext, survives a resume, and
    /// a decryptor told to expect it opens exactly that file.
    #[test]
    fn header_hash_binds_one_encryption() {
        use crate::format::HeaderHash;
        use crate::{Decryptor, Error};

        let identity = x25519::Identity::generate().unwrap();
        let recipient = identity.to_public();
        let plain = vec![7u8; 70_000];
        let mut enc = Encryptor::with_recipients(&[&recipient]).unwrap();
        let hash = enc.header_hash();
        assert_eq!(Encryptor::from_resume_state(&enc.resume_state().unwrap()).unwrap().header_hash(), hash);
        let file = crate::run_to_end(&mut enc, &plain).unwrap();
        assert_eq!(HeaderHash::of(&file[..enc.header_len()]), hash);
        assert_eq!(HeaderHash::from_hex(&hash.to_hex().to_uppercase()), Some(hash));
        assert_eq!(HeaderHash::from_hex("12"), None);

        let open = |expected: HeaderHash| {
            let mut dec = Decryptor::new(vec![Box::new(identity.clone())]).expecting_header(expected);
            let result = crate::run_to_end(&mut dec, &file);
            (result, dec.header_hash())
        };
        let (opened, seen) = open(hash);
        assert_eq!(opened.unwrap(), plain);
        assert_eq!(seen, Some(hash));

        // Another encryption of the same plaintext to the same key is another file.
        let other = Encryptor::with_recipients(&[&recipient]).unwrap().header_hash();
        assert_ne!(other, hash);
        let (refused, _) = open(other);
        assert!(matches!(refused, Err(Error::UnexpectedHeader)), "{refused:?}");
    }
}

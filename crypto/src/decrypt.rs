//! Sans-I/O decryption of a whole age file, binary or armored, and random
//! access to the payload of a binary file.

use zeroize::Zeroizing;

use crate::armor::ArmorDecoder;
use crate::error::{Error, HeaderError, Result};
use sha2::{Digest, Sha256};

use crate::format::{Header, HeaderHash, HeaderScanner, PAYLOAD_NONCE_LEN};
use crate::keys::FileKey;
use crate::recipient::Identity;
use crate::stream::{self, PayloadDecryptor, PayloadKey, Seek};

/// Decoded armor bytes buffered at most before the header or payload takes them.
const ARMOR_STAGING: usize = 64 * 1024;

/// How the input is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// Armored if the first non-whitespace byte is `-`, binary otherwise.
    #[default]
    Detect,
    /// Binary age only.
    Binary,
    /// ASCII armor only.
    Armored,
}

enum Mode {
    Detect { saw_space: bool },
    Binary,
    Armored { decoder: ArmorDecoder, staging: Vec<u8>, pos: usize, text_done: bool },
}

enum Stage {
    Header { buf: Vec<u8>, scanner: HeaderScanner },
    Nonce { file_key: FileKey, header_len: usize, nonce: Vec<u8>, hash: Sha256 },
    Payload(PayloadDecryptor),
}

/// Decrypts one file, push in / pull out, with the same calls as
/// [`crate::Encryptor`]. Plaintext comes out one authenticated chunk at a
/// time; if the file later turns out damaged, what came out before is
/// authentic but incomplete, and callers must discard it.
pub struct Decryptor<'a> {
    identities: Vec<Box<dyn Identity + 'a>>,
    mode: Mode,
    stage: Stage,
    batch: Option<usize>,
    header_len: Option<usize>,
    header_hash: Option<HeaderHash>,
    expected_header: Option<HeaderHash>,
    error: Option<Error>,
}

impl<'a> Decryptor<'a> {
    /// A decryptor that tries `identities` in order on the header's stanzas.
    pub fn new(identities: Vec<Box<dyn Identity + 'a>>) -> Self {
        Decryptor {
            identities,
            mode: Mode::Detect { saw_space: false },
            stage: Stage::Header { buf: Vec::new(), scanner: HeaderScanner::default() },
            batch: None,
            header_len: None,
            header_hash: None,
            expected_header: None,
            error: None,
        }
    }

    /// Fixes the input encoding instead of detecting it.
    pub fn with_format(mut self, format: InputFormat) -> Self {
        self.mode = match format {
            InputFormat::Detect => Mode::Detect { saw_space: false },
            InputFormat::Binary => Mode::Binary,
            InputFormat::Armored => Mode::armored(),
        };
        self
    }

    /// Chunks opened together; see [`PayloadDecryptor::with_batch`].
    pub fn with_batch(mut self, chunks: usize) -> Self {
        self.batch = Some(chunks);
        self
    }

    /// Length of the binary header including the nonce, once known.
    pub fn header_len(&self) -> Option<usize> {
        self.header_len
    }

    /// Refuses the file with [`Error::UnexpectedHeader`], before releasing
    /// any plaintext, unless its [`HeaderHash`] is `expected`.
    pub fn expecting_header(mut self, expected: HeaderHash) -> Self {
        self.expected_header = Some(expected);
        self
    }

    /// The file's [`HeaderHash`] (of its binary form), once its header and nonce were read.
    pub fn header_hash(&self) -> Option<HeaderHash> {
        self.header_hash
    }

    /// Offers input; returns how many bytes were taken (none while output waits).
    pub fn push(&mut self, input: &[u8]) -> Result<usize> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let result = self.push_inner(input);
        self.sticky(result)
    }

    /// Signals the end of the input. Call again after draining the output
    /// until it returns `Ok` with no output left.
    pub fn finish(&mut self) -> Result<()> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let result = self.finish_inner();
        self.sticky(result)
    }

    /// Zero-copy input: once the header is read (binary input), where the
    /// next payload bytes can be written directly. Empty otherwise; use `push`.
    pub fn input_space(&mut self) -> &mut [u8] {
        match (&mut self.stage, &self.mode, &self.error) {
            (Stage::Payload(p), Mode::Binary, None) => p.input_space(),
            _ => &mut [],
        }
    }

    /// Takes `n` bytes written into [`Self::input_space`].
    pub fn commit(&mut self, n: usize) -> Result<()> {
        let result = match &mut self.stage {
            Stage::Payload(p) => p.commit(n),
            _ => {
                assert_eq!(n, 0, "committed more than the input space");
                Ok(())
            }
        };
        self.sticky(result)
    }

    /// Plaintext ready to be taken.
    pub fn output(&self) -> &[u8] {
        match &self.stage {
            Stage::Payload(p) => p.output(),
            _ => &[],
        }
    }

    /// Marks `n` bytes of [`Self::output`] as taken.
    pub fn consume(&mut self, n: usize) {
        match &mut self.stage {
            Stage::Payload(p) => p.consume(n),
            _ => assert_eq!(n, 0, "consumed more output than available"),
        }
    }

    /// True once the whole file was authenticated and all plaintext taken.
    pub fn is_done(&self) -> bool {
        let text_done = match &self.mode {
            Mode::Armored { staging, pos, text_done, .. } => *text_done && *pos == staging.len(),
            _ => true,
        };
        text_done && matches!(&self.stage, Stage::Payload(p) if p.is_done())
    }

    fn sticky<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            self.error = Some(e.clone());
        }
        result
    }

    fn push_inner(&mut self, mut input: &[u8]) -> Result<usize> {
        let total = input.len();
        if let Mode::Detect { saw_space } = &mut self.mode {
            let spaces = input.iter().take_while(|b| b.is_ascii_whitespace()).count();
            *saw_space |= spaces > 0;
            input = &input[spaces..];
            match input.first() {
                None => return Ok(total),
                Some(b'-') => self.mode = Mode::armored(),
                Some(_) if *saw_space => return Err(HeaderError::NotAge.into()),
                Some(_) => self.mode = Mode::Binary,
            }
        }
        let skipped = total - input.len();
        match &mut self.mode {
            Mode::Binary => Ok(skipped + self.feed(input)?),
            Mode::Armored { .. } => Ok(skipped + self.feed_armored(input)?),
            Mode::Detect { .. } => unreachable!("decided above"),
        }
    }

    /// Decodes armored text into the staging buffer and feeds it on.
    fn feed_armored(&mut self, text: &[u8]) -> Result<usize> {
        let mut consumed = 0;
        loop {
            self.drain_staging()?;
            let Mode::Armored { decoder, staging, pos, .. } = &mut self.mode else { unreachable!() };
            if *pos < staging.len() || consumed == text.len() {
                return Ok(consumed);
            }
            staging.clear();
            *pos = 0;
            consumed += decoder.decode(&text[consumed..], staging, ARMOR_STAGING)?;
        }
    }

    fn drain_staging(&mut self) -> Result<()> {
        let Mode::Armored { staging, pos, .. } = &mut self.mode else {
            return Ok(());
        };
        let pending = std::mem::take(staging);
        let start = *pos;
        let result = self.feed(&pending[start..]);
        let Mode::Armored { staging, pos, .. } = &mut self.mode else { unreachable!() };
        *staging = pending;
        *pos = start + result?;
        Ok(())
    }

    /// Feeds binary age bytes to the header or the payload.
    fn feed(&mut self, mut input: &[u8]) -> Result<usize> {
        let total = input.len();
        loop {
            match &mut self.stage {
                Stage::Header { buf, scanner } => {
                    if input.is_empty() {
                        return Ok(total);
                    }
                    let before = buf.len();
                    buf.extend_from_slice(input);
                    let Some(header_len) = scanner.scan(buf)? else {
                        return Ok(total);
                    };
                    // Give back what lies beyond the header.
                    buf.truncate(header_len);
                    input = &input[header_len - before..];
                    let file_key = unlock(buf, self.identities.iter().map(|i| i.as_ref() as &dyn Identity))?;
                    self.identities.clear();
                    let hash = Sha256::new_with_prefix(&buf[..]);
                    let nonce = Vec::with_capacity(PAYLOAD_NONCE_LEN);
                    self.stage = Stage::Nonce { file_key, header_len, nonce, hash };
                }
                Stage::Nonce { file_key, header_len, nonce, hash } => {
                    let n = input.len().min(PAYLOAD_NONCE_LEN - nonce.len());
                    nonce.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    if nonce.len() < PAYLOAD_NONCE_LEN {
                        return Ok(total);
                    }
                    let nonce: [u8; PAYLOAD_NONCE_LEN] = nonce.as_slice().try_into().expect("length checked");
                    hash.update(nonce);
                    let hash = HeaderHash::from_digest(std::mem::take(hash));
                    if self.expected_header.is_some_and(|expected| !expected.matches(&hash)) {
                        return Err(Error::UnexpectedHeader);
                    }
                    self.header_hash = Some(hash);
                    self.header_len = Some(*header_len + PAYLOAD_NONCE_LEN);
                    let mut payload = PayloadDecryptor::new(file_key.payload_key(&nonce));
                    if let Some(batch) = self.batch {
                        payload = payload.with_batch(batch);
                    }
                    self.stage = Stage::Payload(payload);
                }
                Stage::Payload(payload) => {
                    let n = payload.push(input)?;
                    return Ok(total - input.len() + n);
                }
            }
        }
    }

    fn finish_inner(&mut self) -> Result<()> {
        match &mut self.mode {
            Mode::Detect { saw_space: false } => return Err(HeaderError::Empty.into()),
            Mode::Detect { saw_space: true } => return Err(HeaderError::NotAge.into()),
            Mode::Binary => {}
            Mode::Armored { .. } => {
                self.drain_staging()?;
                let Mode::Armored { decoder, staging, pos, text_done } = &mut self.mode else { unreachable!() };
                if *pos < staging.len() {
                    // The payload is full; finish again once its output is taken.
                    return Ok(());
                }
                if !*text_done {
                    decoder.finish()?;
                    *text_done = true;
                }
            }
        }
        match &mut self.stage {
            Stage::Header { buf, .. } if buf.is_empty() => Err(HeaderError::Empty.into()),
            Stage::Header { .. } => Err(HeaderError::Truncated.into()),
            Stage::Nonce { .. } => Err(HeaderError::MissingNonce.into()),
            Stage::Payload(payload) => payload.finish(),
        }
    }
}

impl Mode {
    fn armored() -> Self {
        Mode::Armored { decoder: ArmorDecoder::new(), staging: Vec::new(), pos: 0, text_done: false }
    }
}

/// Checks the header and finds the file key: parse strictly, enforce that
/// scrypt stands alone, let each identity try the stanzas, verify the MAC.
fn unlock<'i>(header_bytes: &[u8], identities: impl IntoIterator<Item = &'i dyn Identity>) -> Result<FileKey> {
    let header = Header::parse(header_bytes)?;
    if header.stanzas.iter().any(|s| s.tag == "scrypt") && header.stanzas.len() != 1 {
        return Err(HeaderError::ScryptNotAlone.into());
    }
    let mut file_key = None;
    for identity in identities {
        match identity.unwrap_stanzas(&header.stanzas) {
            Some(Ok(key)) => {
                file_key = Some(key);
                break;
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    let file_key = file_key.ok_or(Error::NoMatch)?;
    if !header.verify_mac(header_bytes, &file_key) {
        return Err(Error::HeaderMac);
    }
    Ok(file_key)
}

/// The unlocked header of a binary age file: decrypts any range of its
/// payload without reading what comes before (ranged and resumed downloads).
pub struct UnlockedHeader {
    header_len: usize,
    file_key: FileKey,
    nonce: Zeroizing<[u8; PAYLOAD_NONCE_LEN]>,
}

impl UnlockedHeader {
    /// Unlocks the header at the start of `start` (the first bytes of the
    /// file). Returns `Ok(None)` if `start` does not yet hold the whole header
    /// and nonce; fetch more and call again.
    pub fn parse(start: &[u8], identities: &[&dyn Identity]) -> Result<Option<Self>> {
        if start.is_empty() {
            return Ok(None);
        }
        let Some(end) = HeaderScanner::default().scan(start)? else {
            return Ok(None);
        };
        if start.len() < end + PAYLOAD_NONCE_LEN {
            return Ok(None);
        }
        let file_key = unlock(&start[..end], identities.iter().copied())?;
        let nonce = start[end..end + PAYLOAD_NONCE_LEN].try_into().expect("length checked");
        Ok(Some(UnlockedHeader { header_len: end + PAYLOAD_NONCE_LEN, file_key, nonce: Zeroizing::new(nonce) }))
    }

    /// Offset of the payload in the file (header and nonce length).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The payload key, e.g. to hand to workers that each open a range of chunks.
    pub fn payload_key(&self) -> PayloadKey {
        self.file_key.payload_key(&self.nonce)
    }

    /// Plaintext length of a file that is `file_len` bytes long.
    pub fn plaintext_len(&self, file_len: u64) -> Result<u64> {
        let payload = file_len.checked_sub(self.header_len as u64).ok_or(HeaderError::Truncated)?;
        stream::plaintext_len(payload)
    }

    /// A decryptor for the plaintext from `plaintext_offset` on, in a file of
    /// `file_len` bytes. Feed it the file from [`Seek::payload_offset`] plus
    /// [`Self::header_len`]; drop [`Seek::skip`] bytes of its first output.
    pub fn decrypt_from(&self, plaintext_offset: u64, file_len: u64) -> Result<(PayloadDecryptor, Seek)> {
        let payload_len = file_len.checked_sub(self.header_len as u64).ok_or(HeaderError::Truncated)?;
        let seek = stream::seek(plaintext_offset);
        let decryptor = PayloadDecryptor::starting_at(self.payload_key(), seek.chunk, payload_len)?;
        Ok((decryptor, seek))
    }
}

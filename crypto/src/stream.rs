//! The STREAM payload (c2sp.org/age, "Payload"): 64 KiB chunks, each sealed
//! with ChaCha20-Poly1305 under the payload key and a nonce made of an 11-byte
//! big-endian chunk counter and a final-chunk flag.
//!
//! [`PayloadEncryptor`] and [`PayloadDecryptor`] are sans-I/O: push input bytes
//! in any sizes, take output from [`output`](PayloadDecryptor::output) and
//! [`consume`](PayloadDecryptor::consume) it. Memory is a fixed ring of
//! `batch + 1` chunk slots whatever the payload size; chunks are sealed and
//! opened in place. Because every chunk has its own nonce, a batch of chunks is
//! processed on all cores at once (feature `parallel`), and processing can
//! start at any chunk index (random access for ranged and resumed transfers).
//!
//! A short push is never taken for the end of the payload: only
//! [`finish`](PayloadDecryptor::finish) ends it, and a chunk is known not to be
//! the final one only once a byte after it has arrived.

use crate::aead::{ChaCha20Poly1305, NONCE_LEN, TAG_LEN};
use crate::error::{Error, PayloadError, Result};

/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Ciphertext bytes per full chunk: the plaintext plus a Poly1305 tag.
pub const ENCRYPTED_CHUNK_SIZE: usize = CHUNK_SIZE + TAG_LEN;

/// The key every chunk of one payload is sealed with. Wiped when dropped.
#[derive(Clone)]
pub struct PayloadKey(ChaCha20Poly1305, zeroize::Zeroizing<[u8; 32]>);

impl PayloadKey {
    pub(crate) fn from_bytes(key: &[u8; 32]) -> Self {
        PayloadKey(ChaCha20Poly1305::new(key), zeroize::Zeroizing::new(*key))
    }

    /// The raw key, for saving an encryption to resume it later.
    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.1
    }

    /// Seals `buf[..len - 16]` in place and writes the tag into the last 16 bytes.
    fn seal(&self, index: u64, last: bool, buf: &mut [u8]) {
        let split = buf.len() - TAG_LEN;
        let (data, tag_out) = buf.split_at_mut(split);
        tag_out.copy_from_slice(&self.0.seal(&chunk_nonce(index, last), data));
    }

    /// Opens `buf` in place; on success `buf[..len - 16]` holds the plaintext.
    /// On failure what `buf` holds is unspecified (natively the AEAD zeroes it).
    fn open(&self, index: u64, last: bool, buf: &mut [u8]) -> bool {
        let Some(split) = buf.len().checked_sub(TAG_LEN) else {
            return false;
        };
        let (data, tag) = buf.split_at_mut(split);
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().expect("tag is 16 bytes");
        self.0.open(&chunk_nonce(index, last), data, tag)
    }
}

impl std::fmt::Debug for PayloadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PayloadKey(<redacted>)")
    }
}

/// `nonce = counter (11 bytes, big endian) || last flag (1 byte)`.
fn chunk_nonce(index: u64, last: bool) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[3..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = last as u8;
    nonce
}

/// Length of the encrypted payload (after the 16-byte nonce) for `plaintext_len` bytes.
pub fn encrypted_payload_len(plaintext_len: u64) -> u64 {
    let chunks = plaintext_len.div_ceil(CHUNK_SIZE as u64).max(1);
    plaintext_len + chunks * TAG_LEN as u64
}

/// Plaintext length of an encrypted payload of `payload_len` bytes, or an
/// error when no valid payload has that length.
pub fn plaintext_len(payload_len: u64) -> Result<u64> {
    let full = payload_len / ENCRYPTED_CHUNK_SIZE as u64;
    let rest = payload_len % ENCRYPTED_CHUNK_SIZE as u64;
    let valid = match (full, rest) {
        (0, r) => r >= TAG_LEN as u64,
        (_, 0) => true,
        (_, r) => r > TAG_LEN as u64,
    };
    if !valid {
        return Err(PayloadError::InvalidLength.into());
    }
    Ok(payload_len - (full + (rest > 0) as u64) * TAG_LEN as u64)
}

/// Where to start reading the encrypted payload to get plaintext from `offset` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seek {
    /// Index of the chunk holding `offset`.
    pub chunk: u64,
    /// Byte offset of that chunk within the encrypted payload (after the nonce).
    pub payload_offset: u64,
    /// Plaintext bytes to drop from the start of that chunk.
    pub skip: usize,
}

/// Maps an offset into the encrypted payload to the chunk that holds it;
/// `skip` is then the ciphertext bytes of that chunk before the offset.
pub fn seek_ciphertext(payload_offset: u64) -> Seek {
    let chunk = payload_offset / ENCRYPTED_CHUNK_SIZE as u64;
    Seek {
        chunk,
        payload_offset: chunk * ENCRYPTED_CHUNK_SIZE as u64,
        skip: (payload_offset % ENCRYPTED_CHUNK_SIZE as u64) as usize,
    }
}

/// Maps a plaintext offset to the chunk that holds it.
pub fn seek(plaintext_offset: u64) -> Seek {
    let chunk = plaintext_offset / CHUNK_SIZE as u64;
    Seek {
        chunk,
        payload_offset: chunk * ENCRYPTED_CHUNK_SIZE as u64,
        skip: (plaintext_offset % CHUNK_SIZE as u64) as usize,
    }
}

/// How many chunks to process at once. More than one lets a batch use all
/// cores; one keeps latency and memory minimal (WebAssembly).
fn default_batch() -> usize {
    #[cfg(feature = "parallel")]
    {
        (16 * rayon::current_num_threads()).clamp(1, 64)
    }
    #[cfg(not(feature = "parallel"))]
    {
        1
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Seal,
    Open,
}

impl Direction {
    fn input_chunk(self) -> usize {
        match self {
            Direction::Seal => CHUNK_SIZE,
            Direction::Open => ENCRYPTED_CHUNK_SIZE,
        }
    }
}

/// The shared engine of [`PayloadEncryptor`] and [`PayloadDecryptor`]: a ring of
/// chunk-sized slots. Logical slot `j` lives at physical slot `(head + j) % slots`.
/// Logical slots `[0, ready)` hold output; input fills logical slots from `ready` on.
struct ChunkRing {
    key: PayloadKey,
    dir: Direction,
    buf: Vec<u8>,
    slots: usize,
    batch: usize,
    head: usize,
    /// Chunk index of logical slot 0.
    next_chunk: u64,
    /// Logical slots `[0, ready)` hold processed output.
    ready: usize,
    /// Output length of logical slot `ready - 1` (the final chunk may be short).
    ready_last_len: usize,
    /// Read position within the output: logical slot and offset in it.
    out_slot: usize,
    out_off: usize,
    /// Unprocessed input bytes, starting at logical slot `ready`.
    pending: usize,
    eof: bool,
    /// The final chunk has been processed.
    done: bool,
    /// Random access: index and encrypted length of the final chunk, when known.
    known_final: Option<(u64, usize)>,
    /// Failure found while processing, raised once the output before it is taken.
    error: Option<Error>,
    /// Opening: a copy of each full chunk of the batch being opened, put back
    /// if the chunk fails, so that [`Self::recover`] can try it with the other
    /// final flag (a failed open may destroy the chunk). Allocated on first use.
    backup: Vec<u8>,
}

impl ChunkRing {
    fn new(key: PayloadKey, dir: Direction, first_chunk: u64) -> Self {
        let mut ring = ChunkRing {
            key,
            dir,
            buf: Vec::new(),
            slots: 0,
            batch: 0,
            head: 0,
            next_chunk: first_chunk,
            ready: 0,
            ready_last_len: 0,
            out_slot: 0,
            out_off: 0,
            pending: 0,
            eof: false,
            done: false,
            known_final: None,
            error: None,
            backup: Vec::new(),
        };
        ring.set_batch(default_batch());
        ring
    }

    fn set_batch(&mut self, batch: usize) {
        assert!(self.pending == 0 && self.ready == 0, "set the batch size before pushing data");
        self.batch = batch.max(1);
        self.slots = self.batch + 1;
        // Allocated on first use, so that idle codecs (e.g. one per file of a
        // package, made up front to learn header sizes) cost nothing.
        self.buf = Vec::new();
        self.backup = Vec::new();
        self.head = 0;
    }

    fn ensure_buffer(&mut self) {
        if self.buf.is_empty() {
            self.buf = vec![0u8; self.slots * ENCRYPTED_CHUNK_SIZE];
        }
    }

    fn slot_range(&self, logical: usize) -> std::ops::Range<usize> {
        let phys = (self.head + logical) % self.slots;
        phys * ENCRYPTED_CHUNK_SIZE..(phys + 1) * ENCRYPTED_CHUNK_SIZE
    }

    fn check_error(&self) -> Result<()> {
        match &self.error {
            Some(e) if self.ready == 0 => Err(e.clone()),
            _ => Ok(()),
        }
    }

    fn push(&mut self, mut input: &[u8]) -> Result<usize> {
        let mut consumed = 0;
        while !input.is_empty() {
            let space = self.input_space();
            if space.is_empty() {
                break;
            }
            let n = input.len().min(space.len());
            space[..n].copy_from_slice(&input[..n]);
            self.pending += n;
            consumed += n;
            input = &input[n..];
        }
        self.check_error()?;
        self.process();
        Ok(consumed)
    }

    /// The free part of the slot the next input byte goes to; empty when the
    /// ring is full, ended or failed.
    fn input_space(&mut self) -> &mut [u8] {
        let size = self.dir.input_chunk();
        let logical = self.ready + self.pending / size;
        if self.eof || self.error.is_some() || logical >= self.slots {
            return &mut [];
        }
        self.ensure_buffer();
        let start = self.slot_range(logical).start + self.pending % size;
        let end = self.slot_range(logical).start + size;
        &mut self.buf[start..end]
    }

    /// Takes `n` bytes written into [`Self::input_space`].
    fn commit(&mut self, n: usize) -> Result<()> {
        self.check_error()?;
        assert!(n <= self.input_space().len(), "committed more than the input space");
        self.pending += n;
        self.process();
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.check_error()?;
        if !self.eof {
            self.eof = true;
            self.process();
        }
        self.check_error()
    }

    fn output(&self) -> &[u8] {
        if self.out_slot >= self.ready {
            return &[];
        }
        let len_of = |j: usize| self.output_len(j);
        let start = self.slot_range(self.out_slot).start + self.out_off;
        let mut end = self.slot_range(self.out_slot).start + len_of(self.out_slot);
        // Sealed chunks fill their slots completely, so physically adjacent
        // slots form one contiguous run of ciphertext: hand it out in one piece.
        if self.dir == Direction::Seal {
            let mut j = self.out_slot + 1;
            while j < self.ready && self.slot_range(j).start == end {
                end += len_of(j);
                j += 1;
            }
        }
        &self.buf[start..end]
    }

    fn output_len(&self, logical: usize) -> usize {
        if logical + 1 == self.ready {
            self.ready_last_len
        } else {
            match self.dir {
                Direction::Seal => ENCRYPTED_CHUNK_SIZE,
                Direction::Open => CHUNK_SIZE,
            }
        }
    }

    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            assert!(self.out_slot < self.ready, "consumed more output than available");
            let take = n.min(self.output_len(self.out_slot) - self.out_off);
            self.out_off += take;
            n -= take;
            self.skip_taken_slots();
        }
        self.recycle();
    }

    fn skip_taken_slots(&mut self) {
        while self.out_slot < self.ready && self.out_off == self.output_len(self.out_slot) {
            self.out_slot += 1;
            self.out_off = 0;
        }
    }

    /// Once all output is taken, its slots take input again.
    fn recycle(&mut self) {
        if self.ready > 0 && self.out_slot == self.ready {
            self.head = (self.head + self.ready) % self.slots;
            self.next_chunk += self.ready as u64;
            self.ready = 0;
            self.out_slot = 0;
            self.process();
        }
    }

    fn is_done(&self) -> bool {
        self.done && self.ready == 0 && self.error.is_none()
    }

    /// Decides which buffered slots can be processed now and processes them.
    fn process(&mut self) {
        if self.ready > 0 || self.done || self.error.is_some() {
            return;
        }
        self.ensure_buffer();
        let size = self.dir.input_chunk();
        let full = self.pending / size;
        let partial = self.pending % size;

        // (slots to process, whether the last of them is the final chunk, its input length)
        let (count, final_included, last_len) = if let Some((final_index, final_len)) = self.known_final {
            let before_final = (final_index - self.next_chunk) as usize;
            if full < before_final {
                // Every complete slot precedes the final chunk.
                match (full.min(self.batch), self.eof) {
                    (0, false) => return,
                    (0, true) => (0, false, 0),
                    (n, _) => (n, false, size),
                }
            } else {
                let final_bytes = self.pending - before_final * size;
                if final_bytes > final_len {
                    self.fail_after(0, PayloadError::TrailingData);
                    return;
                }
                if final_bytes == final_len && before_final < self.slots {
                    (before_final + 1, true, final_len)
                } else if before_final > 0 {
                    (before_final.min(self.batch), false, size)
                } else if self.eof {
                    (0, false, 0)
                } else {
                    return;
                }
            }
        } else if self.eof {
            let count = full + (partial > 0) as usize;
            (count, true, if partial > 0 { partial } else { size })
        } else {
            // A slot is surely not final once a byte of the next one has arrived.
            let known = if partial > 0 { full } else { full.saturating_sub(1) };
            if known < self.batch {
                return;
            }
            (self.batch, false, size)
        };

        if count == 0 {
            // The input ended and nothing (more) is buffered.
            match self.dir {
                // An empty payload is one empty final chunk.
                Direction::Seal if self.next_chunk == 0 => {
                    self.run(1, true, 0);
                }
                // A resumed encryption that got no data would end with an empty chunk.
                Direction::Seal => self.fail_after(0, PayloadError::EmptyFinalChunk),
                Direction::Open => self.fail_after(0, PayloadError::Truncated),
            }
            return;
        }

        if final_included && self.dir == Direction::Open {
            let final_index = self.next_chunk + count as u64 - 1;
            let bad_final = if last_len < TAG_LEN {
                Some(PayloadError::Truncated)
            } else if last_len == TAG_LEN && final_index > 0 {
                // Only a wholly empty payload may end with an empty chunk.
                Some(PayloadError::EmptyFinalChunk)
            } else {
                None
            };
            if let Some(error) = bad_final {
                // Release the chunks before it, if they are authentic.
                if count > 1 && !self.run(count - 1, false, size) {
                    return;
                }
                let released = count - 1;
                self.fail_after(released, error);
                return;
            }
        }
        self.run(count, final_included, last_len);
    }

    /// Seals or opens logical slots `[0, count)`; the last one holds `last_len`
    /// input bytes and is the final chunk when `final_included`. Returns
    /// whether every slot succeeded.
    fn run(&mut self, count: usize, final_included: bool, last_len: usize) -> bool {
        let size = self.dir.input_chunk();
        let outcomes = self.transform(count, final_included, last_len);
        match outcomes.iter().position(Option::is_none) {
            None => {
                self.ready = count;
                self.ready_last_len = outcomes[count - 1].expect("checked");
                self.out_slot = 0;
                self.out_off = 0;
                self.pending -= (count - 1) * size + last_len;
                self.done = final_included;
                // An empty payload yields no output at all.
                self.skip_taken_slots();
                self.recycle();
                true
            }
            Some(failed) => {
                let is_final = final_included && failed + 1 == count;
                self.recover(failed, if is_final { last_len } else { size }, is_final);
                false
            }
        }
    }

    /// Chunk `failed` (logical slot) did not authenticate; chunks before it did.
    /// Decides the error and releases what is authentic.
    fn recover(&mut self, failed: usize, len: usize, is_final: bool) {
        let index = self.next_chunk + failed as u64;
        let start = self.slot_range(failed).start;
        let chunk = start..start + len;
        if len == ENCRYPTED_CHUNK_SIZE && self.key.open(index, !is_final, &mut self.buf[chunk]) {
            if is_final {
                // A full chunk not marked final at the end of the input: the
                // file was cut at a chunk boundary. The chunk itself is authentic.
                self.fail_after(failed + 1, PayloadError::Truncated);
            } else {
                // A full final chunk followed by more data: the chunk is
                // authentic and released, the data after it is not.
                self.fail_after(failed + 1, PayloadError::TrailingData);
            }
        } else {
            self.fail_after(failed, PayloadError::Tampered { chunk: index });
        }
    }

    /// Stops for good: the first `released` slots (all full chunks) are handed
    /// out, then `error` is raised.
    fn fail_after(&mut self, released: usize, error: PayloadError) {
        self.ready = released;
        self.ready_last_len = CHUNK_SIZE;
        self.out_slot = 0;
        self.out_off = 0;
        self.pending = 0;
        self.error = Some(error.into());
    }

    /// Seals or opens logical slots `[0, count)`, in parallel when enabled.
    /// Returns each slot's output length, or `None` where authentication failed.
    fn transform(&mut self, count: usize, final_included: bool, last_len: usize) -> Vec<Option<usize>> {
        let size = self.dir.input_chunk();
        let (first, head, slots, dir, key) = (self.next_chunk, self.head, self.slots, self.dir, &self.key);
        let extra = if dir == Direction::Seal { TAG_LEN } else { 0 };

        // Physical slots in logical order, each trimmed to its data.
        let mut physical: Vec<Option<&mut [u8]>> = self.buf.chunks_mut(ENCRYPTED_CHUNK_SIZE).map(Some).collect();
        let jobs: Vec<(u64, bool, &mut [u8])> = (0..count)
            .map(|j| {
                let slot = physical[(head + j) % slots].take().expect("each slot is used once");
                let is_final = final_included && j + 1 == count;
                let len = if is_final { last_len } else { size };
                (first + j as u64, is_final, &mut slot[..len + extra])
            })
            .collect();

        if dir == Direction::Open && self.backup.len() < count * ENCRYPTED_CHUNK_SIZE {
            self.backup = vec![0u8; self.batch.max(count) * ENCRYPTED_CHUNK_SIZE];
        }
        let jobs: Vec<_> = jobs
            .into_iter()
            .zip(self.backup.chunks_mut(ENCRYPTED_CHUNK_SIZE).chain(std::iter::repeat_with(|| &mut [][..])))
            .collect();

        let work = |((index, last, buf), backup): ((u64, bool, &mut [u8]), &mut [u8])| match dir {
            Direction::Seal => {
                key.seal(index, last, buf);
                Some(buf.len())
            }
            // Only a full chunk is ever tried again (`recover`).
            Direction::Open if buf.len() == ENCRYPTED_CHUNK_SIZE => {
                backup.copy_from_slice(buf);
                let opened = key.open(index, last, buf);
                if !opened {
                    buf.copy_from_slice(backup);
                }
                opened.then(|| buf.len() - TAG_LEN)
            }
            Direction::Open => key.open(index, last, buf).then(|| buf.len() - TAG_LEN),
        };

        #[cfg(feature = "parallel")]
        if jobs.len() > 1 {
            use rayon::prelude::*;
            return jobs.into_par_iter().map(work).collect();
        }
        jobs.into_iter().map(work).collect()
    }
}

impl Drop for ChunkRing {
    /// The slots held plaintext; do not leave it in freed memory.
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.buf.zeroize();
    }
}

macro_rules! sans_io_methods {
    () => {
        /// Offers input bytes; returns how many were taken. Takes none while
        /// output is waiting: take it with [`Self::output`] and [`Self::consume`].
        pub fn push(&mut self, input: &[u8]) -> Result<usize> {
            self.ring.push(input)
        }

        /// Signals the end of the input. Call again after draining the output
        /// until it returns `Ok` with no output left; errors found at the end
        /// are reported only after the output released before them is taken.
        pub fn finish(&mut self) -> Result<()> {
            self.ring.finish()
        }

        /// Output ready to be taken (empty when none).
        pub fn output(&self) -> &[u8] {
            self.ring.output()
        }

        /// Marks `n` bytes of [`Self::output`] as taken.
        pub fn consume(&mut self, n: usize) {
            self.ring.consume(n)
        }

        /// True once the final chunk is processed and all output taken.
        pub fn is_done(&self) -> bool {
            self.ring.is_done()
        }

        /// Zero-copy input: where the next input bytes can be written
        /// directly (empty while output waits). Follow with [`Self::commit`].
        pub fn input_space(&mut self) -> &mut [u8] {
            self.ring.input_space()
        }

        /// Takes `n` bytes written into [`Self::input_space`].
        pub fn commit(&mut self, n: usize) -> Result<()> {
            self.ring.commit(n)
        }

        /// Number of chunks processed together (on all cores with feature
        /// `parallel`). Memory is `(batch + 1) * 64 KiB`. Set before pushing.
        pub fn with_batch(mut self, chunks: usize) -> Self {
            self.ring.set_batch(chunks);
            self
        }
    };
}

/// Sans-I/O STREAM encryption of plaintext into an encrypted payload
/// (without header and nonce).
pub struct PayloadEncryptor {
    ring: ChunkRing,
}

impl PayloadEncryptor {
    /// Encrypts plaintext whose first byte is the first byte of chunk `first_chunk`.
    /// Starting after 0 resumes an interrupted encryption or lets several
    /// workers each seal their own range of chunks.
    pub fn new(key: PayloadKey, first_chunk: u64) -> Self {
        PayloadEncryptor { ring: ChunkRing::new(key, Direction::Seal, first_chunk) }
    }

    sans_io_methods!();
}

/// Sans-I/O STREAM decryption of an encrypted payload (after the nonce).
///
/// Plaintext is released one authenticated chunk at a time. If a later chunk
/// fails, the plaintext already released is authentic but incomplete:
/// callers must treat the whole file as failed.
pub struct PayloadDecryptor {
    ring: ChunkRing,
}

impl PayloadDecryptor {
    /// Decrypts a payload from its start (chunk 0) whose length is not known.
    pub fn new(key: PayloadKey) -> Self {
        PayloadDecryptor { ring: ChunkRing::new(key, Direction::Open, 0) }
    }

    /// Random access: decrypts from chunk `first_chunk` of a payload that is
    /// `payload_len` bytes long in total (e.g. from `Content-Range`). Input
    /// starts at [`Seek::payload_offset`]. Chunks are released as soon as they
    /// are complete; the final chunk is checked to be final.
    pub fn starting_at(key: PayloadKey, first_chunk: u64, payload_len: u64) -> Result<Self> {
        plaintext_len(payload_len)?;
        let final_index = (payload_len.max(1) - 1) / ENCRYPTED_CHUNK_SIZE as u64;
        let final_len = (payload_len - final_index * ENCRYPTED_CHUNK_SIZE as u64) as usize;
        if first_chunk > final_index {
            return Err(PayloadError::InvalidLength.into());
        }
        let mut ring = ChunkRing::new(key, Direction::Open, first_chunk);
        ring.known_final = Some((final_index, final_len));
        Ok(PayloadDecryptor { ring })
    }

    sans_io_methods!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PayloadKey {
        PayloadKey::from_bytes(&[7u8; 32])
    }

    fn drain_all(
        push: &mut dyn FnMut(&[u8]) -> Result<usize>,
        finish: &mut dyn FnMut() -> Result<()>,
        take: &mut dyn FnMut() -> Vec<u8>,
        input: &[u8],
        step: usize,
    ) -> (Vec<u8>, Result<()>) {
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let n = match push(&rest[..rest.len().min(step)]) {
                Ok(n) => n,
                Err(e) => return (out, Err(e)),
            };
            rest = &rest[n..];
            out.extend(take());
        }
        loop {
            if let Err(e) = finish() {
                return (out, Err(e));
            }
            let got = take();
            if got.is_empty() {
                return (out, Ok(()));
            }
            out.extend(got);
        }
    }

    fn seal(plain: &[u8], batch: usize, step: usize) -> Vec<u8> {
        let enc = std::cell::RefCell::new(PayloadEncryptor::new(key(), 0).with_batch(batch));
        let (out, r) = drain_all(
            &mut |b| enc.borrow_mut().push(b),
            &mut || enc.borrow_mut().finish(),
            &mut || {
                let mut e = enc.borrow_mut();
                let v = e.output().to_vec();
                e.consume(v.len());
                v
            },
            plain,
            step,
        );
        r.unwrap();
        assert!(enc.borrow().is_done());
        out
    }

    fn open(ct: &[u8], batch: usize, step: usize) -> (Vec<u8>, Result<()>) {
        let dec = std::cell::RefCell::new(PayloadDecryptor::new(key()).with_batch(batch));
        drain_all(
            &mut |b| dec.borrow_mut().push(b),
            &mut || dec.borrow_mut().finish(),
            &mut || {
                let mut d = dec.borrow_mut();
                let v = d.output().to_vec();
                d.consume(v.len());
                v
            },
            ct,
            step,
        )
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn lengths_round_trip_at_every_boundary() {
        for len in [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE, 3 * CHUNK_SIZE + 5] {
            let plain = pattern(len);
            for (batch, step) in [(1, 1000), (1, 7), (3, 65536), (4, 1 << 20), (2, 65552)] {
                let ct = seal(&plain, batch, step);
                assert_eq!(ct.len() as u64, encrypted_payload_len(len as u64), "len {len}");
                assert_eq!(plaintext_len(ct.len() as u64).unwrap(), len as u64);
                let (back, r) = open(&ct, batch, step);
                r.unwrap();
                assert_eq!(back, plain, "len {len} batch {batch} step {step}");
            }
        }
    }

    #[test]
    fn zero_copy_input_gives_the_same_result() {
        let plain = pattern(3 * CHUNK_SIZE + 4321);
        let expected = seal(&plain, 2, 65536);
        let mut enc = PayloadEncryptor::new(key(), 0).with_batch(2);
        let mut out = Vec::new();
        let mut rest = &plain[..];
        while !rest.is_empty() {
            let space = enc.input_space();
            // Write in odd-sized steps, as a reader would.
            let n = space.len().min(rest.len()).min(10_000);
            space[..n].copy_from_slice(&rest[..n]);
            enc.commit(n).unwrap();
            rest = &rest[n..];
            out.extend_from_slice(enc.output());
            let l = enc.output().len();
            enc.consume(l);
        }
        out.extend(crate::run_to_end(&mut enc, &[]).unwrap());
        assert_eq!(out, expected);
    }

    #[test]
    fn same_ciphertext_whatever_the_batch() {
        let plain = pattern(5 * CHUNK_SIZE + 3);
        assert_eq!(seal(&plain, 1, 4096), seal(&plain, 8, 100_000));
    }

    #[test]
    fn truncation_at_chunk_boundary_is_detected() {
        let plain = pattern(3 * CHUNK_SIZE);
        let ct = seal(&plain, 1, 65536);
        let (back, r) = open(&ct[..2 * ENCRYPTED_CHUNK_SIZE], 1, 65536);
        assert!(matches!(r, Err(Error::Payload(PayloadError::Truncated))), "{r:?}");
        assert_eq!(back, &plain[..2 * CHUNK_SIZE]);
    }

    #[test]
    fn flipped_bit_fails_and_releases_only_earlier_chunks() {
        let plain = pattern(4 * CHUNK_SIZE + 10);
        let mut ct = seal(&plain, 2, 65536);
        ct[2 * ENCRYPTED_CHUNK_SIZE + 100] ^= 1;
        for batch in [1, 2, 5] {
            let (back, r) = open(&ct, batch, 10_000);
            assert!(matches!(r, Err(Error::Payload(PayloadError::Tampered { chunk: 2 }))), "{r:?}");
            assert_eq!(back, &plain[..2 * CHUNK_SIZE]);
        }
    }

    #[test]
    fn trailing_data_after_final_chunk() {
        let plain = pattern(CHUNK_SIZE);
        let mut ct = seal(&plain, 1, 65536);
        ct.extend_from_slice(b"x");
        let (back, r) = open(&ct, 1, 65536);
        assert!(matches!(r, Err(Error::Payload(PayloadError::TrailingData))), "{r:?}");
        assert_eq!(back, plain);
    }

    #[test]
    fn empty_input_is_not_a_payload() {
        let (_, r) = open(&[], 1, 1);
        assert!(matches!(r, Err(Error::Payload(PayloadError::Truncated))));
    }

    #[test]
    fn random_access_from_any_chunk() {
        let plain = pattern(6 * CHUNK_SIZE + 1234);
        let ct = seal(&plain, 3, 65536);
        for start in 0..=6u64 {
            let s = seek(start * CHUNK_SIZE as u64 + 17);
            let mut dec = PayloadDecryptor::starting_at(key(), s.chunk, ct.len() as u64).unwrap().with_batch(2);
            let out = crate::run_to_end(&mut dec, &ct[s.payload_offset as usize..]).unwrap();
            assert!(dec.is_done());
            assert_eq!(&out[s.skip..], &plain[(start as usize * CHUNK_SIZE + 17)..], "start {start}");
        }
    }

    #[test]
    fn random_access_of_a_middle_range_needs_no_final_chunk() {
        let plain = pattern(6 * CHUNK_SIZE);
        let ct = seal(&plain, 1, 65536);
        let mut dec = PayloadDecryptor::starting_at(key(), 2, ct.len() as u64).unwrap().with_batch(1);
        let n = dec.push(&ct[2 * ENCRYPTED_CHUNK_SIZE..3 * ENCRYPTED_CHUNK_SIZE]).unwrap();
        assert_eq!(n, ENCRYPTED_CHUNK_SIZE);
        assert_eq!(dec.output(), &plain[2 * CHUNK_SIZE..3 * CHUNK_SIZE]);
    }

    #[test]
    fn invalid_lengths_are_rejected() {
        assert!(plaintext_len(0).is_err());
        assert!(plaintext_len(15).is_err());
        assert_eq!(plaintext_len(16).unwrap(), 0);
        assert!(plaintext_len(ENCRYPTED_CHUNK_SIZE as u64 + 16).is_err());
        assert_eq!(plaintext_len(ENCRYPTED_CHUNK_SIZE as u64 + 17).unwrap(), CHUNK_SIZE as u64 + 1);
    }

    #[test]
    fn resumed_encryption_matches_one_pass() {
        let plain = pattern(5 * CHUNK_SIZE + 99);
        let whole = seal(&plain, 1, 65536);
        let mut enc = PayloadEncryptor::new(key(), 3).with_batch(1);
        let mut out = Vec::new();
        let mut rest = &plain[3 * CHUNK_SIZE..];
        while !rest.is_empty() {
            let n = enc.push(rest).unwrap();
            rest = &rest[n..];
            out.extend_from_slice(enc.output());
            let l = enc.output().len();
            enc.consume(l);
        }
        loop {
            enc.finish().unwrap();
            if enc.output().is_empty() {
                break;
            }
            out.extend_from_slice(enc.output());
            let l = enc.output().len();
            enc.consume(l);
        }
        assert_eq!(out, &whole[3 * ENCRYPTED_CHUNK_SIZE..]);
    }
}

//! `std::io` adapters over any [`Codec`]: [`CodecReader`] pulls input from a
//! reader, [`CodecWriter`] pushes output into a writer. Errors from the codec
//! travel inside `io::Error` and convert back with `Error::from`.

use std::io::{self, BufRead, Read, Write};

use crate::{Codec, Error};

/// Input bytes read from the inner reader per call.
const READ_BUFFER: usize = 1 << 20;

/// Reads the codec's output; the codec's input comes from `inner`.
///
/// With a [`crate::Decryptor`] this is a decrypting reader; with an
/// [`crate::Encryptor`] an encrypting one. Also implements [`BufRead`], so
/// output can be taken without an extra copy.
pub struct CodecReader<C, R> {
    codec: C,
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
}

impl<C: Codec, R: Read> CodecReader<C, R> {
    /// Wraps `inner`.
    pub fn new(codec: C, inner: R) -> Self {
        CodecReader { codec, inner, buf: vec![0; READ_BUFFER].into_boxed_slice(), start: 0, end: 0, eof: false }
    }

    /// The codec, e.g. to ask a decryptor for its header length.
    pub fn codec(&self) -> &C {
        &self.codec
    }
}

impl<C: Codec, R: Read> BufRead for CodecReader<C, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.codec.output().is_empty() {
            if self.start < self.end {
                let n = self.codec.push(&self.buf[self.start..self.end])?;
                self.start += n;
            } else if !self.eof {
                // Read straight into the codec's chunk slot when it allows it.
                let space = self.codec.input_space();
                if !space.is_empty() {
                    match self.inner.read(space) {
                        Ok(0) => self.eof = true,
                        Ok(n) => self.codec.commit(n)?,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                    continue;
                }
                match self.inner.read(&mut self.buf) {
                    Ok(0) => self.eof = true,
                    Ok(n) => (self.start, self.end) = (0, n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            } else {
                self.codec.finish()?;
                if self.codec.output().is_empty() {
                    if !self.codec.is_done() {
                        return Err(io::Error::other("codec stalled at end of input"));
                    }
                    break;
                }
            }
        }
        Ok(self.codec.output())
    }

    fn consume(&mut self, amt: usize) {
        self.codec.consume(amt)
    }
}

impl<C: Codec, R: Read> Read for CodecReader<C, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        BufRead::consume(self, n);
        Ok(n)
    }
}

/// Writes the codec's output to `inner`; what is written goes into the codec.
///
/// Call [`CodecWriter::finish`] at the end: only it writes the final chunk,
/// and dropping the writer without it leaves a file that fails to decrypt as
/// truncated (never one that looks complete).
pub struct CodecWriter<C, W: Write> {
    codec: C,
    inner: W,
}

impl<C: Codec, W: Write> CodecWriter<C, W> {
    /// Wraps `inner`.
    pub fn new(codec: C, inner: W) -> Self {
        CodecWriter { codec, inner }
    }

    fn write_output(&mut self) -> io::Result<()> {
        loop {
            let out = self.codec.output();
            if out.is_empty() {
                return Ok(());
            }
            self.inner.write_all(out)?;
            let n = out.len();
            self.codec.consume(n);
        }
    }

    /// Ends the input, writes the rest of the output and returns the inner writer.
    pub fn finish(mut self) -> Result<W, Error> {
        loop {
            self.codec.finish()?;
            if self.codec.output().is_empty() {
                break;
            }
            self.write_output()?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<C: Codec, W: Write> Write for CodecWriter<C, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.codec.push(data)?;
            let had_output = !self.codec.output().is_empty();
            self.write_output()?;
            if n > 0 {
                return Ok(n);
            }
            if !had_output {
                return Err(io::Error::other("codec took no input and gave no output"));
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_output()?;
        self.inner.flush()
    }
}

/// Runs `reader` (a [`CodecReader`]) to the end, writing all output to
/// `writer` without intermediate copies. Returns the number of bytes written.
pub fn copy<C: Codec, R: Read, W: Write + ?Sized>(
    reader: &mut CodecReader<C, R>,
    writer: &mut W,
) -> Result<u64, Error> {
    let mut total = 0;
    loop {
        let out = reader.fill_buf()?;
        if out.is_empty() {
            return Ok(total);
        }
        writer.write_all(out)?;
        let n = out.len();
        total += n as u64;
        BufRead::consume(reader, n);
    }
}

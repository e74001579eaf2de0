//! Overlaps producing and consuming bytes on two threads, so that reading a
//! file and encrypting it runs while the previous megabytes are on the
//! network (and receiving runs while decrypting and writing to disk).
//! Memory is a few 1 MiB buffers.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Bytes per buffer handed between threads.
pub const BUFFER: usize = 1 << 20;
const DEPTH: usize = 4;

/// Runs `consume` with a reader whose bytes come from `producer`, read on
/// another thread up to `DEPTH` buffers ahead.
pub fn read_ahead<R: Read + Send, T>(mut producer: R, consume: impl FnOnce(&mut ChannelReader) -> T) -> T {
    std::thread::scope(|scope| {
        let (filled_tx, filled_rx) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
        let (spare_tx, spare_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
        scope.spawn(move || {
            loop {
                let mut buf = spare_rx.try_recv().unwrap_or_else(|_| Vec::with_capacity(BUFFER));
                let result = fill(&mut producer, &mut buf);
                let last = buf.len() < BUFFER || result.is_err();
                let message = result.map(|()| buf);
                // The consumer went away (e.g. the request failed): stop.
                if filled_tx.send(message).is_err() || last {
                    return;
                }
            }
        });
        let mut reader = ChannelReader { filled: filled_rx, spare: spare_tx, current: Vec::new(), pos: 0, done: false };
        consume(&mut reader)
        // Dropping the reader closes the channel, which ends the producer.
    })
}

/// Reads into `buf` until it holds `BUFFER` bytes or the input ends (a
/// short read is not the end). On an error `buf` keeps what was read.
pub fn fill(input: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.resize(BUFFER, 0);
    let mut len = 0;
    let result = loop {
        match input.read(&mut buf[len..]) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                len += n;
                if len == BUFFER {
                    break Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    buf.truncate(len);
    result
}

/// The reading end of a stage: bytes produced on another thread.
pub struct ChannelReader {
    filled: Receiver<io::Result<Vec<u8>>>,
    spare: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

impl std::io::BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(&[]);
            }
            self.next_buffer()?;
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

impl ChannelReader {
    fn next_buffer(&mut self) -> io::Result<()> {
        match self.filled.recv() {
            Ok(Ok(buf)) => {
                let finished = std::mem::replace(&mut self.current, buf);
                let _ = self.spare.try_send(finished);
                self.pos = 0;
                self.done = self.current.len() < BUFFER;
                Ok(())
            }
            Ok(Err(e)) => {
                self.done = true;
                Err(e)
            }
            Err(_) => {
                self.done = true;
                Ok(())
            }
        }
    }

    /// Writes everything left to `out` in whole buffers (no small copies).
    pub fn copy_to(&mut self, out: &mut dyn Write) -> io::Result<u64> {
        use std::io::BufRead;
        let mut total = 0;
        loop {
            let buf = self.fill_buf()?;
            if buf.is_empty() {
                return Ok(total);
            }
            out.write_all(buf)?;
            let n = buf.len();
            total += n as u64;
            self.consume(n);
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            self.next_buffer()?;
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Runs `produce` with a writer whose bytes `consume` reads on another
/// thread. If `produce` fails, its error wins (the consumer then saw a cut
/// stream); if the consumer fails first, its error explains the failed writes.
pub fn pipe<T, U: Send, E: From<io::Error> + Send>(
    consume: impl FnOnce(&mut ChannelReader) -> Result<U, E> + Send,
    produce: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<(T, U), E> {
    std::thread::scope(|scope| {
        let (filled_tx, filled_rx) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
        let (spare_tx, spare_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
        let worker = scope.spawn(move || {
            let mut reader =
                ChannelReader { filled: filled_rx, spare: spare_tx, current: Vec::new(), pos: 0, done: false };
            consume(&mut reader)
        });
        let mut writer =
            ChannelWriter { tx: Some(filled_tx), spare: spare_rx, buf: Vec::with_capacity(BUFFER), gone: false };
        let produced = produce(&mut writer).and_then(|t| {
            writer.finish()?;
            Ok(t)
        });
        // Whether a write failed because the consumer had stopped: then the
        // producer's error is only a consequence of the consumer's.
        let gone = writer.gone;
        drop(writer);
        let consumed = worker.join().expect("consumer thread panicked");
        match (produced, consumed) {
            (Ok(t), Ok(u)) => Ok((t, u)),
            (Err(_), Err(c)) if gone => Err(c),
            (Err(e), _) => Err(e),
            (Ok(_), Err(c)) => Err(c),
        }
    })
}

/// The consuming side stopped; its own error says why.
#[derive(Debug)]
struct ConsumerGone;

impl std::fmt::Display for ConsumerGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the receiving side stopped")
    }
}
impl std::error::Error for ConsumerGone {}

/// Sends full 1 MiB buffers; the reader takes a shorter one as the end.
struct ChannelWriter {
    tx: Option<SyncSender<io::Result<Vec<u8>>>>,
    spare: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    /// A send found the consumer gone.
    gone: bool,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        let next = self.spare.try_recv().map(|mut b| {
            b.clear();
            b
        });
        let full = std::mem::replace(&mut self.buf, next.unwrap_or_else(|_| Vec::with_capacity(BUFFER)));
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(Ok(full)).is_ok());
        if !sent {
            self.gone = true;
            return Err(io::Error::other(ConsumerGone));
        }
        Ok(())
    }

    /// Sends the last, short buffer (possibly empty), which marks the end.
    fn finish(&mut self) -> io::Result<()> {
        self.send()?;
        self.tx = None;
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(BUFFER - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == BUFFER {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_ahead_delivers_everything_in_order() {
        let data: Vec<u8> = (0..5_000_000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        read_ahead(&data[..], |r| r.read_to_end(&mut out).unwrap());
        assert!(out == data);
    }

    #[test]
    fn pipe_delivers_and_picks_the_error_that_explains() {
        for len in [0, 1, BUFFER, BUFFER + 1, 3 * BUFFER] {
            let data: Vec<u8> = (0..len as u32).map(|i| (i * 7) as u8).collect();
            let ((), out) = pipe(
                |r| {
                    let mut v = Vec::new();
                    r.read_to_end(&mut v)?;
                    Ok(v)
                },
                |w| -> io::Result<()> { w.write_all(&data) },
            )
            .unwrap();
            assert!(out == data, "len {len}");
        }
        // The consumer fails: its error, not "the receiving side stopped".
        let err = pipe(|_| -> anyhow::Result<()> { anyhow::bail!("disk full") }, |w| Ok(w.write_all(&[0; 9 << 20])?))
            .unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        // The producer fails: its error, even though the consumer saw a cut stream.
        let err = pipe(
            |r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v)?;
                anyhow::ensure!(v.len() == 10 << 20, "truncated");
                Ok(())
            },
            |w| -> anyhow::Result<()> {
                w.write_all(&[0; 3 << 20])?;
                anyhow::bail!("network down")
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("network down"), "{err}");
    }
}

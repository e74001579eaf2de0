//! Runs a codec between an input and an output with reading, crypto and
//! writing overlapped: a reader thread fills buffers, the calling thread
//! runs the codec (whose batches use every core), a writer thread drains.
//! On two cores this hides most of the system-call time behind the cipher.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use kluis_crypto::{Codec, Error};

use crate::overlap::{self, BUFFER};

/// Buffers in flight per direction: bounds memory at a few MiB.
const DEPTH: usize = 4;

/// Pushes everything from `input` through `codec` into `output`; returns the
/// output and the number of bytes written to it.
pub fn run<C, R, W>(codec: &mut C, input: R, output: W) -> Result<(W, u64), Error>
where
    C: Codec,
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let (filled_tx, filled_rx) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
    let (spare_in_tx, spare_in_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
    // The reader is detached: if the codec fails first, an endless stdin must not block us.
    thread::spawn(move || read_loop(input, filled_tx, spare_in_rx));

    let (out_tx, out_rx) = sync_channel::<Vec<u8>>(DEPTH);
    let (spare_out_tx, spare_out_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
    let writer = thread::spawn(move || write_loop(output, out_rx, spare_out_tx));

    let mut sink = Sink { current: Vec::with_capacity(BUFFER), out_tx, spare: spare_out_rx, written: 0 };
    let result = drive(codec, &filled_rx, &spare_in_tx, &mut sink);
    let Sink { out_tx, written, .. } = sink;
    drop(out_tx);
    let output = writer.join().expect("writer thread panicked");
    // A write error explains a failed send better than the send itself.
    let output = output?;
    result?;
    Ok((output, written))
}

fn drive<C: Codec>(
    codec: &mut C,
    filled: &Receiver<io::Result<Vec<u8>>>,
    spare: &SyncSender<Vec<u8>>,
    sink: &mut Sink,
) -> Result<(), Error> {
    for buffer in filled {
        let buffer = buffer?;
        let mut rest = &buffer[..];
        while !rest.is_empty() {
            let n = codec.push(rest)?;
            rest = &rest[n..];
            sink.take(codec)?;
        }
        let _ = spare.try_send(buffer);
    }
    loop {
        codec.finish()?;
        if codec.output().is_empty() {
            break;
        }
        sink.take(codec)?;
    }
    sink.flush()
}

struct Sink {
    current: Vec<u8>,
    out_tx: SyncSender<Vec<u8>>,
    spare: Receiver<Vec<u8>>,
    written: u64,
}

impl Sink {
    /// Moves the codec's output into the current buffer, sending full ones.
    fn take<C: Codec>(&mut self, codec: &mut C) -> Result<(), Error> {
        loop {
            let out = codec.output();
            if out.is_empty() {
                return Ok(());
            }
            let n = out.len().min(BUFFER - self.current.len());
            self.current.extend_from_slice(&out[..n]);
            codec.consume(n);
            if self.current.len() == BUFFER {
                self.flush()?;
            }
        }
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.current.is_empty() {
            return Ok(());
        }
        let next = self.spare.try_recv().map(|mut b| {
            b.clear();
            b
        });
        let next = next.unwrap_or_else(|_| Vec::with_capacity(BUFFER));
        let full = std::mem::replace(&mut self.current, next);
        self.written += full.len() as u64;
        self.out_tx.send(full).map_err(|_| Error::from(io::Error::other("the writer stopped")))
    }
}

fn read_loop<R: Read>(mut input: R, filled: SyncSender<io::Result<Vec<u8>>>, spare: Receiver<Vec<u8>>) {
    loop {
        let mut buffer = spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(BUFFER));
        let result = overlap::fill(&mut input, &mut buffer);
        let len = buffer.len();
        let end = len < BUFFER;
        let message = match result {
            Err(e) => Err(e),
            Ok(()) if len == 0 => return,
            Ok(()) => Ok(buffer),
        };
        let failed = message.is_err();
        if filled.send(message).is_err() || failed || end {
            return;
        }
    }
}

fn write_loop<W: Write>(mut output: W, out: Receiver<Vec<u8>>, spare: SyncSender<Vec<u8>>) -> Result<W, Error> {
    for buffer in out {
        output.write_all(&buffer)?;
        let _ = spare.try_send(buffer);
    }
    output.flush()?;
    Ok(output)
}

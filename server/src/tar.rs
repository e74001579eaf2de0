//! A tar archive (POSIX ustar) written as a stream of pieces, for the admin
//! export (`GET /api/v1/admin/export`): each file is a 512-byte header and its
//! bytes padded to 512; two zero blocks end the archive. Sizes of 8 GiB and
//! more use the base-256 size field that GNU tar, bsdtar and Python read.
//! Pieces go into a bounded channel, so memory stays flat whatever the size:
//! the writer waits while the client is slow.

use std::io;

use bytes::Bytes;
use tokio::sync::mpsc::Sender;

use crate::domain::lifecycle::ExportSink;

const BLOCK: usize = 512;

/// Writes an archive into `out`, every name under the folder `prefix`.
pub(crate) struct TarSink {
    out: Sender<io::Result<Bytes>>,
    prefix: String,
    /// Bytes of the current file written, and its declared size.
    written: u64,
    size: u64,
    mtime: u64,
}

impl TarSink {
    pub(crate) fn new(out: Sender<io::Result<Bytes>>, prefix: &str, mtime: u64) -> TarSink {
        TarSink { out, prefix: prefix.trim_end_matches('/').to_string(), written: 0, size: 0, mtime }
    }

    async fn send(&self, bytes: Bytes) -> io::Result<()> {
        self.out.send(Ok(bytes)).await.map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// The end-of-archive marker: two zero blocks.
    pub(crate) async fn finish(&self) -> io::Result<()> {
        self.send(Bytes::from(vec![0u8; 2 * BLOCK])).await
    }
}

/// `value` in octal, `width - 1` digits and a NUL.
fn octal(field: &mut [u8], value: u64) {
    let last = field.len() - 1;
    let digits = format!("{value:0last$o}");
    field[..last].copy_from_slice(digits.as_bytes());
    field[last] = 0;
}

/// A ustar header for a regular file `name` (at most 100 bytes) of `size` bytes.
pub(crate) fn header(name: &str, size: u64, mtime: u64) -> io::Result<[u8; BLOCK]> {
    let mut h = [0u8; BLOCK];
    if name.len() > 100 {
        return Err(io::Error::other(format!("tar name too long: {name}")));
    }
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o600);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    if size < 8u64.pow(11) {
        octal(&mut h[124..136], size);
    } else {
        // Base-256: the top bit of the first byte marks it, the number big-endian.
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    octal(&mut h[136..148], mtime);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let digits = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(digits.as_bytes());
    Ok(h)
}

#[async_trait::async_trait]
impl ExportSink for TarSink {
    async fn begin(&mut self, name: &str, size: u64) -> io::Result<()> {
        let h = header(&format!("{}/{name}", self.prefix), size, self.mtime)?;
        (self.written, self.size) = (0, size);
        self.send(Bytes::copy_from_slice(&h)).await
    }
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.written += data.len() as u64;
        if self.written > self.size {
            return Err(io::Error::other("more bytes than the tar header declared"));
        }
        self.send(Bytes::copy_from_slice(data)).await
    }
    async fn end(&mut self) -> io::Result<()> {
        if self.written != self.size {
            return Err(io::Error::other("fewer bytes than the tar header declared"));
        }
        let pad = (BLOCK - (self.size % BLOCK as u64) as usize) % BLOCK;
        if pad > 0 {
            self.send(Bytes::from(vec![0u8; pad])).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_what_tar_reads() {
        let h = header("kluis-export-1/users.csv", 1234, 1_700_000_000).unwrap();
        assert_eq!(&h[..24], b"kluis-export-1/users.csv");
        assert_eq!(&h[124..136], b"00000002322\0");
        assert_eq!(&h[257..263], b"ustar\0");
        let stored = std::str::from_utf8(&h[148..154]).unwrap();
        let mut blank = h;
        blank[148..156].fill(b' ');
        let sum: u64 = blank.iter().map(|&b| u64::from(b)).sum();
        assert_eq!(u64::from_str_radix(stored, 8).unwrap(), sum);
        // 10 GiB: base-256.
        let big = header("x", 10 << 30, 0).unwrap();
        assert_eq!(big[124], 0x80);
        assert_eq!(u64::from_be_bytes(big[128..136].try_into().unwrap()), 10 << 30);
        assert!(header(&"n".repeat(101), 1, 0).is_err());
    }
}

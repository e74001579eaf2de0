//! A small HTTP/1.1 proxy on 127.0.0.1 in front of a test server, to watch
//! and disturb the traffic between the CLI and the server the way a network
//! or a second client could: it counts request body bytes, records every
//! exchange, can flip one byte of a response body, can hold an upload's
//! write lease with a stalled PATCH of its own (so the server answers the
//! CLI's PATCH with a real `423 upload_busy`), and can stop a request body
//! at a given byte until the test releases it.
//!
//! One request per connection: requests go upstream with `Connection:
//! close`, and answers come back with it. Request bodies must have a
//! `Content-Length` (the CLI always sends one).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the proxy does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Pass it on unchanged.
    Forward,
    /// Pass it on, and flip the lowest bit of byte `n` of a 2xx answer's body.
    FlipByte(usize),
    /// Ask the server for blob `n` of the same package instead (`…/blobs/n`),
    /// as a server that swapped two blobs would answer.
    BlobInstead(u32),
    /// First send a PATCH of our own for the same upload (headers only, no
    /// body) so the server gives it the write lease; then pass the request
    /// on while that PATCH stalls, and drop ours once the answer is back.
    HoldLease,
    /// Pass on the first `n` bytes of the body, then hold the rest back
    /// until [`Proxy::release`]: the request stands still at a known point.
    HoldAfter(u64),
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Whether it carried an Authorization header.
    pub authorization: bool,
    /// Its `Upload-Offset` header (tus), if any.
    pub upload_offset: Option<u64>,
    /// The upstream status, if an answer came.
    pub status: Option<u16>,
    pub rule: Rule,
    /// When the request arrived.
    pub at: Instant,
}

type Decide = dyn Fn(&str, &str) -> Rule + Send + Sync;

pub struct Proxy {
    pub port: u16,
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    body_bytes: Arc<AtomicU64>,
    gate: Arc<Gate>,
    stop: Arc<AtomicBool>,
}

/// Where [`Rule::HoldAfter`] bodies wait.
#[derive(Default)]
struct Gate {
    holding: AtomicBool,
    released: AtomicBool,
}

impl Gate {
    fn hold(&self) {
        self.holding.store(true, Ordering::Relaxed);
        while !self.released.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Proxy {
    /// Listens on a free port and forwards to 127.0.0.1:`upstream`;
    /// `decide(method, path)` picks the [`Rule`] for each request.
    pub fn start(upstream: u16, decide: impl Fn(&str, &str) -> Rule + Send + Sync + 'static) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let proxy = Proxy {
            port,
            url: format!("http://127.0.0.1:{port}"),
            seen: Default::default(),
            body_bytes: Default::default(),
            gate: Default::default(),
            stop: Default::default(),
        };
        let (seen, body_bytes, stop) = (proxy.seen.clone(), proxy.body_bytes.clone(), proxy.stop.clone());
        let gate = proxy.gate.clone();
        let decide: Arc<Decide> = Arc::new(decide);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let (seen, body_bytes, decide) = (seen.clone(), body_bytes.clone(), decide.clone());
                        let gate = gate.clone();
                        std::thread::spawn(move || {
                            let _ = handle(client, upstream, &*decide, &seen, &body_bytes, &gate);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
                    // Out of file descriptors while many tests run at once: the client waits in
                    // the backlog until one is free, as it would with a real server.
                    Err(e) => {
                        eprintln!("proxy: cannot accept a connection: {e}");
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        });
        proxy
    }

    /// Every request so far, in the order they arrived.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Request body bytes passed upstream so far.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes.load(Ordering::Relaxed)
    }

    /// Whether a [`Rule::HoldAfter`] body reached its byte and waits.
    pub fn holding(&self) -> bool {
        self.gate.holding.load(Ordering::Relaxed)
    }

    /// Lets held bodies go on.
    pub fn release(&self) {
        self.gate.released.store(true, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.release();
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Head {
    first: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn read(reader: &mut impl BufRead) -> io::Result<Head> {
        let mut first = String::new();
        reader.read_line(&mut first)?;
        if first.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        Ok(Head { first: first.trim_end().to_string(), headers })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The head with `Connection: close` instead of any connection header
    /// (and without the headers in `drop`).
    fn to_bytes(&self, drop: &[&str], extra: &[(String, String)]) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.first);
        for (name, value) in &self.headers {
            let name_lower = name.to_ascii_lowercase();
            if name_lower == "connection" || name_lower == "keep-alive" || drop.contains(&name_lower.as_str()) {
                continue;
            }
            out += &format!("{name}: {value}\r\n");
        }
        for (name, value) in extra {
            out += &format!("{name}: {value}\r\n");
        }
        out += "Connection: close\r\n\r\n";
        out.into_bytes()
    }
}

fn handle(
    client: TcpStream,
    upstream: u16,
    decide: &Decide,
    seen: &Mutex<Vec<Seen>>,
    body_bytes: &AtomicU64,
    gate: &Gate,
) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    let mut request = Head::read(&mut from_client)?;
    let mut parts = request.first.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    assert!(
        request.get("Transfer-Encoding").is_none(),
        "the test proxy takes request bodies with a Content-Length only: {method} {path}"
    );
    let length: u64 = request.get("Content-Length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let rule = decide(&method, &path);
    let index = {
        let mut seen = seen.lock().unwrap();
        seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            authorization: request.get("Authorization").is_some(),
            upload_offset: request.get("Upload-Offset").and_then(|v| v.parse().ok()),
            status: None,
            rule,
            at: Instant::now(),
        });
        seen.len() - 1
    };

    if let (Rule::BlobInstead(n), Some((package, _))) = (rule, path.rsplit_once("/blobs/")) {
        request.first = request.first.replacen(&path, &format!("{package}/blobs/{n}"), 1);
    }
    let holder = if rule == Rule::HoldLease {
        let mut holder = TcpStream::connect(("127.0.0.1", upstream))?;
        holder.write_all(&request.to_bytes(&[], &[]))?;
        // Give the server time to take the lease for this stalled body.
        std::thread::sleep(Duration::from_secs(1));
        Some(holder)
    } else {
        None
    };

    let upstream_stream = match TcpStream::connect(("127.0.0.1", upstream)) {
        Ok(s) => s,
        // The server is down: the client sees a dropped connection.
        Err(_) => return Ok(()),
    };
    upstream_stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    upstream_stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut to_upstream = upstream_stream.try_clone()?;
    to_upstream.write_all(&request.to_bytes(&[], &[]))?;
    // Stream the body, counting; if the server stops reading (an early
    // answer), keep draining the client so it gets to read the answer.
    let mut left = length;
    let mut buf = vec![0u8; 64 * 1024];
    let mut upstream_ok = true;
    while left > 0 {
        let mut want = left.min(buf.len() as u64);
        if let Rule::HoldAfter(n) = rule {
            let passed = length - left;
            if passed < n {
                want = want.min(n - passed);
            } else if passed == n {
                gate.hold();
            }
        }
        let n = from_client.read(&mut buf[..want as usize])?;
        if n == 0 {
            return Ok(());
        }
        left -= n as u64;
        if upstream_ok {
            if to_upstream.write_all(&buf[..n]).is_ok() {
                body_bytes.fetch_add(n as u64, Ordering::Relaxed);
            } else {
                upstream_ok = false;
            }
        }
    }

    let mut from_upstream = BufReader::new(upstream_stream);
    let Ok(response) = Head::read(&mut from_upstream) else { return Ok(()) };
    let status: u16 = response.first.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    seen.lock().unwrap()[index].status = Some(status);
    match rule {
        Rule::FlipByte(n) if (200..300).contains(&status) => {
            let mut body = Vec::new();
            from_upstream.read_to_end(&mut body)?;
            if response.get("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
                body = dechunk(&body);
            }
            assert!(n < body.len(), "cannot flip byte {n} of a {}-byte body", body.len());
            body[n] ^= 1;
            let extra = [("Content-Length".to_string(), body.len().to_string())];
            to_client.write_all(&response.to_bytes(&["content-length", "transfer-encoding"], &extra))?;
            to_client.write_all(&body)?;
        }
        _ => {
            to_client.write_all(&response.to_bytes(&[], &[]))?;
            io::copy(&mut from_upstream, &mut to_client)?;
        }
    }
    to_client.flush()?;
    drop(holder);
    Ok(())
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

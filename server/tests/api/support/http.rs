//! A small HTTP/1.1 client: one request per connection (`Connection: close`),
//! the response read to the end (chunked bodies decoded). Enough for the
//! API; no client library between the tests and the server's sockets.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

pub struct Request {
    addr: SocketAddr,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(addr: SocketAddr, method: &str, path: &str) -> Request {
        Request { addr, method: method.into(), path: path.into(), headers: Vec::new(), body: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn bearer(self, token: &str) -> Request {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// Appears to come from network address `ip` (see `support::FORWARDED`).
    pub fn client(self, ip: &str) -> Request {
        self.header(super::FORWARDED, ip)
    }

    pub fn json(self, value: &Value) -> Request {
        self.header("Content-Type", "application/json").body(serde_json::to_vec(value).unwrap())
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// The request as bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head =
            format!("{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.method, self.path, self.addr);
        if !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PATCH" | "PUT") {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Sends the request; panics if there is no complete answer.
    pub fn send(self) -> Response {
        let what = format!("{} {}", self.method, self.path);
        self.try_send().unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    pub fn try_send(self) -> io::Result<Response> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        // The server may answer and close before it read the whole body (a
        // refused request): what it answered still counts.
        let written = stream.write_all(&self.to_bytes());
        let mut raw = Vec::new();
        let read = read_all(&mut stream, &mut raw);
        match Response::parse(&raw, self.method == "HEAD") {
            Some(response) => Ok(response),
            None => Err(written.err().or(read.err()).unwrap_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("incomplete answer: {:?}", String::from_utf8_lossy(&raw)),
                )
            })),
        }
    }
}

/// Reads until the peer closes (or resets, keeping what arrived).
pub fn read_all(stream: &mut TcpStream, into: &mut Vec<u8>) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Response {
    /// Parses a complete response; `None` if it is incomplete.
    pub fn parse(raw: &[u8], head_only: bool) -> Option<Response> {
        let end = find(raw, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut response = Response { status, headers, body: Vec::new() };
        let rest = &raw[end + 4..];
        if head_only || status == 204 || status == 304 {
            return Some(response);
        }
        if response.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            response.body = dechunk(rest)?;
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().ok()?;
            response.body = rest.get(..len)?.to_vec();
        } else {
            response.body = rest.to_vec();
        }
        Some(response)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (showing the body) if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {}: body is not JSON ({e}): {:?}", self.status, self.text()))
    }

    /// `error.code` of an error answer ("" if there is none).
    pub fn code(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// `error.message` of an error answer ("" if there is none).
    pub fn message(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Panics with the whole answer unless the status is `status`.
    #[track_caller]
    pub fn expect(self, status: u16) -> Response {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text());
        self
    }

    /// Panics unless the answer is `status` with error code `code`.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Response {
        assert_eq!((self.status, self.code().as_str()), (status, code), "unexpected answer: {}", self.text());
        self
    }
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

//! A real `kluis-server` process for integration tests: temporary data
//! directory, a free port on 127.0.0.1, helpers to read the outbox and to
//! kill and restart it.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const KLUIS: &str = env!("CARGO_BIN_EXE_kluis");

/// The server binary sits beside the CLI in the target directory; build it if needed.
pub fn server_binary() -> PathBuf {
    let bin = Path::new(KLUIS).with_file_name(format!("kluis-server{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--package", "kluis-server"])
            .status()
            .expect("cargo build");
        assert!(status.success(), "cannot build kluis-server");
    }
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Server {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub url: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    pub fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("server.log");
        let mut server = Server { url: format!("http://127.0.0.1:{port}"), dir, port, child: None, log };
        server.spawn();
        server
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(server_binary());
        cmd.arg("--data").arg(self.data()).env("KLUIS_WEB_DIR", Path::new(env!("CARGO_MANIFEST_DIR")).join("../web"));
        cmd
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = self
            .command()
            .args(["--listen", &format!("127.0.0.1:{}", self.port), "--public-url", &self.url])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kluis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.healthy() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("kluis-server did not start: {}", self.log());
    }

    /// `GET /healthz` answers 200.
    fn healthy(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let mut answer = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut answer).is_ok()
            && answer.starts_with("HTTP/1.1 200")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// An API token for `email` (the user is created if needed).
    pub fn token(&self, email: &str) -> String {
        let out = self.command().args(["token", "create", email]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Decoded bodies of all mail in the outbox, oldest first.
    pub fn mails(&self) -> Vec<String> {
        let dir = self.data().join("outbox");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "eml")).collect())
            .unwrap_or_default();
        files.sort();
        files.iter().map(|f| decode_quoted_printable(&std::fs::read_to_string(f).unwrap())).collect()
    }

    /// The newest 6-digit code mailed to `email`.
    /// Mail leaves through a queue, so this waits for it (a few seconds at most).
    pub fn code_for(&self, email: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mail = loop {
            let mails = self.mails();
            if let Some(m) = mails.iter().rev().find(|m| m.contains(&format!("To: {email}"))) {
                break m.clone();
            }
            assert!(Instant::now() < deadline, "no mail to {email} arrived");
            std::thread::sleep(Duration::from_millis(100));
        };
        mail.lines()
            .map(str::trim)
            .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
            .expect("a code in the mail")
            .to_string()
    }

    /// Runs the CLI against this server as `token`'s user.
    pub fn kluis(&self, token: &str, args: &[&str]) -> Output {
        Command::new(KLUIS)
            .args(args)
            .env("KLUIS_SERVER", &self.url)
            .env("KLUIS_TOKEN", token)
            .env_remove("KLUIS_EMAIL")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs SQL on the server's database (for time travel in tests).
    pub fn sql(&self, sql: &str) {
        let conn = rusqlite::Connection::open(self.data().join("kluis.db")).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.execute_batch(sql).unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// Runs a CLI command that must succeed; returns its stdout.
pub fn ok(out: Output) -> String {
    assert!(out.status.success(), "command failed ({}): {}", out.status, stderr(&out));
    stdout(&out)
}

//! Shared helpers of the relay's black-box tests: a real `kluis-relay`
//! process on a free loopback port with a configuration written for the
//! test, a raw SMTP client for exact reply lines, and lettre's
//! `SmtpTransport` as a real SMTP client (STARTTLS, AUTH PLAIN and LOGIN).
//!
//! Tests observe what a mail server or an operator could: replies, the
//! spool directory's files, the log, and the messages decrypted with the
//! reference `age` tool and the spool key.

#![allow(dead_code)]

pub mod kluis;
pub mod sink;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};

pub const RELAY: &str = env!("CARGO_BIN_EXE_kluis-relay");
pub const USER: &str = "postfix";
pub const PASSWORD: &str = "correct horse battery staple";

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How to start a [`Relay`].
#[derive(Default)]
pub struct Setup {
    /// A certificate for STARTTLS and the user [`USER`].
    pub tls_and_auth: bool,
    /// `clients.networks`; `None`: the default (loopback may relay).
    pub networks: Option<Vec<String>>,
    /// More TOML for `[limits]`.
    pub limits: String,
    /// More TOML at the top (e.g. `mode = "split"`).
    pub top: String,
    /// The upstream's port (`smtp://127.0.0.1:PORT`), and TOML for `[delivery]`.
    pub upstream: Option<u16>,
    /// Keep the default `upstream_tls = "required"` (the test upstreams have no certificate).
    pub require_upstream_tls: bool,
    pub delivery: String,
    /// The port to listen on (default: a free one).
    pub port: Option<u16>,
    /// A Kluis server's URL and a token for it (`--server`, `token_file`).
    pub kluis: Option<(String, String)>,
}

/// A running `kluis-relay`; killed when dropped.
pub struct Relay {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// The certificate's PEM, to trust in clients.
    pub certificate: Option<Vec<u8>>,
}

impl Relay {
    pub fn start(setup: Setup) -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let port = setup.port.unwrap_or_else(free_port);
        let mut config = format!("listen = \"127.0.0.1:{port}\"\nhostname = \"relay.test\"\nstate_dir = \"state\"\n");
        config += &setup.top;
        if let Some(upstream) = setup.upstream {
            config += &format!("upstream = \"smtp://127.0.0.1:{upstream}\"\n");
            if !setup.require_upstream_tls {
                // The test upstreams (a second relay, a stand-in) have no certificate.
                config += "upstream_tls = \"opportunistic\"\n";
            }
        }
        if let Some((server, token)) = &setup.kluis {
            std::fs::write(dir.path().join("token"), token).unwrap();
            config += &format!("server = \"{server}\"\ntoken_file = \"token\"\n");
        }
        let mut certificate = None;
        if setup.tls_and_auth {
            let rcgen::CertifiedKey { cert, signing_key } =
                rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
            std::fs::write(dir.path().join("relay.crt"), cert.pem()).unwrap();
            std::fs::write(dir.path().join("relay.key"), signing_key.serialize_pem()).unwrap();
            certificate = Some(cert.pem().into_bytes());
            let hash = kluis_relay::auth::hash_password(PASSWORD).unwrap();
            std::fs::write(dir.path().join("users"), format!("# test users\n{USER}:{hash}\n")).unwrap();
            config += "[tls]\ncertificate = \"relay.crt\"\nkey = \"relay.key\"\n";
        }
        config += "[clients]\n";
        if setup.tls_and_auth {
            config += "users_file = \"users\"\n";
        }
        if let Some(networks) = &setup.networks {
            config += &format!("networks = {networks:?}\n");
        }
        config += &format!("[limits]\n{}\n[delivery]\n{}\n", setup.limits, setup.delivery);
        std::fs::write(dir.path().join("relay.toml"), config).unwrap();
        let mut relay = Relay { child: None, port, dir, certificate };
        relay.spawn();
        relay
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let child = Command::new(RELAY)
            .args(["--config", "relay.toml"])
            .current_dir(self.dir.path())
            .env_remove("KLUIS_RELAY_TOKEN")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kluis-relay");
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("kluis-relay stopped ({status}): {}", self.log());
            }
            assert!(started.elapsed() < Duration::from_secs(20), "kluis-relay did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the relay with SIGKILL (no chance to clean up) and starts it
    /// again on the same port and state directory.
    pub fn kill_and_restart(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        self.spawn();
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("relay.log")
    }

    /// What the relay logged so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The ids of the messages in the spool.
    pub fn spooled(&self) -> Vec<String> {
        self.spool_files().iter().filter_map(|f| f.strip_suffix(".env")).map(str::to_string).collect()
    }

    /// The spool's files, by name, sorted.
    pub fn spool_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.state().join("spool"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A spooled message decrypted by the reference `age` with the spool key.
    pub fn decrypt_with_age(&self, id: &str) -> Vec<u8> {
        let out = Command::new("age")
            .args(["-d", "-i"])
            .arg(self.state().join("spool.key"))
            .arg(self.state().join("spool").join(format!("{id}.msg")))
            .output()
            .expect("the reference age (apt install age)");
        assert!(out.status.success(), "age: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    pub fn connect(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// lettre over STARTTLS (required) with `password` for [`USER`], by `mechanism`.
    pub fn lettre_with_auth(&self, password: &str, mechanism: Mechanism) -> lettre::SmtpTransport {
        let certificate = Certificate::from_pem(self.certificate.as_ref().expect("tls_and_auth")).unwrap();
        let tls = TlsParameters::builder("localhost".into()).add_root_certificate(certificate).build_rustls().unwrap();
        lettre::SmtpTransport::builder_dangerous("127.0.0.1")
            .port(self.port)
            .hello_name(lettre::transport::smtp::extension::ClientId::Domain("mail.test".into()))
            .tls(Tls::Required(tls))
            .credentials(Credentials::new(USER.into(), password.into()))
            .authentication(vec![mechanism])
            .timeout(Some(Duration::from_secs(20)))
            .build()
    }

    /// lettre in plaintext, as an allowed client address.
    pub fn lettre_plain(&self) -> lettre::SmtpTransport {
        lettre::SmtpTransport::builder_dangerous("127.0.0.1")
            .port(self.port)
            .hello_name(lettre::transport::smtp::extension::ClientId::Domain("mail.test".into()))
            .tls(Tls::None)
            .timeout(Some(Duration::from_secs(20)))
            .build()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A reply: its code and its lines' texts (after `NNN-`/`NNN `).
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// The enhanced status code of the last line (`5.3.4`).
    pub fn status(&self) -> &str {
        self.lines.last().and_then(|l| l.split(' ').next()).unwrap_or("")
    }

    /// `"552 5.3.4"`: what the tests compare.
    pub fn short(&self) -> String {
        format!("{} {}", self.code, self.status())
    }
}

/// An SMTP client that sends exactly the bytes it is given.
pub struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pub greeting: Reply,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let greeting = read_reply(&mut reader).expect("a greeting");
        Raw { reader, writer: stream, greeting }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// The next reply, or `None` when the relay closed the connection.
    pub fn reply(&mut self) -> Option<Reply> {
        read_reply(&mut self.reader)
    }

    /// The connection itself, for a TLS handshake after STARTTLS (nothing
    /// may be buffered: the relay must not have said more than was read).
    pub fn into_stream(self) -> TcpStream {
        assert!(self.reader.buffer().is_empty(), "the relay said more than asked: {:?}", self.reader.buffer());
        self.writer
    }

    /// Sends `line` and CRLF, and reads the reply.
    pub fn command(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply().unwrap_or_else(|| panic!("the relay closed the connection after {line:?}"))
    }
}

pub fn read_reply(reader: &mut impl BufRead) -> Option<Reply> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let code = line.get(..3)?.parse().ok()?;
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line.get(4..).unwrap_or("").to_string());
        if last {
            return Some(Reply { code, lines });
        }
    }
}

/// A plain-text message from alice@example.org to `to`.
pub fn mail_from_alice(to: &[&str], subject: &str, body: &str) -> lettre::Message {
    let mut builder = lettre::Message::builder().from("alice@example.org".parse().unwrap()).subject(subject);
    for address in to {
        builder = builder.to(address.parse().unwrap());
    }
    builder.body(body.to_string()).unwrap()
}

/// Whether `needle` occurs in any file under `dir`.
pub fn found_in_files(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(found_in_files(&path, needle));
        } else if std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle) {
            found.push(path);
        }
    }
    found
}

/// Waits up to 20 s for `done`.
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

//! Shared helpers of the CLI's black-box tests: a real `kluis-server`
//! process on a free loopback port, the `kluis` binary, the server's HTTP
//! API (wire types from `kluis_protocol::api`) and the mail it delivers to
//! the outbox directory the test configured.
//!
//! Tests observe only what a user or another program could: the API, the
//! CLI's output, exit status and the files it writes, and delivered mail.
//! The server's data directory (database, blobs) is private to [`Server`]:
//! nothing here reads it, so the tests hold for any metadata or blob store.
//! Only the leak scan (`cli/tests/leak_scan.rs`), which creates the data
//! directory itself with [`Builder::data_dir`], looks inside.

#![allow(dead_code)]

pub mod api;
pub mod fake;
pub mod mail;
pub mod nginx;
pub mod outsider;
pub mod proxy;
pub mod terminal;

use api::Api;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

pub const KLUIS: &str = env!("CARGO_BIN_EXE_kluis");
pub const ALICE: &str = "alice@example.org";
pub const BOB: &str = "bob@example.org";

/// The server binary, beside the CLI in the target directory. `cargo test
/// -p kluis-cli` does not build it (it is another package's), so it is
/// built here, once per test binary, when it is missing or older than the
/// sources it is made of: a stale server would test old code.
pub fn server_binary() -> PathBuf {
    static CHECKED: std::sync::Once = std::sync::Once::new();
    let bin = Path::new(KLUIS).with_file_name(format!("kluis-server{}", std::env::consts::EXE_SUFFIX));
    CHECKED.call_once(|| {
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        // Not Cargo.lock: any build anywhere in the workspace touches it.
        let sources = ["server/src", "server/migrations", "protocol/src", "crypto/src", "policy/src", "licence/src"];
        let newest = sources.iter().filter_map(|s| newest_change(&root.join(s))).max();
        if built.is_some() && newest <= built {
            return;
        }
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.args(["build", "--package", "kluis-server", "--bin", "kluis-server"]);
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        assert!(cargo.status().expect("cargo build").success(), "cannot build kluis-server");
    });
    bin
}

/// The latest modification time of `path` or anything under it.
fn newest_change(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    let own = meta.modified().ok();
    if !meta.is_dir() {
        return own;
    }
    let children = std::fs::read_dir(path).ok()?.filter_map(|e| newest_change(&e.ok()?.path()));
    children.chain(own).max()
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How to start a [`Server`].
#[derive(Default)]
pub struct Builder {
    port: Option<u16>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    limits: Vec<String>,
    metrics_token: Option<String>,
}

impl Builder {
    /// Listen on this port (e.g. one a [`proxy::Proxy`] forwards to).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The URL the server puts in links and upload locations (e.g. a proxy's).
    pub fn public_url(mut self, url: &str) -> Self {
        self.public_url = Some(url.to_string());
        self
    }

    /// A data directory the caller owns (the leak scan reads it; the nodes
    /// of one installation share it: database and blobs); otherwise one
    /// inside the server's private temporary directory.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// One `[limits]` setting of the configuration file, e.g. `body_timeout_seconds = 5`.
    pub fn limit(mut self, setting: &str) -> Self {
        self.limits.push(setting.to_string());
        self
    }

    /// `[metrics] token`: `GET /metrics` answers with it.
    pub fn metrics_token(mut self, token: &str) -> Self {
        self.metrics_token = Some(token.to_string());
        self
    }

    pub fn start(self) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = self.port.unwrap_or_else(free_port);
        let url = format!("http://127.0.0.1:{port}");
        let public_url = self.public_url.unwrap_or_else(|| url.clone());
        let data = self.data_dir.unwrap_or_else(|| dir.path().join("data"));
        let outbox = dir.path().join("outbox");
        // Mail goes to an outbox outside the data directory: it is the
        // product's output, which tests may read like a mail server would.
        let config = dir.path().join("kluis.toml");
        let mut toml = format!("[mail]\noutbox_dir = {:?}\n\n[limits]\n", outbox.to_str().unwrap());
        for setting in &self.limits {
            toml += &format!("{setting}\n");
        }
        if let Some(token) = &self.metrics_token {
            toml += &format!("\n[metrics]\ntoken = {token:?}\n");
        }
        std::fs::write(&config, toml).unwrap();
        let log = dir.path().join("server.log");
        let mut server =
            Server { dir, port, url, public_url, data, outbox, config, log, child: None, barriers: Default::default() };
        server.spawn();
        server
    }
}

/// A `kluis-server` process, killed when dropped.
pub struct Server {
    dir: tempfile::TempDir,
    pub port: u16,
    /// Where the server listens.
    pub url: String,
    /// What it puts in links (the same as `url` unless a proxy sits in front).
    pub public_url: String,
    data: PathBuf,
    outbox: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// Users made by [`Server::flush_mail`] so far.
    barriers: AtomicUsize,
}

impl Server {
    /// A server on a free port with its own temporary data directory.
    pub fn start() -> Server {
        Builder::default().start()
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(server_binary());
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--data")
            .arg(&self.data)
            .env("KLUIS_WEB_DIR", Path::new(env!("CARGO_MANIFEST_DIR")).join("../web"))
            .env_remove("KLUIS_CONFIG")
            .env_remove("KLUIS_DATA")
            .env_remove("KLUIS_SMTP_URL")
            .env_remove("RUST_LOG");
        cmd
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = self
            .command()
            .args(["--listen", &format!("127.0.0.1:{}", self.port), "--public-url", &self.public_url])
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

    /// What the server wrote to stderr (its log).
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

    /// Stops the server as an operator would (SIGTERM) and waits for it to
    /// finish its requests and close its files.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(40);
        let exit = loop {
            if let Some(exit) = child.try_wait().unwrap() {
                break exit;
            }
            assert!(Instant::now() < deadline, "kluis-server did not stop: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(exit.success(), "kluis-server stopped with {exit}: {}", self.log());
    }

    /// Kills the server and starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// An API token for `email` from `kluis-server token create` (the user is created if needed).
    pub fn token(&self, email: &str) -> String {
        self.token_labelled(email, "created on the command line")
    }

    pub fn token_labelled(&self, email: &str, label: &str) -> String {
        let out = self.command().args(["token", "create", email, "--label", label]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// An API token for a new admin `email` (`kluis-server user add --admin`).
    pub fn admin_token(&self, email: &str) -> String {
        let out = self.command().args(["user", "add", email, "--admin"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        self.token(email)
    }

    /// A user who may sign in (`kluis-server user add`).
    pub fn add_user(&self, email: &str) {
        let out = self.command().args(["user", "add", email]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// The HTTP API, as any client would call it.
    pub fn api(&self) -> Api {
        Api::new(&self.url)
    }

    /// The outbox directory this server delivers mail to.
    pub fn outbox(&self) -> &Path {
        &self.outbox
    }

    /// The `kluis` command with this server and `token` in its environment
    /// (an empty token: none), and nothing else of the caller's KLUIS_*.
    pub fn command_as(&self, token: &str) -> Command {
        let mut cmd = kluis_command();
        cmd.env("KLUIS_SERVER", &self.public_url);
        if !token.is_empty() {
            cmd.env("KLUIS_TOKEN", token);
        }
        cmd
    }

    /// Runs the CLI against this server as `token`'s user (empty: no token).
    pub fn kluis(&self, token: &str, args: &[&str]) -> Output {
        self.command_as(token).args(args).output().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `kluis` with no KLUIS_* variables from the caller's environment and no stdin.
pub fn kluis_command() -> Command {
    let mut cmd = Command::new(KLUIS);
    for var in ["KLUIS_SERVER", "KLUIS_TOKEN", "KLUIS_EMAIL", "KLUIS_IDENTITY", "KLUIS_CONFIG_DIR"] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
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

/// Writes `bytes` to `dir/name`; returns the path as text for the command line.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

/// The package id in a link.
pub fn package_id(link: &str) -> String {
    link.rsplit_once("/p/").unwrap().1.split('#').next().unwrap().to_string()
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

/// Polls `check` every 50 ms until it gives a value, for at most `seconds`.
pub fn wait_for<T>(seconds: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {seconds} s waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

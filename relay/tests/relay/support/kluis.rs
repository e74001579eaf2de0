//! A real `kluis-server` (and the `kluis` command line) for the tests of
//! securing: the binaries beside `kluis-relay` in the target directory
//! (`cargo build -p kluis-server -p kluis-cli` first), a fresh data
//! directory, mail to an outbox directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{RELAY, free_port};

fn binary(name: &str) -> PathBuf {
    let path = Path::new(RELAY).with_file_name(name);
    assert!(path.exists(), "{} is missing: cargo build -p kluis-server -p kluis-cli", path.display());
    path
}

pub struct KluisServer {
    dir: tempfile::TempDir,
    pub url: String,
    child: Child,
}

impl KluisServer {
    pub fn start() -> KluisServer {
        KluisServer::start_with("")
    }

    /// A server whose configuration file also has `config` (TOML tables, e.g. `[policy.content]`).
    pub fn start_with(config: &str) -> KluisServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let outbox = dir.path().join("outbox");
        std::fs::write(
            dir.path().join("kluis.toml"),
            format!("[mail]\noutbox_dir = {:?}\n\n{config}", outbox.to_str().unwrap()),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Self::command(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--public-url", &url])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kluis-server");
        let server = KluisServer { dir, url, child };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "kluis-server did not start: {}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn command(dir: &Path) -> Command {
        let mut command = Command::new(binary("kluis-server"));
        command
            .arg("--config")
            .arg(dir.join("kluis.toml"))
            .arg("--data")
            .arg(dir.join("data"))
            .env("KLUIS_WEB_DIR", Path::new(env!("CARGO_MANIFEST_DIR")).join("../web"))
            .env_remove("KLUIS_CONFIG")
            .env_remove("KLUIS_DATA")
            .env_remove("KLUIS_SMTP_URL")
            .env_remove("RUST_LOG");
        command
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// An API token for `email` (`kluis-server token create`).
    pub fn token(&self, email: &str) -> String {
        let out = Self::command(self.dir.path()).args(["token", "create", email]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// An API token of `email` made an admin of its organisation.
    pub fn admin_token(&self, email: &str) -> String {
        let out = Self::command(self.dir.path()).args(["user", "add", email, "--admin"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        self.token(email)
    }

    /// The relay's verdicts in the organisation's audit log (newest first),
    /// each row's detail parsed, read with an admin's token.
    pub fn relay_verdicts(&self, admin_token: &str) -> Vec<serde_json::Value> {
        self.audit_rows(admin_token, "send_checked")
            .iter()
            .map(|row| {
                let mut detail: serde_json::Value = serde_json::from_str(row["detail"].as_str().unwrap()).unwrap();
                detail["actor"] = row["actor"].clone();
                detail["package_id"] = row["package_id"].clone();
                detail
            })
            .filter(|detail| detail["source"] == "relay")
            .collect()
    }

    /// The organisation's audit rows of `event`, newest first (an admin's token).
    pub fn audit_rows(&self, admin_token: &str, event: &str) -> Vec<serde_json::Value> {
        let api = kluis_client::Api::new(&self.url, Some(admin_token.to_string()), "relay-tests");
        let page: serde_json::Value = api.get(&format!("/admin/audit?event={event}&limit=100")).unwrap();
        page["entries"].as_array().unwrap().clone()
    }

    /// The files of the server (its data directory, outbox and log) holding `needle`.
    pub fn files_holding(&self, needle: &[u8]) -> Vec<PathBuf> {
        super::found_in_files(self.dir.path(), needle)
    }

    /// The 6-digit code in the newest mail to `to` in the outbox, waiting for it.
    pub fn code_for(&self, to: &str) -> String {
        let started = Instant::now();
        loop {
            let mails: Vec<String> = std::fs::read_dir(self.dir.path().join("outbox"))
                .map(|entries| entries.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect())
                .unwrap_or_default();
            let code = mails.iter().filter(|m| m.contains(&format!("To: {to}"))).find_map(|m| {
                m.replace("=\r\n", "")
                    .lines()
                    .map(str::trim)
                    .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
                    .map(str::to_string)
            });
            if let Some(code) = code {
                return code;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "no code mail to {to}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl KluisServer {
    /// The package link in a notification mail (its text is quoted-printable:
    /// the link's line, longer than 76 octets, is joined again).
    pub fn link_in(&self, notification: &str) -> String {
        notification
            .replace("=\r\n", "")
            .lines()
            .find(|l| l.starts_with(&format!("{}/p/", self.url)))
            .unwrap_or_else(|| panic!("no link in {notification}"))
            .to_string()
    }

    /// `kluis receive` of `link` into `dir`/in as `email`: asks for a code,
    /// reads it from the outbox, receives. Returns the successful run.
    pub fn receive(&self, dir: &Path, link: &str, email: &str) -> Output {
        let asked = kluis(dir, &["receive", link, "-o", "in", "--email", email]);
        assert_eq!(asked.status.code(), Some(2), "a code is sent: {}", String::from_utf8_lossy(&asked.stderr));
        let code = self.code_for(email);
        let got = kluis(dir, &["receive", link, "-o", "in", "--email", email, "--code", &code]);
        assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
        got
    }
}

impl KluisServer {
    /// Stops the server (its files stay until it is dropped).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for KluisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `kluis` command line in `dir`.
pub fn kluis(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary("kluis"))
        .args(args)
        .current_dir(dir)
        .env_remove("KLUIS_SERVER")
        .env_remove("KLUIS_TOKEN")
        .env_remove("KLUIS_EMAIL")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

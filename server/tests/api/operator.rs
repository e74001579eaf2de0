//! What a first-time operator meets, through the real `kluis-server` binary:
//! administrative commands name the data directory they work on and do not
//! start a new one unless asked (`--init`); at start the server says where
//! to open it, where the add-in's manifest is and, with no users yet, how
//! to add the first; a sign-in attempt by an address that is not a user is
//! in the log (its answer is the same as a user's: `enumeration`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::{Request, free_port, wait_for};

/// `kluis-server ARGS` in `cwd`, with no configuration from the environment.
pub(crate) fn kluis_server(cwd: &Path, args: &[&str]) -> Output {
    command(cwd).args(args).output().unwrap()
}

/// `kluis-server ARGS` run beside the test server `server`, on its database
/// (`--data` names its data directory; PostgreSQL through `KLUIS_DATABASE_URL`).
pub(crate) fn kluis_server_beside(server: &crate::support::Server, args: &[&str]) -> Output {
    let mut cmd = command(server.data_dir.parent().unwrap());
    if let Some(url) = &server.database_url {
        cmd.env("KLUIS_DATABASE_URL", url);
    }
    cmd.args(args).output().unwrap()
}

/// `kluis-server` to run in `cwd`, with no configuration from the environment.
pub(crate) fn command(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kluis-server"));
    cmd.current_dir(cwd)
        .env_remove("KLUIS_CONFIG")
        .env_remove("KLUIS_DATA")
        .env_remove("KLUIS_DATABASE_URL")
        .env_remove("KLUIS_PUBLIC_URL")
        .env_remove("KLUIS_LISTEN")
        .env_remove("KLUIS_LOG_FORMAT")
        .env("RUST_LOG", "info");
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn admin_commands_refuse_a_new_data_directory_unless_asked_and_name_the_one_they_use() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();

    // Run from another folder, the default ./kluis-data is not the server's: refused, nothing created.
    for args in [&["user", "add", "alice@example.org"][..], &["token", "create", "alice@example.org"]] {
        let out = kluis_server(&elsewhere, args);
        assert!(!out.status.success(), "{args:?} succeeded: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", String::from_utf8_lossy(&out.stdout));
        let err = stderr(&out);
        let looked_at = elsewhere.join("kluis-data");
        assert!(err.contains(&format!("no Kluis data directory at {}", looked_at.display())), "{err}");
        for hint in ["--data DIR", "KLUIS_DATA", "data_dir", "--config FILE", "--init"] {
            assert!(err.contains(hint), "{args:?}: no {hint:?} in {err}");
        }
        assert!(!looked_at.exists(), "{args:?} created {}", looked_at.display());
    }

    // An existing folder without a database is no data directory either.
    let empty = root.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = kluis_server(&root, &["--data", "empty", "user", "add", "alice@example.org"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("{} (it holds no kluis.db)", empty.display())), "{}", stderr(&out));

    // --init creates it and says so.
    let data = root.join("data");
    let out = kluis_server(&root, &["--data", "data", "user", "add", "--init", "Alice@Example.org"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("data directory: {} (new)", data.display())), "{err}");
    assert!(err.contains("alice@example.org may now sign in"), "{err}");
    assert!(data.join("kluis.db").is_file());

    // Afterwards no --init is needed; the directory is named on stderr, stdout is the token alone.
    let out =
        command(&elsewhere).env("KLUIS_DATA", &data).args(["token", "create", "alice@example.org"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("data directory: {}\n", data.display())), "{err}");
    assert!(!err.contains("(new)"), "{err}");
    let token = String::from_utf8(out.stdout).unwrap();
    assert!(token.starts_with("kluis_") && token.ends_with('\n') && token.lines().count() == 1, "{token:?}");

    let out = kluis_server(&root, &["--data", "data", "user", "add", "bob@example.org"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("data directory: {}\n", data.display())), "{}", stderr(&out));
}

/// A `kluis-server` process, its stderr in a file; killed when dropped.
struct Running {
    child: Child,
    log: PathBuf,
    addr: std::net::SocketAddr,
}

impl Running {
    fn start(dir: &Path, data: &Path) -> Running {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let log = dir.join(format!("server-{port}.log"));
        let child = command(dir)
            .arg("--data")
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--public-url", &format!("{url}/")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        let running = Running { child, log, addr };
        let up = wait_for(Duration::from_secs(20), || {
            Request::new(addr, "GET", "/healthz").try_send().ok().filter(|r| r.status == 200)
        });
        assert!(up.is_some(), "the server did not start: {}", running.log());
        running
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has a line containing `text`, and returns that line.
    #[track_caller]
    fn wait_for_line(&self, text: &str) -> String {
        wait_for(Duration::from_secs(10), || self.log().lines().find(|l| l.contains(text)).map(str::to_string))
            .unwrap_or_else(|| panic!("no {text:?} in the log:\n{}", self.log()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_server_says_where_to_open_it_how_to_add_the_first_user_and_who_tried_to_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let data = root.join("data");

    let server = Running::start(&root, &data);
    let url = format!("http://{}", server.addr);
    let started = server.wait_for_line("Kluis server started");
    assert!(started.contains(&format!("data={}", data.display())), "{started}");
    server.wait_for_line(&format!("Open Kluis at {url}/"));
    let manifest = server.wait_for_line(&format!("Outlook add-in manifest: {url}/addin/manifest.xml"));
    assert!(manifest.contains("Outlook needs an https:// public URL"), "{manifest}");
    let hint = server.wait_for_line("No users yet");
    assert!(hint.contains(&format!("kluis-server --data {} user add EMAIL", data.display())), "{hint}");

    // A stranger asks for a code: the same answer as a user gets (enumeration.rs), and a line in the log.
    let ask = |email: &str| {
        Request::new(server.addr, "POST", "/api/v1/auth/code").json(&json!({ "email": email })).send().expect(202)
    };
    ask("Mallory@Example.org");
    let line = server.wait_for_line("not a user");
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("kluis-server user add mallory@example.org"), "{line}");

    // The hint's command, as printed, adds the user; a user's request is not logged as a stranger's.
    let out = kluis_server(&root, &["--data", data.to_str().unwrap(), "user", "add", "alice@example.org"]);
    assert!(out.status.success(), "{}", stderr(&out));
    ask("alice@example.org");
    // The request line comes after the domain's; once it is there, a stranger's line would be too.
    wait_for(Duration::from_secs(10), || (server.log().matches("path=/api/v1/auth/code").count() == 2).then_some(()))
        .unwrap_or_else(|| panic!("two code requests not in the log:\n{}", server.log()));
    assert!(!server.log().contains("alice@example.org lets it sign in"), "{}", server.log());
    assert_eq!(server.log().matches("not a user").count(), 1, "{}", server.log());
    drop(server);

    // With a user, start-up has no hint.
    let server = Running::start(&root, &data);
    server.wait_for_line("Open Kluis at");
    assert!(!server.log().contains("No users yet"), "{}", server.log());
}

//! A real nginx (Debian's, from apt) in front of test servers, run
//! unprivileged from a temporary directory and configured from the
//! repository's own `deploy/nginx/kluis.conf`, so that the shipped file is
//! what is tested. Only what cannot run here is changed (see [`site`]): the
//! upstream's nodes, the listening address (loopback, a free port, plain
//! HTTP: no certificate), the redirect from port 80, and the log's path.
//! Everything else (balancing, failover, buffering, timeouts, headers, the
//! log format) is the deploy file's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::wait_for;

/// An nginx master process and its one worker, stopped when dropped.
pub struct Nginx {
    dir: tempfile::TempDir,
    pub port: u16,
    pub url: String,
    child: Option<Child>,
}

/// One line of the access log in the deploy file's `kluis` format.
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The nodes tried, in order (`$upstream_addr`): more than one when
    /// nginx passed the request on after a node failed.
    pub upstreams: Vec<String>,
}

impl Nginx {
    /// nginx on `port` of 127.0.0.1, balancing over the servers listening
    /// on `nodes` (ports of 127.0.0.1).
    pub fn start(port: u16, nodes: &[u16]) -> Nginx {
        let binary = binary();
        let dir = tempfile::tempdir().unwrap();
        let shipped_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx/kluis.conf");
        let shipped = std::fs::read_to_string(&shipped_path).unwrap();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, main_config(dir.path(), &site(&shipped, dir.path(), port, nodes))).unwrap();
        let child = Command::new(&binary)
            .arg("-p")
            .arg(dir.path())
            // Errors before the configuration is read go here too, not to /var/log.
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let mut nginx = Nginx { dir, port, url: format!("http://127.0.0.1:{port}"), child: Some(child) };
        wait_for(20, "nginx to listen", || {
            if let Some(exit) = nginx.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("nginx exited ({exit}): {}\nconfiguration:\n{}", nginx.error_log(), nginx.config());
            }
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok().then_some(())
        });
        nginx
    }

    /// The configuration nginx runs with.
    pub fn config(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nginx.conf")).unwrap_or_default()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// The access log as written (a line per request, when it ended).
    pub fn access_log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// The access log, parsed.
    pub fn access_log(&self) -> Vec<Logged> {
        self.access_log_text().lines().map(|line| parse_access(line).unwrap_or_else(|| panic!("{line}"))).collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // TERM: the master stops its worker too (a killed master would leave it listening).
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// nginx on the PATH or where Debian puts it (`/usr/sbin`, often not on a
/// user's PATH). Missing, the test fails and says how to install it: the
/// test it serves is not optional.
fn binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("nginx is not installed: `apt-get install nginx` (.ci/run installs it), then run the test again")
        })
}

/// The main context around the site: in the foreground, one worker (so
/// one round-robin turn for all requests), and every file nginx writes in
/// `dir` instead of the system's folders.
fn main_config(dir: &Path, site: &str) -> String {
    let at = |name: &str| format!("\"{}\"", dir.join(name).display());
    // As root, nginx runs its worker as `nobody`, who could not enter `dir` (mode 0700).
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(dir).unwrap()) == 0;
    let user = if root { "user root;\n" } else { "" };
    let temp: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|kind| format!("    {kind}_temp_path {};\n", at(&format!("{kind}_temp"))))
        .collect();
    format!(
        "daemon off;\n{user}worker_processes 1;\npid {};\nerror_log {} warn;\n\n\
         events {{\n    worker_connections 256;\n}}\n\n\
         http {{\n{temp}\n{site}}}\n",
        at("nginx.pid"),
        at("error.log"),
    )
}

/// The deploy file made to run here: the `upstream kluis` block lists
/// `nodes` (with the parameters of the file's first `server`); the server
/// block that only redirects port 80 is left out; the HTTPS server listens
/// on 127.0.0.1:`port` in plain HTTP (its `ssl_` settings left out); its
/// access log goes to `dir`. Panics when the file no longer has the shape
/// these changes expect, rather than testing something else.
fn site(shipped: &str, dir: &Path, port: u16, nodes: &[u16]) -> String {
    let shape = "deploy/nginx/kluis.conf";
    let mut http = parse(shipped);

    let upstream = http
        .iter_mut()
        .find(|d| d.words == ["upstream", "kluis"])
        .and_then(|d| d.block.as_mut())
        .unwrap_or_else(|| panic!("{shape} has no `upstream kluis` block"));
    let first =
        upstream.iter().position(|d| d.name() == "server").unwrap_or_else(|| panic!("{shape}: no upstream server"));
    let parameters = upstream[first].words[2..].to_vec();
    upstream.retain(|d| d.name() != "server");
    for (i, node) in nodes.iter().enumerate() {
        let words = ["server".to_string(), format!("127.0.0.1:{node}")].into_iter().chain(parameters.iter().cloned());
        upstream.insert(first + i, Directive { words: words.collect(), block: None });
    }

    // The redirect to HTTPS: it would need port 80, and serves nothing.
    let redirects = |d: &Directive| d.block.iter().flatten().any(|inner| inner.name() == "return");
    http.retain(|d| !(d.name() == "server" && redirects(d)));
    let mut servers = http.iter_mut().filter(|d| d.name() == "server");
    let server = servers.next().and_then(|d| d.block.as_mut()).unwrap_or_else(|| panic!("{shape}: no server block"));
    assert!(servers.next().is_none(), "{shape}: one server block besides the redirect");
    server.retain(|d| d.name() != "listen" && !d.name().starts_with("ssl_"));
    server.insert(0, Directive { words: vec!["listen".into(), format!("127.0.0.1:{port}")], block: None });
    let log = server.iter_mut().find(|d| d.name() == "access_log").unwrap_or_else(|| panic!("{shape}: no access_log"));
    log.words[1] = format!("\"{}\"", dir.join("access.log").display());

    let mut out = String::new();
    render(&http, 1, &mut out);
    out
}

/// One line of the `kluis` log format: `$remote_addr - [$time_local]
/// "$request_method $uri $server_protocol" $status … upstream=$upstream_addr`.
fn parse_access(line: &str) -> Option<Logged> {
    let (_, rest) = line.split_once('"')?;
    let (request, rest) = rest.split_once('"')?;
    let mut request = request.split(' ');
    let (method, path) = (request.next()?.to_string(), request.next()?.to_string());
    let status = rest.split_whitespace().next()?.parse().ok()?;
    let (_, upstream) = rest.split_once(" upstream=")?;
    // "-" when nginx answered itself; "a, b" when it tried several; "a : b" across an internal redirect.
    let upstreams = upstream.trim().split(", ").flat_map(|s| s.split(" : ")).filter(|a| *a != "-");
    let upstreams = upstreams.map(String::from).collect();
    Some(Logged { method, path, status, upstreams })
}

/// One directive of an nginx configuration: its words (quoted ones with
/// their quotes), and its block if it has one.
#[derive(Clone, Debug, PartialEq)]
struct Directive {
    words: Vec<String>,
    block: Option<Vec<Directive>>,
}

impl Directive {
    fn name(&self) -> &str {
        &self.words[0]
    }
}

enum Token {
    Word(String),
    End,
    Open,
    Close,
}

/// nginx's configuration syntax: words, `;`, blocks in braces, `#`
/// comments, and quoted words (which may hold any of those).
fn parse(text: &str) -> Vec<Directive> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => while chars.next_if(|&c| c != '\n').is_some() {},
            ';' => tokens.push(Token::End),
            '{' => tokens.push(Token::Open),
            '}' => tokens.push(Token::Close),
            c if c.is_whitespace() => {}
            '"' | '\'' => {
                let mut word = String::from(c);
                loop {
                    let next = chars.next().expect("a quoted word ends");
                    word.push(next);
                    if next == '\\' {
                        word.extend(chars.next());
                    } else if next == c {
                        break;
                    }
                }
                tokens.push(Token::Word(word));
            }
            c => {
                let mut word = String::from(c);
                while let Some(next) = chars.next_if(|&c| !c.is_whitespace() && !";{}".contains(c)) {
                    word.push(next);
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    let mut tokens = tokens.into_iter();
    let directives = block(&mut tokens);
    assert!(tokens.next().is_none(), "a `}}` too many");
    directives
}

/// Directives up to the end of a block (or of the text).
fn block(tokens: &mut impl Iterator<Item = Token>) -> Vec<Directive> {
    let mut out = Vec::new();
    let mut words = Vec::new();
    loop {
        match tokens.next() {
            Some(Token::Word(w)) => words.push(w),
            Some(Token::End) => out.push(Directive { words: std::mem::take(&mut words), block: None }),
            Some(Token::Open) => {
                let inner = block(tokens);
                out.push(Directive { words: std::mem::take(&mut words), block: Some(inner) });
            }
            Some(Token::Close) | None => {
                assert!(words.is_empty(), "a directive without `;`: {words:?}");
                return out;
            }
        }
    }
}

fn render(directives: &[Directive], depth: usize, out: &mut String) {
    for d in directives {
        out.push_str(&"    ".repeat(depth));
        out.push_str(&d.words.join(" "));
        match &d.block {
            None => out.push_str(";\n"),
            Some(inner) => {
                out.push_str(" {\n");
                render(inner, depth + 1, out);
                out.push_str(&"    ".repeat(depth));
                out.push_str("}\n");
            }
        }
    }
}

#[test]
fn the_parser_keeps_quoted_words_and_blocks() {
    let text = "log_format k '$a \"$b\" [x] {y};' ; # a comment; {\nhttp { server { listen 80; } }\n";
    let parsed = parse(text);
    assert_eq!(parsed[0].words, ["log_format", "k", "'$a \"$b\" [x] {y};'"]);
    assert_eq!(parsed[1].block.as_ref().unwrap()[0].block.as_ref().unwrap()[0].words, ["listen", "80"]);
    let mut out = String::new();
    render(&parsed, 0, &mut out);
    assert_eq!(parse(&out), parsed, "rendered text parses back to the same directives");
}

//! A real OpenID provider for the single sign-on tests: `oidc-provider`
//! (npm) run by `tests/support/oidc-provider.mjs` as a child process on a
//! loopback port, and a [`Browser`] that follows redirects and keeps cookies
//! the way a browser does (enough for the provider's and the server's).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use super::{Request, Response};

/// The script that starts the provider.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/support/oidc-provider.mjs");

/// A running provider; stopped when dropped.
pub struct OidcProvider {
    pub issuer: String,
    child: Child,
    _stdin: ChildStdin,
    /// Kept open: the provider may write notices, and a closed pipe would end it.
    _stdout: BufReader<ChildStdout>,
}

impl OidcProvider {
    /// Starts the provider with one client; `None` (with a message) when
    /// `node` is not installed: the caller skips its test.
    pub fn start(client_id: &str, client_secret: &str, redirect_uri: &str) -> Option<OidcProvider> {
        if Command::new("node").arg("--version").output().is_err() {
            eprintln!("SKIPPED: node is not installed; the single sign-on tests need it (and `npm ci`)");
            return None;
        }
        let mut child = Command::new("node")
            .arg(SCRIPT)
            .args(["--client-id", client_id, "--client-secret", client_secret, "--redirect-uri", redirect_uri])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let started: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the OpenID provider did not start (is `npm ci` done? oidc-provider is a devDependency): {line:?}")
        });
        let issuer = started["issuer"].as_str().unwrap().to_string();
        Some(OidcProvider { issuer, child, _stdin: stdin, _stdout: stdout })
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Follows redirects across hosts and keeps cookies per host and port (paths ignored).
#[derive(Default)]
pub struct Browser {
    cookies: HashMap<SocketAddr, HashMap<String, String>>,
}

impl Browser {
    /// A request to an absolute `http://` URL with this browser's cookies for its host.
    pub fn request(&mut self, method: &str, url: &str) -> Request {
        let parsed = url::Url::parse(url).unwrap();
        let addr = parsed.socket_addrs(|| None).unwrap()[0];
        let path = &parsed[url::Position::BeforePath..];
        let mut request = Request::new(addr, method, path);
        if let Some(jar) = self.cookies.get(&addr).filter(|j| !j.is_empty()) {
            let cookie: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header("Cookie", cookie.join("; "));
        }
        request
    }

    /// Sends `request` to `url` and keeps the cookies it sets.
    pub fn send(&mut self, url: &str, request: Request) -> Response {
        let response = request.send();
        let addr = url::Url::parse(url).unwrap().socket_addrs(|| None).unwrap()[0];
        let jar = self.cookies.entry(addr).or_default();
        for (name, value) in &response.headers {
            if name.eq_ignore_ascii_case("set-cookie") {
                let pair = value.split(';').next().unwrap_or_default();
                if let Some((k, v)) = pair.split_once('=') {
                    if v.is_empty() || value.to_ascii_lowercase().contains("max-age=0") {
                        jar.remove(k.trim());
                    } else {
                        jar.insert(k.trim().to_string(), v.trim().to_string());
                    }
                }
            }
        }
        response
    }

    pub fn get(&mut self, url: &str) -> Response {
        let request = self.request("GET", url);
        self.send(url, request)
    }

    /// Follows redirects from `url` until one leads to a URL starting with
    /// `until` (returned) or an answer is not a redirect (a panic).
    pub fn follow(&mut self, url: &str, until: &str) -> String {
        let mut url = url.to_string();
        for _ in 0..20 {
            if url.starts_with(until) {
                return url;
            }
            let response = self.get(&url);
            assert!((300..400).contains(&response.status), "GET {url}: {} {}", response.status, response.text());
            let location = response.header("location").expect("a redirect has a Location");
            url = url::Url::parse(&url).unwrap().join(location).unwrap().to_string();
        }
        panic!("too many redirects");
    }

    /// Forgets the cookies of every host.
    pub fn clear(&mut self) {
        self.cookies.clear();
    }
}

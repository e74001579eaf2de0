//! Several server nodes behind a real nginx (issue 16): two `kluis-server`
//! processes on one data directory (one database, one blob store), and
//! nginx in front configured from the shipped `deploy/nginx/kluis.conf`
//! (`support::nginx`). The CLI talks to nginx only; a node dies under it.

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::nginx::Nginx;
use crate::support::proxy::{Proxy, Rule};
use crate::support::{ALICE, BOB, Server, api::Api, data, free_port, ok, package_id, wait_for, write};

const METRICS_TOKEN: &str = "metrics-token-of-the-nodes-test";

/// Where the upload's body stops while a node dies: past the first checkpoint.
const HOLD_AT: u64 = 32 << 20;

/// The durable offset of the upload at `path`, as `node` reads it (tus `HEAD`).
fn offset(node: &Server, token: &str, path: &str) -> u64 {
    let answer = Api::new(&node.url).head(&format!("{}{path}", node.url), token, &[("Tus-Resumable", "1.0.0")]);
    assert_eq!(answer.status, 200, "HEAD {path}");
    answer.header("Upload-Offset").and_then(|v| v.parse().ok()).expect("Upload-Offset")
}

/// Requests a node is serving now, besides the scrape that asks
/// (`kluis_http_requests_in_flight` counts it too).
fn serving(node: &Server) -> u64 {
    let answer = Api::new(&node.url).get(&format!("{}/metrics", node.url), METRICS_TOKEN);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    let gauge = text.lines().find_map(|l| l.strip_prefix("kluis_http_requests_in_flight "));
    gauge.and_then(|n| n.trim().parse::<u64>().ok()).unwrap_or_else(|| panic!("no in-flight gauge: {text}")) - 1
}

#[test]
fn an_upload_through_nginx_survives_kill_9_of_the_node_serving_it() {
    let data_dir = tempfile::tempdir().unwrap();
    // CLI → a proxy that can stop the upload's body at a chosen byte →
    // nginx → the nodes. The nodes' links and upload locations point at the
    // proxy, so every request of the CLI takes that path.
    let nginx_port = free_port();
    let patches = AtomicUsize::new(0);
    let proxy = Proxy::start(nginx_port, move |method, _| {
        if method == "PATCH" && patches.fetch_add(1, Ordering::Relaxed) == 0 {
            Rule::HoldAfter(HOLD_AT)
        } else {
            Rule::Forward
        }
    });
    // The killed node's write lease on the upload outlives it (three body
    // timeouts and 5 s): a short body timeout keeps the wait for it short.
    let node = || {
        Server::builder()
            .data_dir(data_dir.path())
            .public_url(&proxy.url)
            .limit("body_timeout_seconds = 5")
            .limit("client_ip_header = \"X-Forwarded-For\"")
            .metrics_token(METRICS_TOKEN)
            .start()
    };
    let mut nodes = [node(), node()];
    let nginx = Nginx::start(nginx_port, &[nodes[0].port, nodes[1].port]);
    let address = nodes.each_ref().map(|n| format!("127.0.0.1:{}", n.port));
    let token = nodes[0].token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let original = data(64 << 20, 16);
    let file = write(work.path(), "big.bin", &original);
    let child = nodes[0]
        .command_as(&token)
        .args(["send", &file, "--to", BOB, "--verify", "none"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The upload stands still mid-body on one node, which has made its first
    // checkpoint (16 MiB) durable: the other node reads that offset. Kill -9
    // the one that has it, then let the body go on.
    wait_for(60, "the upload held at 32 MiB", || proxy.holding().then_some(()));
    let killed = wait_for(10, "a node serving the upload", || (0..2).find(|&i| serving(&nodes[i]) > 0));
    let survivor = 1 - killed;
    let upload = proxy.seen().into_iter().find(|s| s.method == "PATCH").unwrap().path;
    wait_for(20, "16 MiB durable", || (offset(&nodes[survivor], &token, &upload) >= 16 << 20).then_some(()));
    nodes[killed].kill9();
    proxy.release();

    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let logs = || {
        format!(
            "nginx access log:\n{}\nnginx error log:\n{}\nsurvivor's log:\n{}",
            nginx.access_log_text(),
            nginx.error_log(),
            nodes[survivor].log()
        )
    };
    assert!(out.status.success(), "send failed: {err}\n{}", logs());
    assert!(err.contains("resuming"), "the CLI resumed rather than failed: {err}");
    // It went on from what the dead node had made durable, not from 0.
    let resumed = proxy
        .seen()
        .into_iter()
        .any(|s| s.method == "PATCH" && s.path == upload && s.status == Some(204) && s.upload_offset >= Some(16 << 20));
    assert!(resumed, "a PATCH went on from where the dead node stopped: {:#?}", proxy.seen());

    // Received through nginx (now one node), whole, and counted once.
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let dest = work.path().join("in");
    ok(nodes[survivor].kluis("", &["receive", &link, "-o", dest.to_str().unwrap()]));
    assert!(std::fs::read(dest.join("big.bin")).unwrap() == original, "bytes differ after the node died");
    assert_eq!(Api::new(&nginx.url).package(&token, &package_id(&link)).package.downloads, 1);

    // nginx's log (the deploy file's format, with `$upstream_addr`): both
    // nodes answered requests; the PATCH on the killed one failed (502:
    // its body was streamed, so it could not go elsewhere); and a request
    // that came to the dead node's turn was passed on to the survivor.
    let log = nginx.access_log();
    let answered_by =
        |i: usize| log.iter().filter(|l| l.status < 500 && l.upstreams.last() == Some(&address[i])).count();
    assert!(answered_by(0) > 0 && answered_by(1) > 0, "requests spread over both nodes\n{}", logs());
    let cut = log.iter().find(|l| l.method == "PATCH" && l.upstreams == [address[killed].as_str()]);
    assert_eq!(cut.map(|l| l.status), Some(502), "the PATCH cut off by the kill\n{}", logs());
    let passed_on =
        log.iter().any(|l| l.status < 500 && l.upstreams == [address[killed].as_str(), address[survivor].as_str()]);
    assert!(passed_on, "nginx passed a request from the dead node to the survivor\n{}", logs());
}

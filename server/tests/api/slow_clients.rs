//! Clients that hold connections open: request bodies that stall or trickle
//! in (one byte every few seconds) are ended when a window of
//! `limits.body_timeout_seconds` brings fewer than `limits.body_min_bytes`, requests in flight per client address are capped, and
//! neither slows other clients down or holds up a graceful shutdown.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::flow;
use crate::support::{FORWARDED, Response, Server, free_port, wait_for};

/// Seconds between the bytes of a slow body: longer than the test servers' body timeout (2 s).
const DRIP: Duration = Duration::from_secs(3);

/// A request whose headers were sent at once and whose body comes one byte at a time.
struct Slow {
    stream: TcpStream,
    last_byte: Instant,
    received: Vec<u8>,
    /// When the server answered or closed, and its status if it answered.
    ended: Option<(Instant, Option<u16>)>,
}

impl Slow {
    /// Opens a connection and sends the headers of `path` (a JSON body of
    /// 1000 bytes declared) and the first byte of the body.
    fn open(server: &Server, path: &str, client: Option<&str>) -> Slow {
        Slow::open_at(server.addr, path, client)
    }

    fn open_at(addr: SocketAddr, path: &str, client: Option<&str>) -> Slow {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
        );
        if let Some(ip) = client {
            head.push_str(&format!("{FORWARDED}: {ip}\r\n"));
        }
        head.push_str("\r\n{");
        stream.write_all(head.as_bytes()).unwrap();
        stream.set_nonblocking(true).unwrap();
        Slow { stream, last_byte: Instant::now(), received: Vec::new(), ended: None }
    }

    /// Reads what the server sent, without waiting; notes the end of the exchange.
    fn poll(&mut self) {
        if self.ended.is_some() {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break self.end(),
                Ok(n) => {
                    self.received.extend_from_slice(&buf[..n]);
                    if Response::parse(&self.received, false).is_some() {
                        break self.end();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break self.end(),
            }
        }
    }

    fn end(&mut self) {
        let status = Response::parse(&self.received, false).map(|r| r.status);
        self.ended = Some((Instant::now(), status));
    }

    /// Sends one more byte of the body, if the exchange is still open.
    fn drip(&mut self) {
        if self.ended.is_none() {
            match self.stream.write(b" ") {
                Ok(_) => self.last_byte = Instant::now(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => self.end(),
            }
        }
    }
}

/// Keeps `slow` dripping until every one has ended or `limit` has passed.
fn drip_until_all_ended(slow: &mut [Slow], limit: Duration) {
    let started = Instant::now();
    let mut next_drip = started + DRIP;
    while started.elapsed() < limit && slow.iter().any(|s| s.ended.is_none()) {
        slow.iter_mut().for_each(Slow::poll);
        if Instant::now() >= next_drip {
            slow.iter_mut().for_each(Slow::drip);
            next_drip += DRIP;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A sender's whole upload: create, upload both blobs, finalize.
fn normal_upload(server: &Server, token: &str) {
    flow::send(server, token, json!({ "verify": "none" }));
}

#[test]
fn slow_bodies_from_many_clients_end_after_the_body_timeout_while_health_and_uploads_answer() {
    let server = Server::start(|c| c.limits.max_requests_per_client = 4);
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "verify": "none" }));

    // 200 clients, each from its own address (so the per-client cap does not
    // shield the server), on the calls that need no sign-in.
    let mut slow: Vec<Slow> = (0..200)
        .map(|i| {
            let path =
                if i % 2 == 0 { "/api/v1/auth/code".to_string() } else { format!("/api/v1/p/{}/access", sent.id) };
            Slow::open(&server, &path, Some(&format!("10.7.{}.{}", i / 200, i % 200 + 1)))
        })
        .collect();

    // Meanwhile others are served at once.
    let started = Instant::now();
    server.get("/healthz").send().expect(200);
    assert!(started.elapsed() < Duration::from_secs(1), "/healthz took {:?}", started.elapsed());
    let started = Instant::now();
    normal_upload(&server, &alice);
    assert!(started.elapsed() < Duration::from_millis(1500), "an upload took {:?}", started.elapsed());

    drip_until_all_ended(&mut slow, Duration::from_secs(12));
    for (i, s) in slow.iter().enumerate() {
        let (at, status) = s.ended.unwrap_or_else(|| panic!("slow request {i} was still open after 12 s"));
        let idle = at.duration_since(s.last_byte);
        assert!(
            idle >= Duration::from_millis(1500) && idle <= Duration::from_millis(4500),
            "slow request {i} ended {idle:?} after its last byte (body timeout 2 s), answer {status:?}"
        );
    }
    // Nothing was done with the bodies that never arrived.
    assert_eq!(flow::package(&server, &alice, &sent.id)["downloads"], 0);
    server.get("/healthz").send().expect(200);
}

#[test]
fn a_body_that_drips_a_byte_every_half_second_is_ended_within_two_windows() {
    // Bytes keep arriving (never idle for the 2 s body timeout), but far fewer
    // than `body_min_bytes` (16 KiB by default) per window.
    let server = Server::start(|_| {});
    let mut slow = Slow::open(&server, "/api/v1/auth/code", Some("198.51.100.9"));
    let started = Instant::now();
    while slow.ended.is_none() && started.elapsed() < Duration::from_secs(10) {
        slow.poll();
        slow.drip();
        std::thread::sleep(Duration::from_millis(500));
    }
    let (at, _) = slow.ended.expect("the dripping body was still open after 10 s");
    let took = at.duration_since(started);
    assert!(took <= Duration::from_millis(4500), "a dripping body was ended only after {took:?} (body timeout 2 s)");
    server.get("/healthz").send().expect(200);
}

#[test]
fn requests_in_flight_from_one_client_are_capped_and_other_clients_are_not() {
    let server = Server::start(|c| c.limits.max_requests_per_client = 4);
    let attacker = "203.0.113.7";
    let mut slow: Vec<Slow> = (0..20).map(|_| Slow::open(&server, "/api/v1/auth/code", Some(attacker))).collect();
    let refused = wait_for(Duration::from_secs(2), || {
        slow.iter_mut().for_each(Slow::poll);
        let refused = slow.iter().filter(|s| matches!(s.ended, Some((_, Some(429))))).count();
        (refused >= 16).then_some(refused)
    });
    assert_eq!(refused, Some(16), "all but max_requests_per_client (4) of 20 stalled requests are refused at once");

    // While the attacker's four are stalled: the attacker is refused, others are served.
    let more = server.get("/healthz").client(attacker).send().expect_error(429, "rate_limited");
    assert!(more.header("retry-after").is_some(), "429 without Retry-After");
    server.get("/healthz").client("198.51.100.1").send().expect(200);
    server.get("/healthz").send().expect(200);

    // After the body timeout the attacker's slots are free again.
    drip_until_all_ended(&mut slow, Duration::from_secs(8));
    assert!(slow.iter().all(|s| s.ended.is_some()), "a stalled request outlived the body timeout");
    server.get("/healthz").client(attacker).send().expect(200);
}

#[test]
fn graceful_shutdown_is_not_held_up_by_stalled_bodies() {
    // The real binary, stopped the way an operator stops it (SIGTERM).
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("kluis.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\npublic_url = \"http://127.0.0.1:{port}\"\n\
             blob_store = \"memory\"\n[limits]\nbody_timeout_seconds = 2\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kluis-server"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = wait_for(Duration::from_secs(10), || {
        crate::support::Request::new(addr, "GET", "/healthz").try_send().ok().filter(|r| r.status == 200)
    });
    if up.is_none() {
        let _ = child.kill();
        panic!("the server did not start");
    }

    let mut slow: Vec<Slow> = (0..50).map(|_| Slow::open_at(addr, "/api/v1/auth/code", None)).collect();
    std::thread::sleep(Duration::from_millis(300));

    let stopping = Instant::now();
    let killed = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(killed.success());
    let exited = wait_for(Duration::from_secs(15), || {
        slow.iter_mut().for_each(Slow::poll);
        child.try_wait().unwrap()
    });
    let took = stopping.elapsed();
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let status = exited.unwrap_or_else(|| panic!("the server was still running 15 s after SIGTERM"));
    assert!(status.success(), "the server stopped with {status}");
    // Each stalled request was ended by the body timeout (2 s), not by the
    // forced stop at the end of the shutdown timeout.
    for (i, s) in slow.iter().enumerate() {
        let (at, answer) = s.ended.unwrap_or_else(|| panic!("stalled request {i} never ended"));
        let after = at.duration_since(s.last_byte);
        assert!(after <= Duration::from_millis(4000), "stalled request {i} ended {after:?} after its last byte");
        assert!(answer.is_some(), "stalled request {i} was cut off without an answer");
    }
    // Their connections then linger for actix's client disconnect timeout
    // (5 s) unless the client closes; the server's shutdown timeout (body
    // timeout + 5 s) bounds the whole, far below actix's default of 30 s.
    assert!(took <= Duration::from_millis(9500), "shutdown took {took:?} with stalled bodies");
}

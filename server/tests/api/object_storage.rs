//! Blobs in an object store: the whole path of a package through a real S3
//! API, `s3s-fs` (crates.io; `.ci/run` installs it), and through Azure Blob
//! Storage's emulator, Azurite (npm; `npm ci` installs it), each on a
//! loopback port. The stores' own semantics are the blob-store conformance
//! suite's (`server/src/blobs/object.rs`, against the same servers).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kluis_server::config::{Azure, S3};

use crate::support::flow::{self, Sent};
use crate::support::{Server, free_port};

pub(crate) struct S3sFs {
    child: Child,
    endpoint: String,
    root: tempfile::TempDir,
}

impl S3sFs {
    pub(crate) fn start() -> S3sFs {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("kluis")).unwrap();
        let port = free_port();
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", "kluis", "--secret-key"])
            .arg("kluis-secret")
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs is missing: cargo install s3s-fs --version 0.14.1 --features binary (.ci/run does)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        S3sFs { child, endpoint: format!("http://127.0.0.1:{port}"), root }
    }

    /// The folder s3s-fs keeps the buckets in (`<root>/<bucket>/<object>`).
    pub(crate) fn root(&self) -> &std::path::Path {
        self.root.path()
    }

    pub(crate) fn config(&self) -> S3 {
        S3 {
            bucket: "kluis".into(),
            region: Some("us-east-1".into()),
            endpoint: Some(self.endpoint.clone()),
            prefix: "org-a".into(),
            access_key_id: Some("kluis".into()),
            secret_access_key: Some("kluis-secret".into()),
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn a_package_goes_through_an_s3_bucket_whole_and_in_ranges() {
    let mut s3 = S3sFs::start();
    let config = s3.config();
    let server = Server::start(move |c| {
        c.blob_store = "s3".into();
        c.s3 = config;
    });
    assert_eq!(server.get("/readyz").send().status, 200);
    let alice = server.token("alice@example.org");
    // 20 MiB: several segments, and a checkpoint (every 16 MiB) inside one PATCH.
    let large = flow::bytes(20 << 20, 7);
    let sent: Sent = flow::send_blobs(
        &server,
        &alice,
        serde_json::json!({ "verify": "none" }),
        vec![flow::bytes(150, 1), large.clone()],
    );

    let granted = flow::access(&server, &sent.id, &sent.proof(), None, None).send().expect(200).json();
    let token = granted["download_token"].as_str().unwrap().to_string();
    let urls: Vec<String> = granted["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| flow::path_of(&server, b["url"].as_str().unwrap()))
        .collect();
    let whole = server.get(&urls[1]).bearer(&token).send().expect(200).body;
    assert!(whole == large, "the blob byte for byte");
    let (from, to) = ((8 << 20) - 5, (8 << 20) + 9);
    let part =
        server.get(&urls[1]).bearer(&token).header("Range", format!("bytes={from}-{to}")).send().expect(206).body;
    assert_eq!(part, &large[from..=to], "a range across two segments");
    assert_eq!(server.get(&urls[0]).bearer(&token).send().expect(200).body, sent.blobs[0]);

    // Without the object store the server is alive but not ready.
    s3.stop();
    let ready = server.get("/readyz").send();
    assert_eq!((ready.status, ready.code()), (503, "not_ready".to_string()), "{}", ready.text());
    assert_eq!(server.get("/healthz").send().status, 200);
}

/// Azurite on a loopback port, in memory, with the container `kluis`; stopped when dropped.
struct Azurite {
    child: Child,
    /// The account's URL (path style: the account is the first segment).
    endpoint: String,
    _cwd: tempfile::TempDir,
}

/// An account SAS of Azurite's well-known account (`devstoreaccount1`, signed
/// with its published key as Azure documents: services `b`, resource types
/// `sco`, permissions `rwdlac`, until 2099). A wrong one makes Azurite answer 403.
const AZURITE_SAS: &str = "sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00%3A00%3A00Z&spr=https%2Chttp\
                           &sig=kV1%2FDJNn7340SUtIltqF6L9gEwifTOYTqBxfQeMSrhM%3D";

impl Azurite {
    fn start() -> Azurite {
        let program = concat!(env!("CARGO_MANIFEST_DIR"), "/../node_modules/.bin/azurite-blob");
        let cwd = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(program)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--disableTelemetry", "--silent"])
            .current_dir(cwd.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Azurite is missing: npm ci in the repository's root (package.json; .ci/run does)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "Azurite did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let endpoint = format!("http://127.0.0.1:{port}/devstoreaccount1");
        ureq::put(format!("{endpoint}/kluis?restype=container&{AZURITE_SAS}"))
            .send_empty()
            .expect("Azurite makes the container");
        Azurite { child, endpoint, _cwd: cwd }
    }

    /// The server signs in with the SAS (the conformance suite, with the account key).
    fn config(&self) -> Azure {
        Azure {
            account: "devstoreaccount1".into(),
            container: "kluis".into(),
            endpoint: Some(self.endpoint.clone()),
            prefix: "org-a".into(),
            access_key: None,
            sas_token: Some(AZURITE_SAS.into()),
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_package_goes_through_an_azure_container() {
    let azurite = Azurite::start();
    let config = azurite.config();
    let server = Server::start(move |c| {
        c.blob_store = "azure".into();
        c.azure = config;
    });
    assert_eq!(server.get("/readyz").send().status, 200);
    let alice = server.token("alice@example.org");
    // 9 MiB: two segments.
    let large = flow::bytes(9 << 20, 3);
    let sent: Sent = flow::send_blobs(&server, &alice, serde_json::json!({ "verify": "none" }), vec![large.clone()]);
    let granted = flow::access(&server, &sent.id, &sent.proof(), None, None).send().expect(200).json();
    let token = granted["download_token"].as_str().unwrap().to_string();
    let url = flow::path_of(&server, granted["blobs"][0]["url"].as_str().unwrap());
    let whole = server.get(&url).bearer(&token).send().expect(200).body;
    assert!(whole == large, "the blob byte for byte");
    let (from, to) = ((8 << 20) - 5, (8 << 20) + 9);
    let part = server.get(&url).bearer(&token).header("Range", format!("bytes={from}-{to}")).send().expect(206).body;
    assert_eq!(part, &large[from..=to], "a range across two segments");
    // The blobs are in the container, under the prefix.
    let listed =
        ureq::get(format!("{}/kluis?restype=container&comp=list&prefix=org-a/blobs/&{AZURITE_SAS}", azurite.endpoint))
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
    assert!(listed.contains(&format!("<Name>org-a/blobs/{}/", sent.id)), "{listed}");
}

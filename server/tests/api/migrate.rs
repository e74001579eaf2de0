//! `kluis-server migrate`, through the real binary: a single-machine install
//! (SQLite, blobs on disk) moves to PostgreSQL and an S3 bucket (`s3s-fs`);
//! a run killed while it copies a blob is run again and goes on; the report
//! compares every table, the audit chains and every blob; the new install
//! serves what the old one had, to the same tokens and links. Needs
//! PostgreSQL: these tests run in the `postgres` stage
//! (`KLUIS_TEST_DATABASE_URL`), where every other API test runs too.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::object_storage::S3sFs;
use crate::operator::command;
use crate::support::db::{self, TestDatabase};
use crate::support::flow::{self, Sent};
use crate::support::{Server, wait_for};

/// PostgreSQL's server for the tests, or `None` (said on stderr) when these run on SQLite only.
fn postgres() -> Option<String> {
    let url = db::postgres_url();
    if url.is_none() {
        eprintln!("not run here: migrating needs PostgreSQL; the postgres stage runs it (KLUIS_TEST_DATABASE_URL)");
    }
    url
}

/// A configuration file for the old install: its data directory, and the bucket to move blobs to.
fn config_file(home: &Path, data: &Path, s3: &S3sFs) -> std::path::PathBuf {
    let s3 = s3.config();
    let file = home.join("kluis.toml");
    let toml = format!(
        "data_dir = {data:?}\n\n[s3]\nbucket = {:?}\nregion = \"us-east-1\"\nendpoint = {:?}\nprefix = {:?}\n\
         access_key_id = {:?}\nsecret_access_key = {:?}\n",
        s3.bucket,
        s3.endpoint.unwrap(),
        s3.prefix,
        s3.access_key_id.unwrap(),
        s3.secret_access_key.unwrap()
    );
    std::fs::write(&file, toml).unwrap();
    file
}

fn migrate(home: &Path, config: &Path, to: &str) -> Output {
    let config = config.to_str().unwrap();
    command(home)
        .args(["--config", config, "migrate", "--blobs-to", "s3"])
        .env("KLUIS_MIGRATE_TO", to)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Downloads blob `idx` of `sent` as a recipient.
fn download(server: &Server, sent: &Sent, idx: usize) -> Vec<u8> {
    let granted = flow::access(server, &sent.id, &sent.proof(), None, None).send().expect(200).json();
    let url = flow::path_of(server, granted["blobs"][idx]["url"].as_str().unwrap());
    server.get(&url).bearer(granted["download_token"].as_str().unwrap()).send().expect(200).body
}

/// A server as a single-machine install runs: SQLite and blobs in the data directory `data`.
fn single_machine(data: &Path) -> Server {
    let data = data.to_path_buf();
    Server::start_on_sqlite(move |c| {
        c.data_dir = data;
        c.blob_store = "fs".into();
    })
}

#[test]
fn a_single_machine_install_moves_to_postgresql_and_s3_resuming_after_a_kill_and_verified() {
    let Some(admin_url) = postgres() else { return };
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");

    // The single-machine install: a package with a large blob, downloaded once,
    // and one still uploading.
    let old = single_machine(&data);
    let alice = old.token("alice@example.org");
    let large = flow::bytes(48 << 20, 5);
    let sent = flow::send_blobs(&old, &alice, json!({ "verify": "none" }), vec![flow::bytes(150, 1), large.clone()]);
    assert!(download(&old, &sent, 1) == large);
    let unfinished = flow::create_package(&old, &alice, &json!({ "verify": "none", "blobs": [{ "size": 1000 }] }))
        .expect(201)
        .json();
    let unfinished = unfinished["id"].as_str().unwrap().to_string();
    let upload = flow::new_upload(&old, &alice, &unfinished, 0, 1000);
    flow::patch(&old, &alice, &upload, 0, &flow::bytes(400, 3)).expect(204);
    drop(old);

    let s3 = S3sFs::start();
    let config = config_file(home.path(), &data, &s3);
    let target = TestDatabase::create(&admin_url);

    // A first run, killed while it copies the large blob.
    let mut first = command(home.path())
        .args(["--config", config.to_str().unwrap(), "migrate", "--blobs-to", "s3"])
        .env("KLUIS_MIGRATE_TO", &target.url)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(first.stderr.take().unwrap()).lines();
    let copying =
        lines.by_ref().map_while(Result::ok).find(|l| l.starts_with("copying blob") && l.contains("48.0 MiB"));
    assert!(copying.is_some(), "the first run got to the large blob");
    // Killed once a piece of the copy is in the bucket (8 MiB segments), before the whole is.
    let copy = s3.root().join(format!("kluis/org-a/uploads/migrate-{}-1", sent.id));
    let piece = wait_for(Duration::from_secs(30), || (std::fs::read_dir(&copy).ok()?.count() > 0).then_some(()));
    assert!(piece.is_some(), "the first run wrote part of the large blob into the bucket");
    first.kill().unwrap();
    first.wait().unwrap();

    // Run again: it goes on, and the report says all is there and identical.
    let second = migrate(home.path(), &config, &target.url);
    let report = text(&second);
    assert!(second.status.success(), "{report}");
    assert!(report.contains("48.0 MiB), going on from"), "the second run went on with the copy: {report}");
    assert!(
        report.contains("Metadata (copied by an earlier run)"),
        "the rows were committed by the first run: {report}"
    );
    for table in ["users", "packages", "blobs", "audit", "api_tokens"] {
        let line = report.lines().find(|l| l.trim_start().starts_with(&format!("{table} "))).unwrap_or_default();
        assert!(line.ends_with("identical") && !line.contains(" 0 rows"), "{table}: {line}\n{report}");
    }
    assert!(report.contains("chains, intact"), "{report}");
    assert!(report.contains("Blobs → s3: 2 of 2"), "the unfinished upload's blob is not one: {report}");
    assert!(report.contains("The copy is complete"), "{report}");

    // A third run finds everything there and only checks.
    let third = migrate(home.path(), &config, &target.url);
    let report = text(&third);
    assert!(third.status.success(), "{report}");
    assert!(report.contains("0 copied now") && report.contains("there already"), "{report}");

    // The new install serves the old one's package to the same link, with the same token, count kept.
    let new = Server::start(|c| {
        c.data_dir = data.clone();
        c.database_url = Some(kluis_server::config::DatabaseUrl(target.url.clone()));
        c.blob_store = "s3".into();
        c.s3 = s3.config();
    });
    assert!(download(&new, &sent, 1) == large, "the large blob, byte for byte, from the bucket");
    assert_eq!(download(&new, &sent, 0), sent.blobs[0]);
    let package = flow::package(&new, &alice, &sent.id);
    assert_eq!(package["downloads"], 3, "the download before the move, and the two after: {package}");
    // The unfinished upload starts again from 0: its bytes stayed on the old disk.
    assert_eq!(flow::offset(&new, &alice, &upload), 0);
    drop(new);

    // A source that changed since the copy is refused (a server ran on it meanwhile).
    let added = command(home.path())
        .args(["--config", config.to_str().unwrap(), "user", "add", "bob@example.org"])
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", text(&added));
    let refused = migrate(home.path(), &config, &target.url);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("the SQLite database changed since an earlier run copied it"),
        "{}",
        text(&refused)
    );
}

#[test]
fn migrate_refuses_a_running_server_a_database_that_holds_other_data_and_an_install_on_postgresql_already() {
    let Some(admin_url) = postgres() else { return };
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let old = single_machine(&data);
    old.token("alice@example.org");
    // While a server runs on the data directory, nothing is migrated.
    let target = TestDatabase::create(&admin_url);
    let out =
        command(home.path()).args(["--data", data.to_str().unwrap(), "migrate", "--to", &target.url]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("is using"), "{}", text(&out));
    drop(old);
    // A database a server has used already.
    let other = TestDatabase::create(&admin_url);
    drop(Server::start(|c| c.database_url = Some(kluis_server::config::DatabaseUrl(other.url.clone()))));
    let out =
        command(home.path()).args(["--data", data.to_str().unwrap(), "migrate", "--to", &other.url]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("the PostgreSQL database is not empty"), "{}", text(&out));

    // Metadata only, without --blobs-to: the blobs stay on disk.
    let out =
        command(home.path()).args(["--data", data.to_str().unwrap(), "migrate", "--to", &target.url]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Blobs: not moved"), "{}", text(&out));

    // An install whose metadata is in PostgreSQL has nothing to migrate.
    let out = command(home.path())
        .args(["--data", data.to_str().unwrap(), "migrate", "--to", &target.url])
        .env("KLUIS_DATABASE_URL", &target.url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("in PostgreSQL already"), "{}", text(&out));
}

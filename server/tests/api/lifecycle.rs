//! The data lifecycle (issue 12) through the real `kluis-server` binary and
//! the API: an online backup and its restore, the export of everything an
//! organisation owns (command line and `GET /admin/export`), and the deletion
//! of an organisation with its signed certificate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::flow::{self, Sent};
use crate::support::{Response, Server};

fn kluis_server(data: &Path, args: &[&str]) -> Output {
    kluis_server_with_input(data, args, None)
}

fn kluis_server_with_input(data: &Path, args: &[&str], input: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kluis-server"));
    // On PostgreSQL: the database of this data directory, as the test server on it has.
    match crate::support::db::database_for(data) {
        Some(database) => command.env("KLUIS_DATABASE_URL", &database.url),
        None => command.env_remove("KLUIS_DATABASE_URL"),
    };
    let mut child = command
        .env_remove("KLUIS_CONFIG")
        .env_remove("KLUIS_DATA")
        .env("RUST_LOG", "warn")
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        if let Some(text) = input {
            stdin.write_all(text.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[track_caller]
fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", out(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// A server on the file-system blob store whose data directory is `data` (kept after it stops).
fn server_at(data: &Path) -> Server {
    let data = data.to_path_buf();
    Server::start(move |c| {
        c.blob_store = "fs".into();
        c.data_dir = data;
    })
}

/// The blobs of a package as a recipient with its link downloads them.
fn download(server: &Server, sent: &Sent) -> Vec<Vec<u8>> {
    let granted = flow::access(server, &sent.id, &sent.proof(), None, None).send().expect(200).json();
    let token = granted["download_token"].as_str().unwrap().to_string();
    granted["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| server.get(&flow::path_of(server, b["url"].as_str().unwrap())).bearer(&token).send().expect(200).body)
        .collect()
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks a folder against its MANIFEST.sha256 with coreutils' `sha256sum -c`,
/// and returns the manifest as path → sum.
#[track_caller]
fn sha256sum_check(dir: &Path) -> BTreeMap<String, String> {
    let check = Command::new("sha256sum").args(["-c", "--quiet", "MANIFEST.sha256"]).current_dir(dir).output().unwrap();
    assert!(check.status.success(), "sha256sum -c: {}", out(&check));
    std::fs::read_to_string(dir.join("MANIFEST.sha256"))
        .unwrap()
        .lines()
        .map(|l| {
            let (sum, path) = l.split_once("  ").unwrap();
            (path.to_string(), sum.to_string())
        })
        .collect()
}

fn audit_events(server: &Server, admin: &str, package: &str) -> Vec<String> {
    let page = server.get(&format!("/api/v1/admin/audit?package={package}&limit=200")).bearer(admin).send();
    page.expect(200).json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn backup_and_restore_on_postgres_point_to_pg_dump_and_pg_restore() {
    if !crate::support::db::on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = server_at(&data);
    let backup = dir.path().join("backup.tar");
    let answer = kluis_server(&data, &["backup", backup.to_str().unwrap()]);
    assert_eq!(answer.status.code(), Some(1), "{}", out(&answer));
    assert!(String::from_utf8_lossy(&answer.stderr).contains("backed up with pg_dump"), "{}", out(&answer));
    assert!(!backup.exists(), "a backup file was left");
    drop(server);
    // Nor is a backup restored over it: the metadata would stay as it is.
    std::fs::create_dir_all(&backup).unwrap();
    let answer = kluis_server(&data, &["restore", backup.to_str().unwrap()]);
    assert_eq!(answer.status.code(), Some(1), "{}", out(&answer));
    assert!(String::from_utf8_lossy(&answer.stderr).contains("pg_restore"), "{}", out(&answer));
}

#[test]
fn a_backup_made_while_the_server_runs_restores_what_was_there_and_nothing_after() {
    if crate::support::db::on_postgres() {
        // `kluis-server backup` copies SQLite's file; a PostgreSQL install is backed up with
        // pg_dump. The refusal is tested in `backup_and_restore_on_postgres_point_to_pg_dump_and_pg_restore`.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let data = root.join("data");
    let backup = root.join("backup");

    let server = server_at(&data);
    let admin = server.admin_token("ada@example.org");
    let alice = server.token("alice@example.org");
    let before = flow::send_blobs(
        &server,
        &alice,
        json!({ "verify": "none" }),
        vec![flow::bytes(70_000, 1), flow::bytes(300, 2)],
    );
    // An upload in progress at the backup: not in it, and the restored server does not expect its bytes.
    let unfinished = flow::create_package(&server, &alice, &json!({ "verify": "none", "blobs": [{ "size": 1000 }] }))
        .expect(201)
        .json();
    let unfinished_id = unfinished["id"].as_str().unwrap().to_string();
    let upload = flow::new_upload(&server, &alice, &unfinished_id, 0, 1000);
    flow::patch(&server, &alice, &upload, 0, &flow::bytes(400, 3)).expect(204);

    // Online: the server is running.
    let report = ok(kluis_server(&data, &["backup", backup.to_str().unwrap()]));
    assert!(report.contains("backup written to") && report.contains("2 blobs (70300 bytes)"), "{report}");
    let manifest = sha256sum_check(&backup);
    let files: BTreeSet<&str> = manifest.keys().map(String::as_str).collect();
    let blob0 = format!("blobs/{}/0", before.id);
    let blob1 = format!("blobs/{}/1", before.id);
    assert_eq!(files, BTreeSet::from(["backup.json", "kluis.db", "secret.key", &blob0, &blob1]));
    assert_eq!(manifest[&blob0], hex_sha256(&before.blobs[0]));
    assert!(!backup.with_file_name("backup.partial").exists());
    // A second backup into the same folder is refused.
    let again = kluis_server(&data, &["backup", backup.to_str().unwrap()]);
    assert!(!again.status.success() && out(&again).contains("is not empty"), "{}", out(&again));

    // Traffic after the backup: a package, an admin's change, the first package opened.
    let after = flow::send(&server, &alice, json!({ "verify": "none" }));
    server.post("/api/v1/admin/users").bearer(&admin).json(&json!({ "email": "later@example.org" })).send().expect(201);
    assert_eq!(download(&server, &before), before.blobs);
    drop(server);

    // Restoring over a data directory with contents needs --force, and changes nothing without it.
    let refused = kluis_server(&data, &["restore", backup.to_str().unwrap()]);
    assert!(!refused.status.success() && out(&refused).contains("--force"), "{}", out(&refused));
    assert!(data.join(format!("blobs/{}/0", after.id)).is_file(), "a refused restore touched the data directory");

    // A damaged backup changes nothing either, and names the damaged file.
    let damaged = root.join("damaged");
    Command::new("cp").arg("-a").arg(&backup).arg(&damaged).status().unwrap();
    let mut bytes = std::fs::read(damaged.join(&blob1)).unwrap();
    bytes[10] ^= 1;
    std::fs::write(damaged.join(&blob1), bytes).unwrap();
    let o = kluis_server(&data, &["restore", "--force", damaged.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", out(&o));
    assert!(out(&o).contains(&format!("{blob1} in the backup is damaged")), "{}", out(&o));
    assert!(data.join(format!("blobs/{}/0", after.id)).is_file(), "a failed restore touched the data directory");
    assert!(!root.join("data.restoring").exists(), "the failed restore left its work folder");

    let report = ok(kluis_server(&data, &["restore", "--force", backup.to_str().unwrap()]));
    assert!(report.contains("every SHA-256 checked"), "{report}");
    let kept: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("data.before-restore-"))
        .collect();
    assert_eq!(kept.len(), 1, "the data directory as it was is kept aside");
    assert!(report.contains(&kept[0].display().to_string()), "{report}");

    // The audit chain of the restored data verifies.
    let verified = ok(kluis_server(&data, &["audit", "verify"]));
    assert!(verified.starts_with("audit log intact"), "{verified}");

    // What was there before the backup works; what came after is gone.
    let server = server_at(&data);
    let events = audit_events(&server, &admin, &before.id);
    assert!(!events.contains(&"accessed".to_string()), "the download after the backup is not in the log: {events:?}");
    assert!(events.contains(&"finalized".to_string()), "{events:?}");
    assert_eq!(download(&server, &before), before.blobs, "a package made before the backup opens");
    server.get(&format!("/api/v1/p/{}", after.id)).send().expect_error(404, "not_found");
    server.get(&format!("/api/v1/packages/{}", after.id)).bearer(&alice).send().expect(404);
    let users = server.get("/api/v1/admin/users?q=later").bearer(&admin).send().expect(200).json();
    assert_eq!(users["users"].as_array().unwrap().len(), 0, "the user added after the backup is gone");
    // The upload in progress starts again: the restored server does not know it.
    server.request("HEAD", &upload).bearer(&alice).header("Tus-Resumable", "1.0.0").send().expect(404);
    flow::upload_blob(&server, &alice, &unfinished_id, 0, &flow::bytes(1000, 3));
}

/// Names and contents of the regular files of a tar archive.
fn untar(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut at = 0;
    loop {
        let header = &bytes[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            assert!(bytes[at + 512..at + 1024].iter().all(|&b| b == 0), "the end marker is two zero blocks");
            return files;
        }
        let name = String::from_utf8(header[..100].iter().take_while(|&&b| b != 0).copied().collect()).unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&header[124..135]).unwrap(), 8).unwrap();
        let sum = u64::from_str_radix(std::str::from_utf8(&header[148..154]).unwrap(), 8).unwrap();
        let mut blank = header.to_vec();
        blank[148..156].fill(b' ');
        assert_eq!(sum, blank.iter().map(|&b| u64::from(b)).sum::<u64>(), "checksum of {name}");
        files.insert(name, bytes[at + 512..at + 512 + size].to_vec());
        at += 512 + size.div_ceil(512) * 512;
    }
}

fn lines(text: &[u8]) -> Vec<Value> {
    std::str::from_utf8(text).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

struct TwoOrganisations {
    server: Server,
    oost: i64,
    bob: String,
    carol: String,
    dave_admin: String,
    for_oost: Sent,
    for_west: Sent,
}

/// Oost (bob, an admin) and West (carol, dave an admin), each with a package sent.
fn two_organisations(data: &Path) -> TwoOrganisations {
    let server = server_at(data);
    let oost = server.organisation("Oost", &["oost.example"]);
    server.organisation("West", &["west.example"]);
    let bob = server.admin_token("bob@oost.example");
    let carol = server.token("carol@west.example");
    let dave_admin = server.admin_token("dave@west.example");
    let for_oost = flow::send(&server, &bob, json!({ "verify": "none", "recipients": ["x@elsewhere.example"] }));
    let for_west = flow::send(&server, &carol, json!({ "verify": "none" }));
    // Oost has a policy of its own (exported; deleted with it).
    let policy = json!({ "version": 0, "policy": { "send": { "blocked_domains": ["gmail.com"] } } });
    server.request("PUT", "/api/v1/admin/policy").bearer(&bob).json(&policy).send().expect(200);
    TwoOrganisations { server, oost, bob, carol, dave_admin, for_oost, for_west }
}

#[test]
fn an_export_holds_everything_of_one_organisation_and_nothing_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let data = root.join("data");
    let t = two_organisations(&data);
    let export = root.join("export");

    let report = ok(kluis_server(&data, &["export", "--organisation", "Oost", export.to_str().unwrap()]));
    assert!(report.contains("2 encrypted files"), "{report}");
    let manifest = sha256sum_check(&export);
    let names: BTreeSet<&str> = manifest.keys().map(String::as_str).collect();
    let blob = |i: usize| format!("blobs/{}/{i}.age", t.for_oost.id);
    let expected = [
        "README.txt",
        "audit.csv",
        "audit.jsonl",
        "organisation.json",
        "packages.jsonl",
        "policies.jsonl",
        "users.csv",
        "users.jsonl",
        &blob(0),
        &blob(1),
    ];
    assert_eq!(names, BTreeSet::from(expected));
    for i in 0..2 {
        assert_eq!(std::fs::read(export.join(blob(i))).unwrap(), t.for_oost.blobs[i], "the age file as stored");
    }
    // Nothing of West anywhere.
    let all: String = ["users.jsonl", "users.csv", "packages.jsonl", "audit.jsonl", "audit.csv", "organisation.json"]
        .iter()
        .map(|f| std::fs::read_to_string(export.join(f)).unwrap())
        .collect();
    assert!(!all.contains("west.example") && !all.contains(&t.for_west.id), "West leaked into Oost's export");
    assert!(!export.join(format!("blobs/{}", t.for_west.id)).exists());

    let policies = lines(&std::fs::read(export.join("policies.jsonl")).unwrap());
    assert_eq!(policies.len(), 1);
    assert_eq!(
        (policies[0]["version"].as_u64(), policies[0]["saved_by"].as_str()),
        (Some(1), Some("user:bob@oost.example"))
    );
    assert_eq!(policies[0]["policy"]["send"]["blocked_domains"], json!(["gmail.com"]));
    let users = lines(&std::fs::read(export.join("users.jsonl")).unwrap());
    assert_eq!(users.len(), 1);
    assert_eq!((users[0]["email"].as_str(), users[0]["role"].as_str()), (Some("bob@oost.example"), Some("admin")));
    let csv = std::fs::read_to_string(export.join("users.csv")).unwrap();
    assert!(csv.starts_with("id,email,name,role,state,seat,created_at,removed_at,last_active_at\r\n"), "{csv}");
    let packages = lines(&std::fs::read(export.join("packages.jsonl")).unwrap());
    assert_eq!(packages.len(), 1);
    assert_eq!(packages[0]["id"], t.for_oost.id.as_str());
    assert_eq!(packages[0]["recipients"], json!(["x@elsewhere.example"]));
    assert_eq!(packages[0]["files"][1]["file"], blob(1).as_str());
    let organisation: Value =
        serde_json::from_slice(&std::fs::read(export.join("organisation.json")).unwrap()).unwrap();
    assert_eq!((organisation["id"].as_i64(), organisation["domains"].clone()), (Some(t.oost), json!(["oost.example"])));
    // The audit log with its chain, the export itself included.
    let audit = lines(&std::fs::read(export.join("audit.jsonl")).unwrap());
    assert!(audit.iter().any(|r| r["event"] == "finalized" && r["package_id"] == t.for_oost.id.as_str()));
    let last = audit.last().unwrap();
    assert_eq!(last["event"], "exported");
    for pair in audit.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "the chain runs through the export");
    }
    let readme = std::fs::read_to_string(export.join("README.txt")).unwrap();
    assert!(readme.contains("Oost") && readme.contains("sha256sum -c MANIFEST.sha256"), "{readme}");

    // The same through the admin API, as a tar archive; only for admins, each of their own organisation.
    let server = &t.server;
    server.get("/api/v1/admin/export").bearer(&t.carol).send().expect_error(403, "forbidden");
    server.get("/api/v1/admin/export").send().expect(401);
    let answer = server.get("/api/v1/admin/export").bearer(&t.bob).send().expect(200);
    assert_eq!(answer.header("content-type"), Some("application/x-tar"));
    assert!(answer.header("content-disposition").unwrap().contains(&format!("kluis-export-{}-", t.oost)));
    let files = untar(&answer.body);
    let prefix = files.keys().next().unwrap().split('/').next().unwrap().to_string();
    let inside: BTreeMap<&str, &Vec<u8>> =
        files.iter().map(|(k, v)| (k.strip_prefix(&format!("{prefix}/")).unwrap(), v)).collect();
    let mut expected_names = BTreeSet::from(expected);
    expected_names.insert("MANIFEST.sha256");
    assert_eq!(inside.keys().copied().collect::<BTreeSet<_>>(), expected_names);
    for line in std::str::from_utf8(inside["MANIFEST.sha256"]).unwrap().lines() {
        let (sum, name) = line.split_once("  ").unwrap();
        assert_eq!(hex_sha256(inside[name]), sum, "{name} in the archive");
    }
    assert_eq!(inside[blob(1).as_str()].as_slice(), t.for_oost.blobs[1].as_slice());
    let events = server.get("/api/v1/admin/audit?event=exported").bearer(&t.bob).send().expect(200).json();
    let actors: Vec<&str> =
        events["entries"].as_array().unwrap().iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(actors, ["user:bob@oost.example", "system"], "both exports are in the log");
    // West's admin gets West's.
    let west = untar(&server.get("/api/v1/admin/export").bearer(&t.dave_admin).send().expect(200).body);
    assert!(west.keys().any(|k| k.contains(&format!("blobs/{}/0.age", t.for_west.id))));
    assert!(!west.keys().any(|k| k.contains(&t.for_oost.id)));
}

#[test]
fn deleting_an_organisation_removes_all_of_it_leaves_others_whole_and_certifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let data = root.join("data");
    let t = two_organisations(&data);
    let certificate = root.join("oost-deleted.txt");
    let cert_arg = certificate.to_str().unwrap();

    // Not confirmed: nothing happens.
    let o = kluis_server_with_input(&data, &["delete-organisation", "Oost", "--certificate", cert_arg], Some("West\n"));
    assert!(!o.status.success() && out(&o).contains("not confirmed"), "{}", out(&o));
    assert!(out(&o).contains("Type the organisation's name (Oost)"), "{}", out(&o));
    t.server.get("/api/v1/me").bearer(&t.bob).send().expect(200);

    // Confirmed by typing its name, while the server runs.
    let report =
        ok(kluis_server_with_input(&data, &["delete-organisation", "Oost", "--certificate", cert_arg], Some("Oost\n")));
    assert!(report.contains("1 users, 1 packages") && report.contains("2 encrypted files"), "{report}");
    t.server.get("/api/v1/me").bearer(&t.bob).send().expect(401);
    t.server.get(&format!("/api/v1/p/{}", t.for_oost.id)).send().expect_error(404, "not_found");
    assert!(!data.join(format!("blobs/{}", t.for_oost.id)).exists(), "Oost's blobs are gone");
    let orgs = ok(kluis_server(&data, &["org", "list"]));
    assert!(!orgs.contains("Oost") && orgs.contains("West"), "{orgs}");
    // Nothing of Oost is left in the database but the tombstone in the server's own chain.
    for file in ["kluis.db", "kluis.db-wal"] {
        let bytes = std::fs::read(data.join(file)).unwrap_or_default();
        assert!(!bytes.windows(16).any(|w| w == b"bob@oost.example"), "bob's address is still in {file}");
    }
    // West is whole: its package opens, its chain and the server's verify.
    assert_eq!(download(&t.server, &t.for_west), t.for_west.blobs);
    t.server.get("/api/v1/me").bearer(&t.carol).send().expect(200);
    let verified = ok(kluis_server(&data, &["audit", "verify"]));
    assert!(verified.starts_with("audit log intact"), "{verified}");
    assert!(!verified.contains(&format!("organisation {}:", t.oost)), "{verified}");
    let west_check = t.server.get("/api/v1/admin/audit/verify").bearer(&t.dave_admin).send().expect(200).json();
    assert_eq!(west_check["intact"], true);

    // The certificate: valid, this server's key, and what it says.
    let verified = ok(kluis_server(&data, &["certificate", "verify", cert_arg]));
    assert!(verified.contains("signature valid") && verified.contains("(this server's key"), "{verified}");
    let text = std::fs::read_to_string(&certificate).unwrap();
    assert!(text.starts_with("-----BEGIN KLUIS DELETION CERTIFICATE-----\nOrganisation: Oost (id"), "{text}");
    let record: Value = serde_json::from_str(&verified[verified.find('{').unwrap()..]).unwrap();
    assert_eq!(record["organisation"]["name"], "Oost");
    assert_eq!(record["rows"]["users"], 1);
    assert_eq!(record["rows"]["packages"], 1);
    assert_eq!(record["rows"]["organisation"], 1);
    assert!(record["rows"]["audit"].as_u64().unwrap() >= 3, "{record}");
    let mut digest = Sha256::new();
    for (i, blob) in t.for_oost.blobs.iter().enumerate() {
        digest.update(format!("{}/{i} {} {}\n", t.for_oost.id, blob.len(), hex_sha256(blob)));
    }
    assert_eq!(record["blobs"]["sha256"], hex::encode(digest.finalize()), "anyone with the files can recompute it");
    assert_eq!((record["blobs"]["count"].as_u64(), record["blobs"]["not_deleted"].as_u64()), (Some(2), Some(0)));

    // Checked on another machine: valid, but not that server's key.
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("secret.key"), [7u8; 32]).unwrap();
    let verified = ok(kluis_server(&elsewhere, &["certificate", "verify", cert_arg]));
    assert!(verified.contains("signature valid") && verified.contains("NOT this server's key"), "{verified}");
    // A changed figure breaks the signature (exit 1).
    let (head, body) = text.split_at(text.find("\n\n").unwrap() + 2);
    let mut signed = base64_decode(&body.lines().filter(|l| !l.starts_with("-----")).collect::<String>());
    let at = signed.windows(8).position(|w| w == b"\"users\":").unwrap();
    let digit = signed[at..].iter().position(u8::is_ascii_digit).unwrap() + at;
    signed[digit] = b'9';
    let forged = format!("{head}{}\n-----END KLUIS DELETION CERTIFICATE-----\n", base64_encode(&signed));
    std::fs::write(root.join("forged.txt"), forged).unwrap();
    let o = kluis_server(&data, &["certificate", "verify", root.join("forged.txt").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("signature does not match"), "{}", out(&o));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// An export is allowed when the organisation's licence has lapsed (DESIGN §8: admins export).
#[test]
fn an_admin_exports_after_the_licence_lapsed() {
    let server = Server::start(|_| {});
    server.organisation("Corp", &["corp.example"]);
    let ada = server.admin_token("ada@corp.example");
    crate::licences::installed_earlier(&server, &crate::licences::signed(5, &[], -300, -15));
    let refused = flow::create_package(&server, &ada, &json!({ "verify": "none", "blobs": [{ "size": 1000 }] }));
    refused.expect_error(403, "licence_lapsed");
    let answer: Response = server.get("/api/v1/admin/export").bearer(&ada).send().expect(200);
    let files = untar(&answer.body);
    assert!(files.keys().any(|k| k.ends_with("/licence.txt")), "{:?}", files.keys());
    assert!(files.keys().any(|k| k.ends_with("/users.jsonl")), "{:?}", files.keys());
}

/// A deleted package cannot be opened; an admin of its organisation (only)
/// finds it among the deleted ones and restores it, until the purge takes it.
#[test]
fn a_deleted_package_stays_restorable_by_an_admin_until_it_is_purged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap().join("data");
    let t = two_organisations(&data);
    let server = &t.server;
    let sent = &t.for_oost;

    server.delete(&format!("/api/v1/packages/{}", sent.id)).bearer(&t.bob).send().expect(204);
    flow::access(server, &sent.id, &sent.proof(), None, None).send().expect_error(404, "not_found");
    server.get(&format!("/api/v1/p/{}", sent.id)).send().expect_error(404, "not_found");
    server.get(&format!("/api/v1/packages/{}", sent.id)).bearer(&t.bob).send().expect(404);
    let listed = server.get("/api/v1/admin/packages").bearer(&t.bob).send().expect(200).json();
    assert!(listed["packages"].as_array().unwrap().is_empty(), "{listed}");
    assert!(data.join(format!("blobs/{}/0", sent.id)).is_file(), "the blobs stay while it is restorable");
    // Deleted is deleted for an export too.
    let export = untar(&server.get("/api/v1/admin/export").bearer(&t.bob).send().expect(200).body);
    assert!(!export.keys().any(|k| k.contains(&sent.id)), "{:?}", export.keys());

    let deleted = server.get("/api/v1/admin/packages/deleted").bearer(&t.bob).send().expect(200).json();
    let row = &deleted["packages"][0];
    assert_eq!(
        (row["package"]["id"].as_str(), row["deleted_by"].as_str()),
        (Some(sent.id.as_str()), Some("user:bob@oost.example"))
    );
    let deleted_at = time::OffsetDateTime::parse(
        row["deleted_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let until = time::OffsetDateTime::parse(
        row["restorable_until"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(until - deleted_at, time::Duration::days(30), "the default restore window");
    // Another organisation's admin neither sees nor restores it.
    let west = server.get("/api/v1/admin/packages/deleted").bearer(&t.dave_admin).send().expect(200).json();
    assert!(west["packages"].as_array().unwrap().is_empty());
    server
        .post(&format!("/api/v1/admin/packages/{}/restore", sent.id))
        .bearer(&t.dave_admin)
        .send()
        .expect_error(404, "not_found");

    // A package never finalized (a cancelled send) is deleted at once: nothing to restore.
    let unfinished = flow::create_package(server, &t.bob, &json!({ "verify": "none", "blobs": [{ "size": 1000 }] }))
        .expect(201)
        .json();
    let unfinished = unfinished["id"].as_str().unwrap();
    server.delete(&format!("/api/v1/packages/{unfinished}")).bearer(&t.bob).send().expect(204);
    let deleted = server.get("/api/v1/admin/packages/deleted").bearer(&t.bob).send().expect(200).json();
    assert_eq!(deleted["packages"].as_array().unwrap().len(), 1, "{deleted}");
    assert_eq!(audit_events(server, &t.bob, unfinished).first().map(String::as_str), Some("deleted"));

    // Restored: it opens again, as it was.
    server.post(&format!("/api/v1/admin/packages/{}/restore", sent.id)).bearer(&t.bob).send().expect(204);
    assert_eq!(download(server, sent), sent.blobs);
    let events = audit_events(server, &t.bob, &sent.id);
    assert!(events.contains(&"deleted".to_string()) && events.contains(&"restored".to_string()), "{events:?}");

    // An admin deletes it; a day later it is still there, after the window it is purged.
    server.request("DELETE", &format!("/api/v1/admin/packages/{}", sent.id)).bearer(&t.bob).send().expect(204);
    server
        .request("DELETE", &format!("/api/v1/admin/packages/{}", t.for_west.id))
        .bearer(&t.bob)
        .send()
        .expect_error(404, "not_found");
    let purge = |days: i64| {
        server.run(move |state| async move {
            kluis_server::admin::purge_deleted(&state, time::OffsetDateTime::now_utc().unix_timestamp() + days * 86_400)
                .await
                .unwrap()
        })
    };
    assert_eq!(purge(1), 0);
    assert_eq!(purge(31), 1);
    assert!(!data.join(format!("blobs/{}", sent.id)).exists(), "the purge deleted the blobs");
    server
        .post(&format!("/api/v1/admin/packages/{}/restore", sent.id))
        .bearer(&t.bob)
        .send()
        .expect_error(404, "not_found");
    let events = audit_events(server, &t.bob, &sent.id);
    assert_eq!(events.first().map(String::as_str), Some("purged"), "{events:?}");
    // West's package was never touched.
    assert_eq!(download(server, &t.for_west), t.for_west.blobs);
    let verified = ok(kluis_server(&data, &["audit", "verify"]));
    assert!(verified.starts_with("audit log intact"), "{verified}");
}

//! `kluis list` and `kluis status`: the sender's packages with what each
//! recipient did (code asked, opened, downloaded), as a table, in detail
//! and as JSON; only the sender's own; paging through more than one page.

use kluis_protocol::api::{PackageDetail, SentPackage};

use crate::support::{ALICE, BOB, Server, ok, package_id, stderr, stdout, write};

const CAROL: &str = "carol@example.org";

/// The line of `kluis list` for package `id`.
fn line_of(list: &str, id: &str) -> String {
    list.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id} not in\n{list}")).to_string()
}

#[test]
fn list_and_status_show_each_recipients_progress() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let a = write(work.path(), "a.txt", b"first");
    let b = write(work.path(), "b.txt", b"second");
    let link = ok(server.kluis(&token, &["send", &a, &b, "--to", BOB, "--to", CAROL, "--max-downloads", "3"]));
    let id = package_id(&link);
    let open = ok(server.kluis(&token, &["send", &a, "--verify", "none"]));

    // Nothing done yet.
    let list = ok(server.kluis(&token, &["list"]));
    assert!(list.lines().next().unwrap().starts_with("id "), "a header line:\n{list}");
    let line = line_of(&list, &id);
    assert!(line.contains("ready") && line.contains("0 (3 left)"), "{line}");
    assert!(line.contains("bob@example.org: nothing yet; carol@example.org: nothing yet"), "{line}");
    assert!(line_of(&list, &package_id(&open)).contains("anyone with the link (no code): not opened"), "{list}");

    // Bob gets a code and downloads both files; Carol only gets a code.
    let dest = work.path().join("in");
    let dest = dest.to_str().unwrap();
    let mark = server.mark();
    assert_eq!(server.kluis("", &["receive", &link, "-o", dest, "--email", BOB]).status.code(), Some(2));
    let code = server.new_code(&mark, BOB);
    ok(server.kluis("", &["receive", &link, "-o", dest, "--email", BOB, "--code", &code]));
    let mark = server.mark();
    assert_eq!(server.kluis("", &["receive", &link, "-o", dest, "--email", CAROL]).status.code(), Some(2));
    server.new_code(&mark, CAROL);
    ok(server.kluis("", &["receive", &open, "-o", work.path().join("open").to_str().unwrap()]));

    let list = ok(server.kluis(&token, &["list"]));
    let line = line_of(&list, &id);
    assert!(line.contains("1 (2 left)"), "{line}");
    assert!(line.contains("bob@example.org: code asked, opened, downloaded all 2 files"), "{line}");
    assert!(line.contains("carol@example.org: code asked, not opened"), "{line}");
    assert!(line_of(&list, &package_id(&open)).contains("opened 1 time, downloaded the file"), "{list}");
    // Both, once (newest first; sent within the same second they may come in either order).
    let mut ids: Vec<&str> = list.lines().skip(1).map(|l| l.split_whitespace().next().unwrap()).collect();
    ids.sort();
    let mut sent = [package_id(&open), id.clone()];
    sent.sort();
    assert_eq!(ids, sent);

    // The same as JSON.
    let json: Vec<SentPackage> = serde_json::from_str(&ok(server.kluis(&token, &["list", "--json"]))).unwrap();
    assert_eq!(json.len(), 2);
    let sent = json.iter().find(|p| p.package.id.as_str() == id).unwrap();
    let bob = sent.activity.recipients.iter().find(|r| r.email == BOB).unwrap();
    assert!(bob.code_requested_at.is_some() && bob.opened_at.is_some() && bob.all_files);
    assert_eq!((bob.files_downloaded, bob.downloads), (2, 2));

    // An id may start with '-' (base64url): it is the package, not a flag.
    let dashed = server.kluis(&token, &["status", "-AAAAAAAAAAAAAAAAAAAAA", "--json"]);
    assert!(!stderr(&dashed).contains("unexpected argument"), "{}", stderr(&dashed));

    // Status by link and by id: recipients in words with times, and every event.
    for which in [link.as_str(), id.as_str()] {
        let status = ok(server.kluis(&token, &["status", which]));
        assert!(status.contains(&format!("package    {id}")), "{status}");
        assert!(status.contains("downloads  1 of 3 (2 left)"), "{status}");
        let bob = status.lines().find(|l| l.trim_start().starts_with(BOB)).unwrap();
        assert!(
            bob.contains("code asked 20") && bob.contains("opened 20") && bob.contains("downloaded all 2 files"),
            "{bob}"
        );
        let carol = status.lines().find(|l| l.trim_start().starts_with(CAROL)).unwrap();
        assert!(carol.contains("code asked") && carol.contains("not opened"), "{carol}");
        for event in ["created", "finalized", "verification_sent", "accessed", "downloaded"] {
            assert!(status.lines().any(|l| l.split_whitespace().nth(2) == Some(event)), "no {event} in\n{status}");
        }
        // The link's key is not printed back.
        assert!(!status.contains(link.split('#').nth(1).unwrap()), "{status}");
    }
    let detail: PackageDetail = serde_json::from_str(&ok(server.kluis(&token, &["status", &id, "--json"]))).unwrap();
    assert_eq!(detail.activity.opens, 1);
    assert!(detail.events.len() >= 5 && detail.events_next.is_none());

    // Revoked: listed as such.
    ok(server.kluis(&token, &["revoke", &id]));
    assert!(line_of(&ok(server.kluis(&token, &["list"])), &id).contains("revoked"));
}

#[test]
fn only_your_own_packages_and_clear_errors() {
    let server = Server::start();
    let alice = server.token(ALICE);
    let eve = server.token("eve@example.org");
    let work = tempfile::tempdir().unwrap();
    let link = ok(server.kluis(&alice, &["send", &write(work.path(), "f", b"x"), "--to", BOB]));

    let out = server.kluis(&eve, &["list"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("no packages sent yet"), "{}", stderr(&out));
    let out = server.kluis(&eve, &["status", &link]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    let out = server.kluis(&alice, &["status", "not a link or id!"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("neither a package link nor a package id"), "{}", stderr(&out));
    let out = server.kluis("", &["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no API token"), "{}", stderr(&out));
    assert_eq!(server.kluis(&alice, &["list", "--bogus"]).status.code(), Some(2));
}

#[test]
fn list_pages_through_more_than_one_page() {
    let server = Server::start();
    let token = server.token(ALICE);
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "f", b"x");
    let mut ids = Vec::new();
    for _ in 0..23 {
        ids.push(package_id(&ok(server.kluis(&token, &["send", &file, "--verify", "none"]))));
    }
    // Default: the newest 20, and a hint on stderr.
    let out = server.kluis(&token, &["list"]);
    assert_eq!(stdout(&out).lines().count(), 21);
    assert!(stderr(&out).contains("--all"), "{}", stderr(&out));
    let out = server.kluis(&token, &["list", "-n", "3"]);
    assert_eq!(stdout(&out).lines().count(), 4);
    let all: Vec<SentPackage> = serde_json::from_str(&ok(server.kluis(&token, &["list", "--all", "--json"]))).unwrap();
    let mut listed: Vec<String> = all.iter().map(|p| p.package.id.as_str().to_string()).collect();
    assert_eq!(listed.len(), 23);
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids, "every package once");
}

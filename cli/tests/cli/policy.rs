//! `kluis send` under the organisation's policy: a send that breaks its
//! rules is refused before anything is encrypted or uploaded, naming every
//! rule; the same send within the rules goes through.

use serde_json::{Value, json};

use crate::support::{ALICE, Server, ok, stderr, write};

#[test]
fn a_send_that_breaks_the_policy_is_refused_before_anything_is_made_naming_each_rule() {
    let server = Server::start();
    let ada = server.admin_token("ada@example.org");
    let alice = server.token(ALICE);
    let policy = json!({ "version": 0, "policy": { "send": {
        "blocked_domains": ["gmail.com"], "blocked_file_types": ["exe"], "password_required": false
    } } });
    let saved = server.api().send(
        "PUT",
        "/admin/policy",
        &ada,
        &[("Content-Type", "application/json")],
        policy.to_string().as_bytes(),
    );
    assert_eq!(saved.status, 200, "{}", saved.text());

    let work = tempfile::tempdir().unwrap();
    // A program named like a document: its first bytes give it away.
    let disguised = write(work.path(), "report.pdf", b"MZ\x90\x00\x03\x00\x00\x00 a program, not a document");
    let out = server.kluis(&alice, &["send", "--to", "jan@gmail.com", "--verify", "none", &disguised]);
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(said.contains("nothing was sent: this breaks your organisation's policy"), "{said}");
    assert!(said.contains("does not allow sending to gmail.com"), "{said}");
    assert!(said.contains("files of type exe"), "{said}");
    let listed: Value = server.api().get("/packages", &alice).json();
    assert_eq!(listed["packages"], json!([]), "nothing was made");

    let document = write(work.path(), "brief.pdf", b"%PDF-1.7 a document");
    ok(server.kluis(&alice, &["send", "--to", "jan@klant.nl", "--verify", "none", &document]));
}

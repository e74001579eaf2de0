//! An independent tus client (tuspy, from PyPI) uploads to the server's tus
//! endpoint: creation, several PATCHes, completion.

mod support;

use std::process::Command;

use support::Server;

#[test]
fn tuspy_uploads_a_blob() {
    let server = Server::start();
    let token = server.token("alice@example.org");
    let work = tempfile::tempdir().unwrap();
    let blob = support::data(1_300_000, 11);
    let path = work.path().join("blob.age");
    std::fs::write(&path, &blob).unwrap();

    let agent = ureq::Agent::new_with_defaults();
    let created: serde_json::Value = agent
        .post(format!("{}/api/v1/packages", server.url))
        .header("Authorization", format!("Bearer {token}"))
        .send_json(serde_json::json!({ "recipients": [], "verify": "none", "blobs": [{ "size": 1000 }, { "size": blob.len() }] }))
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let id = created["id"].as_str().unwrap();

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tus/tuspy_upload.py");
    let out = Command::new("python3")
        .arg(script)
        .args([created["upload_url"].as_str().unwrap(), &token, id, "1", path.to_str().unwrap()])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "tuspy failed (pip install tuspy): {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("/api/v1/uploads/"));

    let status: serde_json::Value = agent
        .get(format!("{}/api/v1/packages/{id}", server.url))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(status["blobs"][1]["complete"], true, "{status}");
    assert_eq!(std::fs::read(server.data().join("blobs").join(id).join("1")).unwrap(), blob);
    let patches = server.log().matches("method=PATCH").count();
    assert!(patches >= 5, "tuspy used {patches} PATCH requests");
}

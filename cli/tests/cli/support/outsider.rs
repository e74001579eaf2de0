//! What an outsider does with a request link, over HTTP as the upload page
//! would: used by the inbound tests and the leak scan.

use kluis_protocol::inbound::{CreatedDelivery, UploaderSession};
use kluis_protocol::{FileEntry, Manifest, RequestLink};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Server;

const TUS: (&str, &str) = ("Tus-Resumable", "1.0.0");

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// What an outsider does with a request link: a code mailed to `email`, a
/// session, a delivery of `files` (name, bytes) with `message` encrypted to
/// the link's recipient, each blob uploaded over tus, finalize. Returns
/// the delivery id.
pub fn upload_through(server: &Server, link: &str, email: &str, message: &str, files: &[(&str, Vec<u8>)]) -> String {
    let api = server.api();
    let link = RequestLink::parse(link).unwrap();
    let id = link.request_id.as_str();
    let info: serde_json::Value = api.get(&format!("/r/{id}"), "").json();
    assert_eq!(info["recipient"], link.recipient.to_string().as_str(), "the page checks the link first");

    let mark = server.mark();
    assert_eq!(api.post(&format!("/r/{id}/code"), "", &json!({ "email": email })).status, 202);
    let code = server.new_code(&mark, email);
    let session: UploaderSession =
        api.post(&format!("/r/{id}/session"), "", &json!({ "email": email, "code": code })).json();

    // A manifest of format 1 (files bound by the SHA-256 of their plaintext),
    // as deliveries made before format 2 have: such packages must still open.
    let entries = files
        .iter()
        .map(|(name, bytes)| FileEntry {
            name: name.to_string(),
            size: bytes.len() as u64,
            media_type: "application/octet-stream".into(),
            header: None,
            sha256: Some(hex::encode(Sha256::digest(bytes))),
        })
        .collect();
    let manifest =
        Manifest { kluis: kluis_protocol::manifest::VERSION_SHA256, ..Manifest::new("", message, entries) }.to_bytes();
    let mut blobs = vec![kluis_crypto::encrypt(&[&link.recipient], &manifest).unwrap()];
    blobs.extend(files.iter().map(|(_, bytes)| kluis_crypto::encrypt(&[&link.recipient], bytes).unwrap()));
    let spec = json!({
        "recipient": link.recipient.to_string(),
        "blobs": blobs.iter().map(|b| json!({ "size": b.len() })).collect::<Vec<_>>(),
        "file_types": ["pdf", "txt"],
    });
    let delivery: CreatedDelivery = api.post(&format!("/r/{id}/deliveries"), &session.token, &spec).json();
    for (index, blob) in blobs.iter().enumerate() {
        let metadata = format!("package {},blob {}", b64(delivery.id.as_str()), b64(&index.to_string()));
        let length = blob.len().to_string();
        let headers = [TUS, ("Upload-Length", length.as_str()), ("Upload-Metadata", metadata.as_str())];
        let made = api.send("POST", &delivery.upload_url, &session.token, &headers, b"");
        assert_eq!(made.status, 201, "{}", made.text());
        let location = made.header("Location").unwrap().to_string();
        let location = if location.starts_with("http") { location } else { format!("{}{location}", server.url) };
        let patch = [TUS, ("Upload-Offset", "0"), ("Content-Type", "application/offset+octet-stream")];
        let done = api.send("PATCH", &location, &session.token, &patch, blob);
        assert_eq!(done.status, 204, "{}", done.text());
    }
    let finalized = api.post(&format!("/r/{id}/deliveries/{}/finalize", delivery.id), &session.token, &json!({}));
    assert_eq!(finalized.status, 204, "{}", finalized.text());
    delivery.id.as_str().to_string()
}

//! The sender's and the recipient's steps, as a client makes them: create a
//! package, upload its blobs with tus, finalize with the access verifier
//! `SHA-256(A)` and the link verifier `SHA-256(A_L)`; present A_L for the
//! sender card, A for a code or for access; download.

use kluis_crypto::package::{LinkSecret, PackageId, StretchedPassword, access_proof, link_proof};
use serde_json::{Value, json};

use super::{Response, Server};

/// `n` bytes that differ per `seed` (the server does not look inside blobs).
pub fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// A package that was sent: what its link and the sender's client know.
pub struct Sent {
    pub id: String,
    pub link: LinkSecret,
    /// `P'` when the package has a password (made up: the server only ever sees A).
    pub password: Option<StretchedPassword>,
    pub blobs: Vec<Vec<u8>>,
    pub server_share: String,
}

impl Sent {
    /// A for this package, base64url, as a recipient with the whole link (and password) presents it.
    pub fn proof(&self) -> String {
        proof(&self.id, &self.link, self.password.as_ref())
    }

    /// A_L for this package, base64url, as a recipient with the link (no password) presents it.
    pub fn link_proof(&self) -> String {
        link_proof(&PackageId::parse(&self.id).unwrap(), &self.link).to_base64url().to_string()
    }

    /// A for this package's link with another password.
    pub fn proof_with_wrong_password(&self) -> String {
        proof(&self.id, &self.link, Some(&StretchedPassword::from_bytes([0x55; 32])))
    }
}

/// A = HKDF(L ‖ P', id), base64url.
pub fn proof(id: &str, link: &LinkSecret, password: Option<&StretchedPassword>) -> String {
    access_proof(&PackageId::parse(id).unwrap(), link, password).to_base64url().to_string()
}

/// `SHA-256(A)` for finalize.
pub fn verifier(id: &str, link: &LinkSecret, password: Option<&StretchedPassword>) -> String {
    access_proof(&PackageId::parse(id).unwrap(), link, password).verifier().to_base64url()
}

/// `SHA-256(A_L)` for finalize.
pub fn link_verifier(id: &str, link: &LinkSecret) -> String {
    link_proof(&PackageId::parse(id).unwrap(), link).verifier().to_base64url()
}

/// A path on the server from a URL the server answered.
pub fn path_of(server: &Server, url: &str) -> String {
    url.strip_prefix(&server.url).unwrap_or_else(|| panic!("{url} is not on {}", server.url)).to_string()
}

/// `POST /packages` with `spec` (its `blobs` given as sizes).
pub fn create_package(server: &Server, token: &str, spec: &Value) -> Response {
    server.post("/api/v1/packages").bearer(token).json(spec).send()
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `POST /uploads` for blob `idx` of `id`; the answer (201 with `Location`, or an error).
pub fn create_upload(server: &Server, token: &str, id: &str, idx: u32, length: u64) -> Response {
    server
        .post("/api/v1/uploads")
        .bearer(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", format!("package {},blob {}", b64(id), b64(&idx.to_string())))
        .send()
}

/// The path of a new upload for blob `idx` of `id`.
pub fn new_upload(server: &Server, token: &str, id: &str, idx: u32, length: u64) -> String {
    let created = create_upload(server, token, id, idx, length).expect(201);
    path_of(server, created.header("location").expect("Location"))
}

/// A tus PATCH request (not sent).
pub fn patch_request(server: &Server, token: &str, upload: &str, offset: u64) -> super::Request {
    server
        .request("PATCH", upload)
        .bearer(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
}

pub fn patch(server: &Server, token: &str, upload: &str, offset: u64, data: &[u8]) -> Response {
    patch_request(server, token, upload, offset).body(data.to_vec()).send()
}

/// The offset of an upload as `HEAD` tells it.
pub fn offset(server: &Server, token: &str, upload: &str) -> u64 {
    let head = server.request("HEAD", upload).bearer(token).header("Tus-Resumable", "1.0.0").send().expect(200);
    head.header("upload-offset").expect("Upload-Offset").parse().unwrap()
}

/// Uploads a whole blob in one PATCH.
pub fn upload_blob(server: &Server, token: &str, id: &str, idx: u32, data: &[u8]) {
    let upload = new_upload(server, token, id, idx, data.len() as u64);
    let done = patch(server, token, &upload, 0, data).expect(204);
    assert_eq!(done.header("upload-offset"), Some(data.len().to_string().as_str()));
}

/// Finalizes with the verifiers of this link (and password), as the sender's client does.
pub fn finalize(
    server: &Server,
    token: &str,
    id: &str,
    link: &LinkSecret,
    password: Option<&StretchedPassword>,
) -> Response {
    let body = json!({ "access_verifier": verifier(id, link, password), "link_verifier": link_verifier(id, link) });
    server.post(&format!("/api/v1/packages/{id}/finalize")).bearer(token).json(&body).send()
}

/// Creates a package from `spec` with these blobs, uploads them and finalizes it.
pub fn send_blobs(server: &Server, token: &str, spec: Value, blobs: Vec<Vec<u8>>) -> Sent {
    let mut spec = spec;
    spec["blobs"] = blobs.iter().map(|b| json!({ "size": b.len() })).collect();
    let with_password = spec["password"].as_bool().unwrap_or(false);
    let created = create_package(server, token, &spec).expect(201).json();
    let id = created["id"].as_str().unwrap().to_string();
    for (idx, blob) in blobs.iter().enumerate() {
        upload_blob(server, token, &id, idx as u32, blob);
    }
    let link = LinkSecret::from_bytes(rand32());
    let password = with_password.then(|| StretchedPassword::from_bytes(rand32()));
    finalize(server, token, &id, &link, password.as_ref()).expect(200);
    Sent { id, link, password, blobs, server_share: created["server_share"].as_str().unwrap().to_string() }
}

/// A package with two small blobs sent as `spec` says.
pub fn send(server: &Server, token: &str, spec: Value) -> Sent {
    send_blobs(server, token, spec, vec![bytes(150, 1), bytes(300, 2)])
}

pub fn rand32() -> [u8; 32] {
    LinkSecret::generate().unwrap().expose().to_owned()
}

/// `POST /p/{id}/sender`.
pub fn sender(server: &Server, id: &str, link_proof: &str) -> super::Request {
    server.post(&format!("/api/v1/p/{id}/sender")).json(&json!({ "link_proof": link_proof }))
}

/// `POST /p/{id}/code`.
pub fn request_code(server: &Server, id: &str, proof: &str, email: &str) -> super::Request {
    server.post(&format!("/api/v1/p/{id}/code")).json(&json!({ "email": email, "access_proof": proof }))
}

/// `POST /p/{id}/access`.
pub fn access(server: &Server, id: &str, proof: &str, email: Option<&str>, code: Option<&str>) -> super::Request {
    let mut body = json!({ "access_proof": proof });
    if let Some(e) = email {
        body["email"] = json!(e);
    }
    if let Some(c) = code {
        body["code"] = json!(c);
    }
    server.post(&format!("/api/v1/p/{id}/access")).json(&body)
}

/// The sender's view of a package (`GET /packages/{id}`).
pub fn package(server: &Server, token: &str, id: &str) -> Value {
    server.get(&format!("/api/v1/packages/{id}")).bearer(token).send().expect(200).json()
}

/// Every event of a package, read page by page with `after` and `limit`.
pub fn all_events(server: &Server, token: &str, id: &str, limit: u32) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = 0;
    for _ in 0..1000 {
        let page =
            server.get(&format!("/api/v1/packages/{id}/events?after={after}&limit={limit}")).bearer(token).send();
        let page = page.expect(200).json();
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next"].as_i64() {
            Some(next) => after = next,
            None => return events,
        }
    }
    panic!("more than 1000 pages of events");
}

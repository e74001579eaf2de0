//! `server/openapi.json` and the routes agree: every documented path and
//! method reaches a handler (not the "no such API endpoint" fallback), and
//! the document's schemas accept what the server really sends: a whole flow
//! (token, package, tus upload, finalize, status, sender, access, download, list,
//! show, events, tokens, revoke) and many error answers are checked against
//! the schema of their operation and status, and a status the document does
//! not list for its operation fails the test.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use actix_web::dev::{Payload, Service, ServiceResponse};
use actix_web::http::Method;
use actix_web::{body::MessageBody, test};
use kluis_crypto::package::{LinkSecret, PackageId, access_proof, link_proof};
use kluis_protocol::tus::encode_metadata;
use kluis_server::config::Config;
use serde_json::{Value, json};

#[actix_web::test]
async fn every_documented_operation_has_a_handler() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        Config { data_dir: dir.path().to_path_buf(), public_url: "http://127.0.0.1:1".into(), ..Config::default() };
    let state = kluis_server::open(config).await.unwrap();
    let app = test::init_service(kluis_server::app(state)).await;

    let spec: serde_json::Value = serde_json::from_str(include_str!("../openapi.json")).unwrap();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        let uri =
            path.replace("{idx}", "1").replace("/uploads/{id}", "/uploads/x").replace("{id}", "AAAAAAAAAAAAAAAAAAAAAA");
        for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
            if item.get(method).is_none() {
                continue;
            }
            let req = test::TestRequest::default()
                .method(method.to_uppercase().parse().unwrap())
                .uri(&uri)
                .insert_header(("Tus-Resumable", "1.0.0"))
                .to_request();
            let response = test::call_service(&app, req).await;
            let status = response.status();
            let body = test::read_body(response).await;
            let text = String::from_utf8_lossy(&body);
            assert!(!text.contains("No such API endpoint"), "{method} {path} has no handler ({status})");
            assert!(status != 405, "{method} {path} is not allowed");
            checked += 1;
        }
    }
    assert!(checked >= 20, "checked {checked} operations");
}

#[actix_web::test]
async fn undocumented_paths_fall_through_to_a_json_404() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    let state = kluis_server::open(config).await.unwrap();
    let app = test::init_service(kluis_server::app(state)).await;
    let response = test::call_service(&app, test::TestRequest::get().uri("/api/v1/nothing-here").to_request()).await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body["error"]["code"], "not_found");
}

/// The OpenAPI document, with a JSON-Schema validator per response schema.
struct Spec {
    doc: Value,
    validators: RefCell<HashMap<String, jsonschema::Validator>>,
    /// (method, path template, status) of every answer checked.
    seen: RefCell<BTreeSet<(String, String, u16)>>,
}

/// JSON Pointer escaping of one reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

impl Spec {
    fn load() -> Spec {
        Spec {
            doc: serde_json::from_str(include_str!("../openapi.json")).unwrap(),
            validators: RefCell::default(),
            seen: RefCell::default(),
        }
    }

    /// The one documented path template that `path` (without query) matches.
    fn template(&self, path: &str) -> String {
        let segments: Vec<&str> = path.split('/').collect();
        let matching: Vec<&String> = self.doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|t| {
                let ts: Vec<&str> = t.split('/').collect();
                ts.len() == segments.len()
                    && ts.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
            })
            .collect();
        // A concrete path wins over a template (OpenAPI 3.1, "Paths Object"): /packages/deleted, /packages/{id}.
        let concrete: Vec<&String> = matching.iter().copied().filter(|t| t.as_str() == path).collect();
        let matching = if concrete.is_empty() { matching } else { concrete };
        assert_eq!(matching.len(), 1, "{path} matches {matching:?} in openapi.json");
        matching[0].clone()
    }

    /// Follows a local `$ref` (`#/components/…`) if `value` is one.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) => self.doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling $ref {r}")),
            None => value,
        }
    }

    /// Validates `instance` against the schema at `pointer` in the document;
    /// the document is the root resource, so its `#/components/…` refs resolve.
    fn validate(&self, pointer: &str, instance: &Value) -> Result<(), String> {
        let mut validators = self.validators.borrow_mut();
        let validator = validators.entry(pointer.to_string()).or_insert_with(|| {
            let mut root = self.doc.clone();
            root["$ref"] = json!(format!("#{}", pointer.replace('{', "%7B").replace('}', "%7D")));
            jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}"))
        });
        let errors: Vec<String> =
            validator.iter_errors(instance).map(|e| format!("{e} at {}", e.instance_path())).collect();
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }

    /// Checks one answer against the document: its status is listed for the
    /// operation, its body has a documented media type and fits its schema,
    /// required headers are present, and an error's code is one the
    /// response's description names.
    fn check(&self, method: &Method, path: &str, answer: &Answer) {
        let template = self.template(path);
        let m = method.as_str().to_lowercase();
        let what = format!("{method} {path} ({template}) answered {}", answer.status);
        let op = self.doc["paths"][&template].get(&m).unwrap_or_else(|| panic!("{what}: undocumented operation"));
        let status = answer.status.to_string();
        let response =
            self.resolve(op["responses"].get(&status).unwrap_or_else(|| panic!("{what}: status not documented")));
        for (name, header) in response.get("headers").and_then(Value::as_object).into_iter().flatten() {
            if self.resolve(header)["required"] == json!(true) {
                assert!(answer.headers.contains_key(name.as_str()), "{what}: no {name} header");
            }
        }
        self.seen.borrow_mut().insert((m.clone(), template.clone(), answer.status));
        if *method == Method::HEAD {
            return; // HEAD answers carry no body.
        }
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            assert!(answer.body.is_empty(), "{what}: documented without a body, sent {:?}", answer.text());
            return;
        };
        let media = answer.media_type();
        assert!(content.contains_key(&media), "{what}: sent {media:?}, documented {:?}", content.keys());
        if media != "application/json" {
            return;
        }
        let body: Value = serde_json::from_slice(&answer.body)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", answer.text()));
        let pointer = format!("/paths/{}/{m}/responses/{status}/content/application~1json/schema", escape(&template));
        if let Err(e) = self.validate(&pointer, &body) {
            panic!("{what}: the schema refuses the body {body}: {e}");
        }
        if answer.status >= 400 {
            let code = body["error"]["code"].as_str().unwrap();
            let description = response["description"].as_str().unwrap_or_default();
            assert!(description.contains(code), "{what}: code {code} is not named in {description:?}");
        }
    }
}

struct Answer {
    status: u16,
    headers: actix_web::http::header::HeaderMap,
    body: bytes::Bytes,
}

impl Answer {
    fn media_type(&self) -> String {
        let value = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        value.split(';').next().unwrap_or_default().trim().to_string()
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_string()
    }
    fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }
}

const PEER: &str = "127.0.0.1:40000";
const PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// A running app, its document, and the caller's token.
struct Api<S> {
    app: S,
    spec: Spec,
    token: String,
}

/// A request: method, URI, headers, body.
struct Call {
    method: Method,
    uri: String,
    headers: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
    auth: Option<String>,
}

fn call(method: Method, uri: impl Into<String>) -> Call {
    Call { method, uri: uri.into(), headers: vec![], body: None, auth: None }
}

impl Call {
    fn json(mut self, v: Value) -> Call {
        self.body = Some(("application/json".into(), serde_json::to_vec(&v).unwrap()));
        self
    }
    fn raw(mut self, content_type: &str, bytes: impl Into<Vec<u8>>) -> Call {
        self.body = Some((content_type.into(), bytes.into()));
        self
    }
    fn header(mut self, name: &str, value: impl ToString) -> Call {
        self.headers.push((name.into(), value.to_string()));
        self
    }
    fn tus(self) -> Call {
        self.header("Tus-Resumable", "1.0.0")
    }
    fn bearer(mut self, token: &str) -> Call {
        self.auth = Some(token.into());
        self
    }
    fn request(&self, default_token: &str) -> actix_http::Request {
        let mut req =
            test::TestRequest::default().method(self.method.clone()).uri(&self.uri).peer_addr(PEER.parse().unwrap());
        let token = self.auth.as_deref().unwrap_or(default_token);
        if !token.is_empty() {
            req = req.insert_header(("Authorization", format!("Bearer {token}")));
        }
        for (name, value) in &self.headers {
            req = req.insert_header((name.as_str(), value.as_str()));
        }
        if let Some((content_type, bytes)) = &self.body {
            req = req.insert_header(("Content-Type", content_type.as_str())).set_payload(bytes.clone());
        }
        req.to_request()
    }
}

impl<S, B> Api<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    /// Sends `c` (with the caller's token unless it names another; `""` for none),
    /// checks the answer against the document, and expects `status`.
    async fn send(&self, c: Call, status: u16) -> Answer {
        let response = test::call_service(&self.app, c.request(&self.token)).await;
        let answer = Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: test::read_body(response).await,
        };
        let path = c.uri.split('?').next().unwrap();
        self.spec.check(&c.method, path, &answer);
        assert_eq!(answer.status, status, "{} {}: {}", c.method, c.uri, answer.text());
        answer
    }

    /// Like [`Api::send`], and expects the error `code`.
    async fn error(&self, c: Call, status: u16, code: &str) -> Answer {
        let answer = self.send(c, status).await;
        assert_eq!(answer.code(), code, "{}", answer.text());
        answer
    }

    /// Creates a tus upload for blob `idx` of `id`; returns its path.
    async fn create_upload(&self, id: &str, idx: u32, len: usize) -> String {
        let metadata = encode_metadata(&[("package", id.as_bytes()), ("blob", idx.to_string().as_bytes())]);
        let a = self
            .send(
                call(Method::POST, "/api/v1/uploads")
                    .tus()
                    .header("Upload-Length", len)
                    .header("Upload-Metadata", metadata),
                201,
            )
            .await;
        a.header("location").strip_prefix(PUBLIC_URL).unwrap().to_string()
    }

    async fn patch(&self, upload: &str, offset: usize, bytes: &[u8], status: u16) -> Answer {
        let c = call(Method::PATCH, upload)
            .tus()
            .header("Upload-Offset", offset)
            .raw("application/offset+octet-stream", bytes.to_vec());
        self.send(c, status).await
    }

    /// Uploads the whole blob `idx` of `id` in one PATCH.
    async fn upload(&self, id: &str, idx: u32, bytes: &[u8]) {
        let upload = self.create_upload(id, idx, bytes.len()).await;
        let a = self.patch(&upload, 0, bytes, 204).await;
        assert_eq!(a.header("upload-offset"), bytes.len().to_string());
    }
}

const METRICS_TOKEN: &str = "openapi-metrics-7d2e91c4";

fn config(dir: &std::path::Path) -> Config {
    let metrics = kluis_server::config::Metrics { token: Some(METRICS_TOKEN.into()) };
    Config { data_dir: dir.to_path_buf(), public_url: PUBLIC_URL.into(), metrics, ..Config::default() }
}

/// `(A, SHA-256(A))` of package `id` with the link secret `[seed; 32]`, unpadded base64url.
fn proof(id: &str, seed: u8) -> (String, String) {
    let a = access_proof(&PackageId::parse(id).unwrap(), &LinkSecret::from_bytes([seed; 32]), None);
    (a.to_base64url().to_string(), a.verifier().to_base64url())
}

/// `(A_L, SHA-256(A_L))` of package `id` with the link secret `[seed; 32]`, unpadded base64url.
fn link(id: &str, seed: u8) -> (String, String) {
    let a = link_proof(&PackageId::parse(id).unwrap(), &LinkSecret::from_bytes([seed; 32]));
    (a.to_base64url().to_string(), a.verifier().to_base64url())
}

#[actix_web::test]
async fn the_schemas_accept_what_the_server_sends() {
    let dir = tempfile::tempdir().unwrap();
    let state = kluis_server::open(config(dir.path())).await.unwrap();
    // Alice is an admin of her organisation, so the admin API answers too.
    let admin = kluis_server::admin::UserSpec { admin: Some(true), ..Default::default() };
    kluis_server::admin::add_user_as(&state, "alice@example.org", &admin).await.unwrap();
    let token = kluis_server::admin::create_token(&state, "alice@example.org", "openapi test").await.unwrap();
    let app = test::init_service(kluis_server::app(state.clone())).await;
    let api = Api { app, spec: Spec::load(), token };
    use Method as M;

    // Health, the document itself, who am I.
    api.send(call(M::GET, "/healthz"), 200).await;
    api.send(call(M::GET, "/readyz"), 200).await;
    api.error(call(M::GET, "/metrics").bearer(""), 404, "not_found").await;
    api.send(call(M::GET, "/metrics").bearer(METRICS_TOKEN), 200).await;
    api.send(call(M::GET, "/api/v1/openapi.json"), 200).await;
    api.error(call(M::GET, "/api/v1/me").bearer(""), 401, "unauthorized").await;
    api.error(call(M::GET, "/api/v1/me").bearer("kluis_nope"), 401, "unauthorized").await;
    api.send(call(M::GET, "/api/v1/me"), 200).await;

    // The policy (no sign-in), and verdicts of the send check.
    api.send(call(M::GET, "/api/v1/policy").bearer(""), 200).await;
    api.send(call(M::OPTIONS, "/api/v1/policy/verdicts").bearer(""), 204).await;
    let verdict = json!({"source": "send_check", "action": "warn", "outcome": "warned",
        "findings": [{"kind": "iban", "confidence": "high", "count": 1}]});
    api.send(call(M::POST, "/api/v1/policy/verdicts").json(verdict.clone()), 204).await;
    api.error(call(M::POST, "/api/v1/policy/verdicts").json(verdict).bearer(""), 401, "unauthorized").await;
    api.error(call(M::POST, "/api/v1/policy/verdicts").json(json!({"source": "x"})), 400, "invalid_json").await;

    // Sign-in codes.
    let code_for = |email: &str| call(M::POST, "/api/v1/auth/code").json(json!({ "email": email }));
    api.send(code_for("alice@example.org"), 202).await;
    let a = api.error(code_for("alice@example.org"), 429, "rate_limited").await;
    assert!(a.header("retry-after").parse::<u64>().unwrap() >= 1);
    api.send(code_for("nobody@example.org"), 202).await;
    api.error(code_for("not an address"), 400, "invalid_email").await;
    api.error(call(M::POST, "/api/v1/auth/code").json(json!({"email": "a@x.org", "more": 1})), 400, "invalid_json")
        .await;
    api.error(call(M::POST, "/api/v1/auth/code").raw("text/plain", "email"), 400, "invalid_json").await;
    let sign_in = |code: &str| {
        call(M::POST, "/api/v1/auth/token").json(json!({"email": "bob@example.org", "code": code, "label": "x"}))
    };
    for _ in 0..9 {
        let a = api.error(sign_in("000000"), 401, "wrong_code").await;
        assert!(a.json()["error"]["tries_left"].as_i64().unwrap() >= 1);
    }
    let a = api.error(sign_in("000000"), 429, "locked").await;
    assert!(a.json()["error"]["retry_after"].as_i64().unwrap() >= 1, "a daily lock lifts");
    api.error(call(M::POST, "/api/v1/auth/token").json(json!({"email": "bob"})), 400, "invalid_json").await;

    // A package: two blobs, no verification, two downloads.
    let sizes = [150usize, 333];
    let blobs: Vec<Vec<u8>> = sizes.iter().map(|&n| (0..n).map(|i| (i % 251) as u8).collect()).collect();
    let create = |body: Value| call(M::POST, "/api/v1/packages").json(body);
    let a = api
        .send(
            create(json!({"blobs": [{"size": sizes[0]}, {"size": sizes[1]}], "verify": "none", "max_downloads": 2})),
            201,
        )
        .await;
    let created = a.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["upload_url"], format!("{PUBLIC_URL}/api/v1/uploads"));
    api.error(create(json!({"blobs": [], "verify": "none"})), 400, "invalid_blobs").await;
    api.error(create(json!({"blobs": [{"size": 99}], "verify": "none"})), 400, "invalid_blob_size").await;
    api.error(create(json!({"blobs": [{"size": 100}], "recipients": ["x"]})), 400, "invalid_recipient").await;
    api.error(create(json!({"blobs": [{"size": 100}]})), 400, "no_recipients").await;
    api.error(create(json!({"blobs": [{"size": 100}], "verify": "none", "expires_in_days": 0})), 400, "invalid_expiry")
        .await;
    api.error(create(json!({"blobs": [{"size": 100}], "colour": "red"})), 400, "invalid_json").await;
    let a = api.error(create(json!({"blobs": [{"size": 200u64 << 30}], "verify": "none"})), 413, "too_large").await;
    assert_eq!(a.json()["error"]["limit"], 100u64 << 30);
    api.error(create(json!({"blobs": [{"size": 100}]})).bearer(""), 401, "unauthorized").await;

    // Recipients see nothing while it uploads.
    api.error(call(M::GET, format!("/api/v1/p/{id}")), 404, "not_found").await;
    api.error(call(M::GET, "/api/v1/p/not.an.id"), 404, "not_found").await;

    // tus: capabilities, creation, resuming, errors, termination.
    let a = api.send(call(M::OPTIONS, "/api/v1/uploads"), 204).await;
    assert_eq!(a.header("tus-version"), "1.0.0");
    let metadata = encode_metadata(&[("package", id.as_bytes()), ("blob", b"0")]);
    let tus_create = |len: usize| {
        call(M::POST, "/api/v1/uploads").header("Upload-Length", len).header("Upload-Metadata", metadata.clone())
    };
    api.error(tus_create(sizes[0]), 412, "tus_version").await;
    api.error(tus_create(sizes[0]).tus().bearer(""), 401, "unauthorized").await;
    api.error(tus_create(sizes[0] + 1).tus(), 413, "too_large").await;
    api.error(tus_create(sizes[0] - 1).tus(), 400, "length_mismatch").await;
    api.error(call(M::POST, "/api/v1/uploads").tus().header("Upload-Length", 150), 400, "metadata_required").await;
    api.error(
        call(M::POST, "/api/v1/uploads").tus().header("Upload-Length", 150).header("Upload-Metadata", "package !!"),
        400,
        "invalid_metadata",
    )
    .await;
    api.error(
        call(M::POST, "/api/v1/uploads").tus().header("Upload-Metadata", metadata.clone()),
        400,
        "length_required",
    )
    .await;
    let other = encode_metadata(&[("package", b"AAAAAAAAAAAAAAAAAAAAAA"), ("blob", b"0")]);
    api.error(
        call(M::POST, "/api/v1/uploads").tus().header("Upload-Length", 150).header("Upload-Metadata", other),
        404,
        "not_found",
    )
    .await;
    let upload = api.create_upload(&id, 0, sizes[0]).await;
    let a = api.send(call(M::HEAD, &upload).tus(), 200).await;
    assert_eq!(a.header("upload-offset"), "0");
    api.send(call(M::HEAD, &upload), 412).await;
    api.send(call(M::HEAD, "/api/v1/uploads/nothing").tus(), 404).await;
    let c = call(M::PATCH, &upload).tus().header("Upload-Offset", 0).raw("application/octet-stream", vec![0u8; 10]);
    api.error(c, 415, "content_type").await;
    let c = call(M::PATCH, &upload).tus().raw("application/offset+octet-stream", vec![0u8; 10]);
    api.error(c, 400, "offset_required").await;
    api.patch(&upload, 0, &blobs[0][..100], 204).await;
    let a = api.patch(&upload, 0, &blobs[0][100..], 409).await;
    assert_eq!(a.json()["error"]["offset"], 100);
    let a = api.patch(&upload, 100, &[blobs[0][100..].to_vec(), vec![0; 5]].concat(), 413).await;
    assert_eq!(a.code(), "too_large");
    let a = api.send(call(M::HEAD, &upload).tus(), 200).await;
    let offset: usize = a.header("upload-offset").parse().unwrap();
    api.patch(&upload, offset, &blobs[0][offset..], 204).await;
    api.error(tus_create(sizes[0]).tus(), 409, "already_uploaded").await;
    // A whole upload says so (until it expires) and takes nothing more.
    let a = api.send(call(M::HEAD, &upload).tus(), 200).await;
    assert_eq!(a.header("upload-offset"), sizes[0].to_string());
    let c = call(M::PATCH, &upload).tus().header("Upload-Offset", 0).raw("application/offset+octet-stream", vec![1]);
    let a = api.error(c, 409, "offset_mismatch").await;
    assert_eq!(a.json()["error"]["offset"], sizes[0]);
    api.patch(&upload, sizes[0], &[], 204).await;
    let upload = api.create_upload(&id, 1, sizes[1]).await;
    api.send(call(M::DELETE, &upload), 412).await;
    api.send(call(M::DELETE, &upload).tus(), 204).await;
    api.error(call(M::DELETE, &upload).tus(), 404, "not_found").await;

    // Finalize: incomplete, bad verifiers, done, again, other verifiers.
    let (proof_a, verifier) = proof(&id, 7);
    let (link_a, link_verifier) = link(&id, 7);
    let finalize = |v: &str, l: &str| {
        call(M::POST, format!("/api/v1/packages/{id}/finalize"))
            .json(json!({ "access_verifier": v, "link_verifier": l }))
    };
    let a = api.error(finalize(&verifier, &link_verifier), 409, "upload_incomplete").await;
    assert_eq!(a.json()["error"]["missing"], json!([1]));
    api.upload(&id, 1, &blobs[1]).await;
    api.error(finalize("short", &link_verifier), 400, "invalid_access_verifier").await;
    api.error(finalize(&verifier, "short"), 400, "invalid_link_verifier").await;
    api.error(call(M::POST, format!("/api/v1/packages/{id}/finalize")).json(json!({})), 400, "invalid_json").await;
    let a = api.send(finalize(&verifier, &link_verifier), 200).await;
    assert_eq!(a.json()["state"], "ready");
    api.send(finalize(&verifier, &link_verifier), 200).await;
    api.error(finalize(&proof(&id, 8).1, &link_verifier), 400, "already_finalized").await;
    api.error(finalize(&verifier, &link(&id, 8).1), 400, "already_finalized").await;
    let metadata = encode_metadata(&[("package", id.as_bytes()), ("blob", b"1")]);
    let c =
        call(M::POST, "/api/v1/uploads").tus().header("Upload-Length", sizes[1]).header("Upload-Metadata", metadata);
    api.error(c, 409, "not_uploading").await;

    // The recipient: status, sender, code (not asked), access, downloads.
    let a = api.send(call(M::GET, format!("/api/v1/p/{id}")), 200).await;
    assert_eq!(a.json()["blob_count"], 2);
    let sender = |l: &str| call(M::POST, format!("/api/v1/p/{id}/sender")).json(json!({ "link_proof": l }));
    let a = api.send(sender(&link_a), 200).await;
    assert_eq!(a.json()["files"], 1);
    api.error(sender(&proof_a), 404, "not_found").await;
    api.error(call(M::POST, format!("/api/v1/p/{id}/sender")).json(json!({})), 400, "invalid_json").await;
    let access =
        |proof: &str| call(M::POST, format!("/api/v1/p/{id}/access")).json(json!({ "access_proof": proof })).bearer("");
    let code = |proof: &str| {
        call(M::POST, format!("/api/v1/p/{id}/code")).json(json!({"email": "r@example.org", "access_proof": proof}))
    };
    api.error(code(&proof_a), 400, "no_verification").await;
    api.error(access(&proof(&id, 9).0), 403, "wrong_link").await;
    api.error(access("not base64!"), 403, "wrong_link").await;
    api.error(call(M::POST, format!("/api/v1/p/{id}/access")).json(json!({})), 400, "invalid_json").await;
    let a = api.send(access(&proof_a), 200).await;
    let granted = a.json();
    assert_eq!(granted["downloads_left"], 1);
    let session = granted["download_token"].as_str().unwrap().to_string();
    let blob = |idx: &str| call(M::GET, format!("/api/v1/p/{id}/blobs/{idx}"));
    let a = api.send(blob("0").bearer(&session), 200).await;
    assert_eq!(a.body.as_ref(), &blobs[0][..]);
    let a = api.send(blob("1").bearer(&session).header("Range", "bytes=10-19"), 206).await;
    assert_eq!(a.body.as_ref(), &blobs[1][10..20]);
    api.send(blob("1").bearer(&session).header("Range", "bytes=5000-"), 416).await;
    api.error(blob("2").bearer(&session), 404, "not_found").await;
    api.error(blob("x").bearer(&session), 404, "not_found").await;
    api.error(blob("0").bearer(""), 401, "session_required").await;
    api.error(blob("0").bearer("kdl_nothing"), 401, "session_expired").await;
    api.send(access(&proof_a), 200).await;
    api.error(call(M::GET, format!("/api/v1/p/{id}")), 410, "download_limit_reached").await;
    api.error(access(&proof_a), 410, "download_limit_reached").await;

    // The sender's views: list, show (first page of events), events paged.
    let a = api.send(call(M::GET, "/api/v1/packages"), 200).await;
    assert_eq!(a.json()["packages"][0]["id"], id.as_str());

    let a = api.send(call(M::GET, format!("/api/v1/packages/{id}")), 200).await;
    let shown = a.json();
    assert!(shown["events"].as_array().unwrap().len() >= 5 && shown["events_next"].is_null());
    assert!(shown["activity"]["opens"].as_i64().unwrap() >= 1, "{shown}");
    let a = api.send(call(M::GET, "/api/v1/sent?limit=1"), 200).await;
    assert_eq!(a.json()["packages"][0]["id"], id.as_str());
    let next = a.json()["next"].as_str().map(str::to_string);
    if let Some(next) = next {
        api.send(call(M::GET, format!("/api/v1/sent?limit=1&cursor={next}")), 200).await;
    }
    api.error(call(M::GET, "/api/v1/sent?cursor=nothing"), 400, "invalid_cursor").await;
    api.error(call(M::GET, "/api/v1/sent?limit=x"), 400, "invalid_query").await;
    api.error(call(M::GET, "/api/v1/sent").bearer(""), 401, "unauthorized").await;
    let a = api.send(call(M::GET, format!("/api/v1/packages/{id}/events?limit=2")), 200).await;
    let next = a.json()["next"].as_i64().unwrap();
    let a = api.send(call(M::GET, format!("/api/v1/packages/{id}/events?after={next}&limit=100")), 200).await;
    assert!(a.json()["next"].is_null() && a.json()["events"][0]["id"].as_i64().unwrap() > next);
    api.error(call(M::GET, format!("/api/v1/packages/{id}/events?page=2")), 400, "invalid_query").await;
    api.error(call(M::GET, format!("/api/v1/packages/{id}/events?after=x")), 400, "invalid_query").await;
    api.error(call(M::GET, "/api/v1/packages/AAAAAAAAAAAAAAAAAAAAAA"), 404, "not_found").await;
    api.error(call(M::GET, "/api/v1/packages/bad.id"), 404, "not_found").await;
    api.error(call(M::GET, "/api/v1/packages").bearer(""), 401, "unauthorized").await;

    // A package that asks for an e-mail code.
    let a = api.send(create(json!({"blobs": [{"size": 100}], "recipients": ["r@example.org"]})), 201).await;
    let vid = a.json()["id"].as_str().unwrap().to_string();
    // Two packages now: the list comes a page at a time.
    let a = api.send(call(M::GET, "/api/v1/packages?limit=1"), 200).await;
    let next = a.json()["next"].as_str().expect("two packages: a next page").to_string();
    api.send(call(M::GET, format!("/api/v1/packages?cursor={next}&limit=1")), 200).await;
    api.error(call(M::GET, "/api/v1/packages?cursor=nonsense"), 400, "invalid_cursor").await;
    api.upload(&vid, 0, &[3u8; 100]).await;
    let (vproof, vverifier) = proof(&vid, 11);
    let vlink = link(&vid, 11);
    let vfinalize = || {
        call(M::POST, format!("/api/v1/packages/{vid}/finalize"))
            .json(json!({"access_verifier": vverifier, "link_verifier": vlink.1}))
    };
    api.send(vfinalize(), 200).await;
    let vcode = |email: &str, proof: &str| {
        call(M::POST, format!("/api/v1/p/{vid}/code")).json(json!({"email": email, "access_proof": proof}))
    };
    api.error(vcode("r@example.org", &proof(&vid, 12).0), 403, "wrong_link").await;
    api.error(vcode("nope", &vproof), 400, "invalid_email").await;
    api.send(vcode("r@example.org", &vproof), 202).await;
    api.send(vcode("stranger@example.org", &vproof), 202).await;
    api.error(vcode("r@example.org", &vproof), 429, "rate_limited").await;
    let vaccess = |body: Value| call(M::POST, format!("/api/v1/p/{vid}/access")).json(body);
    api.error(vaccess(json!({"access_proof": vproof})), 401, "verification_required").await;
    api.error(vaccess(json!({"access_proof": vproof, "email": "x", "code": "1"})), 400, "invalid_email").await;
    for _ in 0..4 {
        let body = json!({"access_proof": vproof, "email": "r@example.org", "code": "000000"});
        let a = api.error(vaccess(body), 401, "wrong_code").await;
        assert!(a.json()["error"]["tries_left"].as_i64().is_some());
    }
    let a =
        api.error(vaccess(json!({"access_proof": vproof, "email": "r@example.org", "code": "0"})), 429, "locked").await;
    assert!(a.json()["error"].get("retry_after").is_none(), "the address budget is for the package's life");

    // Tokens: list, revoke another, unknown ids; logout.
    let second = kluis_server::admin::create_token(&state, "alice@example.org", "second").await.unwrap();
    let a = api.send(call(M::GET, "/api/v1/tokens"), 200).await;
    let tokens = a.json()["tokens"].as_array().unwrap().clone();
    assert_eq!(tokens.len(), 2);
    let other = tokens.iter().find(|t| t["current"] == false).unwrap()["id"].as_i64().unwrap();
    api.send(call(M::DELETE, format!("/api/v1/tokens/{other}")), 204).await;
    api.error(call(M::DELETE, format!("/api/v1/tokens/{other}")), 404, "not_found").await;
    api.error(call(M::DELETE, "/api/v1/tokens/x"), 404, "not_found").await;
    api.error(call(M::GET, "/api/v1/tokens").bearer(&second), 401, "unauthorized").await;
    let third = kluis_server::admin::create_token(&state, "alice@example.org", "third").await.unwrap();
    api.send(call(M::POST, "/api/v1/auth/logout").bearer(&third), 204).await;
    api.error(call(M::POST, "/api/v1/auth/logout").bearer(&third), 401, "unauthorized").await;

    // The admin API: users, packages, audit log, organisation, overview; and a user is refused.
    let bob = kluis_server::admin::create_token(&state, "bob@example.org", "not an admin").await.unwrap();
    api.error(call(M::GET, "/api/v1/admin/users").bearer(&bob), 403, "forbidden").await;
    let a = api.send(call(M::GET, "/api/v1/admin/users?state=all&limit=1"), 200).await;
    let after = a.json()["next"].as_str().unwrap().to_string();
    api.send(call(M::GET, format!("/api/v1/admin/users?after={after}")), 200).await;
    api.error(call(M::GET, "/api/v1/admin/users?state=gone"), 400, "invalid_query").await;
    let a = api
        .send(call(M::POST, "/api/v1/admin/users").json(json!({"email": "carol@example.org", "name": "Carol"})), 201)
        .await;
    let carol = a.json()["id"].as_i64().unwrap();
    api.send(call(M::POST, "/api/v1/admin/users").json(json!({"email": "carol@example.org", "role": "admin"})), 200)
        .await;
    api.error(call(M::POST, "/api/v1/admin/users").json(json!({"email": "x"})), 400, "invalid_email").await;
    api.send(call(M::GET, format!("/api/v1/admin/users/{carol}")), 200).await;
    api.error(call(M::GET, "/api/v1/admin/users/999999"), 404, "not_found").await;
    api.send(
        call(M::PATCH, format!("/api/v1/admin/users/{carol}")).json(json!({"state": "disabled", "role": "user"})),
        200,
    )
    .await;
    let a = api.send(call(M::GET, "/api/v1/admin/users?q=alice"), 200).await;
    let alice = a.json()["users"][0]["id"].as_i64().unwrap();
    api.error(call(M::PATCH, format!("/api/v1/admin/users/{alice}")).json(json!({"role": "user"})), 400, "own_account")
        .await;
    let csv = "e-mail;naam;rol\ndave@example.org;Dave;gebruiker\nniet-een-adres;;\n";
    let a = api.send(call(M::POST, "/api/v1/admin/users.csv").raw("text/csv", csv), 200).await;
    assert_eq!(a.json()["refused"][0]["code"], "invalid_email");
    api.error(call(M::POST, "/api/v1/admin/users.csv").raw("text/csv", vec![0xffu8, 0xfe]), 400, "invalid_csv").await;
    api.send(call(M::DELETE, format!("/api/v1/admin/users/{carol}")), 204).await;
    api.error(call(M::DELETE, format!("/api/v1/admin/users/{carol}")), 404, "not_found").await;
    let a = api.send(call(M::GET, "/api/v1/admin/packages?limit=1"), 200).await;
    let before = a.json()["next"].as_str().unwrap().to_string();
    api.send(call(M::GET, format!("/api/v1/admin/packages?before={before}")), 200).await;
    api.error(call(M::GET, "/api/v1/admin/packages?before=x"), 400, "invalid_cursor").await;
    api.error(call(M::POST, "/api/v1/admin/packages/AAAAAAAAAAAAAAAAAAAAAA/revoke"), 404, "not_found").await;
    let a = api.send(call(M::GET, "/api/v1/admin/audit?limit=2&event=created"), 200).await;
    assert!(a.json()["entries"].as_array().unwrap().len() <= 2);
    api.send(call(M::GET, "/api/v1/admin/audit?from=2026-01-01&to=2100-01-01T00:00:00Z&user=alice@example.org"), 200)
        .await;
    api.error(call(M::GET, "/api/v1/admin/audit?from=soon"), 400, "invalid_query").await;
    api.error(call(M::GET, "/api/v1/admin/audit?user=nobody"), 400, "invalid_email").await;
    let a = api.send(call(M::GET, "/api/v1/admin/audit.csv?lang=nl"), 200).await;
    assert!(a.text().contains("Gebeurtenis"));
    let a = api.send(call(M::GET, "/api/v1/admin/audit/verify"), 200).await;
    assert_eq!(a.json()["intact"], true);
    let a = api.send(call(M::GET, "/api/v1/admin/export"), 200).await;
    assert!(a.body.len() >= 1024 && a.body.len() % 512 == 0, "a whole tar archive");
    api.send(call(M::GET, "/api/v1/admin/organisation"), 200).await;
    api.send(
        call(M::PUT, "/api/v1/admin/organisation").json(json!({"name": "Kluis", "domains": ["example.org"]})),
        200,
    )
    .await;
    api.error(call(M::PUT, "/api/v1/admin/organisation").json(json!({"name": "", "domains": []})), 400, "invalid_name")
        .await;
    api.send(call(M::GET, "/api/v1/admin/overview"), 200).await;
    // The licence: evaluation, then one signed with the test vendor key (this test build trusts it).
    api.send(call(M::GET, "/api/v1/admin/licence"), 200).await;
    api.error(call(M::PUT, "/api/v1/admin/licence").json(json!({"text": "no licence"})), 400, "licence_malformed")
        .await;
    let key =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../licence/testdata/test-vendor.key")).unwrap();
    let licence = kluis_licence::Licence {
        format: 1,
        id: "L-openapi".into(),
        key_id: String::new(),
        licensee: "Example".into(),
        domains: vec!["example.org".into()],
        seats: 100,
        features: vec!["single-sign-on".into(), "upload-portal".into()],
        valid_from: "2000-01-01".into(),
        valid_until: "2999-12-31".into(),
        issued_at: "2026-11-27T12:00:00Z".into(),
    };
    let text = kluis_licence::SigningKey::from_text(&key).unwrap().sign(&licence).unwrap();
    let a = api.send(call(M::PUT, "/api/v1/admin/licence").json(json!({ "text": text })), 200).await;
    assert_eq!(a.json()["state"], "valid");
    // Single sign-on: off here; turning it on needs a provider that answers (tests/api/sso.rs runs one).
    api.send(call(M::GET, "/api/v1/admin/sso"), 200).await;
    let nobody = json!({"issuer": "http://127.0.0.1:9", "client_id": "kluis", "client_secret": "s"});
    api.error(call(M::PUT, "/api/v1/admin/sso").json(nobody), 400, "issuer_unreachable").await;
    api.error(call(M::PUT, "/api/v1/admin/sso").json(json!({"issuer": "x", "client_id": "k"})), 400, "invalid_issuer")
        .await;
    api.send(call(M::DELETE, "/api/v1/admin/sso"), 204).await;
    api.error(call(M::GET, "/api/v1/admin/sso").bearer(&bob), 403, "forbidden").await;
    // The policy: read, saved (a rule the next package breaks), its versions; a stale save and a bad one.
    let a = api.send(call(M::GET, "/api/v1/admin/policy"), 200).await;
    let mut policy = a.json()["policy"].clone();
    policy["send"]["blocked_file_types"] = json!(["exe"]);
    let saved = call(M::PUT, "/api/v1/admin/policy").json(json!({"version": 0, "policy": policy.clone()}));
    api.send(saved, 200).await;
    api.error(
        call(M::PUT, "/api/v1/admin/policy").json(json!({"version": 0, "policy": policy.clone()})),
        409,
        "policy_changed",
    )
    .await;
    policy["send"]["max_downloads"] = json!(0);
    api.error(
        call(M::PUT, "/api/v1/admin/policy").json(json!({"version": 1, "policy": policy})),
        400,
        "invalid_policy",
    )
    .await;
    api.send(call(M::GET, "/api/v1/admin/policy/versions"), 200).await;
    let blocked = create(json!({"blobs": [{"size": 100}], "verify": "none", "file_types": ["exe"], "message": true}));
    api.error(blocked, 400, "policy_file_type").await;
    // An admin revokes a package of the organisation (the sender's own revoke follows, on another).
    let a = api.send(create(json!({"blobs": [{"size": 100}], "verify": "none"})), 201).await;
    let rid = a.json()["id"].as_str().unwrap().to_string();
    api.send(call(M::POST, format!("/api/v1/admin/packages/{rid}/revoke")), 204).await;
    // An admin deletes a sent one (soft: it cannot be opened), finds it among the deleted ones, and restores it.
    let did = id.clone();
    api.send(call(M::DELETE, format!("/api/v1/admin/packages/{did}")), 204).await;
    api.error(call(M::GET, format!("/api/v1/p/{did}")), 404, "not_found").await;
    api.error(call(M::DELETE, format!("/api/v1/admin/packages/{did}")), 404, "not_found").await;
    let a = api.send(call(M::GET, "/api/v1/admin/packages/deleted"), 200).await;
    assert_eq!(a.json()["packages"][0]["package"]["id"], did.as_str());
    api.send(call(M::POST, format!("/api/v1/admin/packages/{did}/restore")), 204).await;
    api.error(call(M::POST, format!("/api/v1/admin/packages/{did}/restore")), 404, "not_found").await;

    // Revoke and delete.
    let a = api.send(call(M::POST, format!("/api/v1/packages/{vid}/revoke")), 200).await;
    assert_eq!(a.json(), json!({"id": vid, "state": "revoked"}));
    api.error(call(M::GET, format!("/api/v1/p/{vid}")), 410, "revoked").await;
    api.error(vaccess(json!({"access_proof": vproof})), 410, "revoked").await;
    api.error(vfinalize(), 410, "revoked").await;
    let vsender = call(M::POST, format!("/api/v1/p/{vid}/sender")).json(json!({ "link_proof": vlink.0 }));
    api.error(vsender, 410, "revoked").await;
    api.error(call(M::POST, "/api/v1/packages/AAAAAAAAAAAAAAAAAAAAAA/revoke"), 404, "not_found").await;
    api.send(call(M::DELETE, format!("/api/v1/packages/{id}")), 204).await;
    api.error(call(M::DELETE, format!("/api/v1/packages/{id}")), 404, "not_found").await;
    api.error(call(M::GET, format!("/api/v1/p/{id}")), 404, "not_found").await;

    // Single sign-on: an organisation without it answers sso:false; a handoff
    // that was never made is refused (the flow itself: tests/api/sso.rs, with a real provider).
    let a = api.send(call(M::GET, "/api/v1/auth/sso?email=alice@example.org").bearer(""), 200).await;
    assert_eq!(a.json()["sso"], false);

    // Receiving files (docs/inbound.md): recovery on, a key with its recovery copy, an
    // upload request, an outsider's delivery over tus with its session, the inbox, and
    // the admin handing the key back under a passphrase of theirs.
    let recovery = kluis_crypto::x25519::Identity::generate().unwrap();
    let on = json!({ "recipient": recovery.to_public().to_string() });
    api.send(call(M::PUT, "/api/v1/admin/recovery").json(on), 200).await;
    api.send(call(M::GET, "/api/v1/admin/recovery"), 200).await;
    api.error(call(M::POST, "/api/v1/requests").json(json!({})), 409, "no_key").await;
    let identity = kluis_crypto::x25519::Identity::generate().unwrap();
    let recipient = identity.to_public().to_string();
    let secret = identity.to_secret_string();
    let wrap = |passphrase: &str| {
        let to = kluis_crypto::scrypt::Recipient::new(passphrase.to_string().into());
        kluis_crypto::encrypt_armored(&[&to], secret.as_bytes()).unwrap()
    };
    let copy = kluis_crypto::encrypt_armored(&[&recovery.to_public()], secret.as_bytes()).unwrap();
    let bare = json!({ "recipient": recipient, "wrapped": wrap("a passphrase") });
    api.error(call(M::PUT, "/api/v1/key").json(bare), 400, "recovery_required").await;
    let key = json!({ "recipient": recipient, "wrapped": wrap("a passphrase"), "recovery": copy });
    api.send(call(M::PUT, "/api/v1/key").json(key), 200).await;
    api.send(call(M::GET, "/api/v1/key"), 200).await;
    api.send(call(M::GET, "/api/v1/directory?email=alice@example.org"), 200).await;
    let a =
        api.send(call(M::POST, "/api/v1/requests").json(json!({ "verify": "none", "message": "Please" })), 201).await;
    let rq = a.json()["id"].as_str().unwrap().to_string();
    api.send(call(M::GET, "/api/v1/requests"), 200).await;
    api.send(call(M::GET, format!("/api/v1/r/{rq}")).bearer(""), 200).await;
    let code = call(M::POST, format!("/api/v1/r/{rq}/code")).bearer("").json(json!({ "email": "jan@klant.nl" }));
    api.error(code, 400, "no_verification").await;
    let a = api.send(call(M::POST, "/api/v1/requests").json(json!({ "emails": ["jan@klant.nl"] })), 201).await;
    let verified = a.json()["id"].as_str().unwrap().to_string();
    let code = call(M::POST, format!("/api/v1/r/{verified}/code")).bearer("").json(json!({ "email": "jan@klant.nl" }));
    api.send(code, 202).await;
    let start = call(M::POST, format!("/api/v1/r/{rq}/session")).bearer("").json(json!({ "email": "jan@klant.nl" }));
    let up = api.send(start, 200).await.json()["token"].as_str().unwrap().to_string();
    let sealed = kluis_crypto::encrypt(&[&identity.to_public()], b"the files").unwrap();
    let spec = json!({ "recipient": recipient, "blobs": [{ "size": sealed.len() }] });
    // The request takes one upload: one given up ("Cancel" on the page) frees its place at once.
    let a = api.send(call(M::POST, format!("/api/v1/r/{rq}/deliveries")).bearer(&up).json(spec.clone()), 201).await;
    let given_up = a.json()["id"].as_str().unwrap().to_string();
    api.send(call(M::DELETE, format!("/api/v1/r/{rq}/deliveries/{given_up}")).bearer(&up), 204).await;
    api.error(call(M::DELETE, format!("/api/v1/r/{rq}/deliveries/{given_up}")).bearer(&up), 404, "not_found").await;
    let a = api.send(call(M::POST, format!("/api/v1/r/{rq}/deliveries")).bearer(&up).json(spec), 201).await;
    let dl = a.json()["id"].as_str().unwrap().to_string();
    let metadata = encode_metadata(&[("package", dl.as_bytes()), ("blob", b"0")]);
    let create = call(M::POST, "/api/v1/uploads")
        .tus()
        .bearer(&up)
        .header("Upload-Length", sealed.len())
        .header("Upload-Metadata", metadata);
    let a = api.send(create, 201).await;
    let upload = a.header("location").strip_prefix(PUBLIC_URL).unwrap().to_string();
    let body = call(M::PATCH, upload).tus().bearer(&up).header("Upload-Offset", 0);
    api.send(body.raw("application/offset+octet-stream", sealed.clone()), 204).await;
    api.send(call(M::GET, format!("/api/v1/r/{rq}/deliveries/{dl}")).bearer(&up), 200).await;
    api.send(call(M::POST, format!("/api/v1/r/{rq}/deliveries/{dl}/finalize")).bearer(&up), 204).await;
    api.error(call(M::GET, format!("/api/v1/r/{rq}")).bearer(""), 404, "request_not_found").await;
    api.send(call(M::GET, "/api/v1/inbox"), 200).await;
    api.send(call(M::GET, format!("/api/v1/inbox/{dl}")), 200).await;
    let a = api.send(call(M::GET, format!("/api/v1/inbox/{dl}/blobs/0")), 200).await;
    assert_eq!(a.body, sealed);
    api.send(call(M::GET, format!("/api/v1/inbox/{dl}/blobs/0")).header("Range", "bytes=0-9"), 206).await;
    api.send(call(M::DELETE, format!("/api/v1/inbox/{dl}")), 204).await;
    // A recipient of a package of Alice's (who has a key now) replies securely.
    let a = api
        .send(call(M::POST, "/api/v1/packages").json(json!({"blobs": [{"size": 120}], "verify": "none"})), 201)
        .await;
    let pid = a.json()["id"].as_str().unwrap().to_string();
    api.upload(&pid, 0, &[7u8; 120]).await;
    let (pproof, pverifier) = proof(&pid, 9);
    let finalize = json!({"access_verifier": pverifier, "link_verifier": link(&pid, 9).1});
    api.send(call(M::POST, format!("/api/v1/packages/{pid}/finalize")).json(finalize), 200).await;
    api.error(call(M::POST, format!("/api/v1/p/{pid}/reply")).bearer(""), 401, "session_required").await;
    let access = call(M::POST, format!("/api/v1/p/{pid}/access")).json(json!({ "access_proof": pproof })).bearer("");
    let session = api.send(access, 200).await.json()["download_token"].as_str().unwrap().to_string();
    let a = api.send(call(M::POST, format!("/api/v1/p/{pid}/reply")).bearer(&session), 200).await;
    // The sender reads a blob of their own package back (it is encrypted to their key too).
    let own = api.send(call(M::GET, format!("/api/v1/packages/{pid}/blobs/0")), 200).await;
    assert_eq!(own.body.as_ref(), [7u8; 120].as_slice());
    assert_eq!(a.json()["info"]["recipient"], recipient.as_str());
    api.send(call(M::POST, format!("/api/v1/requests/{rq}/close")), 200).await;
    let a = api.send(call(M::GET, "/api/v1/admin/users?q=alice"), 200).await;
    let uid = a.json()["users"][0]["id"].as_i64().unwrap();
    api.send(call(M::GET, format!("/api/v1/admin/users/{uid}/key")), 200).await;
    let handed = json!({ "wrapped": wrap("a temporary passphrase") });
    api.send(call(M::PUT, format!("/api/v1/admin/users/{uid}/key")).json(handed), 200).await;
    api.send(call(M::PUT, "/api/v1/admin/recovery").json(json!({ "recipient": null })), 200).await;
    // (Recovery off.) A package to Bob, a colleague with a key: in his inbox, read there, not his to delete.
    let bob_spec = kluis_server::admin::UserSpec::default();
    kluis_server::admin::add_user_as(&state, "bob@example.org", &bob_spec).await.unwrap();
    let bob = kluis_server::admin::create_token(&state, "bob@example.org", "openapi test").await.unwrap();
    let bob_identity = kluis_crypto::x25519::Identity::generate().unwrap();
    let bob_recipient = bob_identity.to_public().to_string();
    let bob_wrapped = {
        let to = kluis_crypto::scrypt::Recipient::new("bob's passphrase".to_string().into());
        kluis_crypto::encrypt_armored(&[&to], bob_identity.to_secret_string().as_bytes()).unwrap()
    };
    let bob_key = json!({ "recipient": bob_recipient, "wrapped": bob_wrapped });
    api.send(call(M::PUT, "/api/v1/key").bearer(&bob).json(bob_key), 200).await;
    let asked = json!({ "emails": ["bob@example.org", "nobody@example.org"] });
    let a = api.send(call(M::POST, "/api/v1/directory").json(asked), 200).await;
    assert_eq!(a.json()["colleagues"][0]["recipient"], bob_recipient.as_str());
    let too_many = json!({ "emails": vec!["x@example.org"; 101] });
    api.error(call(M::POST, "/api/v1/directory").json(too_many), 400, "too_many_emails").await;
    let to_bob = |colleague: &str, recipient: &str| {
        let colleagues = json!([{ "email": colleague, "recipient": recipient }]);
        json!({"recipients": ["bob@example.org"], "verify": "none", "blobs": [{"size": 120}], "colleagues": colleagues})
    };
    let stale = to_bob("bob@example.org", &recipient);
    api.error(call(M::POST, "/api/v1/packages").json(stale), 400, "wrong_recipient").await;
    let elsewhere = to_bob("carol@example.org", &bob_recipient);
    api.error(call(M::POST, "/api/v1/packages").json(elsewhere), 400, "colleague_not_recipient").await;
    let a = api.send(call(M::POST, "/api/v1/packages").json(to_bob("bob@example.org", &bob_recipient)), 201).await;
    let cid = a.json()["id"].as_str().unwrap().to_string();
    api.upload(&cid, 0, &[8u8; 120]).await;
    let finalize = json!({"access_verifier": proof(&cid, 10).1, "link_verifier": link(&cid, 10).1});
    api.send(call(M::POST, format!("/api/v1/packages/{cid}/finalize")).json(finalize), 200).await;
    let a = api.send(call(M::GET, "/api/v1/inbox").bearer(&bob), 200).await;
    assert_eq!(a.json()["items"][0]["kind"], "package");
    api.send(call(M::GET, format!("/api/v1/inbox/{cid}")).bearer(&bob), 200).await;
    let a = api.send(call(M::GET, format!("/api/v1/inbox/{cid}/blobs/0")).bearer(&bob), 200).await;
    assert_eq!(a.body.as_ref(), [8u8; 120].as_slice());
    api.error(call(M::DELETE, format!("/api/v1/inbox/{cid}")).bearer(&bob), 409, "not_yours").await;
    // An upload portal for the organisation, received by Alice.
    let portal = json!({ "name": "intake", "receivers": ["alice@example.org"], "verify": "none" });
    let a = api.send(call(M::POST, "/api/v1/admin/portals").json(portal.clone()), 201).await;
    let portal_id = a.json()["id"].as_str().unwrap().to_string();
    api.error(call(M::POST, "/api/v1/admin/portals").json(portal), 409, "name_taken").await;
    api.send(call(M::GET, "/api/v1/admin/portals"), 200).await;
    let a = api.send(call(M::GET, "/api/v1/upload/intake").bearer(""), 200).await;
    assert_eq!(a.json()["info"]["recipients"], json!([recipient]));
    api.send(call(M::POST, format!("/api/v1/admin/portals/{portal_id}/close")), 200).await;
    api.error(call(M::GET, "/api/v1/upload/intake").bearer(""), 404, "request_not_found").await;
    // Carol's key is post-quantum, Alice's classic: a portal for both takes nothing.
    let carol_spec = kluis_server::admin::UserSpec::default();
    kluis_server::admin::add_user_as(&state, "carol@example.org", &carol_spec).await.unwrap();
    let carol = kluis_server::admin::create_token(&state, "carol@example.org", "openapi test").await.unwrap();
    let carol_identity = kluis_crypto::native::Identity::generate(true).unwrap();
    let carol_wrapped = {
        let to = kluis_crypto::scrypt::Recipient::new("carol's passphrase".to_string().into());
        kluis_crypto::encrypt_armored(&[&to], carol_identity.to_secret_string().as_bytes()).unwrap()
    };
    let carol_key = json!({ "recipient": carol_identity.to_public().to_string(), "wrapped": carol_wrapped });
    api.send(call(M::PUT, "/api/v1/key").bearer(&carol).json(carol_key), 200).await;
    let mixed = json!({ "name": "mixed", "receivers": ["alice@example.org", "carol@example.org"], "verify": "none" });
    let a = api.send(call(M::POST, "/api/v1/admin/portals").json(mixed), 201).await;
    assert_eq!(a.json()["post_quantum"], json!(["carol@example.org"]));
    api.error(call(M::GET, "/api/v1/upload/mixed").bearer(""), 409, "portal_mixed_keys").await;

    // Every operation answered with success at least once, but for signing
    // in with a mailed code or a single sign-on handoff, and turning single
    // sign-on on (this test reads no mail and runs no provider).
    let seen = api.spec.seen.borrow();
    for (path, item) in api.spec.doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
            let succeeded = seen.iter().any(|(m, t, s)| m == method && t == path && *s < 300);
            let needs_mail_or_provider = ["/api/v1/auth/token", "/api/v1/auth/sso/token"].contains(&path.as_str())
                || (method == "put" && path == "/api/v1/admin/sso");
            assert!(succeeded || needs_mail_or_provider, "{method} {path} never succeeded");
        }
    }
    eprintln!("checked {} (operation, status) pairs against openapi.json", seen.len());
}

/// Quotas, the per-client rate limit and the in-flight cap, on a server with tiny limits.
#[actix_web::test]
async fn limit_answers_fit_the_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.limits.public_requests_per_minute = 2;
    config.limits.max_requests_per_client = 1;
    config.limits.max_unfinished_packages_per_user = 1;
    config.limits.max_reserved_bytes_per_user = 1000;
    let state = kluis_server::open(config).await.unwrap();
    let token = kluis_server::admin::create_token(&state, "alice@example.org", "limits").await.unwrap();
    let app = test::init_service(kluis_server::app(state)).await;
    let api = Api { app, spec: Spec::load(), token };
    use Method as M;

    let create =
        |size: u64| call(M::POST, "/api/v1/packages").json(json!({"blobs": [{"size": size}], "verify": "none"}));
    let a = api.error(create(2000), 413, "quota_exceeded").await;
    assert_eq!(a.json()["error"]["quota"], "reserved_bytes");
    api.send(create(100), 201).await;
    let a = api.error(create(100), 429, "quota_exceeded").await;
    assert_eq!(
        (a.json()["error"]["quota"].as_str(), a.json()["error"]["limit"].as_u64()),
        (Some("unfinished_packages"), Some(1))
    );

    let status = || call(M::GET, "/api/v1/p/AAAAAAAAAAAAAAAAAAAAAA");
    api.send(status(), 404).await;
    api.send(status(), 404).await;
    let a = api.error(status(), 429, "rate_limited").await;
    assert!(a.header("retry-after").parse::<u64>().unwrap() >= 1);
    api.error(call(M::POST, "/api/v1/auth/code").json(json!({"email": "a@example.org"})), 429, "rate_limited").await;

    // One request in flight (its body never comes) holds the client's only slot.
    let never: actix_http::BoxedPayloadStream = Box::pin(futures_util::stream::pending());
    let (held, _) = create(100).request(&api.token).replace_payload(Payload::Stream { payload: never });
    let mut first = Box::pin(api.app.call(held));
    assert!(futures_util::future::poll_immediate(&mut first).await.is_none(), "the first request waits for its body");
    let a = api.error(call(M::GET, "/api/v1/me"), 429, "rate_limited").await;
    assert!(a.json()["error"]["reason"].is_string());
    api.error(call(M::GET, "/healthz"), 429, "rate_limited").await;
    drop(first);
    api.send(call(M::GET, "/api/v1/me"), 200).await;
}

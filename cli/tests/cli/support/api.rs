//! The server's HTTP API as any client sees it (ureq, wire types from
//! `kluis_protocol::api`), and the recipient's access and link proofs
//! computed from a link as the CLI and the web page compute them.

use std::time::Duration;

use kluis_crypto::package::{access_proof, link_proof, stretch_password};
use kluis_protocol::Link;
use kluis_protocol::api::{
    AccessGranted, AccessRequest, ErrorBody, PackageDetail, PackageSender, RecipientCodeRequest, SenderRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A status and a body, whatever the status.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as `T`; panics (with the body) unless the status is 2xx.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        assert!((200..300).contains(&self.status), "HTTP {}: {}", self.status, self.text());
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// The error code of an error answer.
    pub fn error_code(&self) -> String {
        let body: ErrorBody = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("HTTP {} is not an error body ({e}): {}", self.status, self.text()));
        body.error.code
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub struct Api {
    agent: ureq::Agent,
    /// `http://127.0.0.1:PORT/api/v1`
    pub base: String,
}

impl Api {
    pub fn new(server: &str) -> Api {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        Api { agent, base: format!("{}/api/v1", server.trim_end_matches('/')) }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") { path.to_string() } else { format!("{}{path}", self.base) }
    }

    fn finish(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
        let mut response = response.expect("the server answers");
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = response.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap();
        Answer { status: response.status().as_u16(), headers, body }
    }

    /// `GET path` with `token` as bearer (empty: none).
    pub fn get(&self, path: &str, token: &str) -> Answer {
        let mut req = self.agent.get(self.url(path));
        if !token.is_empty() {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        Self::finish(req.call())
    }

    /// `HEAD path` with headers (tus: where an upload stands).
    pub fn head(&self, path: &str, token: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = self.agent.head(self.url(path));
        if !token.is_empty() {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        Self::finish(req.call())
    }

    pub fn delete(&self, path: &str, token: &str) -> Answer {
        let mut req = self.agent.delete(self.url(path));
        if !token.is_empty() {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        Self::finish(req.call())
    }

    /// `POST path` with a JSON body.
    pub fn post<B: Serialize + ?Sized>(&self, path: &str, token: &str, body: &B) -> Answer {
        let mut req = self.agent.post(self.url(path));
        if !token.is_empty() {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        Self::finish(req.send_json(body))
    }

    /// `POST`, `PATCH` or `PUT path` with headers and raw bytes (tus, admin calls).
    pub fn send(&self, method: &str, path: &str, token: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut req = match method {
            "POST" => self.agent.post(self.url(path)),
            "PATCH" => self.agent.patch(self.url(path)),
            "PUT" => self.agent.put(self.url(path)),
            _ => panic!("{method} has no body"),
        };
        if !token.is_empty() {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        Self::finish(req.send(body))
    }

    /// The sender's view of a package: `GET /packages/{id}`.
    pub fn package(&self, token: &str, id: &str) -> PackageDetail {
        self.get(&format!("/packages/{id}"), token).json()
    }

    /// `POST /p/{id}/sender` as the recipient holding `link` (no password needed).
    pub fn sender(&self, link: &str) -> PackageSender {
        let parsed = Link::parse(link).unwrap();
        let body = SenderRequest {
            link_proof: link_proof(&parsed.package_id, &parsed.link_secret).to_base64url().to_string(),
        };
        let answer = self.post(&format!("/p/{}/sender", parsed.package_id), "", &body);
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()
    }

    /// `POST /p/{id}/code` as the recipient holding `link` (and `password`).
    pub fn request_code(&self, link: &str, password: Option<&str>, email: &str) -> Answer {
        let parsed = Link::parse(link).unwrap();
        let body = RecipientCodeRequest { email: email.into(), access_proof: proof(link, password) };
        self.post(&format!("/p/{}/code", parsed.package_id), "", &body)
    }

    /// `POST /p/{id}/access` as the recipient holding `link` (and `password`).
    pub fn access(&self, link: &str, password: Option<&str>, email_and_code: Option<(&str, &str)>) -> Answer {
        let parsed = Link::parse(link).unwrap();
        let body = AccessRequest {
            access_proof: proof(link, password),
            email: email_and_code.map(|(e, _)| e.to_string()),
            code: email_and_code.map(|(_, c)| c.to_string()),
        };
        self.post(&format!("/p/{}/access", parsed.package_id), "", &body)
    }

    /// Access that must be granted.
    pub fn granted(&self, link: &str, password: Option<&str>, email_and_code: Option<(&str, &str)>) -> AccessGranted {
        self.access(link, password, email_and_code).json()
    }
}

/// The access proof A for `link` and `password`, unpadded base64url.
pub fn proof(link: &str, password: Option<&str>) -> String {
    let link = Link::parse(link).unwrap();
    let stretched = password.map(|p| stretch_password(&link.package_id, p));
    access_proof(&link.package_id, &link.link_secret, stretched.as_ref()).to_base64url().to_string()
}

//! A small blocking client for the Kluis HTTP API (server/openapi.json).
//! Errors from the server become [`ServerError`], carrying its stable code.

use std::fmt;
use std::io::Read;
use std::time::Duration;

use kluis_protocol::api::ErrorBody;
use serde::de::DeserializeOwned;
use serde_json::Value;
use ureq::http::Response;
use ureq::{Agent, Body};

use crate::error::Error;
use crate::text::{printable, sentence};

/// An error answer from the server: `{"error": {"code": …, "message": …}}`.
#[derive(Debug)]
pub struct ServerError {
    /// The server's stable code (`unauthorized`, `invalid_expiry`, …), or
    /// `http_error` for an answer without one.
    pub code: String,
    /// What went wrong, in this library's style (see [`sentence`]).
    pub message: String,
    /// The whole error object, for the fields some codes carry (`tries_left`).
    pub details: Value,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for ServerError {}

/// One Kluis server's API, with or without an API token.
pub struct Api {
    agent: Agent,
    /// API base, e.g. `https://kluis.example.org/api/v1`.
    pub api: String,
    token: Option<String>,
    /// Where the token came from, for the message when the server refuses
    /// it ("--token or KLUIS_TOKEN").
    token_source: Option<String>,
}

impl Api {
    /// A client of the server at `server` (`https://kluis.example.org`).
    /// `user_agent` names the program ("kluis/0.1.0").
    pub fn new(server: &str, token: Option<String>, user_agent: &str) -> Api {
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .user_agent(user_agent)
            .build();
        Api {
            agent: config.new_agent(),
            api: format!("{}/api/v1", server.trim_end_matches('/')),
            token,
            token_source: None,
        }
    }

    pub fn with_token(mut self, token: &str) -> Api {
        self.token = Some(token.into());
        self
    }

    /// Names where the token came from ("--token or KLUIS_TOKEN"): a refused
    /// token's message then says where to give a new one.
    pub fn token_source(mut self, source: &str) -> Api {
        self.token_source = Some(source.into());
        self
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.into()
        } else {
            format!("{}{path}", self.api)
        }
    }

    fn auth<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let response = self.auth(self.agent.get(self.url(path))).call().map_err(|e| self.network(e))?;
        self.json(response)
    }

    pub fn post<T: DeserializeOwned, B: serde::Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<T, Error> {
        let response = self.auth(self.agent.post(self.url(path))).send_json(body).map_err(|e| self.network(e))?;
        self.json(response)
    }

    /// A POST answered without a body (`204 No Content`).
    pub fn post_no_content<B: serde::Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<(), Error> {
        let mut response = self.auth(self.agent.post(self.url(path))).send_json(body).map_err(|e| self.network(e))?;
        self.check(&mut response)?;
        Ok(())
    }

    /// A request builder with this client's token, for calls with special headers (tus).
    pub fn request(&self, method: &str, path: &str) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        let builder = match method {
            "POST" => self.agent.post(self.url(path)),
            "PATCH" => self.agent.patch(self.url(path)),
            "PUT" => self.agent.put(self.url(path)),
            _ => unreachable!("only methods with a body"),
        };
        self.auth(builder)
    }

    pub fn request_empty(&self, method: &str, path: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let builder = match method {
            "GET" => self.agent.get(self.url(path)),
            "HEAD" => self.agent.head(self.url(path)),
            "DELETE" => self.agent.delete(self.url(path)),
            _ => unreachable!("only methods without a body"),
        };
        self.auth(builder)
    }

    /// A failure to talk to the server at all.
    pub fn network(&self, e: ureq::Error) -> Error {
        let server = self.api.trim_end_matches("/api/v1").to_string();
        Error::Network { server, source: Box::new(e) }
    }

    /// The JSON body of a successful response, or the server's error.
    pub fn json<T: DeserializeOwned>(&self, mut response: Response<Body>) -> Result<T, Error> {
        self.check(&mut response)?;
        response.body_mut().read_json().map_err(|e| Error::Answer(Box::new(e)))
    }

    /// Turns an error status into a [`ServerError`].
    pub fn check(&self, response: &mut Response<Body>) -> Result<(), ServerError> {
        let status = response.status().as_u16();
        if status < 400 {
            return Ok(());
        }
        let mut text = String::new();
        let _ = response.body_mut().as_reader().take(64 * 1024).read_to_string(&mut text);
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            // A link names its server, so the message may come from whoever made
            // the link: it reaches the terminal without control characters.
            Ok(body) => ServerError {
                details: serde_json::to_value(&body.error).unwrap_or(Value::Null),
                message: match body.error.code.as_str() {
                    // The server's words are the web page's ("Sign in first").
                    "unauthorized" => {
                        let mut message = String::from(
                            "the server refused the API token: it has expired, was revoked or is mistyped; \
                             ask your Kluis administrator for a new one (`kluis-server token create EMAIL`)",
                        );
                        if let Some(source) = &self.token_source {
                            message += &format!(" and give it with {source}");
                        }
                        message
                    }
                    _ => sentence(&printable(&body.error.message, false)),
                },
                code: body.error.code,
            },
            Err(_) => ServerError {
                code: "http_error".into(),
                message: format!("the server answered HTTP {status}"),
                details: Value::Null,
            },
        })
    }
}

//! A small blocking client for the Kluis HTTP API (server/openapi.json).
//! Errors from the server become [`ServerError`], carrying its stable code.

use std::fmt;
use std::io::Read;
use std::time::Duration;

use anyhow::{Context, Result};
use kluis_protocol::api::ErrorBody;
use serde::de::DeserializeOwned;
use serde_json::Value;
use ureq::http::Response;
use ureq::{Agent, Body};

/// An error answer from the server: `{"error": {"code": …, "message": …}}`.
#[derive(Debug)]
pub struct ServerError {
    pub code: String,
    pub message: String,
    pub details: Value,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for ServerError {}

pub struct Client {
    agent: Agent,
    /// API base, e.g. `https://kluis.example.org/api/v1`.
    pub api: String,
    token: Option<String>,
}

impl Client {
    pub fn new(server: &str, token: Option<String>) -> Client {
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .user_agent(concat!("kluis/", env!("CARGO_PKG_VERSION")))
            .build();
        Client { agent: config.new_agent(), api: format!("{}/api/v1", server.trim_end_matches('/')), token }
    }

    pub fn with_token(mut self, token: &str) -> Client {
        self.token = Some(token.into());
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

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self.auth(self.agent.get(self.url(path))).call().map_err(|e| network(&self.api, e))?;
        json(response)
    }

    pub fn post<T: DeserializeOwned, B: serde::Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<T> {
        let response = self.auth(self.agent.post(self.url(path))).send_json(body).map_err(|e| network(&self.api, e))?;
        json(response)
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
}

/// A failure to talk to the server at all.
pub fn network(api: &str, e: ureq::Error) -> anyhow::Error {
    let server = api.trim_end_matches("/api/v1");
    anyhow::Error::new(e).context(format!("cannot reach the Kluis server at {server}"))
}

/// The JSON body of a successful response, or the server's error.
pub fn json<T: DeserializeOwned>(mut response: Response<Body>) -> Result<T> {
    check(&mut response)?;
    response.body_mut().read_json().context("the server sent an answer this program does not understand")
}

/// Turns an error status into a [`ServerError`].
pub fn check(response: &mut Response<Body>) -> Result<()> {
    let status = response.status().as_u16();
    if status < 400 {
        return Ok(());
    }
    let mut text = String::new();
    let _ = response.body_mut().as_reader().take(64 * 1024).read_to_string(&mut text);
    let error = match serde_json::from_str::<ErrorBody>(&text) {
        // A link names its server, so the message may come from whoever made
        // the link: it reaches the terminal without control characters.
        Ok(body) => ServerError {
            details: serde_json::to_value(&body.error).unwrap_or(Value::Null),
            message: match body.error.code.as_str() {
                // The server's words are the web page's ("Sign in first").
                "unauthorized" => "the server refused the API token: it has expired, was revoked or is mistyped; \
                                   ask your Kluis administrator for a new one (`kluis-server token create EMAIL`) \
                                   and give it with --token or KLUIS_TOKEN"
                    .into(),
                _ => sentence(&crate::receive::printable(&body.error.message, false)),
            },
            code: body.error.code,
        },
        Err(_) => ServerError {
            code: "http_error".into(),
            message: format!("the server answered HTTP {status}"),
            details: Value::Null,
        },
    };
    Err(error.into())
}

/// A server message in this program's style for errors: starting lower-case
/// and without a final full stop, sentences joined with ";" ("Too many wrong
/// codes. Ask the sender." becomes "too many wrong codes; ask the sender").
pub fn sentence(message: &str) -> String {
    fn lower_first(text: &str) -> String {
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            // "API …", "URL …": an abbreviation keeps its capitals.
            (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => {
                first.to_lowercase().chain(text[first.len_utf8()..].chars()).collect()
            }
            _ => text.to_string(),
        }
    }
    let message = message.trim();
    let message = message.strip_suffix('.').unwrap_or(message);
    let mut parts = message.split(". ");
    let mut out = lower_first(parts.next().unwrap_or_default());
    for part in parts {
        if part.starts_with(char::is_uppercase) {
            out += "; ";
            out += &lower_first(part);
        } else {
            out += ". ";
            out += part;
        }
    }
    out
}

/// The server's error code, if `e` is a [`ServerError`].
pub fn server_code(e: &anyhow::Error) -> Option<&str> {
    e.downcast_ref::<ServerError>().map(|s| s.code.as_str())
}

#[cfg(test)]
mod tests {
    use super::sentence;

    #[test]
    fn server_messages_read_like_this_programs_errors() {
        assert_eq!(sentence("That code is not right, or it has expired."), "that code is not right, or it has expired");
        assert_eq!(
            sentence("Too many wrong codes: this can no longer be opened. Ask the sender to send it again."),
            "too many wrong codes: this can no longer be opened; ask the sender to send it again"
        );
        assert_eq!(sentence("API tokens are refused."), "API tokens are refused");
        assert_eq!(sentence("e.g. this"), "e.g. this");
    }
}

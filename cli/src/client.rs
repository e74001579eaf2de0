//! The Kluis API as this program uses it: [`kluis_client::Api`] with the
//! program's name and where its token comes from, and the server's error
//! behind an `anyhow::Error`.

pub use kluis_client::Api as Client;
pub use kluis_client::ServerError;

/// A client of `server` for this program (`--token` or `KLUIS_TOKEN`).
pub fn new(server: &str, token: Option<String>) -> Client {
    Client::new(server, token, concat!("kluis/", env!("CARGO_PKG_VERSION"))).token_source("--token or KLUIS_TOKEN")
}

/// An error that may be the server's answer.
pub trait FromServer {
    /// The server's error, if this is or wraps one.
    fn server_error(&self) -> Option<&ServerError>;
}

impl FromServer for kluis_client::Error {
    fn server_error(&self) -> Option<&ServerError> {
        self.server()
    }
}

impl FromServer for anyhow::Error {
    fn server_error(&self) -> Option<&ServerError> {
        self.downcast_ref::<kluis_client::Error>().and_then(kluis_client::Error::server).or_else(|| self.downcast_ref())
    }
}

/// The server's error, if `e` is or wraps one.
pub fn server_error(e: &impl FromServer) -> Option<&ServerError> {
    e.server_error()
}

/// The server's error code, if `e` is or wraps a [`ServerError`].
pub fn server_code(e: &impl FromServer) -> Option<&str> {
    e.server_error().map(|s| s.code.as_str())
}

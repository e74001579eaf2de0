//! What can go wrong talking to a Kluis server and sending a package.
//! Messages are one sentence starting lower-case, for a caller to put after
//! "error: "; the cause, when there is one, is the [`source`](std::error::Error::source).

use std::io;

use kluis_policy::Breach;

use crate::api::ServerError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the Kluis server at {server}")]
    Network {
        server: String,
        #[source]
        source: Box<ureq::Error>,
    },
    /// The server answered with an error (`{"error": {"code": …}}`).
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A successful answer whose body is not what the API documents.
    #[error("the server sent an answer this program does not understand")]
    Answer(#[source] Box<ureq::Error>),
    /// An answer that breaks the protocol: an invalid server share, a
    /// missing `Location` or `Upload-Offset`.
    #[error("the server {0}")]
    Protocol(String),
    /// The package breaks rules of the organisation's policy (`GET /policy`),
    /// found before anything was encrypted or uploaded.
    #[error("nothing was sent: this breaks your organisation's policy:{}", breach_lines(.0))]
    Policy(Vec<Breach>),
    /// Encryption failed (no randomness, an invalid key).
    #[error(transparent)]
    Crypto(#[from] kluis_crypto::Error),
    /// File `file` of the request (its index) could not be read.
    #[error("cannot read {name}")]
    Read {
        file: usize,
        name: String,
        #[source]
        source: io::Error,
    },
    /// File `file` had another size than announced when it was read.
    #[error("{name} changed while it was being sent")]
    Changed { file: usize, name: String },
    /// Uploading blob `file` failed (`None`: the manifest).
    #[error("cannot upload {}", .name.as_deref().unwrap_or("the file list"))]
    Upload {
        file: Option<usize>,
        name: Option<String>,
        #[source]
        source: Box<Error>,
    },
    /// Reading a file or a stage of the upload's pipeline failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The upload broke again and again.
    #[error("the upload did not complete after {0} attempts")]
    Attempts(u32),
}

fn breach_lines(breaches: &[Breach]) -> String {
    breaches.iter().map(|b| format!("\n  - {b}")).collect()
}

impl Error {
    /// The server's error, if this is one: its code says what to do next.
    pub fn server(&self) -> Option<&ServerError> {
        match self {
            Error::Server(e) => Some(e),
            Error::Upload { source, .. } => source.server(),
            _ => None,
        }
    }

    /// The server's error code (`invalid_expiry`, `unauthorized`, …).
    pub fn server_code(&self) -> Option<&str> {
        self.server().map(|e| e.code.as_str())
    }
}

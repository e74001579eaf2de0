//! A client of the Kluis API, shared by the `kluis` command line and
//! `kluis-relay`: the HTTP API ([`Api`]), and sending a package from Rust
//! code ([`send_package`]) with the same steps, checks and resumable
//! uploads as the command line.
//!
//! ```no_run
//! use kluis_client::{Api, SendFile, SendRequest, Verify, send_package};
//! # fn main() -> Result<(), kluis_client::Error> {
//! let api = Api::new("https://kluis.example.org", Some("kluis_…".into()), "example/1.0");
//! let report = b"quarterly figures".to_vec();
//! let request = SendRequest {
//!     recipients: vec!["bob@example.org".into()],
//!     subject: "Figures".into(),
//!     message: "As discussed".into(),
//!     files: vec![SendFile {
//!         name: "report.txt".into(),
//!         media_type: "text/plain".into(),
//!         size: report.len() as u64,
//!         content: Box::new(std::io::Cursor::new(report)),
//!     }],
//!     expires_in_days: 7,
//!     max_downloads: None,
//!     verify: Verify::Email,
//!     password: None,
//!     notify_on_download: false,
//! };
//! let sent = send_package(&api, request, &mut |_event| {})?;
//! println!("{}", sent.link);
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod error;
pub mod overlap;
pub mod pipeline;
pub mod send;
pub mod text;

pub use api::{Api, ServerError};
pub use error::Error;
pub use kluis_protocol::api::Verify;
pub use send::{Content, Event, SendFile, SendRequest, SentPackage, send_package};

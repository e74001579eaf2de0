//! What every Kluis client (command line, browser, add-in) agrees on beyond
//! the age format: the package link and the package manifest. Written once,
//! in Rust, and used natively and through WebAssembly.

#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod dates;
pub mod inbound;
pub mod link;
pub mod manifest;
pub mod range;
pub mod tus;

pub use kluis_crypto::package::PackageId;
pub use link::{Link, LinkError, RequestLink};
pub use manifest::{FileCheck, FileEntry, Manifest, ManifestError, safe_file_name};

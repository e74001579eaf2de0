//! Kluis licence keys (DESIGN §8): a small document — licensee, the
//! organisation's mail domains, seats, features, valid from/until, when it
//! was issued, the id of the vendor key that signed it — signed with
//! Ed25519 and verified offline against the vendor's public keys, which the
//! server has built in. A key id lets the vendor rotate keys.
//!
//! # Text form
//!
//! ```text
//! -----BEGIN KLUIS LICENCE-----
//! Licensee: Ziekenhuis Oost
//! Domains: zho.nl
//! Seats: 250
//! Valid: 2026-12-01 to 2027-11-30
//!
//! S0xVSVNMSUMBx3Y4…
//! -----END KLUIS LICENCE-----
//! ```
//!
//! The lines with a colon are for people and are not trusted. The rest is
//! base64 of `"KLUISLIC"`, a version byte (1), the 64-byte signature and the
//! document (JSON, see [`Licence`]). The signature is over
//! `"kluis-licence-v1\0"` and the document's bytes exactly as they are, so
//! no canonical JSON is needed. Reading is tolerant of what e-mail does to
//! text: other line lengths, indentation, quote marks (`> `), CR LF,
//! non-breaking spaces, missing base64 padding ([`armor`]).
//!
//! # Verifying
//!
//! [`Trust::verify`] answers the licence or a precise [`LicenceError`]:
//! malformed, unknown key id, bad signature, not yet valid, expired; and
//! [`Licence::check_domains`] whether it is for an organisation.
//! [`Licence::status`] says where a day falls: valid (and whether the end
//! is near), in the grace period, or lapsed.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod armor;
mod document;
mod error;
mod signing;

pub use document::{Feature, Licence, Status, WARN_DAYS};
pub use error::LicenceError;
pub use signing::{LICENCE_LABEL, PublicKey, SigningKey, Trust, read_unverified};

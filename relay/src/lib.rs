//! `kluis-relay`: an SMTP relay that secures an organisation's outgoing
//! mail by content policy, as a client of the Kluis API (docs/relay.md).
//!
//! This is its inbound side: an ESMTP server ([`session`], driven by
//! [`server`]) that takes mail from the organisation's mail server over
//! STARTTLS with AUTH or from allowed addresses, and puts every accepted
//! message durably and encrypted in the [`spool`] before it answers `250`;
//! [`delivery`] classifies each spooled message by the organisation's
//! policy ([`classify`]), secures it as a Kluis package with notifications
//! ([`secure`]) or passes it on unchanged to the upstream mail server, with
//! retries and bounces, and records each decision in the organisation's
//! audit log on the Kluis server ([`audit`]).

pub mod audit;
pub mod auth;
pub mod classify;
pub mod config;
pub mod delivery;
pub mod dsn;
pub mod durable;
pub mod headers;
pub mod keys;
pub mod networks;
pub mod policy;
pub mod reply;
pub mod secure;
pub mod server;
pub mod session;
pub mod spool;
pub mod tls;
pub mod trace;
pub mod upstream;

/// An error and its causes on one line, for the log ("cannot …: because …").
pub(crate) use kluis_client::text::error_chain;

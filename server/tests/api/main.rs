//! Behaviour of the server through its HTTP API, one binary (the ripgrep
//! layout): every test starts a real server in-process on a loopback port
//! (`support::Server`: `kluis_server::serve` with its connection guards and
//! mail worker) and talks HTTP/1.1 to it over `std::net::TcpStream`.
//!
//! One module per area; `support` holds the server, the client, the outbox
//! and the sender's and recipient's steps.

mod support;

mod access;
mod addin;
mod addresses;
mod admin;
mod audit;
mod codes;
mod enumeration;
mod flow;
mod inbound;
mod licences;
mod lifecycle;
mod migrate;
mod monitoring;
mod nodes;
mod object_storage;
mod operator;
mod organisations;
mod packages;
mod policy;
mod post_quantum;
mod quotas;
mod sender;
mod sent;
mod slow_clients;
mod small;
mod sso;
mod uploads;

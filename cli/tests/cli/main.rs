//! Black-box tests of the `kluis` command line: one test binary (so one
//! link step) with a module per area. Each test starts what it needs — a
//! real `kluis-server` on a free port of 127.0.0.1 with a temporary data
//! directory — and observes only through the HTTP API, the CLI's output,
//! exit status and the files it writes, and the mail delivered to the
//! outbox it configured; never the server's database or blob files, so
//! they hold whatever metadata and blob store the server uses (see
//! `support`). `nodes` runs two servers on one data directory behind a
//! real nginx (`support::nginx`). The one test that reads the server's
//! files is the leak scan, a binary of its own (`cli/tests/leak_scan.rs`).

mod support;

mod age_errors;
mod age_interop;
mod command_line;
mod inbound;
mod nodes;
mod policy;
mod post_quantum;
mod receive;
mod revoke;
mod send_receive;
mod sent;
mod tokens;
mod uploads;
mod verification;

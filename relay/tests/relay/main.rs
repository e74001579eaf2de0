//! Black-box tests of `kluis-relay`: the real program on a loopback port,
//! driven by a raw SMTP client and by lettre (one test binary, shared
//! helpers in `support`, as ripgrep's tests are laid out).

mod conversation;
mod delivery;
mod postfix;
mod secure;
mod security;
mod spool;
mod support;

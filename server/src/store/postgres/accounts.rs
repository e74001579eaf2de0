//! Ported from ../sqlite/accounts.rs (in progress).

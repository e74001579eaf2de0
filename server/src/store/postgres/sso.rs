//! Ported from ../sqlite/sso.rs (in progress).

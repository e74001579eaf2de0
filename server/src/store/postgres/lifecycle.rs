//! Ported from ../sqlite/lifecycle.rs (in progress).

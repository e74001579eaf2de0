//! Ported from ../sqlite/uploads.rs (in progress).

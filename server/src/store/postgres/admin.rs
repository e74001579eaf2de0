//! Ported from ../sqlite/admin.rs (in progress).

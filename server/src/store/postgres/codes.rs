//! Ported from ../sqlite/codes.rs (in progress).

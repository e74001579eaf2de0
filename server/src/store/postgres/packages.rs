//! Ported from ../sqlite/packages.rs (in progress).

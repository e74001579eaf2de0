//! Ported from ../sqlite/licences.rs (in progress).

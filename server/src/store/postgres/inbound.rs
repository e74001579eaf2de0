//! Ported from ../sqlite/inbound.rs (in progress).

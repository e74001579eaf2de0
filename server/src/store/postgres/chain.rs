//! Ported from ../sqlite/chain.rs (in progress).

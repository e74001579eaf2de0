//! Ported from ../sqlite/queue.rs (in progress).

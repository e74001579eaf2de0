//! Placeholder until the 4-way ChaCha20 lands: same as the portable implementation.
pub(crate) use super::portable::ChaCha20Poly1305;

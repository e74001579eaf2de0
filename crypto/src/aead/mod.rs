//! ChaCha20-Poly1305 (RFC 8439) as age uses it: empty associated data,
//! detached 16-byte tags, in place. Opening checks the tag before
//! decrypting, so a buffer that fails to open is left as it was (the STREAM
//! code retries a chunk with the other final flag).
//!
//! Two implementations behind one type: the `chacha20poly1305` crate, whose
//! ChaCha20 picks AVX-512/AVX2/NEON at run time, and on WebAssembly with
//! SIMD our own 4-way ChaCha20 (`simd128`), because the crate has no wasm
//! SIMD backend and its portable code runs at a third of the speed there.

#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
mod portable;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(crate) use portable::ChaCha20Poly1305;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) use simd128::ChaCha20Poly1305;

/// Length of a Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;
/// Length of a ChaCha20-Poly1305 nonce.
pub(crate) const NONCE_LEN: usize = 12;

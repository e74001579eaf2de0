//! ChaCha20-Poly1305 (RFC 8439, section 2.8) for WebAssembly with SIMD
//! (`simd128`), in safe code.
//!
//! ChaCha20 (section 2.3) runs four blocks at once "vertically": vector `i`
//! holds state word `i` of four consecutive blocks, one block per lane, so the
//! quarter round is the scalar one applied to whole vectors. Poly1305
//! (section 2.5) is scalar, with 26-bit limbs so that every product fits the
//! 64-bit multiply WebAssembly has, and absorbs four blocks per reduction.
//! Sealing runs the two interleaved (see [`keystream4`]).
//!
//! Bytes move between slices and vectors as pairs of `u64`s, which LLVM turns
//! into single `v128.load`/`v128.store`s: the intrinsics for those take raw
//! pointers, and the crate forbids `unsafe`.

use core::arch::wasm32::{
    i8x16_shuffle, i8x16_swizzle, i32x4_shl, i32x4_shuffle, i64x2_shuffle, u8x16, u32x4, u32x4_add, u32x4_shr,
    u32x4_splat, u64x2, u64x2_extract_lane, v128, v128_or, v128_xor,
};
use core::hint::black_box;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::{NONCE_LEN, TAG_LEN};

/// "expand 32-byte k" as little-endian words (RFC 8439, section 2.3).
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Four ChaCha20 blocks: the bytes one call of [`keystream4`] covers.
const WIDE: usize = 256;

/// Byte indices that rotate every 32-bit lane left by 8 bits.
const ROTL8: v128 = u8x16(3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14);

/// A ChaCha20-Poly1305 key, kept as the eight little-endian key words of the
/// ChaCha20 state. Wiped on drop.
#[derive(Clone)]
pub(crate) struct ChaCha20Poly1305 {
    key: [u32; 8],
}

impl Drop for ChaCha20Poly1305 {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl ChaCha20Poly1305 {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let mut words = [0u32; 8];
        for (w, b) in words.iter_mut().zip(key.as_chunks::<4>().0) {
            *w = u32::from_le_bytes(*b);
        }
        ChaCha20Poly1305 { key: words }
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let state = State::new(&self.key, nonce);
        let mut mac = state.poly1305();
        let (wide, tail) = buf.as_chunks_mut::<WIDE>();
        // Each 256 bytes of ciphertext are authenticated while the next 256
        // are encrypted.
        let mut prev: Option<&mut [u8; WIDE]> = None;
        for (i, chunk) in wide.iter_mut().enumerate() {
            let ks = keystream4(&state.0, block_counter(i), prev.take().map(|p| (&mut mac, &*p)));
            xor_into(chunk, &ks);
            prev = Some(chunk);
        }
        if let Some(last) = prev {
            mac.update_wide(last);
        }
        state.xor_tail(block_counter(wide.len()), tail);
        mac.update_padded(tail);
        mac.finish(buf.len())
    }

    /// Checks `tag` and only then decrypts `buf` in place; on failure `buf` is untouched.
    pub(crate) fn open(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        let state = State::new(&self.key, nonce);
        let mut mac = state.poly1305();
        mac.update_padded(buf);
        if !bool::from(mac.finish(buf.len()).ct_eq(tag)) {
            return false;
        }
        state.xor(buf);
        true
    }
}

/// The first block counter of the `i`th 256 bytes of a message. Block 0
/// makes the Poly1305 key, so the message starts at block 1 (RFC 8439,
/// section 2.8). WebAssembly memory is 32-bit, so a message has fewer than
/// 2^26 blocks and the counter cannot wrap.
fn block_counter(i: usize) -> u32 {
    1 + 4 * i as u32
}

/// The ChaCha20 input state for one key and nonce, block counter left at zero
/// (RFC 8439, section 2.3). Wiped on drop.
struct State([u32; 16]);

impl Drop for State {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl State {
    fn new(key: &[u32; 8], nonce: &[u8; NONCE_LEN]) -> Self {
        let mut s = [0u32; 16];
        s[..4].copy_from_slice(&SIGMA);
        s[4..12].copy_from_slice(key);
        for (w, b) in s[13..].iter_mut().zip(nonce.as_chunks::<4>().0) {
            *w = u32::from_le_bytes(*b);
        }
        State(s)
    }

    /// Poly1305 keyed with the first 32 bytes of block 0 (RFC 8439, section 2.6).
    fn poly1305(&self) -> Poly1305 {
        let mut blocks = [0u8; WIDE];
        self.xor_wide(0, &mut blocks);
        let mac = Poly1305::new(blocks[..32].try_into().expect("32 bytes"));
        blocks.zeroize();
        mac
    }

    /// XORs the keystream from block 1 on into `buf`.
    fn xor(&self, buf: &mut [u8]) {
        let (wide, tail) = buf.as_chunks_mut::<WIDE>();
        for (i, chunk) in wide.iter_mut().enumerate() {
            self.xor_wide(block_counter(i), chunk);
        }
        self.xor_tail(block_counter(wide.len()), tail);
    }

    /// XORs blocks `counter..counter + 4` into `chunk`. Not inlined: the
    /// rounds are a lot of code, and a call per 256 bytes costs nothing.
    #[inline(never)]
    fn xor_wide(&self, counter: u32, chunk: &mut [u8; WIDE]) {
        xor_into(chunk, &keystream4(&self.0, counter, None));
    }

    /// XORs the keystream from block `counter` on into `tail`, shorter than 256 bytes.
    fn xor_tail(&self, counter: u32, tail: &mut [u8]) {
        if tail.is_empty() {
            return;
        }
        let mut chunk = [0u8; WIDE];
        chunk[..tail.len()].copy_from_slice(tail);
        self.xor_wide(counter, &mut chunk);
        tail.copy_from_slice(&chunk[..tail.len()]);
        // Past the tail, `chunk` holds bare keystream.
        chunk.zeroize();
    }
}

/// ChaCha20 blocks `counter..counter + 4` of the state `input` (RFC 8439,
/// section 2.3), as 16 vectors in output byte order: vector `4 * b + g` holds
/// words `4g..4g + 4` of block `b`.
///
/// With `mac`, also absorbs the given 256 bytes into that Poly1305 state,
/// a quarter after every second double round: its scalar multiplies and the
/// SIMD rounds mostly need different execution units, and interleaved the CPU
/// overlaps them (sealing measured ~7% faster than one pass after the other).
#[inline(always)]
fn keystream4(input: &[u32; 16], counter: u32, mut mac: Option<(&mut Poly1305, &[u8; WIDE])>) -> [v128; 16] {
    let mut init = input.map(|w| u32x4_splat(w));
    init[12] = u32x4(counter, counter.wrapping_add(1), counter.wrapping_add(2), counter.wrapping_add(3));

    // Kept from LLVM, which would turn a swizzle by a constant into an
    // `i8x16.shuffle`: V8 (x64) rebuilds a shuffle's mask from immediates at
    // every use, while a swizzle by a vector in a register is one `pshufb`
    // and a saturating add. ~4% faster in Node 20, the same in Chromium 156.
    let rotl8_mask = black_box(ROTL8);
    let mut x = init;
    // 20 rounds: 10 double rounds.
    for i in 0..5 {
        double_round(rotl8_mask, &mut x);
        double_round(rotl8_mask, &mut x);
        if let Some((mac, data)) = &mut mac
            && let Some(four) = data.as_chunks::<64>().0.get(i)
        {
            mac.update4(four);
        }
    }
    for (w, i) in x.iter_mut().zip(&init) {
        *w = u32x4_add(*w, *i);
    }

    // Transpose each group of four words from "lane = block" to "vector = block".
    let mut out = [u32x4_splat(0); 16];
    for g in 0..4 {
        let [a, b, c, d] = [x[4 * g], x[4 * g + 1], x[4 * g + 2], x[4 * g + 3]];
        let ab_lo = i32x4_shuffle::<0, 4, 1, 5>(a, b);
        let ab_hi = i32x4_shuffle::<2, 6, 3, 7>(a, b);
        let cd_lo = i32x4_shuffle::<0, 4, 1, 5>(c, d);
        let cd_hi = i32x4_shuffle::<2, 6, 3, 7>(c, d);
        out[g] = i64x2_shuffle::<0, 2>(ab_lo, cd_lo);
        out[4 + g] = i64x2_shuffle::<1, 3>(ab_lo, cd_lo);
        out[8 + g] = i64x2_shuffle::<0, 2>(ab_hi, cd_hi);
        out[12 + g] = i64x2_shuffle::<1, 3>(ab_hi, cd_hi);
    }
    out
}

/// A column round, then a diagonal round (RFC 8439, section 2.3).
#[inline(always)]
fn double_round(rotl8_mask: v128, x: &mut [v128; 16]) {
    quarter_round(rotl8_mask, x, 0, 4, 8, 12);
    quarter_round(rotl8_mask, x, 1, 5, 9, 13);
    quarter_round(rotl8_mask, x, 2, 6, 10, 14);
    quarter_round(rotl8_mask, x, 3, 7, 11, 15);
    quarter_round(rotl8_mask, x, 0, 5, 10, 15);
    quarter_round(rotl8_mask, x, 1, 6, 11, 12);
    quarter_round(rotl8_mask, x, 2, 7, 8, 13);
    quarter_round(rotl8_mask, x, 3, 4, 9, 14);
}

/// The quarter round (RFC 8439, section 2.1) on four blocks at once.
#[inline(always)]
fn quarter_round(rotl8_mask: v128, x: &mut [v128; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = u32x4_add(x[a], x[b]);
    x[d] = rotl16(v128_xor(x[d], x[a]));
    x[c] = u32x4_add(x[c], x[d]);
    x[b] = rotl(v128_xor(x[b], x[c]), 12);
    x[a] = u32x4_add(x[a], x[b]);
    x[d] = i8x16_swizzle(v128_xor(x[d], x[a]), rotl8_mask);
    x[c] = u32x4_add(x[c], x[d]);
    x[b] = rotl(v128_xor(x[b], x[c]), 7);
}

/// Rotation by 16 swaps the halves of each word, which V8 does with two
/// 16-bit shuffles (`pshuflw`, `pshufhw`) instead of two shifts and an or.
#[inline(always)]
fn rotl16(v: v128) -> v128 {
    i8x16_shuffle::<2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13>(v, v)
}

#[inline(always)]
fn rotl(v: v128, n: u32) -> v128 {
    v128_or(i32x4_shl(v, n), u32x4_shr(v, 32 - n))
}

/// XORs the output of [`keystream4`] into `chunk`.
#[inline(always)]
fn xor_into(chunk: &mut [u8; WIDE], ks: &[v128; 16]) {
    for (bytes, k) in chunk.as_chunks_mut::<16>().0.iter_mut().zip(ks) {
        store(bytes, v128_xor(load(bytes), *k));
    }
}

#[inline(always)]
fn load(bytes: &[u8; 16]) -> v128 {
    let (lo, hi) = bytes.as_chunks::<8>().0.split_at(1);
    u64x2(u64::from_le_bytes(lo[0]), u64::from_le_bytes(hi[0]))
}

#[inline(always)]
fn store(bytes: &mut [u8; 16], v: v128) {
    let (lo, hi) = bytes.as_chunks_mut::<8>().0.split_at_mut(1);
    lo[0] = u64x2_extract_lane::<0>(v).to_le_bytes();
    hi[0] = u64x2_extract_lane::<1>(v).to_le_bytes();
}

const MASK26: u64 = (1 << 26) - 1;

/// Poly1305 (RFC 8439, section 2.5) over whole 16-byte blocks: numbers mod
/// p = 2^130 - 5 as five 26-bit limbs, each in a `u64`.
///
/// Four blocks are absorbed per reduction, as
/// `h = (h + m1) r^4 + m2 r^3 + m3 r^2 + m4 r`: with limbs below 2^27 and
/// those of r's powers below 2^26 (2^29 times 5), the 20 products summed per
/// limb stay below 2^60.
struct Poly1305 {
    /// r, r^2, r^3, r^4 as from [`with_times5`].
    r: [[u64; 9]; 4],
    s: [u8; 16],
    h: [u64; 5],
}

impl Drop for Poly1305 {
    fn drop(&mut self) {
        self.r.zeroize();
        self.s.zeroize();
        self.h.zeroize();
    }
}

impl Poly1305 {
    fn new(key: &[u8; 32]) -> Self {
        let (r, s) = key.split_at(16);
        // Clamp r (section 2.5).
        let r = u128::from_le_bytes(r.try_into().expect("16 bytes")) & 0x0fff_fffc_0fff_fffc_0fff_fffc_0fff_ffff;
        let r1 = [0, 1, 2, 3, 4].map(|i| (r >> (26 * i)) as u64 & MASK26);
        let r2 = mul(&r1, &r1);
        let r3 = mul(&r2, &r1);
        let r4 = mul(&r2, &r2);
        Poly1305 { r: [r1, r2, r3, r4].map(with_times5), s: s.try_into().expect("16 bytes"), h: [0; 5] }
    }

    /// Absorbs 256 bytes.
    fn update_wide(&mut self, chunk: &[u8; WIDE]) {
        for four in chunk.as_chunks::<64>().0 {
            self.update4(four);
        }
    }

    /// Absorbs `data` padded with zeros to a multiple of 16 bytes (section 2.8).
    fn update_padded(&mut self, data: &[u8]) {
        let (fours, rest) = data.as_chunks::<64>();
        for four in fours {
            self.update4(four);
        }
        let (blocks, tail) = rest.as_chunks::<16>();
        for block in blocks {
            self.update1(block);
        }
        if !tail.is_empty() {
            let mut block = [0u8; 16];
            block[..tail.len()].copy_from_slice(tail);
            self.update1(&block);
        }
    }

    /// h = (h + m) r
    fn update1(&mut self, block: &[u8; 16]) {
        let m = limbs(block);
        let h: [u64; 5] = core::array::from_fn(|i| self.h[i] + m[i]);
        self.h = carry(mul_wide(&h, &self.r[0]));
    }

    /// h = (h + m1) r^4 + m2 r^3 + m3 r^2 + m4 r
    #[inline(always)]
    fn update4(&mut self, blocks: &[u8; 64]) {
        let m = blocks.as_chunks::<16>().0;
        let m1 = limbs(&m[0]);
        let h: [u64; 5] = core::array::from_fn(|i| self.h[i] + m1[i]);
        let mut d = mul_wide(&h, &self.r[3]);
        for (m, r) in m[1..].iter().zip([&self.r[2], &self.r[1], &self.r[0]]) {
            for (d, e) in d.iter_mut().zip(mul_wide(&limbs(m), r)) {
                *d += e;
            }
        }
        self.h = carry(d);
    }

    /// Absorbs the lengths (of empty associated data and of `len` bytes of
    /// ciphertext) and returns the tag (sections 2.5 and 2.8).
    fn finish(mut self, len: usize) -> [u8; TAG_LEN] {
        let mut block = [0u8; 16];
        block[8..].copy_from_slice(&(len as u64).to_le_bytes());
        self.update1(&block);

        // The tag is (h + s) mod 2^128.
        freeze(self.h).wrapping_add(u128::from_le_bytes(self.s)).to_le_bytes()
    }
}

/// h (as left by [`carry`]) fully reduced mod p, less its bits 128 and 129.
fn freeze(h: [u64; 5]) -> u128 {
    // After `carry` only limb 1 can exceed 26 bits, by a little, so a second
    // pass ripples at most into limb 1 again and leaves all limbs below 2^26:
    // h < 2^130.
    let h = carry(h);
    // g = h + 5 - 2^130 = h - p; take it if it does not go negative,
    // choosing with a mask rather than a branch.
    let mut g = [0u64; 5];
    let mut c = 5;
    for i in 0..5 {
        g[i] = h[i] + c;
        c = g[i] >> 26;
        g[i] &= MASK26;
    }
    let take_g = 0u64.wrapping_sub(c);
    (0..5).fold(0u128, |acc, i| acc | (((h[i] & !take_g) | (g[i] & take_g)) as u128) << (26 * i))
}

/// A 16-byte block as limbs, plus the 2^128 bit every full block gets (section 2.5).
#[inline(always)]
fn limbs(block: &[u8; 16]) -> [u64; 5] {
    let (lo, hi) = block.as_chunks::<8>().0.split_at(1);
    let lo = u64::from_le_bytes(lo[0]);
    let hi = u64::from_le_bytes(hi[0]);
    [lo & MASK26, (lo >> 26) & MASK26, (lo >> 52 | hi << 12) & MASK26, (hi >> 14) & MASK26, hi >> 40 | 1 << 24]
}

/// r's limbs, then limbs 1..5 times 5: a product's part at 2^130 and above
/// folds back times 5, since 2^130 = 5 mod p.
fn with_times5(r: [u64; 5]) -> [u64; 9] {
    [r[0], r[1], r[2], r[3], r[4], 5 * r[1], 5 * r[2], 5 * r[3], 5 * r[4]]
}

/// h r mod p, not carried: limb i sums the products of weight 2^(26 i).
#[inline(always)]
fn mul_wide(h: &[u64; 5], r: &[u64; 9]) -> [u64; 5] {
    let [r0, r1, r2, r3, r4, s1, s2, s3, s4] = *r;
    let [h0, h1, h2, h3, h4] = *h;
    [
        h0 * r0 + h1 * s4 + h2 * s3 + h3 * s2 + h4 * s1,
        h0 * r1 + h1 * r0 + h2 * s4 + h3 * s3 + h4 * s2,
        h0 * r2 + h1 * r1 + h2 * r0 + h3 * s4 + h4 * s3,
        h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s4,
        h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0,
    ]
}

/// One carry pass, back to 26-bit limbs except that limb 1 may keep a few
/// bits more (fine for the next multiplication).
#[inline(always)]
fn carry(mut d: [u64; 5]) -> [u64; 5] {
    for i in 0..4 {
        d[i + 1] += d[i] >> 26;
        d[i] &= MASK26;
    }
    d[0] += (d[4] >> 26) * 5;
    d[4] &= MASK26;
    d[1] += d[0] >> 26;
    d[0] &= MASK26;
    d
}

/// a b mod p (not fully reduced), for the powers of r.
fn mul(a: &[u64; 5], b: &[u64; 5]) -> [u64; 5] {
    carry(mul_wide(a, &with_times5(*b)))
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::Poly1305;

    /// With r = 1 and s = 0 the tag is the sum of the blocks (each with its
    /// 2^128 bit) mod p, mod 2^128, so messages can be built whose sum lands
    /// exactly on p = 2^130 - 5 and just above or below it: the cases where
    /// the final reduction must (or must not) subtract p. Random data reaches
    /// them with probability 2^-128.
    #[wasm_bindgen_test]
    fn final_reduction_at_p() {
        let mut key = [0u8; 32];
        key[0] = 1; // r = 1 survives clamping; s = 0
        const LEN: u128 = 32; // two message blocks
        let length_block = LEN << 64;
        // blocks: (2^128 + m1) + (2^128 + 0) + (2^128 + length_block) = 2^130 - 5 + t
        for t in 0u128..8 {
            // m1 = 2^128 - 5 - length_block + t, taken mod 2^128.
            let m1 = 0u128.wrapping_sub(5).wrapping_sub(length_block).wrapping_add(t);
            let mut data = [0u8; 32];
            data[..16].copy_from_slice(&m1.to_le_bytes());
            let mut mac = Poly1305::new(&key);
            mac.update_padded(&data);
            let tag = u128::from_le_bytes(mac.finish(LEN as usize));
            // sum = 2^130 - 5 + t (for t < 5 this is in [p, 2^130): reduce to t;
            // from t = 5 the 2^130 part folds back as 5: also t - 5 + 5 = t).
            assert_eq!(tag, t, "t = {t}");
        }
    }

    /// Just below p nothing may be subtracted.
    #[wasm_bindgen_test]
    fn final_reduction_below_p() {
        let mut key = [0u8; 32];
        key[0] = 1;
        const LEN: u128 = 32;
        for d in 1u128..6 {
            // sum = 2^130 - 5 - d = p - d: the tag is (p - d) mod 2^128 = 2^128 - 5 - d.
            let m1 = 0u128.wrapping_sub(5).wrapping_sub(LEN << 64).wrapping_sub(d);
            let mut data = [0u8; 32];
            data[..16].copy_from_slice(&m1.to_le_bytes());
            let mut mac = Poly1305::new(&key);
            mac.update_padded(&data);
            let tag = u128::from_le_bytes(mac.finish(LEN as usize));
            assert_eq!(tag, 0u128.wrapping_sub(5).wrapping_sub(d), "d = {d}");
        }
    }
}

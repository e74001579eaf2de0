//! ChaCha20-Poly1305 candidates side by side (issue 14, "Native speed"):
//! `cargo bench -p kluis-crypto --bench aead [-- MIB]` (default 1024 MiB per
//! figure). Seals and opens 64 KiB chunks, as age's STREAM does, on one core,
//! with `ring` (BoringSSL's assembly, what `kluis-crypto` uses natively) and
//! the `chacha20poly1305` crate (used before; still the WebAssembly fallback),
//! best of three rounds, and names the CPU. Compare with
//! `openssl speed -bytes 65536 -evp chacha20-poly1305`.

// Native only: `ring` is not built for WebAssembly here.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::time::Instant;

    use chacha20poly1305::aead::{AeadInOut, KeyInit};
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};

    const CHUNK: usize = 64 * 1024;

    /// The STREAM nonce of chunk `i` (c2sp.org/age, "Payload"), never the final one.
    fn nonce(i: usize) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[3..11].copy_from_slice(&(i as u64).to_be_bytes());
        n
    }

    fn cpu() -> String {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1));
        model.map(|m| m.trim().to_string()).unwrap_or_else(|| "an unknown CPU".into())
    }

    /// GB/s of `work` over `chunks` chunks, best of three.
    fn best(chunks: usize, mut work: impl FnMut(usize)) -> f64 {
        (0..3)
            .map(|_| {
                let start = Instant::now();
                for i in 0..chunks {
                    work(i);
                }
                (chunks * CHUNK) as f64 / start.elapsed().as_secs_f64() / 1e9
            })
            .fold(0.0, f64::max)
    }

    pub fn main() {
        let mib: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1024);
        let chunks = mib * 1024 * 1024 / CHUNK;
        let key = [7u8; 32];
        let crate_key = chacha20poly1305::ChaCha20Poly1305::new((&key).into());
        let ring_key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).expect("32-byte key"));
        let mut buf = vec![0x5a_u8; CHUNK];

        let seal_crate = best(chunks, |i| {
            let _tag = crate_key.encrypt_inout_detached(&nonce(i).into(), &[], buf.as_mut_slice().into());
        });
        let seal_ring = best(chunks, |i| {
            let _tag =
                ring_key.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce(i)), Aad::empty(), &mut buf);
        });
        // Opening needs a real sealed chunk each time (the crate checks the tag
        // before decrypting, so a wrong one would cost half): a sealed chunk is
        // copied in before every open, and the copy's own time is taken off.
        let sealed = buf.clone();
        let crate_tag =
            crate_key.encrypt_inout_detached(&nonce(0).into(), &[], buf.as_mut_slice().into()).expect("seal");
        let crate_sealed = std::mem::replace(&mut buf, sealed.clone());
        let ring_tag = ring_key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce(0)), Aad::empty(), &mut buf)
            .expect("seal");
        let ring_sealed = buf.clone();
        let copy = best(chunks, |_| buf.copy_from_slice(&crate_sealed));
        let without_copy = |with: f64| 1.0 / (1.0 / with - 1.0 / copy);
        let open_crate = without_copy(best(chunks, |_| {
            buf.copy_from_slice(&crate_sealed);
            crate_key
                .decrypt_inout_detached(&nonce(0).into(), &[], buf.as_mut_slice().into(), &crate_tag)
                .expect("open");
        }));
        let open_ring = without_copy(best(chunks, |_| {
            buf.copy_from_slice(&ring_sealed);
            ring_key
                .open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce(0)),
                    Aad::empty(),
                    ring_tag,
                    &mut buf,
                    0..,
                )
                .expect("open");
        }));
        println!("ChaCha20-Poly1305, 64 KiB chunks, one core, {mib} MiB per figure, best of 3, on {}", cpu());
        println!("{:<24} {:>10} {:>10}", "", "seal GB/s", "open GB/s");
        println!("{:<24} {seal_crate:>10.2} {open_crate:>10.2}", "chacha20poly1305 0.11");
        println!("{:<24} {seal_ring:>10.2} {open_ring:>10.2}", "ring 0.17");
    }
}

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    native::main();
}

// Benchmark worker: wasm age throughput in this worker, excluding data
// generation. Encrypts `mib` MiB pushed in 256 KiB pieces (a typical
// File.stream() chunk), and decrypts a 64 MiB file repeatedly up to `mib`.
import { loadWasm } from '/js/wasm.js';

const PIECE = 256 * 1024;

self.onmessage = async ({ data: { mib } }) => {
  const w = await loadWasm();
  const identity = w.generateIdentity();
  const recipient = w.identityToRecipient(identity);
  const piece = new Uint8Array(PIECE);
  for (let i = 0; i < PIECE; i += 65536) crypto.getRandomValues(piece.subarray(i, i + 65536));

  const encrypt = (pieces, keep) => {
    const enc = new w.Encryptor([recipient], false);
    const out = [];
    for (let i = 0; i < pieces; i++) {
      const c = enc.push(piece);
      if (keep) out.push(...c);
    }
    out.push(...enc.finish());
    enc.free();
    return out;
  };
  const decrypt = (file) => {
    const dec = new w.Decryptor([identity]);
    for (const c of file) dec.push(c);
    dec.finish();
    dec.free();
  };

  // Warm up so V8 has tiered the module up to optimised code.
  decrypt(encrypt(64, true));

  const pieces = (mib * 1048576) / PIECE;
  let t = performance.now();
  encrypt(pieces, false);
  const encryptSeconds = (performance.now() - t) / 1000;

  const file = encrypt(256, true); // 64 MiB
  const rounds = Math.max(1, mib / 64);
  t = performance.now();
  for (let i = 0; i < rounds; i++) decrypt(file);
  const decryptSeconds = (performance.now() - t) / 1000;

  self.postMessage({
    encryptBytes: mib * 1048576,
    encryptSeconds,
    decryptBytes: rounds * 64 * 1048576,
    decryptSeconds,
    wasmMemory: w.memoryBytes(),
  });
};

// Runs a wasm codec (an Encryptor or Decryptor) over a small input in one
// go — a manifest, a key, a test vector — and frees it. Files are streamed
// instead (age-stream.js); this is for what fits in memory whole.

/** The codec's whole output for `input`; the codec is freed afterwards. */
export function runCodec(codec, input) {
  try {
    const pieces = [...codec.push(input), ...codec.finish()];
    const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of pieces) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  } finally {
    codec.free();
  }
}

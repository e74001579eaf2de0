// Benchmark worker: wasm age throughput in this worker, excluding data
// generation. Encrypts `mib` MiB pushed in 256 KiB pieces (a typical
// File.stream() chunk) and decrypts a 64 MiB file repeatedly up to `mib`,
// once with `push` (a new Uint8Array per output chunk, as Web Streams need)
// and once with `pushInto` (output into one reused buffer, as an upload or a
// disk writer with pooled buffers does); then the same through the Web
// Streams of age-stream.js (a ReadableStream of those pieces piped through
// encryptStream / decryptStream into a WritableStream that drops them).
import { decryptStream, encryptStream } from '/js/shared/age-stream.js';
import { loadWasm } from '/js/shared/wasm.js';

const PIECE = 256 * 1024;

self.onmessage = async ({ data: { mib } }) => {
  const w = await loadWasm();
  const identity = w.generateIdentity();
  const recipient = w.identityToRecipient(identity);
  const piece = new Uint8Array(PIECE);
  for (let i = 0; i < PIECE; i += 65536) crypto.getRandomValues(piece.subarray(i, i + 65536));
  const sink = new Uint8Array(2 * PIECE + 4 * 65552);

  const encrypt = (pieces, { keep = false, reuse = false } = {}) => {
    const enc = new w.Encryptor([recipient], false);
    const out = [];
    for (let i = 0; i < pieces; i++) {
      if (reuse) enc.pushInto(piece, sink);
      else if (keep) out.push(...enc.push(piece));
      else enc.push(piece);
    }
    out.push(...enc.finish());
    enc.free();
    return out;
  };
  const decrypt = (file, { reuse = false } = {}) => {
    const dec = new w.Decryptor([identity]);
    for (const c of file) {
      if (reuse) dec.pushInto(c, sink);
      else dec.push(c);
    }
    dec.finish();
    dec.free();
  };

  // Warm up so V8 has tiered the module up to optimised code.
  decrypt(encrypt(64, { keep: true }));

  const pieces = (mib * 1048576) / PIECE;
  const file = encrypt(256, { keep: true }); // 64 MiB
  const rounds = Math.max(1, mib / 64);
  const time = (f) => {
    const t = performance.now();
    f();
    return (performance.now() - t) / 1000;
  };
  /** Pipes `count` pieces of `source(i)` through `transform`; resolves with the seconds it took. */
  const streamed = async (transform, count, source) => {
    let i = 0;
    const input = new ReadableStream({
      pull(controller) {
        if (i < count) controller.enqueue(source(i++));
        else controller.close();
      },
    });
    const t = performance.now();
    await input.pipeThrough(transform).pipeTo(new WritableStream());
    return (performance.now() - t) / 1000;
  };
  // The 64 MiB file's bytes in 256 KiB pieces, as a download's body reader gives them.
  const whole = new Uint8Array(file.reduce((n, c) => n + c.length, 0));
  file.reduce((at, c) => (whole.set(c, at), at + c.length), 0);
  const filePieces = Math.ceil(whole.length / PIECE);
  const filePiece = (i) => whole.subarray(i * PIECE, (i + 1) * PIECE);
  // Copies: a stream's consumer may keep what it is given.
  const encryptStreamSeconds = await streamed(await encryptStream([recipient]), pieces, () => piece.slice());
  let decryptStreamSeconds = 0;
  for (let i = 0; i < rounds; i++) decryptStreamSeconds += await streamed(await decryptStream([identity]), filePieces, (n) => filePiece(n).slice());

  self.postMessage({
    encryptStreamSeconds,
    decryptStreamSeconds,
    encryptBytes: mib * 1048576,
    decryptBytes: rounds * 64 * 1048576,
    encryptSeconds: time(() => encrypt(pieces)),
    decryptSeconds: time(() => { for (let i = 0; i < rounds; i++) decrypt(file); }),
    encryptIntoSeconds: time(() => encrypt(pieces, { reuse: true })),
    decryptIntoSeconds: time(() => { for (let i = 0; i < rounds; i++) decrypt(file, { reuse: true }); }),
    wasmMemory: w.memoryBytes(),
  });
};

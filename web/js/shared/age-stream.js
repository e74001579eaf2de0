// age encryption and decryption as Web Streams: each returns a
// TransformStream of Uint8Array chunks, backed by the wasm Encryptor /
// Decryptor. Works in pages and Web Workers.
//
//   const file = input.files[0];
//   const encrypted = file.stream().pipeThrough(await encryptStream([recipient]));
//
// Memory stays flat: each chunk is copied straight into the codec's 64 KiB
// slot and the output straight into arrays of about 1 MiB, so wasm memory
// stays at about 2 MiB whatever the chunk and file sizes.
import { loadWasm } from './wasm.js';

function bytesOf(chunk) {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new TypeError('age streams carry bytes (Uint8Array or ArrayBuffer)');
}

/**
 * Output is gathered into arrays of about this size: Chromium is slow to
 * allocate fresh ArrayBuffers, so a few large ones cost far less than one
 * per 64 KiB chunk (tests/bench/wasm.mjs, "Web Streams").
 */
const OUTPUT = 1 << 20;

function codecStream(codec) {
  let freed = false;
  const free = () => {
    if (!freed) {
      freed = true;
      codec.free();
    }
  };
  let out = null; // the array being filled
  let used = 0;
  const hand = (controller) => {
    if (used > 0) controller.enqueue(out.subarray(0, used));
    out = null;
    used = 0;
  };
  // Writes into `out` what `write(room)` produces, `bound` bytes at most; hands
  // the array on once another write of that size might not fit.
  const fill = (controller, bound, write) => {
    if (out && out.length - used < bound) hand(controller);
    out ??= new Uint8Array(Math.max(OUTPUT, bound));
    used += write(out.subarray(used));
    if (out.length - used < bound) hand(controller);
  };
  return new TransformStream({
    transform(chunk, controller) {
      const bytes = bytesOf(chunk);
      try {
        fill(controller, codec.outputBound(bytes.length), (room) => codec.pushInto(bytes, room));
      } catch (e) {
        free();
        throw e;
      }
    },
    flush(controller) {
      try {
        fill(controller, codec.outputBound(0), (room) => codec.finishInto(room));
        hand(controller);
      } finally {
        free();
      }
    },
    cancel: free,
  });
}

/** Encrypts to `age1…` recipients; `armor` writes ASCII armor. */
export async function encryptStream(recipients, { armor = false } = {}) {
  const wasm = await loadWasm();
  return codecStream(new wasm.Encryptor(recipients, armor));
}

/** Encrypts to a passphrase (scrypt work factor 2^workFactor). */
export async function encryptStreamWithPassphrase(passphrase, { workFactor = 18, armor = false } = {}) {
  const wasm = await loadWasm();
  return codecStream(wasm.Encryptor.withPassphrase(passphrase, workFactor, armor));
}

/**
 * Decrypts with `AGE-SECRET-KEY-1…` identities. The stream errors if the file
 * is damaged, truncated or not for these keys; whatever it produced before
 * belongs to a bad file and must be discarded.
 */
export async function decryptStream(identities) {
  const wasm = await loadWasm();
  return codecStream(new wasm.Decryptor(identities));
}

/** Decrypts a passphrase-encrypted file. */
export async function decryptStreamWithPassphrase(passphrase) {
  const wasm = await loadWasm();
  return codecStream(wasm.Decryptor.withPassphrase(passphrase));
}

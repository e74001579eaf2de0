// age encryption and decryption as Web Streams: each returns a
// TransformStream of Uint8Array chunks, backed by the wasm Encryptor /
// Decryptor. Works in pages and Web Workers.
//
//   const file = input.files[0];
//   const encrypted = file.stream().pipeThrough(await encryptStream([recipient]));
//
// Memory stays flat: each chunk is copied straight into the codec's 64 KiB
// slot and each output piece straight into a new Uint8Array, so wasm memory
// stays at about 2 MiB whatever the chunk and file sizes.
import { loadWasm } from './wasm.js';

function bytesOf(chunk) {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new TypeError('age streams carry bytes (Uint8Array or ArrayBuffer)');
}

function codecStream(codec) {
  let freed = false;
  const free = () => {
    if (!freed) {
      freed = true;
      codec.free();
    }
  };
  return new TransformStream({
    transform(chunk, controller) {
      const bytes = bytesOf(chunk);
      try {
        for (const out of codec.push(bytes)) controller.enqueue(out);
      } catch (e) {
        free();
        throw e;
      }
    },
    flush(controller) {
      try {
        for (const out of codec.finish()) controller.enqueue(out);
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

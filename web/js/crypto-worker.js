// Web Worker that runs age streams off the main thread. The page transfers a
// ReadableStream (input) and a WritableStream (output); see crypto-client.js.
import { decryptStream, encryptStream } from './age-stream.js';
import { loadWasm } from './wasm.js';

self.onmessage = async ({ data }) => {
  const { id, op, readable, writable, recipients, identities, armor } = data;
  try {
    let transform;
    if (op === 'encrypt') transform = await encryptStream(recipients, { armor });
    else if (op === 'decrypt') transform = await decryptStream(identities);
    else throw new Error(`unknown operation ${op}`);
    await readable.pipeThrough(transform).pipeTo(writable);
    const wasm = await loadWasm();
    self.postMessage({ id, ok: true, wasmMemory: wasm.memoryBytes() });
  } catch (e) {
    self.postMessage({ id, ok: false, error: String(e?.message ?? e) });
  }
};

// Web Worker that runs age streams off the main thread. The page transfers a
// ReadableStream (input) and a WritableStream (output); see crypto-client.js.
// It also stretches package passwords (scrypt 2^17: about a second and
// 128 MiB, which is why it runs here and the worker is ended afterwards).
import { decryptStream, encryptStream } from './age-stream.js';
import { loadWasm } from './wasm.js';

self.onmessage = async ({ data }) => {
  const { id, op, readable, writable, recipients, identities, armor } = data;
  try {
    if (op === 'stretch') {
      const wasm = await loadWasm();
      const stretched = wasm.stretchPassword(data.packageId, data.password);
      self.postMessage({ id, ok: true, stretched }, [stretched.buffer]);
      return;
    }
    let transform;
    if (op === 'encrypt') transform = await encryptStream(recipients, { armor });
    else if (op === 'decrypt') transform = await decryptStream(identities);
    else throw new Error(`unknown operation ${op}`);
    await readable.pipeThrough(transform).pipeTo(writable);
    const wasm = await loadWasm();
    self.postMessage({ id, ok: true, wasmMemory: wasm.memoryBytes() });
  } catch (e) {
    // `kind`: the typed category of a wasm key error (e.g. invalid_id), if any.
    self.postMessage({ id, ok: false, error: String(e?.message ?? e), kind: e?.kind });
  }
};

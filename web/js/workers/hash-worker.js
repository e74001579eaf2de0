// Web Worker that computes SHA-256 beside the crypto workers: hashing in
// wasm (about 100 MB/s) is slower than encrypting, so it gets its own core.
// A producer (upload-worker.js, download-worker.js) sends it the plaintext
// over a MessagePort, in order, and gets an 'ack' per piece with the
// piece's buffer handed back, so the producer can use it again instead of
// leaving garbage behind (hashing.js keeps a few pieces in flight, so
// memory stays bounded).
//
// Port messages: {type: 'reset'}; {type: 'data', buffer, length} →
// {type: 'ack', buffer}; {type: 'digest'} → {type: 'digest', sha256}.
import { loadWasm } from '../shared/wasm.js';

let queue = Promise.resolve();
let hash = null;

function handle(port, data) {
  return loadWasm().then((wasm) => {
    if (data.type === 'reset') {
      hash?.free();
      hash = new wasm.Sha256();
    } else if (data.type === 'data') {
      hash.update(new Uint8Array(data.buffer, 0, data.length));
      port.postMessage({ type: 'ack', buffer: data.buffer }, [data.buffer]);
    } else if (data.type === 'digest') {
      const sha256 = hash.hexDigest(); // consumes the hash
      hash = null;
      port.postMessage({ type: 'digest', sha256 });
    }
  });
}

self.onmessage = ({ data }) => {
  const { port } = data;
  if (!port) return;
  // Strictly in order, even while the wasm module is still loading.
  port.onmessage = ({ data: message }) => {
    queue = queue.then(() => handle(port, message)).catch((e) => port.postMessage({ type: 'error', message: String(e?.message ?? e) }));
  };
};

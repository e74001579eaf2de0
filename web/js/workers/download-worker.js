// Web Worker that decrypts one downloaded blob (see downloader.js). The
// page sends ciphertext as it arrives and gets back only authenticated
// plaintext. The manifest binds the file to its blob by the blob's header
// hash: given one (`header`), the decryptor refuses another blob before any
// plaintext. Packages of manifest format 1 bind it by the SHA-256 of the
// plaintext instead: then a copy goes to the hash worker (hashing.js), which
// computes it on another core, and `finish` returns it. `finish` checks the
// end of the file and returns the length to compare with the manifest.
//
// No buffer is allocated per piece: the page hands over, with each piece
// of ciphertext, a spare buffer for the plaintext, and gets both back
// (buffer-pool.js says why).
//
// Operations (rpc.js): connect {port} (format 1 only); init {identity,
// header}; push {input, length, spare} → {input, buffer, length};
// finish {spare} → {buffer, length, total, sha256 (format 1)}.
import { HashPort } from '../shared/hashing.js';
import { serveRpc } from '../shared/rpc.js';
import { loadWasm } from '../shared/wasm.js';

let decryptor;
let hasher; // only for format 1
let total = 0;

/** Writes plaintext into `spare` (or a new buffer if it has less than `bound` bytes). */
async function produce(spare, bound, write) {
  const out = new Uint8Array(spare?.byteLength >= bound ? spare : new ArrayBuffer(bound));
  const length = write(out);
  if (length && hasher) await hasher.update(out.subarray(0, length));
  total += length;
  return { buffer: out.buffer, length };
}

serveRpc(
  {
    connect({ port }) {
      hasher = new HashPort(port);
    },

    async init({ identity, header }) {
      const wasm = await loadWasm();
      decryptor?.free();
      decryptor = new wasm.Decryptor([identity]).binaryOnly();
      if (header) decryptor = decryptor.expectHeader(header);
      hasher?.reset();
      total = 0;
    },

    async push({ input, length, spare }) {
      const ciphertext = new Uint8Array(input, 0, length);
      const result = await produce(spare, decryptor.outputBound(ciphertext.length), (out) => decryptor.pushInto(ciphertext, out));
      result.input = input;
      return { result, transfer: [input, result.buffer] };
    },

    async finish({ spare }) {
      const result = await produce(spare, decryptor.outputBound(0), (out) => decryptor.finishInto(out));
      if (hasher) result.sha256 = await hasher.digest();
      result.total = total;
      decryptor.free();
      decryptor = undefined;
      return { result, transfer: [result.buffer] };
    },
  },
);

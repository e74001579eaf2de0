// Web Worker that decrypts one downloaded blob (see downloader.js). The
// page sends ciphertext as it arrives and gets back only authenticated
// plaintext; a copy of it goes to the hash worker (hashing.js), which
// computes the SHA-256 on another core. `finish` checks the end of the
// file and returns the SHA-256 and length to compare with the manifest.
//
// Operations (rpc.js): connect {port}; init {identity}; push {buffer} →
// {buffer, length}; finish → {buffer, length, sha256, total}.
import { cryptoErrorKind } from './crypto-errors.js';
import { HashPort } from './hashing.js';
import { serveRpc } from './rpc.js';
import { loadWasm } from './wasm.js';

let decryptor;
let hasher;
let total = 0;

async function take(bound, write) {
  const out = new Uint8Array(bound);
  const length = write(out);
  if (length) await hasher.update(out.slice(0, length));
  total += length;
  return { result: { buffer: out.buffer, length }, transfer: [out.buffer] };
}

serveRpc(
  {
    connect({ port }) {
      hasher = new HashPort(port);
    },

    async init({ identity }) {
      const wasm = await loadWasm();
      decryptor?.free();
      decryptor = new wasm.Decryptor([identity]).binaryOnly();
      hasher.reset();
      total = 0;
    },

    push({ buffer }) {
      const input = new Uint8Array(buffer);
      return take(decryptor.outputBound(input.length), (out) => decryptor.pushInto(input, out));
    },

    async finish() {
      const answer = await take(decryptor.outputBound(0), (out) => decryptor.finishInto(out));
      answer.result.sha256 = await hasher.digest();
      answer.result.total = total;
      decryptor.free();
      decryptor = undefined;
      return answer;
    },
  },
  cryptoErrorKind,
);

// Web Worker that decrypts one downloaded blob and hashes the plaintext
// (see downloader.js). The page sends ciphertext as it arrives and gets
// back only authenticated plaintext; `finish` checks the end of the file
// and returns the SHA-256 and length to compare with the manifest.
//
// Operations (rpc.js): init {identity}; push {buffer} → {buffer, length};
// finish → {buffer, length, sha256, total}.
import { cryptoErrorKind } from './crypto-errors.js';
import { serveRpc } from './rpc.js';
import { loadWasm } from './wasm.js';

let decryptor;
let hash;
let total = 0;

function take(write) {
  const out = new Uint8Array(write.bound);
  const length = write(out);
  if (length) hash.update(out.subarray(0, length));
  total += length;
  return { result: { buffer: out.buffer, length }, transfer: [out.buffer] };
}

serveRpc(
  {
    async init({ identity }) {
      const wasm = await loadWasm();
      decryptor?.free();
      hash?.free();
      decryptor = new wasm.Decryptor([identity]).binaryOnly();
      hash = new wasm.Sha256();
      total = 0;
    },

    push({ buffer }) {
      const input = new Uint8Array(buffer);
      const write = (out) => decryptor.pushInto(input, out);
      write.bound = decryptor.outputBound(input.length);
      return take(write);
    },

    finish() {
      const write = (out) => decryptor.finishInto(out);
      write.bound = decryptor.outputBound(0);
      const answer = take(write);
      answer.result.sha256 = hash.hexDigest();
      answer.result.total = total;
      hash = undefined;
      decryptor.free();
      decryptor = undefined;
      return answer;
    },
  },
  cryptoErrorKind,
);

// Web Worker that turns one file (a File or Blob) into its age ciphertext,
// body by body, for a resumable upload (see uploader.js). It reads the
// plaintext in 4 MiB pieces and encrypts them with pushInto straight into
// the body buffer the page hands over (and gets back), so nothing grows
// with the file. Each file is read once: the manifest binds it to its blob
// by the blob's header hash, which `open` returns before anything is read.
//
// Operations (rpc.js): open {source, size, recipients (or one recipient) |
// resumeState} → {resumeState, headerHash}; seek {offset} → {plaintextOffset};
// fill {buffer, target} → {buffer, length, end}; bound {recipients} → {extra}
// (room a body buffer needs beyond its target, header included); close.
import { serveRpc } from '../shared/rpc.js';
import { loadWasm } from '../shared/wasm.js';

/** Plaintext read at a time (Blob reads are much faster in large pieces). */
const PIECE = 4 << 20;

let wasm;
let source; // the plaintext (File or Blob)
let size; // its length
let encryptor;
let pos = 0; // next plaintext byte to encrypt
let skip = 0; // output bytes still to drop after a seek
let ended = false; // the encryptor has produced its last byte

async function read(start, end) {
  let bytes;
  try {
    bytes = new Uint8Array(await source.slice(start, end).arrayBuffer());
  } catch {
    // Browsers refuse to read a file that was changed, moved or deleted after it was chosen.
    throw new Error('file_changed');
  }
  if (bytes.length !== end - start) throw new Error('file_changed');
  return bytes;
}

function free() {
  encryptor?.free();
  encryptor = undefined;
}

serveRpc(
  {
    async open({ source: file, size: length, recipients, recipient, resumeState }) {
      wasm ??= await loadWasm();
      free();
      source = file;
      size = length;
      if (source.size !== size) throw new Error('file_changed');
      encryptor = resumeState ? wasm.Encryptor.fromResumeState(new Uint8Array(resumeState)) : new wasm.Encryptor(recipients ?? [recipient], false);
      pos = 0;
      skip = 0;
      ended = false;
      const state = new Uint8Array(encryptor.resumeState());
      return { result: { resumeState: state.buffer, headerHash: encryptor.headerHash() }, transfer: [state.buffer] };
    },

    /** Restarts the ciphertext at byte `offset` (what the server has). */
    async seek({ offset }) {
      const point = encryptor.resumeAt(offset);
      pos = point.plaintextOffset;
      skip = point.skipOutput;
      point.free();
      ended = false;
      return { result: { plaintextOffset: pos } };
    },

    /** Fills `buffer` with at least `target` bytes of ciphertext, or up to the end. */
    async fill({ buffer, target }) {
      const out = new Uint8Array(buffer);
      let filled = 0;
      while (filled < target && !ended) {
        let written;
        const room = out.subarray(filled);
        if (pos < size) {
          const start = pos;
          const end = Math.min(size, pos + PIECE);
          const plain = await read(start, end);
          pos = end;
          if (room.length < encryptor.outputBound(plain.length)) throw new Error('body buffer too small');
          written = encryptor.pushInto(plain, room);
        } else {
          written = encryptor.finishInto(room);
          ended = true;
        }
        if (skip > 0) {
          const drop = Math.min(skip, written);
          out.copyWithin(filled, filled + drop, filled + written);
          skip -= drop;
          written -= drop;
        }
        filled += written;
      }
      return { result: { buffer, length: filled, end: ended }, transfer: [buffer] };
    },

    /** Room a body buffer needs beyond its target. */
    async bound({ recipients }) {
      wasm ??= await loadWasm();
      const probe = new wasm.Encryptor(recipients, false);
      const extra = probe.outputBound(PIECE);
      probe.free();
      return { result: { extra } };
    },

    close() {
      free();
      source = undefined;
    },
  },
);

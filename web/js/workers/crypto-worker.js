// Web Worker that runs age streams off the main thread. The page transfers a
// ReadableStream (input) and a WritableStream (output); see crypto-client.js.
// It also stretches package passwords (scrypt 2^17: about a second and
// 128 MiB, which is why it runs here and the worker is ended afterwards),
// and makes, wraps and unwraps a user's own key (docs/inbound.md: scrypt
// 2^18, 256 MiB), so the page never blocks and the memory goes with the
// worker.
import { decryptStream, encryptStream } from '../shared/age-stream.js';
import { runCodec } from '../shared/run-codec.js';
import { loadWasm } from '../shared/wasm.js';

/** Work factor (log2 N) of the passphrase that wraps a user's key; the server refuses less. */
const KEY_WORK_FACTOR = 18;

/**
 * The identity as an armored age file encrypted with `passphrase`, and,
 * given the organisation's `recovery` recipient, one encrypted to that.
 */
function wrap(wasm, identity, passphrase, recovery) {
  const bytes = new TextEncoder().encode(identity);
  const armored = (codec) => new TextDecoder().decode(runCodec(codec, bytes));
  return {
    wrapped: armored(wasm.Encryptor.withPassphrase(passphrase, KEY_WORK_FACTOR, true)),
    recovery: recovery ? armored(new wasm.Encryptor([recovery], true)) : undefined,
  };
}

const KEYS = {
  /** A new identity, post-quantum (age1pq1…) when `postQuantum`, wrapped (wrap). */
  makeKey(wasm, { passphrase, recovery, postQuantum }) {
    const identity = wasm.generateIdentity(Boolean(postQuantum));
    return { identity, recipient: wasm.identityToRecipient(identity), ...wrap(wasm, identity, passphrase, recovery) };
  },
  /** The same identity under a new passphrase (wrap). */
  wrapKey(wasm, { identity, passphrase, recovery }) {
    return wrap(wasm, identity, passphrase, recovery);
  },
  /** The identity out of `wrapped`; a wrong passphrase fails with kind no_match. */
  unwrapKey(wasm, { wrapped, passphrase }) {
    const identity = new TextDecoder().decode(runCodec(wasm.Decryptor.withPassphrase(passphrase), new TextEncoder().encode(wrapped))).trim();
    return { identity, recipient: wasm.identityToRecipient(identity) };
  },
  /** A new identity and its recipient, unwrapped (the organisation's recovery identity, which the admin saves offline). */
  newIdentity(wasm) {
    const identity = wasm.generateIdentity();
    return { identity, recipient: wasm.identityToRecipient(identity) };
  },
  /**
   * A user's identity out of their recovery copy (`armored`, to the
   * organisation's recovery `identity`), wrapped again with `passphrase`
   * (scrypt 2^18, armored). A wrong recovery identity fails with kind no_match.
   */
  recoverKey(wasm, { armored, identity, passphrase }) {
    const recovered = new TextDecoder().decode(runCodec(new wasm.Decryptor([identity]), new TextEncoder().encode(armored))).trim();
    const recipient = wasm.identityToRecipient(recovered);
    return { recipient, wrapped: wrap(wasm, recovered, passphrase).wrapped };
  },
};

self.onmessage = async ({ data }) => {
  const { id, op, readable, writable, recipients, identities, armor } = data;
  try {
    if (Object.hasOwn(KEYS, op)) {
      const wasm = await loadWasm();
      self.postMessage({ id, ok: true, ...KEYS[op](wasm, data) });
      return;
    }
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
    // `kind`: the typed category of the wasm error (e.g. invalid_id, no_match, damaged).
    const error = String(e?.message ?? e);
    self.postMessage({ id, ok: false, error, kind: e?.kind });
  }
};

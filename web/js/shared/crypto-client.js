// Main-thread side of crypto-worker.js: pipes a stream through age
// encryption or decryption in a Web Worker and returns the output stream.
//
//   const worker = new CryptoWorker();
//   const { stream, done } = worker.encrypt(file.stream(), [recipient]);
//   await stream.pipeTo(destination); const { wasmMemory } = await done;
//   const stretched = await worker.stretchPassword(packageId, password);

const WORKER_URL = new URL('../workers/crypto-worker.js', import.meta.url);

export class CryptoWorker {
  #worker = new Worker(WORKER_URL, { type: 'module' });
  #pending = new Map();
  #next = 0;

  constructor() {
    this.#worker.onmessage = ({ data }) => {
      const job = this.#pending.get(data.id);
      if (!job) return;
      this.#pending.delete(data.id);
      if (data.ok) job.resolve(data);
      else job.reject(Object.assign(new Error(data.error), { kind: data.kind }));
    };
  }

  #run(op, input, options) {
    const id = this.#next++;
    const { readable, writable } = new TransformStream();
    const done = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#worker.postMessage({ id, op, readable: input, writable, ...options }, [input, writable]);
    return { stream: readable, done };
  }

  /** Encrypts `input` (a ReadableStream of bytes) to `age1…` recipients. */
  encrypt(input, recipients, { armor = false } = {}) {
    return this.#run('encrypt', input, { recipients, armor });
  }

  /** Decrypts `input` with `AGE-SECRET-KEY-1…` identities. */
  decrypt(input, identities) {
    return this.#run('decrypt', input, { identities });
  }

  /**
   * P' for a package password (scrypt 2^17, about a second and 128 MiB):
   * resolves to a 32-byte Uint8Array. End the worker afterwards to free
   * the memory.
   */
  async stretchPassword(packageId, password) {
    const id = this.#next++;
    const done = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#worker.postMessage({ id, op: 'stretch', packageId, password });
    return (await done).stretched;
  }

  #call(op, args) {
    const id = this.#next++;
    const done = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#worker.postMessage({ id, op, ...args });
    return done;
  }

  /**
   * A new key for the user (docs/inbound.md): `{identity, recipient,
   * wrapped, recovery}`, the identity wrapped with `passphrase` (scrypt
   * 2^18, armored) and, given a `recovery` recipient, encrypted to it too.
   * Post-quantum (ML-KEM-768 + X25519, `age1pq1…`) when `postQuantum`, else
   * X25519. Seconds and 256 MiB: end the worker afterwards.
   */
  async makeKey(passphrase, recovery, postQuantum = false) {
    const { identity, recipient, wrapped, recovery: copy } = await this.#call('makeKey', { passphrase, recovery, postQuantum });
    return { identity, recipient, wrapped, recovery: copy };
  }

  /** `{wrapped, recovery}`: `identity` wrapped with a new `passphrase` and to `recovery`, as makeKey. */
  async wrapKey(identity, passphrase, recovery) {
    const { wrapped, recovery: copy } = await this.#call('wrapKey', { identity, passphrase, recovery });
    return { wrapped, recovery: copy };
  }

  /**
   * `{identity, recipient}` out of a wrapped key; a wrong passphrase
   * rejects with an error whose `kind` is no_match.
   */
  async unwrapKey(wrapped, passphrase) {
    const { identity, recipient } = await this.#call('unwrapKey', { wrapped, passphrase });
    return { identity, recipient };
  }

  /** `{identity, recipient}`: a new identity, not wrapped (the organisation's recovery identity). */
  async newIdentity() {
    const { identity, recipient } = await this.#call('newIdentity', {});
    return { identity, recipient };
  }

  /**
   * `{recipient, wrapped}`: the user's identity out of their recovery copy
   * `armored` (decrypted with the recovery `identity`), wrapped with the
   * temporary `passphrase` as makeKey wraps. The identity itself stays in
   * the worker. A wrong recovery identity rejects with kind no_match.
   */
  async recoverKey(armored, identity, passphrase) {
    const { recipient, wrapped } = await this.#call('recoverKey', { armored, identity, passphrase });
    return { recipient, wrapped };
  }

  terminate() {
    this.#worker.terminate();
  }
}

// SHA-256 in a separate Web Worker (hash-worker.js), fed over a
// MessagePort by another worker. The page starts the hash worker and hands
// one end of the channel to the producer, which wraps it in a HashPort.
import { BufferPool } from './buffer-pool.js';

/** Page side: starts a hash worker; returns {port (for the producer), terminate}. */
export function startHashWorker() {
  const worker = new Worker(new URL('../workers/hash-worker.js', import.meta.url), { type: 'module' });
  const channel = new MessageChannel();
  worker.postMessage({ port: channel.port2 }, [channel.port2]);
  return { port: channel.port1, terminate: () => worker.terminate() };
}

/** Pieces of plaintext on their way to the hash worker at most. */
const WINDOW = 4;

/** Producer side: sends plaintext to the hash worker with backpressure. */
export class HashPort {
  #port;
  #inflight = 0;
  #wake = null;
  #digest = null;
  #error = null;
  /** Buffers the hash worker handed back, to copy the next pieces into. */
  #spare = new BufferPool(WINDOW);

  constructor(port) {
    this.#port = port;
    port.onmessage = ({ data }) => {
      if (data.type === 'ack') {
        this.#spare.give(data.buffer);
        this.#inflight -= 1;
        this.#wake?.();
        this.#wake = null;
      } else if (data.type === 'digest') {
        this.#digest?.resolve(data.sha256);
        this.#digest = null;
      } else if (data.type === 'error') {
        this.#error = new Error(data.message);
        this.#digest?.reject(this.#error);
        this.#wake?.();
      }
    };
  }

  reset() {
    this.#inflight = 0;
    this.#error = null;
    this.#port.postMessage({ type: 'reset' });
  }

  /**
   * Hashes `bytes` next. A copy goes to the hash worker, made in a buffer it
   * handed back before: the caller keeps `bytes` (to change again once this
   * resolves), and no buffer is left behind per piece (buffer-pool.js).
   */
  async update(bytes) {
    while (this.#inflight >= WINDOW && !this.#error) {
      await new Promise((resolve) => {
        this.#wake = resolve;
      });
    }
    if (this.#error) throw this.#error;
    const copy = new Uint8Array(this.#spare.take(bytes.length), 0, bytes.length);
    copy.set(bytes);
    this.#inflight += 1;
    this.#port.postMessage({ type: 'data', buffer: copy.buffer, length: copy.length }, [copy.buffer]);
  }

  /** The hex SHA-256 of everything sent since the last reset. */
  digest() {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#digest = { resolve, reject };
      this.#port.postMessage({ type: 'digest' });
    });
  }
}

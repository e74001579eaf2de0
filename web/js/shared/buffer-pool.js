// A few ArrayBuffers kept for reuse. Pieces of a file travel between the
// page and its workers as transferred ArrayBuffers; allocating a fresh one
// per piece leaves garbage that V8 collects lazily, in every worker it
// passed through, so a download of many gigabytes grew the renderer by
// hundreds of MiB (tests/bench/receive-page.mjs). Handing buffers back to
// where they came from and taking them from here keeps that flat.

export class BufferPool {
  #free = [];
  #keep;

  /** Keeps at most `keep` buffers. */
  constructor(keep = 4) {
    this.#keep = keep;
  }

  /** A buffer of at least `size` bytes: a kept one if one is big enough, else a new one. */
  take(size) {
    const at = this.#free.findIndex((buffer) => buffer.byteLength >= size);
    return at < 0 ? new ArrayBuffer(size) : this.#free.splice(at, 1)[0];
  }

  /** Keeps `buffer` for a later take(); detached (transferred) buffers are dropped. */
  give(buffer) {
    if (buffer?.byteLength && this.#free.length < this.#keep && !this.#free.includes(buffer)) this.#free.push(buffer);
  }
}

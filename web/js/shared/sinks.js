// Where a decrypted file goes, chunk by chunk, without being held in
// memory. Every sink has write(Uint8Array), close() and abort(message).
// The caller reuses a written buffer once write() has resolved, so a sink
// that keeps the bytes copies them or transfers the buffer (detaching it);
// close() is called only after the whole file has been authenticated and
// checked, abort() on any failure, so a damaged file never ends up looking
// complete.
//
// - FileSink: the File System Access API (showSaveFilePicker). Chromium
//   writes to a temporary file and moves it into place on close(); abort()
//   throws the temporary file away.
// - ServiceWorkerSink: the browser's own download manager, fed by sw.js
//   through a MessagePort with backpressure; abort() errors the response,
//   which the browser shows as a failed download.
// - MemorySink: a last resort for browsers with neither (private windows):
//   the file is collected in memory and saved at the end.

export const canPickFiles = typeof window !== 'undefined' && typeof window.showSaveFilePicker === 'function';
export const canPickFolder = typeof window !== 'undefined' && typeof window.showDirectoryPicker === 'function';

function abortError(message) {
  return new DOMException(message, 'AbortError');
}

export class FileSink {
  constructor(writable, handle) {
    this.writable = writable;
    this.handle = handle;
  }

  /** Asks where to save; call it straight from a click (it needs the gesture). Resolves null if the person cancels. */
  static async pick(name) {
    let handle;
    try {
      handle = await window.showSaveFilePicker({ suggestedName: name });
    } catch (e) {
      if (e?.name === 'AbortError') return null;
      throw e;
    }
    return FileSink.forHandle(handle);
  }

  static async forHandle(handle) {
    return new FileSink(await handle.createWritable(), handle);
  }

  write(bytes) {
    return this.writable.write(bytes);
  }

  close() {
    return this.writable.close();
  }

  async abort(message) {
    try {
      await this.writable.abort(message);
    } catch {
      // already closed or errored
    }
  }
}

/** A folder picked once for "download all" (showDirectoryPicker). */
export class FolderTarget {
  constructor(directory) {
    this.directory = directory;
  }

  static async pick() {
    try {
      return new FolderTarget(await window.showDirectoryPicker({ mode: 'readwrite' }));
    } catch (e) {
      if (e?.name === 'AbortError') return null;
      throw e;
    }
  }

  async #exists(name) {
    try {
      await this.directory.getFileHandle(name);
      return true;
    } catch {
      return false;
    }
  }

  /** A sink for `name` in the folder, as `name (1)` etc. if it exists already. */
  async sink(name) {
    let candidate = name;
    const dot = name.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    for (let i = 1; await this.#exists(candidate); i++) candidate = `${stem} (${i})${ext}`;
    return FileSink.forHandle(await this.directory.getFileHandle(candidate, { create: true }));
  }
}

let registration = null;

/**
 * Registers sw.js for /dl/ only (the download URLs), so pages, API calls
 * and uploads never pass through it. Resolves to the registration or null.
 * Call it early on the page.
 */
export function registerDownloadWorker() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return Promise.resolve(null);
  registration ??= navigator.serviceWorker.register('/sw.js', { scope: '/dl/' }).catch(() => null);
  return registration;
}

function withTimeout(promise, ms, message) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

/** The active download worker, waiting for a new one to activate; null if there is none. */
async function activeWorker() {
  const reg = await registerDownloadWorker();
  if (!reg) return null;
  if (reg.active) return reg.active;
  const coming = reg.installing ?? reg.waiting;
  if (!coming) return null;
  const activated = new Promise((resolve) => {
    const check = () => {
      if (coming.state === 'activated' || coming.state === 'redundant') resolve();
    };
    coming.addEventListener('statechange', check);
    check();
  });
  await withTimeout(activated, 10_000, 'service worker not ready').catch(() => {});
  return reg.active;
}

export class ServiceWorkerSink {
  #port;
  #credits = 0;
  #wanted = null;
  #cancelled = false;
  #ping = null;
  #iframe = null;

  /** Whether a service worker can take downloads here. */
  static async available() {
    return Boolean(await activeWorker());
  }

  /** Starts a browser download of `size` bytes named `name`. */
  static async open(name, size) {
    const worker = await activeWorker();
    if (!worker) throw new Error('no service worker');
    const sink = new ServiceWorkerSink();
    await sink.#start(worker, name, size);
    return sink;
  }

  async #start(worker, name, size) {
    const channel = new MessageChannel();
    this.#port = channel.port1;
    let onReady;
    let onStarted;
    const ready = new Promise((resolve) => {
      onReady = resolve;
    });
    const started = new Promise((resolve) => {
      onStarted = resolve;
    });
    this.#port.onmessage = ({ data }) => {
      if (data.type === 'ready') onReady();
      else if (data.type === 'started') onStarted();
      else if (data.type === 'pull') {
        this.#credits += 1;
        this.#wake();
      } else if (data.type === 'cancel') {
        this.#cancelled = true;
        this.#wake();
        this.#stopPing();
      }
    };
    const id = crypto.randomUUID();
    worker.postMessage({ type: 'kluis-download', id, name, size }, [channel.port2]);
    await withTimeout(ready, 10_000, 'the download helper did not answer');
    const iframe = document.createElement('iframe');
    iframe.hidden = true;
    iframe.setAttribute('aria-hidden', 'true');
    iframe.tabIndex = -1;
    iframe.src = `/dl/${id}/${encodeURIComponent(name)}`;
    document.body.append(iframe);
    this.#iframe = iframe;
    await withTimeout(started, 15_000, 'the browser did not start the download');
    // Messages keep the service worker alive while the download runs.
    this.#ping = setInterval(() => worker.postMessage({ type: 'ping' }), 10_000);
  }

  #wake() {
    this.#wanted?.();
    this.#wanted = null;
  }

  #stopPing() {
    clearInterval(this.#ping);
    this.#ping = null;
    const iframe = this.#iframe;
    this.#iframe = null;
    if (iframe) setTimeout(() => iframe.remove(), 30_000);
  }

  async write(bytes) {
    while (!this.#credits && !this.#cancelled) {
      await new Promise((resolve) => {
        this.#wanted = resolve;
      });
    }
    if (this.#cancelled) throw abortError('The download was cancelled in the browser.');
    this.#credits -= 1;
    // The bytes move to the service worker: the caller does not use them again.
    this.#port.postMessage({ type: 'chunk', buffer: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength }, [bytes.buffer]);
  }

  async close() {
    if (this.#cancelled) throw abortError('The download was cancelled in the browser.');
    this.#port.postMessage({ type: 'end' });
    this.#stopPing();
  }

  async abort(message) {
    if (!this.#cancelled) this.#port?.postMessage({ type: 'error', message: String(message ?? 'failed') });
    this.#stopPing();
  }
}

export class MemorySink {
  constructor(name) {
    this.name = name;
    this.parts = [];
  }

  async write(bytes) {
    this.parts.push(bytes.slice());
  }

  async close() {
    const url = URL.createObjectURL(new Blob(this.parts, { type: 'application/octet-stream' }));
    this.parts = [];
    const a = document.createElement('a');
    a.href = url;
    a.download = this.name;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  async abort() {
    this.parts = [];
  }
}

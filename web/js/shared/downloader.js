// Downloading and decrypting one file of a package, as `kluis receive`
// does (cli/src/receive.rs): the ciphertext is fetched with the download
// session's token, decrypted in a Web Worker, and only authenticated
// plaintext goes on to the sink (sinks.js). A broken connection resumes
// with an HTTP Range request from the first byte not yet received; the
// decryptor just continues. The sink is closed only when the whole file
// has been authenticated and its length and SHA-256 match the manifest;
// on any failure it is aborted, so a damaged file never looks complete.
import { ApiError, backoffSeconds, isAbort, MAX_ATTEMPTS, NetworkError, sameOrigin, waitBeforeRetry } from './api.js';
import { BufferPool } from './buffer-pool.js';
import { startHashWorker } from './hashing.js';
import { WorkerRpc } from './rpc.js';

/** Ciphertext handed to the worker at a time. */
const PIECE = 2 << 20;

/** code: damaged, network, session, gone, cancelled, server. */
export class DownloadError extends Error {
  constructor(code, cause) {
    super(cause?.message ?? code);
    this.name = 'DownloadError';
    this.code = code;
    this.cause = cause;
  }
}

/**
 * Reads a response body into buffers the caller gives: with a BYOB reader
 * where the browser has one, so nothing is allocated per network chunk;
 * otherwise by copying the chunks a default reader returns.
 */
class BodyReader {
  #reader;
  #byob;
  #rest = null; // what is left of the last default-reader chunk

  constructor(body) {
    try {
      this.#reader = body.getReader({ mode: 'byob' });
      this.#byob = true;
    } catch {
      this.#reader = body.getReader();
      this.#byob = false;
    }
  }

  /**
   * Fills `length` bytes of `buffer`, or fewer at the end of the body,
   * calling `onProgress(filled)` as bytes arrive.
   * Resolves {buffer, filled}; a BYOB read hands the buffer over and back,
   * so use the one returned. If the connection breaks it rejects, and the
   * bytes of this fill are lost (a BYOB reader keeps the buffer).
   */
  async fill(buffer, length, onProgress) {
    let filled = 0;
    while (filled < length) {
      if (this.#byob) {
        const { value, done } = await this.#reader.read(new Uint8Array(buffer, filled, length - filled));
        if (value) buffer = value.buffer;
        if (done) break;
        filled += value.byteLength;
      } else {
        if (!this.#rest) {
          const { value, done } = await this.#reader.read();
          if (done) break;
          this.#rest = value;
        }
        const n = Math.min(this.#rest.length, length - filled);
        new Uint8Array(buffer, filled, n).set(this.#rest.subarray(0, n));
        this.#rest = n < this.#rest.length ? this.#rest.subarray(n) : null;
        filled += n;
      }
      onProgress(filled);
    }
    return { buffer, filled };
  }

  cancel() {
    this.#reader.cancel().catch(() => {});
  }
}

function fromApi(e) {
  if (e.status === 401) return new DownloadError('session', e);
  if (e.status === 410 || e.status === 404) return new DownloadError('gone', e);
  return new DownloadError('server', e);
}

/** Fetches a small blob whole (the manifest), retrying broken connections. */
export async function fetchBlob({ url }, token, { signal } = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      let response;
      try {
        response = await fetch(sameOrigin(url), { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store', credentials: 'omit', signal });
      } catch (e) {
        if (isAbort(e)) throw e;
        throw new NetworkError(e);
      }
      if (!response.ok) throw await ApiError.from(response);
      try {
        return new Uint8Array(await response.arrayBuffer());
      } catch (e) {
        throw new NetworkError(e);
      }
    } catch (e) {
      const transient = e instanceof NetworkError || (e instanceof ApiError && e.transient);
      if (!transient || attempt >= MAX_ATTEMPTS) throw e;
      await waitBeforeRetry(backoffSeconds(attempt), { signal });
    }
  }
}

/**
 * Downloads blob {url, size} and writes its plaintext to `sink`.
 * `expected`: the manifest's entry, {size, header} (or {size, sha256} in
 * packages of manifest format 1). `onProgress(received)`
 * gets ciphertext bytes; `onRetry(secondsLeft)` runs while waiting to
 * reconnect.
 */
export async function downloadFile(blob, { identity, token, sink, expected, signal, onProgress = () => {}, onRetry = () => {} }) {
  const worker = new WorkerRpc(new URL('../workers/download-worker.js', import.meta.url));
  // Format 1 binds the file by the SHA-256 of its plaintext, computed beside the decryption.
  const hasher = expected.header ? null : startHashWorker();
  // Buffers go round (buffer-pool.js): ciphertext from here to the worker
  // and back; plaintext from the worker to the sink and back, unless the
  // sink keeps it (ServiceWorkerSink transfers it on).
  const inputs = new BufferPool(1);
  const outputs = new BufferPool(2);
  const write = async ({ buffer, length }) => {
    if (length) await sink.write(new Uint8Array(buffer, 0, length));
    outputs.give(buffer);
  };
  try {
    if (hasher) await worker.call('connect', { port: hasher.port }, [hasher.port]);
    await worker.call('init', { identity, header: expected.header });
    let received = 0; // ciphertext bytes handed to the worker
    let attempt = 0;
    const retry = async (cause) => {
      attempt += 1;
      if (attempt >= MAX_ATTEMPTS) throw new DownloadError('network', cause);
      await waitBeforeRetry(backoffSeconds(attempt), { signal, onTick: onRetry });
    };
    while (received < blob.size) {
      let response;
      try {
        response = await fetch(sameOrigin(blob.url), {
          headers: { Authorization: `Bearer ${token}`, ...(received ? { Range: `bytes=${received}-` } : {}) },
          cache: 'no-store',
          credentials: 'omit',
          signal,
        });
      } catch (e) {
        if (isAbort(e)) throw e;
        await retry(e);
        continue;
      }
      if (!response.ok) {
        const error = await ApiError.from(response);
        if (!error.transient) throw fromApi(error);
        await retry(error);
        continue;
      }
      if (received > 0) {
        const start = Number(response.headers.get('Content-Range')?.match(/^bytes (\d+)-/)?.[1]);
        if (response.status !== 206 || start !== received) throw new DownloadError('server', new Error('the server cannot resume the download'));
      }
      const reader = new BodyReader(response.body);
      let broken = null;
      try {
        while (received < blob.size) {
          const wanted = Math.min(PIECE, blob.size - received);
          let piece;
          try {
            piece = await reader.fill(inputs.take(PIECE), wanted, (filled) => onProgress(received + filled));
          } catch (e) {
            if (isAbort(e)) throw e;
            broken = e; // the connection broke: continue with a Range request after what the worker has
            break;
          }
          if (piece.filled) {
            const spare = outputs.take(0); // any kept one; the worker allocates if it is too small
            const answer = await worker.call('push', { input: piece.buffer, length: piece.filled, spare }, [piece.buffer, spare]);
            inputs.give(answer.input);
            received += piece.filled;
            attempt = 0;
            await write(answer);
            onProgress(received);
          }
          if (piece.filled < wanted) break; // the body ended early
        }
      } finally {
        // Done, broken, or decryption or the sink failed: stop the transfer.
        reader.cancel();
      }
      if (received < blob.size) await retry(broken ?? new NetworkError());
    }
    const spare = outputs.take(0);
    const last = await worker.call('finish', { spare }, [spare]);
    await write(last);
    if (last.total !== expected.size || (hasher && last.sha256 !== String(expected.sha256).toLowerCase())) {
      throw new DownloadError('damaged', new Error('the file does not match the size or checksum its sender recorded'));
    }
    await sink.close();
  } catch (e) {
    const error = e instanceof DownloadError
      ? e
      : isAbort(e)
        ? new DownloadError('cancelled', e)
        : e?.kind === 'damaged' || e?.kind === 'no_match'
          ? new DownloadError('damaged', e)
          : e instanceof ApiError
            ? fromApi(e)
            : new DownloadError('server', e);
    await sink.abort(error.message);
    throw error;
  } finally {
    worker.terminate();
    hasher?.terminate();
  }
}

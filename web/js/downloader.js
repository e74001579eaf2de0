// Downloading and decrypting one file of a package, as `kluis receive`
// does (cli/src/receive.rs): the ciphertext is fetched with the download
// session's token, decrypted in a Web Worker, and only authenticated
// plaintext goes on to the sink (sinks.js). A broken connection resumes
// with an HTTP Range request from the first byte not yet received; the
// decryptor just continues. The sink is closed only when the whole file
// has been authenticated and its length and SHA-256 match the manifest;
// on any failure it is aborted, so a damaged file never looks complete.
import { ApiError, backoffSeconds, isAbort, MAX_ATTEMPTS, NetworkError, sameOrigin, waitBeforeRetry } from './api.js';
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

function concat(parts, length) {
  if (parts.length === 1 && parts[0].byteOffset === 0 && parts[0].byteLength === parts[0].buffer.byteLength) return parts[0];
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
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
 * `expected`: {size, sha256} from the manifest. `onProgress(received)`
 * gets ciphertext bytes; `onRetry(secondsLeft)` runs while waiting to
 * reconnect.
 */
export async function downloadFile(blob, { identity, token, sink, expected, signal, onProgress = () => {}, onRetry = () => {} }) {
  const worker = new WorkerRpc(new URL('./download-worker.js', import.meta.url));
  const hasher = startHashWorker();
  const write = async ({ buffer, length }) => {
    if (length) await sink.write(new Uint8Array(buffer, 0, length));
  };
  try {
    await worker.call('connect', { port: hasher.port }, [hasher.port]);
    await worker.call('init', { identity });
    let received = 0;
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
      const reader = response.body.getReader();
      let parts = [];
      let pending = 0;
      const flush = async () => {
        if (!pending) return;
        const bytes = concat(parts, pending);
        parts = [];
        pending = 0;
        await write(await worker.call('push', { buffer: bytes.buffer }, [bytes.buffer]));
      };
      let broken = null;
      try {
        for (;;) {
          let chunk;
          try {
            chunk = await reader.read();
          } catch (e) {
            if (isAbort(e)) throw e;
            broken = e; // the connection broke: keep what arrived, continue with a Range request
            break;
          }
          if (chunk.done) break;
          const bytes = chunk.value;
          if (received + bytes.length > blob.size) throw new DownloadError('damaged', new Error('the server sent more bytes than the file has'));
          parts.push(bytes);
          pending += bytes.length;
          received += bytes.length;
          attempt = 0;
          if (pending >= PIECE) await flush();
          onProgress(received);
        }
      } catch (e) {
        // Decryption or the sink failed: stop the transfer too.
        reader.cancel().catch(() => {});
        throw e;
      }
      await flush();
      onProgress(received);
      if (received < blob.size) await retry(broken ?? new NetworkError());
    }
    const last = await worker.call('finish');
    await write(last);
    if (last.total !== expected.size || last.sha256 !== String(expected.sha256).toLowerCase()) {
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
    hasher.terminate();
  }
}

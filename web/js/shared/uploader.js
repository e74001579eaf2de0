// Sending a package from the browser, step for step as `kluis send`
// (cli/src/send.rs): size every blob, create the package (the server
// answers with its id and the server share S), derive the package
// recipient from L, S and the stretched password, then encrypt each file
// in a Web Worker while uploading it over tus in bodies of about 8 MiB,
// upload the manifest (names, sizes, types, SHA-256) last, and finalize
// with the access verifier SHA-256(A) (A from the id, L and the password).
//
// Everything needed to continue is kept in IndexedDB (send-store.js):
// after a reload the page asks for the same files again, asks the server
// where each upload stopped (HEAD) and continues from there with
// Encryptor.resumeAt. The network calls run on the page; the worker only
// reads, hashes and encrypts.
//
// Recipients who are colleagues with a key (POST /directory) get every blob
// encrypted to their key too; the package is declared to them at create
// and appears in their inbox (docs/inbound.md, "Packages to colleagues").
//
// The same sender uploads a delivery through an upload request
// (docs/inbound.md): createDelivery makes the record, whose `delivery`
// names the request and the requester's recipient, and PackageSender then
// talks to the request's endpoints (status, finalize) with the uploader's
// token instead of the package's. Blobs, manifest, resume: the same.
import { api, ApiError, backoffSeconds, isAbort, isTransient, MAX_ATTEMPTS, NetworkError, sameOrigin, waitBeforeRetry } from './api.js';
import { fileTypesOf, policyDocument } from './policy-rules.js';
import { WorkerRpc } from './rpc.js';
import { deleteSend, saveSend } from './send-store.js';
import { loadWasm } from './wasm.js';
import { CryptoWorker } from './crypto-client.js';

/** Ciphertext per PATCH request (XMLHttpRequest), or per piece of a streamed one. */
const BODY = 8 << 20;
/** Pieces a streamed PATCH keeps ready beyond the one being sent. */
const STREAM_AHEAD = 2;
/** Waits for another request's upload lease (HTTP 423) before giving up. */
const MAX_BUSY_WAITS = 10;
const TUS = { 'Tus-Resumable': '1.0.0' };

/**
 * A failure the page explains: code is one of signed_out, not_allowed (no
 * seat, licence lapsed), policy (cause.breaches), too_large, network,
 * file_changed, gone, invalid, server; for deliveries also blocked
 * (cause.files) and wrong_recipient.
 */
export class SendError extends Error {
  constructor(code, cause) {
    super(cause?.message ?? code);
    this.name = 'SendError';
    this.code = code;
    this.cause = cause;
  }
}

function mediaType(file) {
  return file.type || 'application/octet-stream';
}

/** Manifest entries: each file bound to its blob by the blob's header hash (docs/architecture.md §2). */
function manifestEntries(files, headers) {
  return files.map((f, i) => ({ name: f.name, size: f.size, type: f.type, header: headers[i] }));
}

/** `files` as a record keeps them (the File objects cannot be stored). */
function describe(files) {
  return files.map((f) => ({ name: f.name, size: f.size, lastModified: f.lastModified, type: mediaType(f) }));
}

/**
 * The exact size of every blob (manifest first) before anything is read:
 * an X25519 header has a fixed length, and the manifest's length does not
 * depend on the header hashes in it.
 */
function blobSizes(wasm, subject, message, described, recipients) {
  // The blobs' recipients, or stand-ins of the same kind (the package key is made after the sizes):
  // a header's length depends on how many recipients of which kind (X25519, post-quantum) it has.
  const probes = recipients;
  const probe = new wasm.Encryptor(probes, false);
  const placeholder = described.map(() => wasm.placeholderHeaderHash());
  const manifestLength = wasm.buildManifest(subject, message, manifestEntries(described, placeholder)).length;
  const sizes = [probe.encryptedLength(manifestLength), ...described.map((f) => probe.encryptedLength(f.size))];
  probe.free();
  return sizes;
}

/** Stretches a package password with scrypt in a Web Worker (about a second, 128 MiB). */
export async function stretchPassword(packageId, password) {
  const worker = new CryptoWorker();
  try {
    return await worker.stretchPassword(packageId, password);
  } finally {
    worker.terminate(); // gives the 128 MiB back
  }
}

/**
 * Creates the package on the server and returns the record to upload it
 * with (saved in IndexedDB). `options`: {files, recipients, subject,
 * message, expiresInDays, maxDownloads, verify, password, notify}.
 * `policy` (GET /policy): a package that breaks its rules is refused here,
 * before anything is encrypted, with SendError('policy', {breaches}).
 */
export async function createPackage(options, { token, owner, policy = null, onStatus = () => {} }) {
  const wasm = await loadWasm();
  const { files } = options;
  const fileTypes = await fileTypesOf(wasm, files);
  const message = Boolean(options.message?.trim());
  if (policy) {
    const plan = {
      recipients: options.recipients,
      file_types: fileTypes,
      bytes: files.reduce((sum, f) => sum + f.size, 0),
      max_downloads: options.maxDownloads ?? null,
      verification: options.verify === 'email',
      password: Boolean(options.password),
      message,
    };
    const breaches = wasm.checkPackage(policyDocument(policy), plan);
    if (breaches.length) throw new SendError('policy', { breaches });
  }
  const described = describe(files);

  // Every blob is also encrypted to the sender's own key, when they made one
  // (docs/architecture.md §3), so they can open what they sent later.
  const ownRecipient = await api('/key', { token })
    .then((state) => state.key?.recipient ?? null)
    .catch(() => null);
  // A package is post-quantum exactly when the sender's key is (docs/architecture.md §3):
  // one file is never for both kinds, so colleagues whose key is of the other kind get the link only.
  const postQuantum = Boolean(ownRecipient) && wasm.recipientIsPostQuantum(ownRecipient);
  const found = await colleagueKeys(options.recipients, token);
  const colleagues = found.filter((c) => wasm.recipientIsPostQuantum(c.recipient) === postQuantum);
  const colleaguesLinkOnly = found.filter((c) => !colleagues.includes(c)).map((c) => c.email);
  const packageKeyStandIn = wasm.identityToRecipient(wasm.generateIdentity(postQuantum));
  const keys = [packageKeyStandIn, ...(ownRecipient ? [ownRecipient] : []), ...colleagues.map((c) => c.recipient)];
  const sizes = blobSizes(wasm, options.subject, options.message, described, keys);

  const linkSecret = wasm.generateLinkSecret();
  let created;
  try {
    created = await api('/packages', {
      method: 'POST',
      token,
      body: {
        recipients: options.recipients,
        expires_in_days: options.expiresInDays,
        max_downloads: options.maxDownloads ?? null,
        verify: options.verify,
        password: Boolean(options.password),
        notify_on_download: Boolean(options.notify),
        blobs: sizes.map((size) => ({ size })),
        file_types: fileTypes,
        message,
        ...(colleagues.length ? { colleagues } : {}),
      },
    });
  } catch (e) {
    const error = explain(e);
    // The page says how large the package is: the server's error need not.
    if (error instanceof SendError && error.code === 'too_large') error.size = sizes.reduce((a, b) => a + b, 0);
    throw error;
  }
  let stretched = null;
  if (options.password) {
    onStatus('password');
    try {
      stretched = await stretchPassword(created.id, options.password);
    } catch (e) {
      await api(`/packages/${created.id}`, { method: 'DELETE', token }).catch(() => {});
      throw e;
    }
  }
  const record = {
    id: created.id,
    owner,
    createdAt: Date.now(),
    server: created.url.slice(0, created.url.lastIndexOf('/p/')),
    linkSecret,
    serverShare: created.server_share,
    stretched,
    subject: options.subject,
    message: options.message,
    recipients: options.recipients,
    ownRecipient,
    postQuantum,
    colleagues,
    colleaguesLinkOnly,
    files: described,
    sizes,
    blobs: sizes.map(() => ({ uploadUrl: null, resumeState: null, done: false, header: null })),
  };
  return record;
}

/**
 * The recipients who are colleagues with a key, [{email, recipient}]
 * (POST /directory): the package goes to their inbox too. Without an
 * answer (an older server, a network hiccup) the package goes by link only.
 */
async function colleagueKeys(recipients, token) {
  if (!recipients?.length) return [];
  try {
    const found = await api('/directory', { method: 'POST', token, body: { emails: recipients } });
    return found.colleagues ?? [];
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw new SendError('signed_out', e);
    return [];
  }
}

/**
 * Where an upload's API calls go: the package's, or for a delivery the
 * upload request's (`remove` gives the delivery up: its place in the
 * request is free at once).
 */
function uploadPaths(record) {
  const { id, delivery } = record;
  if (delivery) {
    const base = `/r/${encodeURIComponent(delivery.requestId)}/deliveries/${encodeURIComponent(id)}`;
    return { status: base, finalize: `${base}/finalize`, remove: base, uploads: delivery.uploadUrl || '/uploads' };
  }
  return { status: `/packages/${id}`, finalize: `/packages/${id}/finalize`, remove: `/packages/${id}`, uploads: '/uploads' };
}

/** How long a cancel waits for the server to delete what it holds. */
const DISCARD_WAIT_MS = 10_000;

/**
 * Deletes an unfinished upload on the server with `token` (a package; a
 * delivery, given up so its place in the request is free for the next
 * upload) and forgets its saved state. A failure holds nobody up: the
 * server ends unfinished uploads itself when they expire.
 */
export async function discardUnfinished(record, token) {
  const { remove } = uploadPaths(record);
  try {
    if (remove && token) await api(remove, { method: 'DELETE', token, signal: AbortSignal.timeout(DISCARD_WAIT_MS) });
  } catch {
    // Unfinished uploads are cleaned up by the server anyway.
  }
  await deleteSend(record.id).catch(() => {});
}

/**
 * Creates a delivery through upload request `requestId` (docs/inbound.md)
 * and returns the record to upload it with (kept in IndexedDB under the
 * owner `owner`, e.g. `request:<id>`, so the send page never lists it).
 * `options`: {files, message}. `info`: the request's RequestInfo;
 * `recipients`: what the files are encrypted to — the one the link's
 * fragment names, which the page has already found equal to
 * info.recipient, or for a portal every receiver's (info.recipients);
 * `token`: the uploader's session (`kluis_up_…`).
 * Refused here, before anything is read beyond the first bytes or
 * encrypted: a file of a type the request does not accept
 * (SendError('blocked', {files: [{name, type}]})) and more than its
 * max_bytes (SendError('too_large') with `size` and `limit`).
 */
export async function createDelivery(options, { requestId, info, recipients, token, owner = `request:${requestId}` }) {
  const wasm = await loadWasm();
  const { files } = options;
  const blocked = new Set((info.blocked_file_types ?? []).map((type) => type.toLowerCase()));
  const refused = [];
  for (const file of files) {
    const type = (await fileTypesOf(wasm, [file])).find((found) => blocked.has(found));
    if (type) refused.push({ name: file.name, type });
  }
  if (refused.length) throw new SendError('blocked', { files: refused });
  const fileTypes = await fileTypesOf(wasm, files);
  const described = describe(files);
  const sizes = blobSizes(wasm, '', options.message, described, recipients);
  const size = sizes.reduce((a, b) => a + b, 0);
  if (size > info.max_bytes) throw Object.assign(new SendError('too_large'), { size, limit: info.max_bytes });
  let created;
  try {
    created = await api(`/r/${encodeURIComponent(requestId)}/deliveries`, {
      method: 'POST',
      token,
      body: {
        recipient: recipients[0],
        ...(recipients.length > 1 ? { recipients } : {}),
        blobs: sizes.map((n) => ({ size: n })),
        file_types: fileTypes,
      },
    });
  } catch (e) {
    const error = explain(e);
    // The page says how large the upload is, and the limit the server named (413 too_large, policy_too_large).
    if (error instanceof SendError) Object.assign(error, { size, limit: Number(e.details?.limit) || info.max_bytes });
    throw error;
  }
  return {
    id: created.id,
    owner,
    createdAt: Date.now(),
    delivery: { requestId, recipients, uploadUrl: created.upload_url },
    subject: '',
    message: options.message,
    recipients: [],
    files: described,
    sizes,
    blobs: sizes.map(() => ({ uploadUrl: null, resumeState: null, done: false, header: null })),
  };
}

/** Turns API failures into the SendErrors the page explains; others pass. */
function explain(e) {
  if (e instanceof SendError || isAbort(e)) return e;
  if (e instanceof ApiError) {
    if (e.status === 401) return new SendError('signed_out', e);
    if (e.code === 'no_seat' || e.code === 'licence_lapsed') return new SendError('not_allowed', e);
    if (e.code === 'wrong_recipient') return new SendError('wrong_recipient', e);
    if (e.status === 413 || e.code === 'too_large') return new SendError('too_large', e);
    if (e.status === 410 || e.status === 404 || e.code === 'not_uploading') return new SendError('gone', e);
    if (e.status === 400) return new SendError('invalid', e);
    if (!e.transient) return new SendError('server', e);
  }
  if (isTransient(e)) return new SendError('network', e);
  if (e?.message === 'file_changed' || e?.kind === 'file_changed') return new SendError('file_changed', e);
  return e;
}

/**
 * Whether this page can stream a PATCH body: browsers send a ReadableStream
 * body only over HTTP/2 or 3 (with `duplex: 'half'`), so it is used when the
 * page itself came over one of them, from the same server (the server offers
 * HTTP/2 over TLS). A stream sends a blob in one request, with no gap between
 * bodies and no copy of each into the request; elsewhere bodies go by
 * XMLHttpRequest (which, unlike fetch, reports upload progress).
 */
function canStreamUploads() {
  const protocol = globalThis.performance?.getEntriesByType?.('navigation')[0]?.nextHopProtocol;
  if (protocol !== 'h2' && protocol !== 'h3') return false;
  // The feature test the Fetch standard's authors give: a browser that knows `duplex`
  // reads it, and one that streams bodies does not turn the stream into text.
  let duplexRead = false;
  try {
    const probe = new Request(location.href, {
      method: 'POST',
      body: new ReadableStream(),
      get duplex() {
        duplexRead = true;
        return 'half';
      },
    });
    return duplexRead && !probe.headers.has('Content-Type');
  } catch {
    return false;
  }
}

/** States of a package or delivery that is complete: run() has nothing left to do. */
const FINAL = ['ready', 'received', 'delivered', 'finalized'];

/**
 * Uploads a package described by `record` from `files` (File objects in
 * the order of record.files), or a delivery through an upload request when
 * the record has `delivery` (createDelivery). Events: 'progress' {done, total, file,
 * name}, 'status' {state: 'uploading' | 'retrying' | 'finalizing',
 * seconds, attempt}, 'warning' {code}.
 */
export class PackageSender extends EventTarget {
  #controller = null;
  #worker = null;
  #bufferSize = 0;
  #doneBytes = 0;
  /** What the blobs are encrypted to: age1… or age1pq1… recipients, all of one kind. */
  #recipients = null;
  #persistWarned = false;
  /** PATCH bodies go as one stream per blob (HTTP/2) rather than one XMLHttpRequest per body. */
  #streaming = canStreamUploads();
  /** A streamed PATCH has reached the server: a later failure is the network's, not the browser's. */
  #streamWorked = false;

  /**
   * `keep`: the caller still has work to do with the link (the add-in puts
   * it into the mail), so the record is kept, with `link` set, until the
   * caller deletes it; by default it is deleted once the package is final.
   */
  constructor(record, files, token, { keep = false } = {}) {
    super();
    this.record = record;
    this.files = files;
    this.token = token;
    this.keep = keep;
    this.total = record.sizes.reduce((a, b) => a + b, 0);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async #persist() {
    try {
      await saveSend(this.record);
    } catch {
      // Private windows may have no IndexedDB: the upload goes on, it just cannot survive a reload.
      if (!this.#persistWarned) this.#emit('warning', { code: 'not_saved' });
      this.#persistWarned = true;
    }
  }

  /** Stops the upload; `run()` rejects with an AbortError and can be called again. */
  pause() {
    this.#controller?.abort();
  }

  get running() {
    return Boolean(this.#controller && !this.#controller.signal.aborted);
  }

  /** Where this upload's API calls go ([`uploadPaths`]). */
  #paths() {
    return uploadPaths(this.record);
  }

  /** Stops, deletes the package (or gives up the delivery) on the server and forgets the saved state. */
  async cancel() {
    this.pause();
    this.dispose();
    await discardUnfinished(this.record, this.token);
  }

  /** Uploads what is missing and finalizes; resolves with the link (a delivery: its id). */
  async run() {
    this.#controller = new AbortController();
    const signal = this.#controller.signal;
    try {
      const link = await this.#run(signal);
      if (this.keep) {
        this.record.link = link;
        await this.#persist();
      } else {
        await deleteSend(this.record.id).catch(() => {});
      }
      return link;
    } catch (e) {
      throw explain(e);
    } finally {
      if (!signal.aborted) this.#controller = null;
    }
  }

  async #run(signal) {
    const wasm = await loadWasm();
    const { record } = this;
    const paths = this.#paths();
    let finalizeBody = {};
    let result = record.id;
    if (record.delivery) {
      // To the requester's own key (the link's fragment, checked against the server's), or a portal's receivers.
      this.#recipients = record.delivery.recipients ?? [record.delivery.recipient];
    } else {
      const packageKey = wasm.packageRecipient(record.id, record.linkSecret, record.serverShare, record.stretched ?? undefined, Boolean(record.postQuantum));
      // The sender's own key and colleagues' keys besides the package's (saved records may lack them).
      const colleagues = (record.colleagues ?? []).map((c) => c.recipient);
      this.#recipients ??= [packageKey, ...(record.ownRecipient ? [record.ownRecipient] : []), ...colleagues];
      // SHA-256 of the access proof A (docs/architecture.md §3, access proof) and of the link
      // proof A_L (§3, link proof: recipients see who sent it), registered at finalize:
      // both depend on the package id, which the server makes at create.
      finalizeBody = {
        access_verifier: wasm.accessVerifier(record.id, record.linkSecret, record.stretched ?? undefined),
        link_verifier: wasm.linkVerifier(record.id, record.linkSecret),
      };
      result = wasm.formatLink(record.server, record.id, record.linkSecret);
    }
    if (!this.#worker) {
      this.#worker = new WorkerRpc(new URL('../workers/upload-worker.js', import.meta.url));
      // Room beyond a body's target, for this upload's header (several recipients, or
      // post-quantum ones at about 1.6 KB each) and what a piece can add.
      const { extra } = await this.#worker.call('bound', { recipients: this.#recipients });
      this.#bufferSize = BODY + extra;
    }
    await this.#persist();
    this.#emit('status', { state: 'uploading' });

    // What the server has already (after a reload, or a finalize that got no answer).
    const info = await this.#retrying(signal, () => api(paths.status, { token: this.token, signal }));
    if (FINAL.includes(info.state)) return result;
    if (info.state !== 'uploading') throw new SendError('gone'); // revoked, expired
    for (const b of info.blobs) if (b.complete) record.blobs[b.index].done = true;

    for (let round = 0; ; round++) {
      this.#doneBytes = record.blobs.reduce((sum, b, i) => sum + (b.done ? record.sizes[i] : 0), 0);
      this.#progress(-1, 0);
      for (let i = 0; i < this.files.length; i++) {
        const blob = record.blobs[i + 1];
        if (blob.done && blob.header) continue;
        const file = this.files[i];
        if (file.size !== record.files[i].size) throw new SendError('file_changed');
        await this.#upload(i + 1, file, signal);
        await this.#persist();
      }
      const headers = record.blobs.slice(1).map((b) => b.header);
      const manifest = new Blob([wasm.buildManifest(record.subject, record.message, manifestEntries(record.files, headers))]);
      if (!record.blobs[0].done) await this.#upload(0, manifest, signal);
      await this.#persist();

      this.#emit('status', { state: 'finalizing' });
      try {
        await this.#retrying(signal, () => api(paths.finalize, { method: 'POST', token: this.token, body: finalizeBody, signal }));
        this.#progress(-1, 0);
        return result;
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 'upload_incomplete') || round > 0) throw e;
        // The server lost a blob we thought complete: send it again.
        for (const index of e.details.missing ?? []) Object.assign(record.blobs[index], { done: false, uploadUrl: null });
      }
    }
  }

  /** Runs `call`, retrying transient failures with backoff. */
  async #retrying(signal, call) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (e) {
        if (isAbort(e) || !isTransient(e) || attempt >= MAX_ATTEMPTS) throw e;
        await this.#wait(attempt, signal);
      }
    }
  }

  async #wait(attempt, signal) {
    const seconds = backoffSeconds(attempt);
    await waitBeforeRetry(seconds, { signal, onTick: (left) => this.#emit('status', { state: 'retrying', seconds: left, attempt }) });
    this.#emit('status', { state: 'uploading' });
  }

  #progress(index, offset) {
    const name = index > 0 ? this.record.files[index - 1].name : null;
    this.#emit('progress', { done: Math.min(this.total, this.#doneBytes + offset), total: this.total, file: index - 1, name });
  }

  /** Uploads blob `index` (0: manifest) from `source`, resuming where the server stopped. */
  async #upload(index, source, signal) {
    const { record } = this;
    const blob = record.blobs[index];
    const size = record.sizes[index];
    const wasDone = blob.done;
    const opened = await this.#worker.call('open', {
      source,
      size: index > 0 ? record.files[index - 1].size : source.size,
      recipients: this.#recipients,
      resumeState: blob.resumeState ? blob.resumeState.slice().buffer : undefined,
    });
    if (!blob.resumeState) {
      blob.resumeState = new Uint8Array(opened.resumeState);
      blob.uploadUrl = null;
    }
    // Known before the first byte is read, and the same after a reload (the resume state holds the header).
    blob.header = opened.headerHash;
    let offset; // what the server has; undefined: ask it
    let attempt = 0;
    let busyWaits = 0;
    while (!blob.done) {
      try {
        if (!blob.uploadUrl) {
          blob.uploadUrl = await this.#create(index, size, signal);
          await this.#persist();
          offset = 0;
        }
        offset ??= await this.#head(blob.uploadUrl, signal);
        this.#progress(index, offset);
        if (offset < size) {
          offset = await this.#send(blob.uploadUrl, offset, size, index, signal, () => {
            attempt = 0; // progress made: the count starts again
          });
        }
        if (offset === size) blob.done = true;
      } catch (e) {
        if (isAbort(e)) throw e;
        if (e instanceof ApiError) {
          if (e.code === 'already_uploaded') {
            blob.done = true;
            break;
          }
          if (e.status === 404 || e.code === 'upload_expired') {
            // The upload is gone: expired, or swept away after it completed.
            const info = await this.#retrying(signal, () => api(this.#paths().status, { token: this.token, signal }));
            if (info.blobs.find((b) => b.index === index)?.complete) {
              blob.done = true;
              break;
            }
            blob.uploadUrl = null;
            offset = undefined;
            continue;
          }
          if (e.code === 'offset_mismatch') {
            offset = undefined;
            if (++attempt < MAX_ATTEMPTS) continue;
          }
          if (e.code === 'upload_busy' && busyWaits < MAX_BUSY_WAITS) {
            // An earlier request (a broken connection, another tab) still holds the
            // upload. Its lease is usually given up when its connection drops and
            // lapses at the latest after retry_after: try again with a growing
            // wait, never longer than that, without using up an attempt.
            const lapses = Math.min(Math.max(Number(e.details?.retry_after) || 120, 1), 120);
            const seconds = Math.min(2 ** (busyWaits + 1), lapses);
            busyWaits += 1;
            offset = undefined;
            await waitBeforeRetry(seconds, { signal, onTick: (left) => this.#emit('status', { state: 'retrying', reason: 'busy', seconds: left, attempt: `busy-${busyWaits}` }) });
            this.#emit('status', { state: 'uploading' });
            continue;
          }
        }
        if (!isTransient(e)) throw e;
        attempt += 1;
        if (attempt >= MAX_ATTEMPTS) throw new SendError('network', e);
        offset = undefined;
        await this.#wait(attempt, signal);
      }
    }
    if (!wasDone) this.#doneBytes += size;
    this.#progress(-1, 0);
    await this.#worker.call('close');
  }

  async #create(index, size, signal) {
    const response = await api(this.#paths().uploads, {
      method: 'POST',
      token: this.token,
      signal,
      headers: {
        ...TUS,
        'Upload-Length': String(size),
        'Upload-Metadata': `package ${btoa(this.record.id)},blob ${btoa(String(index))}`,
      },
    });
    const location = response.headers.get('Location');
    if (!location) throw new ApiError(502, { error: { code: 'no_location', message: 'The server did not say where to upload.' } });
    return location;
  }

  async #head(url, signal) {
    const response = await api(url, { method: 'HEAD', token: this.token, signal, headers: TUS });
    const offset = Number(response.headers.get('Upload-Offset'));
    if (!Number.isSafeInteger(offset)) throw new ApiError(502, { error: { code: 'no_offset', message: 'The server did not say how much it has.' } });
    return offset;
  }

  #fill() {
    // A fresh buffer per body, on purpose: Chromium keeps a copy of every
    // XHR body until the page's next garbage collection, and only new
    // ArrayBuffers tell V8 that memory is growing. With a pool of reused
    // buffers a 1 GiB upload grew the page by ~1 GiB; with fresh ones by
    // under 100 MiB (tests/bench/xhr-bodies.mjs).
    const buffer = new ArrayBuffer(this.#bufferSize);
    return this.#worker.call('fill', { buffer, target: BODY }, [buffer]);
  }

  /** PATCHes ciphertext from `offset` until the blob is complete; returns the server's offset. */
  async #send(url, offset, size, index, signal, onProgress) {
    if (this.#streaming) {
      try {
        const confirmed = await this.#stream(url, offset, size, index, signal);
        this.#streamWorked = true;
        onProgress();
        return confirmed;
      } catch (e) {
        // A browser or a proxy in between that will not stream a body fails the first request
        // before anything is sent: the rest of this upload goes by XMLHttpRequest.
        if (!(e instanceof NetworkError) || this.#streamWorked) throw e;
        this.#streaming = false;
      }
    }
    await this.#worker.call('seek', { offset });
    let next = this.#fill();
    try {
      while (offset < size) {
        const body = await next;
        next = null;
        if (body.length === 0 || offset + body.length > size) throw new SendError('file_changed');
        const sending = this.#patch(url, offset, new Uint8Array(body.buffer, 0, body.length), index, signal);
        // The request has its own copy of the body: encrypt the next one meanwhile.
        if (offset + body.length < size) next = this.#fill();
        const confirmed = await sending;
        onProgress();
        if (confirmed !== offset + body.length) {
          // The server kept less than it was sent: continue from what it has.
          await next?.catch(() => {});
          next = null;
          offset = confirmed;
          if (offset < size) {
            await this.#worker.call('seek', { offset });
            next = this.#fill();
          }
          continue;
        }
        offset = confirmed;
      }
      return offset;
    } finally {
      if (next) await next.catch(() => {});
    }
  }

  /**
   * PATCHes the ciphertext from `offset` to the blob's end as one streamed
   * request body, the worker encrypting the next pieces while one is sent;
   * returns the server's offset (what it kept, when the stream broke off).
   */
  async #stream(url, offset, size, index, signal) {
    await this.#worker.call('seek', { offset });
    let sent = offset; // ciphertext handed to the request
    let pending = null; // the worker's fill in progress
    let failure = null; // why the body ended early (the file changed)
    let settled = false; // the server has answered (maybe early, with an error): read no further
    const body = new ReadableStream(
      {
        pull: async (controller) => {
          if (settled || sent >= size) {
            controller.close();
            return;
          }
          // Handed over minus what still waits in the stream's queue (fetch reports no upload progress).
          const queued = STREAM_AHEAD - Math.max(0, controller.desiredSize);
          this.#progress(index, Math.max(offset, sent - queued * BODY));
          pending = this.#fill();
          const piece = await pending;
          pending = null;
          if (settled) return;
          if (piece.length === 0 || sent + piece.length > size) {
            failure = new SendError('file_changed');
            controller.error(failure);
            return;
          }
          sent += piece.length;
          controller.enqueue(new Uint8Array(piece.buffer, 0, piece.length));
          if (sent === size) controller.close();
        },
      },
      { highWaterMark: STREAM_AHEAD },
    );
    let response;
    try {
      response = await fetch(sameOrigin(url), {
        method: 'PATCH',
        headers: {
          ...TUS,
          'Upload-Offset': String(offset),
          'Content-Type': 'application/offset+octet-stream',
          Authorization: `Bearer ${this.token}`,
        },
        body,
        duplex: 'half',
        cache: 'no-store',
        credentials: 'omit',
        signal,
      });
    } catch (e) {
      if (failure) throw failure;
      if (isAbort(e)) throw e;
      throw new NetworkError(e);
    } finally {
      settled = true;
      // The worker finishes the piece it is on before it is asked to seek again.
      if (pending) await pending.catch(() => {});
    }
    if (response.status !== 204) throw await ApiError.from(response);
    const confirmed = Number(response.headers.get('Upload-Offset'));
    if (!Number.isSafeInteger(confirmed)) throw new ApiError(502, { error: { code: 'no_offset', message: 'The server did not say how much it has.' } });
    if (failure) throw failure;
    return confirmed;
  }

  #patch(url, offset, bytes, index, signal) {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new DOMException('Paused', 'AbortError'));
        return;
      }
      const xhr = new XMLHttpRequest();
      xhr.open('PATCH', sameOrigin(url));
      xhr.setRequestHeader('Tus-Resumable', '1.0.0');
      xhr.setRequestHeader('Upload-Offset', String(offset));
      xhr.setRequestHeader('Content-Type', 'application/offset+octet-stream');
      xhr.setRequestHeader('Authorization', `Bearer ${this.token}`);
      xhr.upload.onprogress = (e) => this.#progress(index, offset + Math.min(e.loaded, bytes.length));
      xhr.onload = () => {
        if (xhr.status === 204) {
          resolve(Number(xhr.getResponseHeader('Upload-Offset')));
          return;
        }
        let body = {};
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          // not JSON
        }
        reject(new ApiError(xhr.status, body));
      };
      xhr.onerror = () => reject(new NetworkError());
      xhr.ontimeout = () => reject(new NetworkError());
      xhr.onabort = () => reject(new DOMException('Paused', 'AbortError'));
      const abort = () => xhr.abort();
      signal.addEventListener('abort', abort, { once: true });
      xhr.onloadend = () => signal.removeEventListener('abort', abort);
      xhr.send(bytes);
    });
  }

  /** Frees the worker (after success or cancel). */
  dispose() {
    this.#worker?.terminate();
    this.#worker = null;
  }
}

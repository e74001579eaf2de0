// Opening an item with the user's own key (user-key.js): an inbox item
// (what came in, GET /inbox/{id}/blobs/{i}) or a package the user sent
// (every blob is encrypted to their own key too, GET /packages/{id}/blobs/{i}).
// The manifest (blob 0) is fetched and decrypted here; the message and the
// file rows are shown as the recipient page shows them, and each file is
// saved by save-file.js (the recipient page's streaming decrypt). Used by
// the inbox, the Sent page and the Outlook task pane.
import { fetchBlob } from './downloader.js';
import { formatBytes, t } from './i18n.js';
import { runCodec } from './run-codec.js';
import { canPickFiles } from './sinks.js';
import { loadWasm } from './wasm.js';

/** Largest encrypted manifest accepted (the manifest itself is at most 1 MiB). */
const MAX_MANIFEST = 2 << 20;

/**
 * Why an item cannot be opened: `kind` is `other_key` (encrypted to a key
 * the user does not hold: an old one, or none of theirs), `damaged`, or
 * `newer` (made by a newer Kluis than this page).
 */
/** The heading of an inbox item (InboxItem): who it is from, and what kind of item it is. */
export function itemHeading(item) {
  const key = { reply: 'inbox.replyFrom', package: 'inbox.packageFrom' }[item.kind] ?? 'inbox.from';
  return t(key, { from: item.from });
}

/** Words (i18n keys) for why an inbox item cannot be opened: an ItemError's kind. */
export const UNOPENABLE = { other_key: 'inbox.otherKey', damaged: 'inbox.damaged', newer: 'inbox.newer' };

export class ItemError extends Error {
  constructor(kind) {
    super(kind);
    this.name = 'ItemError';
    this.kind = kind;
  }
}

/** An item's blobs, served under `base` (e.g. `/api/v1/inbox/<id>/blobs`). */
export class ItemBlobs {
  constructor(base, blobs) {
    this.base = base;
    this.blobs = blobs;
  }

  /** Blob `index` as downloader.js takes it: {url, size}; undefined when there is none. */
  at(index) {
    const blob = this.blobs.find((b) => b.index === index);
    return blob && { url: `${this.base}/${index}`, size: blob.size };
  }
}

/**
 * The decrypted, checked manifest `{subject, message, files}` of `blobs`.
 * Throws ItemError, or the ApiError / NetworkError of the fetch.
 */
export async function readManifest(blobs, { identity, token }) {
  const blob = blobs.at(0);
  if (!blob || blob.size > MAX_MANIFEST) throw new ItemError('damaged');
  const wasm = await loadWasm();
  const cipher = await fetchBlob(blob, token);
  let plain;
  try {
    plain = runCodec(new wasm.Decryptor([identity]).binaryOnly(), cipher);
  } catch (e) {
    throw new ItemError(e?.kind === 'no_match' ? 'other_key' : 'damaged');
  }
  try {
    return wasm.parseManifest(plain, blobs.blobs.length);
  } catch (e) {
    throw new ItemError(e?.kind === 'newer' ? 'newer' : 'damaged');
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Shows an opened item in `body`: `texts` ([[label, text]], empty texts
 * left out), then a row per file of `manifest` in a list named
 * `filesLabel`, then `hint`. A row's button calls `onSave(row)`, or stops
 * the save under way. Returns the rows ({index, name, file, button,
 * progress, stats, state, controller, item}), which save-file.js fills in.
 */
export async function showItem(body, { manifest, texts, filesLabel, onSave, hint = canPickFiles ? t('receive.saveHintPicker') : t('receive.saveHintDownloads') }) {
  const wasm = await loadWasm();
  const parts = [];
  for (const [label, text] of texts) {
    if (!text) continue;
    parts.push(el('p', 'inbox-label', label));
    parts.push(el('p', 'message', text));
  }
  const list = el('ul', 'file-list file-list-download');
  list.setAttribute('aria-label', filesLabel);
  const rows = manifest.files.map((file, i) => {
    const name = wasm.safeFileName(file.name);
    const li = el('li', 'download');
    const head = el('div', 'download-head');
    const save = el('button', 'button button-small', t('receive.download'));
    save.type = 'button';
    save.setAttribute('aria-label', t('receive.downloadFile', { name }));
    head.append(el('span', 'file-name', name), el('span', 'file-size', formatBytes(file.size)), save);
    const progress = el('progress');
    progress.max = 1000;
    progress.value = 0;
    progress.hidden = true;
    progress.setAttribute('aria-label', t('receive.progressOf', { name }));
    const stats = el('p', 'download-stats');
    const state = el('p', 'download-state');
    state.setAttribute('role', 'status');
    state.setAttribute('aria-live', 'polite');
    li.append(head, progress, stats, state);
    list.append(li);
    const row = { index: i + 1, name, file, button: save, progress, stats, state, controller: null, item: li };
    save.addEventListener('click', () => {
      if (row.controller) row.controller.abort();
      else onSave(row);
    });
    return row;
  });
  parts.push(list);
  if (hint) parts.push(el('p', 'hint', hint));
  body.replaceChildren(...parts);
  body.hidden = false;
  return rows;
}

/** The items a page has open (id → rows), so saves are stopped when they close. */
export class OpenItems {
  #rows = new Map();

  constructor() {
    // Leaving while a file is being saved: the browser asks first.
    addEventListener('beforeunload', (event) => {
      if (this.saving) event.preventDefault();
    });
  }

  has(id) {
    return this.#rows.has(id);
  }

  set(id, rows) {
    this.#rows.set(id, rows);
  }

  /** Stops the saves of item `id` and forgets it. */
  close(id) {
    for (const row of this.#rows.get(id) ?? []) row.controller?.abort();
    this.#rows.delete(id);
  }

  /** Whether a file of any open item is being saved. */
  get saving() {
    return [...this.#rows.values()].some((rows) => rows.some((row) => row.controller));
  }
}

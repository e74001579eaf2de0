// The Office.js calls the task pane and read pane make, as promises with a
// time-out: some hosts never call back (a closed item, a lost connection),
// and a pane that waits for ever looks broken. Nothing here knows Kluis.
//
// Requirement sets (Mailbox): attachments read/remove 1.8, sessionData 1.11;
// everything else is 1.1–1.5. Callers feature-detect with `supports`.

const TIMEOUT_MS = 15_000;

/** An Office.js call that failed or never answered; `code` is Office's error code or 'timeout'. */
export class OfficeError extends Error {
  constructor(what, code, message) {
    super(`${what}: ${message}`);
    this.name = 'OfficeError';
    this.what = what;
    this.code = code;
  }
}

/** Calls an Office-style async method (`callback(result)` last) and resolves with `result.value`. */
export function call(what, start, { timeout = TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new OfficeError(what, 'timeout', 'Outlook did not answer')), timeout);
    try {
      start((result) => {
        clearTimeout(timer);
        if (result?.status === 'failed' || result?.status === Office.AsyncResultStatus?.Failed) {
          reject(new OfficeError(what, result.error?.code ?? 'failed', result.error?.message ?? 'failed'));
        } else {
          resolve(result?.value);
        }
      });
    } catch (e) {
      clearTimeout(timer);
      reject(new OfficeError(what, 'exception', e?.message ?? String(e)));
    }
  });
}

/** Waits for Office.js; resolves with the host info, or null outside Outlook (or when it never answers). */
export function officeReady(timeout = 10_000) {
  if (!globalThis.Office?.onReady) return Promise.resolve(null);
  return Promise.race([
    Office.onReady().then((info) => info ?? {}),
    new Promise((resolve) => setTimeout(() => resolve(null), timeout)),
  ]);
}

/** True if the host supports Mailbox `version` (e.g. '1.8'). */
export function supports(version) {
  return Boolean(globalThis.Office?.context?.requirements?.isSetSupported?.('Mailbox', version));
}

/**
 * Opens `url` in the user's browser, outside Outlook: with Office's own
 * call where the host has it (OpenBrowserWindowApi: Outlook on Windows and
 * Mac, whose webviews cannot do everything a browser can, such as
 * downloads), else as a new window (Outlook on the web is a browser).
 */
export function openInBrowser(url) {
  if (globalThis.Office?.context?.requirements?.isSetSupported?.('OpenBrowserWindowApi', '1.1')) Office.context.ui.openBrowserWindow(url);
  else window.open(url, '_blank', 'noopener');
}

export function mailbox() {
  return Office.context.mailbox;
}

export function item() {
  return Office.context.mailbox.item;
}

/** The signed-in mailbox's address and name (empty outside Outlook). */
export function userProfile() {
  const profile = globalThis.Office?.context?.mailbox?.userProfile;
  return { email: profile?.emailAddress ?? '', name: profile?.displayName ?? '' };
}

function addresses(list) {
  return (list ?? []).map((r) => r.emailAddress).filter(Boolean);
}

/** The compose item's recipients: {to, cc, bcc} as lists of addresses. */
export async function recipients() {
  const it = item();
  const field = (name) => (it[name]?.getAsync ? call(`reading ${name}`, (cb) => it[name].getAsync(cb)).then(addresses) : Promise.resolve([]));
  // One at a time: Outlook on the web allows three calls in flight per add-in.
  const to = await field('to');
  const cc = await field('cc');
  const bcc = await field('bcc');
  return { to, cc, bcc };
}

/** The compose item's subject. */
export function subject() {
  const it = item();
  if (typeof it.subject === 'string') return Promise.resolve(it.subject);
  return call('reading the subject', (cb) => it.subject.getAsync(cb));
}

/** 'html' or 'text'. */
export async function bodyType() {
  const type = await call('reading the body type', (cb) => item().body.getTypeAsync(cb));
  return String(type).toLowerCase() === 'html' ? 'html' : 'text';
}

/** The body as plain text (what the recipient would read). */
export function bodyText() {
  return call('reading the message text', (cb) => item().body.getAsync('text', cb));
}

/** Replaces the whole body. */
export function setBody(data, type) {
  return call('writing the message', (cb) => item().body.setAsync(data, { coercionType: type }, cb));
}

/** Puts `data` at the top of the body. */
export function prependBody(data, type) {
  return call('writing the message', (cb) => item().body.prependAsync(data, { coercionType: type }, cb));
}

/**
 * The item's attachments: {id, name, size, contentType, isInline, kind}
 * where kind is 'file', 'item' (an attached mail) or 'cloud'.
 */
export async function attachments() {
  const it = item();
  const list = it.getAttachmentsAsync
    ? await call('reading the attachments', (cb) => it.getAttachmentsAsync(cb))
    : (it.attachments ?? []);
  return (list ?? []).map((a) => ({
    id: a.id,
    name: a.name,
    size: a.size,
    contentType: a.contentType ?? '',
    isInline: Boolean(a.isInline),
    kind: String(a.attachmentType ?? 'file').toLowerCase(),
  }));
}

/** Decodes base64 in slices so a 25 MB attachment never becomes one giant string copy. */
function base64Bytes(text) {
  const clean = text.replace(/\s/g, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4) - (clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0));
  const SLICE = 1 << 16; // a multiple of 4
  let o = 0;
  for (let i = 0; i < clean.length; i += SLICE) {
    const bin = atob(clean.slice(i, i + SLICE));
    for (let j = 0; j < bin.length; j += 1) out[o++] = bin.charCodeAt(j);
  }
  return out;
}

/**
 * An attachment's bytes as a File (Mailbox 1.8). The time stamp is fixed
 * so the same attachment matches itself after the pane reloads.
 */
export async function attachmentFile(attachment) {
  const content = await call(
    `reading ${attachment.name}`,
    (cb) => item().getAttachmentContentAsync(attachment.id, cb),
    { timeout: 120_000 },
  );
  const format = String(content?.format ?? '').toLowerCase();
  let bytes;
  if (format === 'base64') bytes = base64Bytes(content.content);
  else if (format === 'eml' || format === 'icalendar') bytes = new TextEncoder().encode(content.content);
  else throw new OfficeError(`reading ${attachment.name}`, 'unsupported', `attachments of format ${format} cannot be included`);
  const name = format === 'eml' && !/\.eml$/i.test(attachment.name) ? `${attachment.name}.eml` : attachment.name;
  const type = format === 'eml' ? 'message/rfc822' : attachment.contentType || 'application/octet-stream';
  return new File([bytes], name, { type, lastModified: 0 });
}

export function removeAttachment(id) {
  return call('removing an attachment', (cb) => item().removeAttachmentAsync(id, cb));
}

/** Per-item storage that lives as long as the draft (Mailbox 1.11); null where missing. */
export function sessionData() {
  const data = globalThis.Office?.context?.mailbox?.item?.sessionData;
  if (!data || !supports('1.11')) return null;
  return {
    get: (key) => call('reading the draft state', (cb) => data.getAsync(key, cb)).catch(() => null),
    set: (key, value) => call('saving the draft state', (cb) => data.setAsync(key, value, cb)),
    remove: (key) => call('saving the draft state', (cb) => data.removeAsync(key, cb)).catch(() => {}),
  };
}

// The Sent page (sent.html): the signed-in sender's packages, newest first,
// a page at a time (GET /api/v1/sent), each with what its recipients did
// and a Revoke button. Subjects and file names are encrypted and the server
// never sees them, nor the link key that would open them here, so a package
// is named by what the server knows: when, to whom, how many files, how big.
// An unfinished upload this browser still holds (send-store.js) adds its
// file names, and the send page continues it.
//
// Every package is also encrypted to the sender's own key when they had one
// (uploader.js), so with that key unlocked (user-key.js: the passphrase, in
// a worker; the identity only in this page's memory) a package opens here
// as an inbox item does (item-viewer.js: subject, message, files saved to
// disk with the recipient page's streaming code). Packages older than the
// key were not encrypted to it, and say so.
import { api, ApiError } from '../shared/api.js';
import { formatBytes, formatDate, t, tn, translate } from '../shared/i18n.js';
import { ItemBlobs, ItemError, OpenItems, readManifest, showItem } from '../shared/item-viewer.js';
import { describeError } from '../shared/messages.js';
import { saveRow } from '../shared/save-file.js';
import { listSends } from '../shared/send-store.js';
import { SavedSession } from '../shared/session.js';
import { canPickFiles, registerDownloadWorker } from '../shared/sinks.js';
import { $, Notice, showStep } from '../shared/ui.js';
import { UnlockForm, UserKey } from '../shared/user-key.js';

const TOKEN_KEY = 'kluis.token';
const PAGE = 20;

translate();
document.body.classList.remove('loading');
if (!canPickFiles) registerDownloadWorker();

const notice = new Notice($('#notice'));
const saved = new SavedSession(TOKEN_KEY);
const list = $('#sent-list');
const more = $('#sent-more');
const loading = $('#sent-loading');

/** {token, email} once signed in. */
let session = null;
/** Cursor of the next page; null when there is none. */
let next = null;
/** Unfinished sends of this browser by package id: {files: [{name}]}. */
let unfinished = new Map();
/** GET /key and, once unlocked, the identity (in this page's memory only). */
const userKey = new UserKey({ onChange: () => renderKey() });
/** Opened packages: id → their file rows. */
const opened = new OpenItems();

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function files(pkg) {
  return pkg.blobs.filter((b) => b.index >= 1);
}

/** "both files", "all 3 files", "the file", "1 of 2 files". */
function filesWords(done, all, total) {
  if (all) {
    if (total === 1) return t('sent.files.the');
    if (total === 2) return t('sent.files.both');
    return t('sent.files.all', { n: total });
  }
  return t('sent.files.some', { done, total: tn('common.files', total) });
}

/** One verified recipient's status in words. */
function recipientWords(r, total) {
  if (r.opened_at) {
    const opened = t('sent.r.opened', { date: formatDate(r.opened_at) });
    if (r.files_downloaded === 0) return `${opened}, ${t('sent.r.nothingDownloaded')}`;
    return `${opened}, ${t('sent.r.downloaded', { what: filesWords(r.files_downloaded, r.all_files, total) })}`;
  }
  if (r.code_requested_at) return t('sent.r.codeAsked', { date: formatDate(r.code_requested_at) });
  return t('sent.r.nothing');
}

/** Opens of a package whose recipients are not known by name. */
function anonymousWords(a, total) {
  if (a.opens === 0) return t('sent.anon.none');
  const opened = tn('sent.anon.opened', a.opens, { date: formatDate(a.last_opened_at) });
  if (a.files_downloaded === 0) return opened;
  return `${opened}; ${t('sent.r.downloaded', { what: filesWords(a.files_downloaded, a.all_files, total) })}`;
}

function stateWords(pkg) {
  switch (pkg.state) {
    case 'revoked':
      return t('sent.state.revoked');
    case 'expired':
      return t('sent.state.expired', { date: formatDate(pkg.expires_at) });
    case 'uploading':
      return t('sent.state.uploading');
    default:
      return t('sent.state.ready', { date: formatDate(pkg.expires_at) });
  }
}

function downloadsWords(pkg) {
  if (pkg.max_downloads === null) return tn('sent.downloads.unlimited', pkg.downloads);
  return t('sent.downloads.limited', { n: pkg.downloads, max: pkg.max_downloads, left: pkg.downloads_left });
}

/** The list item of one package (replaced whole when it changes). */
function render(item) {
  const pkg = item;
  const a = item.activity;
  const total = files(pkg).length;
  const size = files(pkg).reduce((sum, b) => sum + b.size, 0);
  const sentAt = formatDate(pkg.created_at);
  const li = el('li', `card sent-item sent-${pkg.state}`);
  li.dataset.id = pkg.id;
  const headingId = `sent-${pkg.id}`;
  li.setAttribute('aria-labelledby', headingId);

  const head = el('div', 'sent-head');
  const h2 = el('h2', 'sent-heading');
  h2.id = headingId;
  // An ended package's blobs are deleted, and with them what the server knew of its files.
  h2.textContent = pkg.blobs.length
    ? t('sent.heading', { date: sentAt, files: tn('common.files', total), size: formatBytes(size) })
    : sentAt;
  head.append(h2, el('span', `badge badge-${pkg.state}`, t(`sent.badge.${pkg.state}`)));
  li.append(head);

  const local = unfinished.get(pkg.id);
  if (local?.files?.length) {
    li.append(el('p', 'sent-local', t('sent.localNames', { names: local.files.map((f) => f.name).join(', ') })));
  }

  const facts = el('p', 'sent-facts');
  facts.append(el('span', '', stateWords(pkg)));
  if (pkg.state !== 'uploading') facts.append(el('span', '', downloadsWords(pkg)));
  li.append(facts);

  const people = el('ul', 'sent-recipients');
  people.setAttribute('aria-label', t('sent.recipientsLabel'));
  if (pkg.verify === 'email') {
    for (const r of a.recipients) {
      const row = el('li');
      row.append(el('span', 'sent-email', r.email), document.createTextNode(`: ${recipientWords(r, total)}`));
      people.append(row);
    }
  } else {
    const who = pkg.recipients.length ? pkg.recipients.join(', ') : t('sent.anyone');
    const row = el('li');
    row.append(el('span', 'sent-email', who), document.createTextNode(`: ${anonymousWords(a, total)}`));
    people.append(row);
  }
  li.append(people);
  if (pkg.verify !== 'email') li.append(el('p', 'sent-note', t('sent.noVerification')));

  // Only a finished package still has its files; only one sent since the key was made is encrypted to it.
  const openable = pkg.state === 'ready' && pkg.blobs.length > 0;
  if (openable && userKey.key && !userKey.existedAt(pkg.created_at)) li.append(el('p', 'sent-note', t('sent.item.beforeKey')));
  if (pkg.state === 'ready' || pkg.state === 'uploading') {
    const actions = el('div', 'actions');
    const to = pkg.recipients.length ? pkg.recipients.join(', ') : t('sent.anyone');
    const body = el('div', 'inbox-body');
    body.hidden = true;
    if (openable && userKey.existedAt(pkg.created_at)) {
      const open = el('button', 'button button-small sent-open', t('sent.item.open'));
      open.type = 'button';
      open.setAttribute('aria-label', t('sent.item.openLabel', { date: sentAt, to }));
      open.setAttribute('aria-expanded', 'false');
      open.addEventListener('click', () => togglePackage(item, li, open, body));
      actions.append(open);
    }
    const revoke = el('button', 'button-danger button-small', t('sent.revoke'));
    revoke.type = 'button';
    revoke.setAttribute('aria-label', t('sent.revokeLabel', { date: sentAt, to }));
    revoke.addEventListener('click', () => revokePackage(item, revoke));
    actions.append(revoke);
    if (pkg.state === 'uploading' && local) {
      actions.append(Object.assign(el('a', 'button-link', t('sent.continue')), { href: '/' }));
    }
    li.append(actions, body);
  }
  return li;
}

// ---------------------------------------------------------------- the key and opened packages

function renderKey() {
  const key = userKey.key;
  $('#key-card').hidden = !userKey.state;
  $('#key-none').hidden = Boolean(key);
  $('#key-locked').hidden = !key || Boolean(userKey.identity);
  $('#key-unlocked').hidden = !key || !userKey.identity;
}

async function loadKey() {
  try {
    await userKey.load(session.token);
  } catch (e) {
    if (e?.status === 401) return signedOut();
    // Without the key's state the list still shows; nothing offers to open.
    notice.error(describeError(e));
  }
}

new UnlockForm({
  userKey,
  notice,
  onUnlocked: (key) => {
    // The inbox asks for the user's own passphrase after a recovery; here it is only said.
    notice.success(key.must_change_passphrase ? t('sent.key.mustChange') : t('key.unlocked'));
    $('#lock').focus();
  },
});

/** Hides every opened package and stops its saves. */
function closeAll() {
  for (const li of list.children) closePackage(li);
}

function lockKey() {
  closeAll();
  userKey.lock();
}

$('#lock').addEventListener('click', () => {
  lockKey();
  notice.info(t('key.locked'));
  $('#unlock-passphrase').focus();
});

function blobsOf(pkg) {
  return new ItemBlobs(`/api/v1/packages/${encodeURIComponent(pkg.id)}/blobs`, pkg.blobs);
}

function closePackage(li) {
  opened.close(li.dataset.id);
  const body = li.querySelector('.inbox-body');
  if (body) {
    body.replaceChildren();
    body.hidden = true;
  }
  const open = li.querySelector('.sent-open');
  if (open) {
    open.textContent = t('sent.item.open');
    open.setAttribute('aria-expanded', 'false');
  }
}

/** Words for an ItemError's kind. */
const UNOPENABLE = { other_key: 'sent.item.otherKey', damaged: 'sent.item.damaged', newer: 'inbox.newer' };

async function togglePackage(pkg, li, control, body) {
  if (opened.has(pkg.id)) {
    closePackage(li);
    return;
  }
  notice.clear();
  if (!userKey.identity) {
    notice.error(t('inbox.unlockFirst'));
    $('#unlock-passphrase').focus();
    return;
  }
  control.disabled = true;
  try {
    const manifest = await readManifest(blobsOf(pkg), { identity: userKey.identity, token: session.token });
    const rows = await showItem(body, {
      manifest,
      texts: [[t('sent.item.subject'), manifest.subject], [t('inbox.message'), manifest.message]],
      filesLabel: t('sent.item.filesOf', { date: formatDate(pkg.created_at) }),
      onSave: (row) => saveFile(pkg, row),
    });
    opened.set(pkg.id, rows);
  } catch (e) {
    if (e instanceof ItemError) notice.error(t(UNOPENABLE[e.kind]));
    else if (e?.status === 401) signedOut();
    else if (e instanceof ApiError && e.status === 404) notice.error(t('sent.item.gone'));
    else notice.error(describeError(e));
    return;
  } finally {
    control.disabled = false;
  }
  control.textContent = t('sent.item.hide');
  control.setAttribute('aria-expanded', 'true');
}

async function saveFile(pkg, row) {
  if (!userKey.identity) {
    notice.error(t('inbox.unlockFirst'));
    return;
  }
  await saveRow(row, {
    blob: blobsOf(pkg).at(row.index),
    identity: userKey.identity,
    token: session.token,
    messages: { session: t('error.signedOutInbox'), gone: t('sent.item.gone') },
    onDamaged: (text) => notice.error(text),
  });
}

async function revokePackage(item, button) {
  const to = item.recipients.length ? item.recipients.join(', ') : t('sent.anyone');
  if (!confirm(t('sent.revokeConfirm', { date: formatDate(item.created_at), to }))) return;
  button.disabled = true;
  try {
    await api(`/packages/${item.id}/revoke`, { method: 'POST', token: session.token, body: {} });
    const fresh = await api(`/packages/${item.id}`, { token: session.token });
    const updated = { ...item, ...fresh, activity: fresh.activity };
    const old = list.querySelector(`[data-id="${item.id}"]`);
    closePackage(old);
    const li = render(updated);
    old.replaceWith(li);
    notice.success(t('sent.revoked'));
    const heading = li.querySelector('h2');
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  } catch (e) {
    button.disabled = false;
    if (e?.status === 401) return signedOut();
    notice.error(describeError(e));
  }
}

async function loadPage() {
  more.hidden = true;
  loading.textContent = t('sent.loading');
  try {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (next) query.set('cursor', next);
    const page = await api(`/sent?${query}`, { token: session.token });
    const first = list.children.length === 0;
    for (const item of page.packages) list.append(render(item));
    next = page.next;
    more.hidden = !next;
    $('#sent-empty').hidden = !(first && page.packages.length === 0);
    loading.textContent = first ? '' : tn('sent.loaded', page.packages.length);
  } catch (e) {
    loading.textContent = '';
    if (e?.status === 401) return signedOut();
    more.hidden = !next;
    notice.error(describeError(e));
  }
}

function signedOut() {
  session = null;
  lockKey();
  saved.forget();
  $('#account').hidden = true;
  showStep($('#step-signin'));
}

more.addEventListener('click', async () => {
  const count = list.children.length;
  await loadPage();
  // Keyboard users continue at the first new package.
  list.children[count]?.querySelector('h2')?.setAttribute('tabindex', '-1');
  list.children[count]?.querySelector('h2')?.focus();
});

async function start() {
  try {
    session = await saved.check();
  } catch (e) {
    notice.error(describeError(e));
    return;
  }
  if (!session) return signedOut();
  $('#account-email').textContent = session.email;
  $('#account').hidden = false;
  const [sends] = await Promise.all([listSends(session.email).catch(() => []), loadKey()]);
  if (!session) return; // signed out meanwhile
  unfinished = new Map(sends.map((s) => [s.id, s]));
  showStep($('#step-list'), { focus: false });
  await loadPage();
}

start();

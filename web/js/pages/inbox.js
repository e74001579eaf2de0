// The inbox (inbox.html, served at /inbox; docs/inbound.md): the signed-in
// user's own key, their upload requests, and what came in through them.
//
// The key is an age X25519 identity made in this browser. The server keeps
// it only wrapped with the user's passphrase (scrypt 2^18, armored) and,
// when the organisation turned recovery on, encrypted to the organisation's
// recovery recipient. Making and wrapping run in a Web Worker here;
// unlocking, and the identity held only in this page's memory until it is
// locked or the page is left, are user-key.js's (shared with the Sent page
// and the Outlook task pane).
//
// Received items are opened with that identity by item-viewer.js: the
// manifest (blob 0) is decrypted, and each file is downloaded, decrypted and
// checked by the recipient page's streaming code (save-file.js) with the
// user's own token.
import { api, ApiError } from '../shared/api.js';
import { formatBytes, formatDate, t, tn, translate } from '../shared/i18n.js';
import { ItemBlobs, ItemError, itemHeading, OpenItems, readManifest, showItem, UNOPENABLE } from '../shared/item-viewer.js';
import { describeError } from '../shared/messages.js';
import { SavedSession } from '../shared/session.js';
import { codeMethods, SignInStep } from '../shared/signin.js';
import { saveRow } from '../shared/save-file.js';
import { canPickFiles, registerDownloadWorker } from '../shared/sinks.js';
import { $, busy, copyField, EMAIL, fieldError, Notice, showStep } from '../shared/ui.js';
import { inWorker, MIN_PASSPHRASE, UnlockForm, UserKey } from '../shared/user-key.js';
import { bindVerifyToAddresses } from '../shared/verify-choice.js';
import { loadWasm } from '../shared/wasm.js';

const TOKEN_KEY = 'kluis.token';
const PAGE = 20;

translate();
document.body.classList.remove('loading');
if (!canPickFiles) registerDownloadWorker();

const notice = new Notice($('#notice'));
const saved = new SavedSession(TOKEN_KEY);

/** {token, email} once signed in. */
let session = null;
/** GET /key and, once unlocked, the identity (in this page's memory only). */
const userKey = new UserKey({ onChange: () => renderKey() });
/** Making a key again after a forgotten passphrase (PUT /key with replace). */
let replacing = false;
/** Cursor of the next inbox page. */
let next = null;
/** Opened items: id → their file rows. */
const opened = new OpenItems();

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(text, className = 'button-secondary button-small') {
  const b = el('button', className, text);
  b.type = 'button';
  return b;
}

// ---------------------------------------------------------------- sign-in

const signin = new SignInStep({
  notice,
  methods: codeMethods(),
  onSignedIn: async (signed) => {
    session = signed;
    saved.remember(session);
    await signedIn();
  },
});

function showSignIn() {
  $('#account').hidden = true;
  signin.show();
  showStep($('#step-signin'));
}

/** Ends the sign-in on this page; the key is locked with it. */
function signedOut(message = t('error.signedOutInbox')) {
  session = null;
  lockKey();
  saved.forget();
  showSignIn();
  if (message) notice.error(message);
}

/** Handles a 401 from any call: true when it did. */
function handleSignedOut(e) {
  if (e instanceof ApiError && e.status === 401) {
    signedOut();
    return true;
  }
  return false;
}

$('#sign-out').addEventListener('click', () => {
  const token = session?.token;
  signedOut(null);
  if (token) api('/auth/logout', { method: 'POST', token }).catch(() => {});
  notice.info(t('signin.signedOut'));
});

addEventListener('storage', (event) => {
  if (event.key === TOKEN_KEY && session && !saved.read()) signedOut(t('signin.signedOut'));
});

async function start() {
  loadWasm().catch(() => {});
  try {
    session = await saved.check();
  } catch (e) {
    notice.error(describeError(e));
    return;
  }
  if (session) await signedIn();
  else showSignIn();
}

async function signedIn() {
  $('#account').hidden = false;
  $('#account-email').textContent = session.email;
  notice.clear();
  showStep($('#step-main'), { focus: false });
  await Promise.all([loadKey(), loadRequests(), loadInbox(true)]);
}

// ---------------------------------------------------------------- the key

async function loadKey() {
  $('#key-loading').hidden = false;
  for (const id of ['#key-new', '#key-locked', '#key-unlocked']) $(id).hidden = true;
  try {
    await userKey.load(session.token);
  } catch (e) {
    if (!handleSignedOut(e)) notice.error(describeError(e));
  } finally {
    $('#key-loading').hidden = true;
  }
}

function renderKey() {
  if (!userKey.state) return;
  const key = userKey.key;
  const identity = userKey.identity;
  const making = !key || replacing;
  $('#key-new').hidden = !making;
  $('#key-locked').hidden = making || Boolean(identity);
  $('#key-unlocked').hidden = making || !identity;
  if (making) {
    $('#key-new-intro').textContent = t(replacing ? 'key.replaceIntro' : 'key.newIntro');
    $('#key-new-warning').textContent = t(userKey.state.recovery_recipient ? 'key.warningRecovery' : 'key.warning');
    $('#key-new-submit').textContent = t(replacing ? 'key.makeNew' : 'key.make');
    $('#key-new-cancel').hidden = !replacing;
  }
  $('#key-facts').textContent = key && !making
    ? `${t(key.recoverable ? 'key.factsRecoverable' : 'key.facts', { date: formatDate(key.created_at) })} ${t(keyKindWords(key))}`
    : '';
  renderReceivedHint();
}

/**
 * The i18n key naming the kind of `key` (docs/architecture.md §3): the server keeps recipients in
 * their canonical lower-case form, whose prefix tells the kind.
 */
function keyKindWords(key) {
  return key.recipient.startsWith('age1pq1') ? 'key.kindPostQuantum' : 'key.kindClassic';
}

/** `[passphrase, problem]` of a pair of fields that must agree. */
function readPassphrase(first, second) {
  const passphrase = first.value;
  fieldError(first, '', { focus: false });
  fieldError(second, '', { focus: false });
  if (passphrase.length < MIN_PASSPHRASE) {
    fieldError(first, t('key.tooShort', { n: MIN_PASSPHRASE }));
    return null;
  }
  if (second.value !== passphrase) {
    fieldError(second, t('key.mismatch'));
    return null;
  }
  return passphrase;
}

/** Words for a refused PUT /key. */
function keyRefusal(e) {
  if (e instanceof ApiError) {
    if (e.code === 'key_exists') return t('key.exists');
    if (e.code === 'recovery_required') return t('key.recoveryRequired');
    if (e.code === 'invalid_key') return t('key.invalid');
  }
  return describeError(e);
}

$('#key-new-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const passphrase = readPassphrase($('#new-passphrase'), $('#new-passphrase-again'));
  if (!passphrase) return;
  notice.clear();
  await busy(event.currentTarget, async () => {
    $('#key-new-status').textContent = t('key.making');
    try {
      const recovery = userKey.state?.recovery_recipient ?? undefined;
      const made = await inWorker((w) => w.makeKey(passphrase, recovery, $('#new-post-quantum').checked));
      const body = { recipient: made.recipient, wrapped: made.wrapped, replace: replacing };
      if (made.recovery) body.recovery = made.recovery;
      const view = await api('/key', { method: 'PUT', token: session.token, body });
      const wasReplacing = replacing;
      replacing = false;
      $('#new-passphrase').value = '';
      $('#new-passphrase-again').value = '';
      $('#new-post-quantum').checked = false;
      userKey.update({ ...userKey.state, key: view }, made.identity);
      notice.success(t(wasReplacing ? 'key.replaced' : 'key.made'));
      if (wasReplacing) closeAllItems();
    } catch (e) {
      if (handleSignedOut(e)) return;
      notice.error(keyRefusal(e));
      // Someone (another device) made a key meanwhile, or the organisation turned recovery on: ask again.
      if (e instanceof ApiError && (e.code === 'key_exists' || e.code === 'recovery_required')) await loadKey();
    } finally {
      $('#key-new-status').textContent = '';
    }
  });
});

$('#key-new-cancel').addEventListener('click', () => {
  replacing = false;
  notice.clear();
  renderKey();
  $('#unlock-passphrase').focus();
});

new UnlockForm({
  userKey,
  notice,
  onUnlocked: (key) => {
    if (key.must_change_passphrase) {
      // An admin recovered the key under a passphrase they know: the user's own, right away.
      openChange();
      // The intro says why; the field names it (aria-describedby), so it is read with the focus.
      $('#change-intro').textContent = t('key.mustChange');
      $('#change-passphrase').focus();
    } else {
      notice.success(t('key.unlocked'));
      $('#lock').focus();
    }
  },
});

/** Forgets the unlocked identity and hides everything it opened. */
function lockKey() {
  closeAllItems();
  userKey.lock();
}

$('#lock').addEventListener('click', () => {
  lockKey();
  $('#change-form').hidden = true;
  notice.info(t('key.locked'));
  $('#unlock-passphrase').focus();
});

$('#forgot').addEventListener('click', () => {
  if (!confirm(t('key.forgotConfirm'))) return;
  replacing = true;
  notice.clear();
  renderKey();
  $('#new-passphrase').focus();
});

function openChange() {
  $('#change-intro').textContent = t('key.changeIntro');
  $('#change-form').hidden = false;
  $('#change-open').hidden = true;
  $('#change-passphrase').focus();
}

function closeChange() {
  $('#change-form').hidden = true;
  $('#change-open').hidden = false;
  $('#change-passphrase').value = '';
  $('#change-passphrase-again').value = '';
}

$('#change-open').addEventListener('click', openChange);
$('#change-cancel').addEventListener('click', () => {
  closeChange();
  $('#change-open').focus();
});

$('#change-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const passphrase = readPassphrase($('#change-passphrase'), $('#change-passphrase-again'));
  if (!passphrase || !userKey.identity) return;
  notice.clear();
  await busy(event.currentTarget, async () => {
    $('#change-status').textContent = t('key.making');
    try {
      const key = userKey.key;
      const recovery = userKey.state.recovery_recipient ?? undefined;
      const wrapped = await inWorker((w) => w.wrapKey(userKey.identity, passphrase, recovery));
      const body = { recipient: key.recipient, wrapped: wrapped.wrapped, replace: false };
      if (wrapped.recovery) body.recovery = wrapped.recovery;
      const view = await api('/key', { method: 'PUT', token: session.token, body });
      closeChange();
      userKey.update({ ...userKey.state, key: view });
      notice.success(t('key.changed'));
    } catch (e) {
      if (handleSignedOut(e)) return;
      notice.error(keyRefusal(e));
    } finally {
      $('#change-status').textContent = '';
    }
  });
});

// ---------------------------------------------------------------- requests

function parseEmails(text) {
  return [...new Set(text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean))];
}

// Naming addresses makes the code compulsory (docs/inbound.md): the box says so.
bindVerifyToAddresses($('#request-emails'), $('#request-verify'));

/** The link an uploader opens: the request's URL and the user's recipient after the #. */
async function requestLink(view) {
  const wasm = await loadWasm();
  const server = view.url.slice(0, view.url.lastIndexOf('/r/'));
  return wasm.formatRequestLink(server, view.id, view.recipient);
}

/** Whether a request encrypts to this user's own key (the page never hands out a link to another). */
function ownKey(view) {
  return Boolean(userKey.key) && view.recipient === userKey.key.recipient;
}

$('#request-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  notice.clear();
  const emailsInput = $('#request-emails');
  const uploadsInput = $('#request-uploads');
  const emails = parseEmails(emailsInput.value);
  const bad = emails.find((e) => !EMAIL.test(e));
  fieldError(emailsInput, bad ? t('send.badRecipient', { address: bad }) : '', { focus: Boolean(bad) });
  const uploads = Number(uploadsInput.value);
  const uploadsOk = Number.isInteger(uploads) && uploads >= 1 && uploads <= 1000;
  fieldError(uploadsInput, uploadsOk ? '' : t('request.badUploads'), { focus: !bad && !uploadsOk });
  if (bad || !uploadsOk) return;
  if (!userKey.key) {
    notice.error(t('request.noKey'));
    $('#new-passphrase').focus();
    return;
  }
  const body = {
    emails,
    expires_in_days: Number($('#request-days').value),
    max_uploads: uploads,
    verify: emails.length || $('#request-verify').checked ? 'email' : 'none',
  };
  const note = $('#request-note').value.trim();
  if (note) body.message = note;
  if ($('#request-size').value) body.max_bytes = Number($('#request-size').value);
  await busy(event.currentTarget, async () => {
    try {
      const view = await api('/requests', { method: 'POST', token: session.token, body });
      if (!ownKey(view)) throw new Error(t('request.notOwnKey'));
      await showRequestDone(view, await requestLink(view));
      await loadRequests();
    } catch (e) {
      if (handleSignedOut(e)) return;
      if (e instanceof ApiError && e.code === 'no_key') {
        notice.error(t('request.noKey'));
        await loadKey();
        return;
      }
      if (e instanceof ApiError && e.code === 'invalid_email') {
        fieldError(emailsInput, t('send.badRecipientServer'));
        return;
      }
      if (e instanceof ApiError && e.code === 'feature_not_licensed') {
        notice.error(t('request.notLicensed'));
        return;
      }
      notice.error(e instanceof ApiError || e?.name === 'NetworkError' ? describeError(e) : e.message);
    }
  });
});

async function showRequestDone(view, link) {
  $('#request-link').value = link;
  const query = new URLSearchParams({ subject: t('request.mailSubject'), body: `${t('request.mailBody')}\n\n${link}\n` });
  $('#request-mail').href = `mailto:${view.emails.map(encodeURIComponent).join(',')}?${query.toString().replace(/\+/g, '%20')}`;
  $('#request-copy-status').textContent = '';
  $('#request-form').hidden = true;
  $('#request-done').hidden = false;
  $('#request-done-title').focus();
}

$('#request-copy').addEventListener('click', () => copyField($('#request-link'), $('#request-copy-status'), t('done.copied')));
$('#request-link').addEventListener('focus', (event) => event.currentTarget.select());

$('#request-another').addEventListener('click', () => {
  $('#request-form').reset();
  $('#request-done').hidden = true;
  $('#request-form').hidden = false;
  $('#request-emails').focus();
});

function requestItem(view) {
  const li = el('li', `card inbox-item request-${view.state}`);
  li.dataset.id = view.id;
  const headingId = `request-${view.id}`;
  li.setAttribute('aria-labelledby', headingId);
  const head = el('div', 'sent-head');
  const who = view.emails.length ? view.emails.join(', ') : t('request.anyone');
  const h = el('h4', 'sent-heading', t('request.heading', { date: formatDate(view.created_at), who }));
  h.id = headingId;
  head.append(h, el('span', `badge badge-${view.state}`, t(`request.state.${view.state}`)));
  li.append(head);
  const facts = el('p', 'sent-facts');
  facts.append(
    el('span', '', t('request.uploadsOf', { n: view.uploads, max: view.max_uploads })),
    el('span', '', t(view.state === 'open' ? 'request.until' : 'request.untilWas', { date: formatDate(view.expires_at) })),
    el('span', '', t('request.upTo', { size: formatBytes(view.max_bytes) })),
    el('span', '', t(view.verify === 'email' ? 'request.withCode' : 'request.withoutCode')),
  );
  li.append(facts);
  if (view.message) li.append(el('p', 'sent-note', view.message));
  if (view.state === 'open') {
    const actions = el('div', 'actions');
    if (ownKey(view)) {
      const copy = button(t('done.copy'));
      copy.setAttribute('aria-label', t('request.copyLabel', { who }));
      const status = el('span', 'hint');
      status.setAttribute('role', 'status');
      copy.addEventListener('click', async () => {
        const link = await requestLink(view);
        try {
          await navigator.clipboard.writeText(link);
          status.textContent = t('done.copied');
        } catch {
          status.textContent = link;
        }
      });
      actions.append(copy, status);
    }
    const close = button(t('request.close'), 'button-danger button-small');
    close.setAttribute('aria-label', t('request.closeLabel', { who }));
    close.addEventListener('click', () => closeRequest(view, close));
    actions.append(close);
    li.append(actions);
  }
  return li;
}

async function closeRequest(view, control) {
  if (!confirm(t('request.closeConfirm'))) return;
  control.disabled = true;
  try {
    const fresh = await api(`/requests/${encodeURIComponent(view.id)}/close`, { method: 'POST', token: session.token, body: {} });
    const li = requestItem(fresh);
    $('#request-list').querySelector(`[data-id="${view.id}"]`)?.replaceWith(li);
    notice.success(t('request.closed'));
    li.querySelector('h4').setAttribute('tabindex', '-1');
    li.querySelector('h4').focus();
  } catch (e) {
    control.disabled = false;
    if (!handleSignedOut(e)) notice.error(describeError(e));
  }
}

async function loadRequests() {
  try {
    const { requests } = await api('/requests', { token: session.token });
    $('#request-list').replaceChildren(...requests.map(requestItem));
    $('#request-empty').hidden = requests.length > 0;
  } catch (e) {
    if (!handleSignedOut(e)) notice.error(describeError(e));
  }
}

// ---------------------------------------------------------------- received

function renderReceivedHint() {
  const count = $('#inbox-list').children.length;
  $('#received-hint').textContent = !count ? '' : userKey.identity ? t('inbox.openHint') : userKey.key ? t('inbox.lockedHint') : '';
}

function blobsOf(item) {
  return new ItemBlobs(`/api/v1/inbox/${encodeURIComponent(item.id)}/blobs`, item.blobs);
}

function inboxItem(item) {
  const li = el('li', 'card inbox-item');
  li.dataset.id = item.id;
  const headingId = `item-${item.id}`;
  li.setAttribute('aria-labelledby', headingId);
  const head = el('div', 'sent-head');
  const h = el('h3', 'sent-heading', itemHeading(item));
  h.id = headingId;
  head.append(h, el('span', `badge ${item.verified ? 'badge-verified' : 'badge-unverified'}`, t(item.verified ? 'inbox.verified' : 'inbox.unverified')));
  li.append(head);
  const files = item.blobs.filter((b) => b.index >= 1).length;
  const facts = el('p', 'sent-facts');
  facts.append(
    el('span', '', t('inbox.receivedAt', { date: formatDate(item.received_at) })),
    el('span', '', `${tn('common.files', files)}, ${formatBytes(item.size)}`),
    el('span', '', t('inbox.keptUntil', { date: formatDate(item.expires_at) })),
  );
  li.append(facts);
  if (item.kind === 'reply') li.append(replyNote(item));
  // A colleague's package is theirs to revoke: it leaves this inbox with it.
  if (item.kind === 'package') li.append(el('p', 'sent-note', t('inbox.packageNote')));
  if (!item.verified) li.append(el('p', 'sent-note', t('inbox.unverifiedNote')));
  const body = el('div', 'inbox-body');
  body.hidden = true;
  const actions = el('div', 'actions');
  const open = button(t('inbox.open'), 'button button-small');
  open.setAttribute('aria-label', t('inbox.openLabel', { from: item.from, date: formatDate(item.received_at) }));
  open.setAttribute('aria-expanded', 'false');
  open.addEventListener('click', () => toggleItem(item, li, open, body));
  const remove = button(t('inbox.delete'), 'button-danger button-small');
  remove.setAttribute('aria-label', t('inbox.deleteLabel', { from: item.from, date: formatDate(item.received_at) }));
  remove.addEventListener('click', () => deleteItem(item, li, remove));
  actions.append(open);
  // Answering goes through the send page with the address filled in (send.js reads ?to=).
  if (EMAIL.test(item.from)) {
    const answer = el('a', 'button-secondary button-small', t('inbox.reply'));
    answer.href = `/?to=${encodeURIComponent(item.from)}`;
    answer.setAttribute('aria-label', t('inbox.replyLabel', { from: item.from }));
    actions.append(answer);
  }
  if (item.kind !== 'package') actions.append(remove);
  li.append(actions, body);
  return li;
}

/**
 * A reply's note: "Reply to the files you sent on <date>" once the package
 * it answers is known (GET /packages/<id>, the user's own), else in general.
 */
function replyNote(item) {
  const note = el('p', 'sent-note', t('inbox.replyNote'));
  if (item.reply_to) {
    api(`/packages/${encodeURIComponent(item.reply_to)}`, { token: session.token })
      .then((sent) => {
        if (sent?.created_at) note.textContent = t('inbox.replyTo', { date: formatDate(sent.created_at) });
      })
      .catch(() => {
        // deleted or expired meanwhile: the general note stays
      });
  }
  return note;
}

function closeItem(li) {
  const body = li.querySelector('.inbox-body');
  opened.close(li.dataset.id);
  body.replaceChildren();
  body.hidden = true;
  const open = li.querySelector('.actions .button');
  open.textContent = t('inbox.open');
  open.setAttribute('aria-expanded', 'false');
}

function closeAllItems() {
  for (const li of $('#inbox-list').children) closeItem(li);
}


async function toggleItem(item, li, control, body) {
  if (opened.has(item.id)) {
    closeItem(li);
    return;
  }
  notice.clear();
  if (!userKey.identity) {
    notice.error(t(userKey.key ? 'inbox.unlockFirst' : 'inbox.noKey'));
    (userKey.key ? $('#unlock-passphrase') : $('#new-passphrase')).focus();
    return;
  }
  control.disabled = true;
  try {
    const manifest = await readManifest(blobsOf(item), { identity: userKey.identity, token: session.token });
    const rows = await showItem(body, {
      manifest,
      texts: [[t('inbox.message'), manifest.message]],
      filesLabel: t('inbox.filesOf', { from: item.from }),
      onSave: (row) => saveFile(item, row),
    });
    opened.set(item.id, rows);
  } catch (e) {
    if (e instanceof ItemError) {
      notice.error(t(UNOPENABLE[e.kind]));
      return;
    }
    if (handleSignedOut(e)) return;
    if (e instanceof ApiError && e.status === 404) {
      notice.error(t('inbox.gone'));
      li.remove();
      return;
    }
    notice.error(describeError(e));
    return;
  } finally {
    control.disabled = false;
  }
  control.textContent = t('inbox.hide');
  control.setAttribute('aria-expanded', 'true');
}

async function saveFile(item, row) {
  if (!userKey.identity) {
    notice.error(t('inbox.unlockFirst'));
    return;
  }
  await saveRow(row, {
    blob: blobsOf(item).at(row.index),
    identity: userKey.identity,
    token: session.token,
    messages: { session: t('error.signedOutInbox'), gone: t('inbox.gone') },
    onDamaged: (text) => notice.error(text),
  });
}

async function deleteItem(item, li, control) {
  if (!confirm(t('inbox.deleteConfirm', { from: item.from, date: formatDate(item.received_at) }))) return;
  control.disabled = true;
  try {
    await api(`/inbox/${encodeURIComponent(item.id)}`, { method: 'DELETE', token: session.token });
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) {
      control.disabled = false;
      if (!handleSignedOut(e)) notice.error(describeError(e));
      return;
    }
  }
  closeItem(li);
  li.remove();
  $('#inbox-empty').hidden = $('#inbox-list').children.length > 0;
  renderReceivedHint();
  notice.success(t('inbox.deleted'));
  $('#received-title').setAttribute('tabindex', '-1');
  $('#received-title').focus();
}

async function loadInbox(first = false) {
  const more = $('#inbox-more');
  const loading = $('#inbox-loading');
  if (first) {
    next = null;
    closeAllItems();
    $('#inbox-list').replaceChildren();
  }
  more.hidden = true;
  loading.textContent = t('sent.loading');
  try {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (next) query.set('cursor', next);
    const page = await api(`/inbox?${query}`, { token: session.token });
    for (const item of page.items) $('#inbox-list').append(inboxItem(item));
    next = page.next ?? null;
    more.hidden = !next;
    $('#inbox-empty').hidden = $('#inbox-list').children.length > 0;
    loading.textContent = first ? '' : tn('inbox.loaded', page.items.length);
  } catch (e) {
    loading.textContent = '';
    more.hidden = !next;
    if (!handleSignedOut(e)) notice.error(describeError(e));
  }
  renderReceivedHint();
}

$('#inbox-more').addEventListener('click', async () => {
  const count = $('#inbox-list').children.length;
  await loadInbox();
  const heading = $('#inbox-list').children[count]?.querySelector('h3');
  heading?.setAttribute('tabindex', '-1');
  heading?.focus();
});

start();

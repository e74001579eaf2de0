// The recipient page (receive.html, served at /p/<id>#<L>), step for step
// as `kluis receive` (cli/src/receive.rs): read the package status, show who
// sent it (with the link proof A_L, which needs no password; docs/architecture.md
// §3, link proof), ask for the password and stretch it, compute the access proof A from L (the
// link's fragment, which never leaves this page) and the stretched password
// (docs/architecture.md §3, access proof), verify the e-mail address with a code when
// the sender asked for it (the code request carries A, so a wrong password
// is refused before any mail is sent), call access with A (which counts a
// download; a wrong A counts nothing), derive the package identity from L,
// S and the stretched password, decrypt the small manifest (should a
// wrong password still get this far, it is retried on it without another
// access), then download and decrypt each file straight to disk
// (downloader.js, sinks.js). Once the files are open, the recipient can
// reply securely (docs/inbound.md): POST /p/<id>/reply with the download
// session names the sender's key and an uploader session, and the reply
// (a message, files) is encrypted on this page to that key and sent like
// an upload through a request (delivery-form.js).
import { api, ApiError } from '../shared/api.js';
import { CryptoWorker } from '../shared/crypto-client.js';
import { DeliveryForm } from '../shared/delivery-form.js';
import { fetchBlob } from '../shared/downloader.js';
import { formatBytes, formatDate, lang, t, tn, translate } from '../shared/i18n.js';
import { describeError } from '../shared/messages.js';
import { deleteSend, listSends } from '../shared/send-store.js';
import { runCodec } from '../shared/run-codec.js';
import { saveRow } from '../shared/save-file.js';
import { canPickFiles, canPickFolder, FolderTarget, registerDownloadWorker } from '../shared/sinks.js';
import { $, busy, Countdown, emailIn, fieldError, Notice, showStep, waitOf } from '../shared/ui.js';
import { loadWasm } from '../shared/wasm.js';

/** Largest encrypted manifest accepted (the manifest itself is at most 1 MiB). */
const MAX_MANIFEST = 2 << 20;
/** How long the first step waits for the sender card before it shows without it. */
const SENDER_WAIT_MS = 2000;

translate();
document.body.classList.remove('loading');
if (!canPickFiles) registerDownloadWorker();

const notice = new Notice($('#notice'));
const packageId = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() ?? '');
const SESSION_KEY = `kluis.download.${packageId}`;

let wasm;
let linkSecret;
/** GET /p/<id>: {verify, password, expires_at, downloads_left, blob_count}. */
let status;
/** POST /p/<id>/sender: {sender: {email, name}, organisation, files, sent_at}; null if unknown. */
let sender = null;
/** POST /p/<id>/access: {server_share, download_token, blobs, downloads_left, session_expires_at}. */
let access = null;
let email = '';
/** P' (Uint8Array) once the password is entered; null without a password or before. */
let stretched = null;
/** The access proof A (base64url) for the code request and access, once computed. */
let proof = null;
/** Whether a code was asked for (with A) for `email`. */
let codeRequested = false;
let manifestCipher = null;
let identity = null;
let manifest = null;

// ---------------------------------------------------------------- status

function unavailable(kind) {
  const titles = {
    expired: 'unavailable.expiredTitle',
    revoked: 'unavailable.revokedTitle',
    download_limit_reached: 'unavailable.limitTitle',
    not_found: 'unavailable.notFoundTitle',
    cut: 'unavailable.cutTitle',
    bad_link: 'unavailable.badLinkTitle',
    wrong_link: 'unavailable.wrongLinkTitle',
    damaged: 'unavailable.damagedTitle',
    newer: 'unavailable.newerTitle',
  };
  const key = titles[kind] ?? 'unavailable.notFoundTitle';
  $('#unavailable-title').textContent = t(key);
  $('#unavailable-text').textContent = t(key.replace('Title', 'Text'));
  notice.clear();
  showStep($('#step-unavailable'));
}

/** Handles the errors any recipient call can meet; returns false if it did not. */
function handleGone(e) {
  if (e instanceof ApiError) {
    if (['expired', 'revoked', 'download_limit_reached'].includes(e.code)) {
      forgetSession();
      unavailable(e.code);
      return true;
    }
    if (e.status === 404) {
      forgetSession();
      unavailable('not_found');
      return true;
    }
  }
  return false;
}

/**
 * Handles the server refusing the access proof (403, nothing counted):
 * `wrong_password` asks for the password again, `wrong_link` (no password:
 * L is wrong) means the link was damaged. Returns false for other errors.
 */
function handleRefused(e) {
  if (!(e instanceof ApiError && e.status === 403)) return false;
  if (e.code === 'wrong_password' && status.password) {
    stretched = null;
    proof = null;
    showUnlock({ refused: true });
    return true;
  }
  if (e.code === 'wrong_password' || e.code === 'wrong_link') {
    forgetSession();
    unavailable('wrong_link');
    return true;
  }
  return false;
}

/** A from L and P' (cheap: one HKDF). Key errors come typed (`kind`) from the wasm module. */
function accessProof() {
  proof ??= wasm.accessProof(packageId, linkSecret, stretched ?? undefined);
  return proof;
}

/** Handles a typed key error from the wasm module; returns false for other errors. */
function handleKeyError(e) {
  if (!e?.kind) return false;
  unavailable(e.kind === 'invalid_id' ? 'not_found' : 'bad_link');
  return true;
}

function facts() {
  const parts = [t('receive.expires', { date: formatDate(status.expires_at) })];
  // Once this page holds a download session its download is counted: what is left is "after this".
  const left = status.downloads_left;
  if (left === 0 && access) parts.push(t('receive.noneLeftAfter'));
  else if (left !== null && left !== undefined) parts.push(tn(access ? 'receive.downloadsLeftAfter' : 'receive.downloadsLeft', left));
  return parts.join(' ');
}

function showFacts() {
  for (const id of ['#facts-email', '#facts-unlock', '#facts-files']) $(id).textContent = status ? facts() : '';
}

/** "27 November 2026": the day only. */
function formatDay(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : lang, { dateStyle: 'long' }).format(date);
}

/** The card above the questions: who sent the files, so the page does not look like phishing. */
function showSender() {
  let text = '';
  if (sender) {
    const { email: from, name } = sender.sender;
    const who = name ? `${name} <${from}>` : from;
    text = tn('receive.from', sender.files, { sender: who, organisation: sender.organisation, date: formatDay(sender.sent_at) });
  }
  for (const id of ['#sender-email', '#sender-unlock']) {
    $(id).textContent = text;
    $(id).hidden = !text;
  }
}

/**
 * Asks who sent the package with the link proof A_L (L alone, no password;
 * it unlocks nothing else and counts nothing). Any failure only leaves the
 * card out: it never stands in the way of opening.
 */
async function loadSender() {
  try {
    const linkProof = wasm.linkProof(packageId, linkSecret);
    sender = await api(`/p/${encodeURIComponent(packageId)}/sender`, { method: 'POST', body: { link_proof: linkProof } });
  } catch {
    sender = null;
  }
  showSender();
}

function saveSession() {
  try {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({ access, status, email }));
  } catch {
    // storage full or disabled: a reload then opens the package again
  }
}

function forgetSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

function savedSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    if (saved?.access && new Date(saved.access.session_expires_at).getTime() > Date.now() + 60_000) return saved;
  } catch {
    // ignore
  }
  forgetSession();
  return null;
}

async function start() {
  wasm = await loadWasm();
  // The link is /p/<id>#<L>; a missing or shortened L cannot open anything.
  try {
    linkSecret = wasm.parseLink(`${location.origin}${location.pathname}${location.hash}`).linkSecret;
  } catch (e) {
    unavailable(e.kind === 'bad_secret' ? 'cut' : 'not_found');
    return;
  }
  const saved = savedSession();
  try {
    status = await api(`/p/${encodeURIComponent(packageId)}`);
  } catch (e) {
    // A download session that is open may finish even when the limit is reached meanwhile.
    if (!(saved && e instanceof ApiError && e.code === 'download_limit_reached') && handleGone(e)) return;
    if (!saved) {
      showRetry(e);
      return;
    }
  }
  // Who sent it, before anything is asked; a slow answer fills the card in later.
  await Promise.race([loadSender(), new Promise((resolve) => setTimeout(resolve, SENDER_WAIT_MS))]);
  if (saved) {
    access = saved.access;
    // What the server says now, not what it said when the session opened (others may have opened it since);
    // a used-up link still finishes this session, with nothing left after it.
    status = status ?? { ...saved.status, downloads_left: 0 };
    email = saved.email;
    showFacts();
    if (status.password) showUnlock();
    else await openManifest();
    return;
  }
  showFacts();
  if (status.verify === 'email') showEmail();
  else showUnlock();
}

function showRetry(e) {
  $('#loading-title').textContent = t('receive.checkFailed');
  notice.error(describeError(e));
  const retry = document.createElement('button');
  retry.type = 'button';
  retry.className = 'button';
  retry.textContent = t('common.tryAgain');
  retry.addEventListener('click', () => location.reload());
  $('#step-loading').append(retry);
  retry.focus();
}

// ---------------------------------------------------------------- verify

function showEmail() {
  $('#email').value = email;
  // With a password, the password comes next and the code is sent after it.
  $('#email-form button[type=submit]').textContent = t(status.password && !stretched ? 'common.continue' : 'signin.sendCode');
  showStep($('#step-email'));
}

async function requestCode() {
  await api(`/p/${encodeURIComponent(packageId)}/code`, { method: 'POST', body: { email, access_proof: accessProof() } });
}

// While the server refuses codes for a while, the unlock step says until
// when and disables what it would refuse (one state, no contradicting
// messages); the same for the address step.
const wait = new Countdown($('#unlock-wait'));

/** The server mails at most one code a minute to an address (server/src/domain/codes.rs). */
const RESEND_SECONDS = 60;

/** No new code for `seconds`: the one sent is the one to type. */
function holdResend(seconds) {
  wait.start(seconds, [$('#resend-code')], (clock) => t('signin.waitResend', { clock }));
}

/** Too many wrong codes: for `seconds`, or for good (null: this address, or the whole package). */
function codesLocked(seconds) {
  const controls = [$('#unlock-submit'), $('#resend-code')];
  if (seconds === null) {
    notice.error(t('receive.lockedForGood'));
    wait.start(null, controls, () => t('receive.lockedForGoodHint'));
  } else {
    notice.error(t('receive.locked'));
    wait.start(seconds, controls, (clock) => t('common.waitRetry', { clock }), () => notice.clear());
  }
}

/**
 * Asks for a code for `email` with A. Returns 'sent', 'recent' (one went
 * out a moment ago: it still works), 'locked', or false (explained).
 */
async function sendCode() {
  let outcome = 'sent';
  try {
    await requestCode();
    holdResend(RESEND_SECONDS);
  } catch (e) {
    if (handleKeyError(e) || handleGone(e) || handleRefused(e)) return false;
    const seconds = waitOf(e);
    if (e instanceof ApiError && e.code === 'rate_limited' && seconds) {
      holdResend(seconds);
      outcome = 'recent';
    } else if (e instanceof ApiError && e.code === 'locked') {
      codesLocked(seconds);
      outcome = 'locked';
    } else {
      notice.error(describeError(e));
      return false;
    }
  }
  codeRequested = true;
  return outcome;
}

$('#email-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const value = emailIn($('#email'), t('signin.invalidEmail'));
  if (!value) return;
  notice.clear();
  await busy(event.currentTarget, async () => {
    email = value;
    codeRequested = false;
    // A includes P', so a password comes first (the next step sends the code).
    if (status.password && !stretched) {
      showUnlock();
      return;
    }
    if (await sendCode()) showUnlock();
  });
});

/**
 * The unlock step asks for what is missing: the password (first, before
 * the code is sent when there is one), then the code, then access.
 * `wrongPassword`: the manifest did not open (the fallback);
 * `refused`: the server refused A for a password package.
 */
function showUnlock({ wrongPassword = false, refused = false } = {}) {
  const verifying = status.verify === 'email' && !access;
  const needPassword = status.password && !stretched;
  const passwordFirst = verifying && !codeRequested;
  const needCode = verifying && codeRequested;
  $('#code-field').hidden = !needCode;
  $('#password-field').hidden = !needPassword;
  $('#resend-code').hidden = !needCode;
  $('#other-email').hidden = !verifying;
  $('#unlock-submit').textContent = t(passwordFirst ? 'signin.sendCode' : 'receive.open');
  $('#code').value = '';
  $('#unlock-status').textContent = '';
  let intro;
  if (passwordFirst) intro = needPassword ? t('receive.passwordFirst') : t('receive.verifyIntro');
  else if (needCode) intro = t('receive.codeSent', { email });
  else if (needPassword) intro = access ? t('receive.passwordAgain') : t('receive.passwordIntro');
  else intro = status.downloads_left !== null && status.downloads_left !== undefined ? t('receive.openCounts') : t('receive.openIntro');
  $('#unlock-intro').textContent = intro;
  showStep($('#step-unlock'));
  if (wrongPassword || refused) {
    $('#password').value = '';
    fieldError($('#password'), t(refused ? 'receive.passwordRefused' : 'receive.wrongPassword'));
  } else {
    fieldError($('#password'), '');
  }
}

$('#resend-code').addEventListener('click', async () => {
  notice.clear();
  fieldError($('#code'), '');
  const outcome = await sendCode();
  if (outcome === 'sent') notice.info(t('receive.codeResent', { email }));
  if (outcome !== 'locked') $('#code').focus();
});

$('#other-email').addEventListener('click', () => {
  // Waits and locks are for one address (the server says again if it still refuses).
  wait.stop();
  notice.clear();
  showEmail();
});

$('#password-toggle').addEventListener('click', (event) => {
  const input = $('#password');
  const showing = input.type === 'text';
  input.type = showing ? 'password' : 'text';
  event.currentTarget.setAttribute('aria-pressed', String(!showing));
  event.currentTarget.textContent = showing ? t('common.show') : t('common.hide');
});

/** P' in a Web Worker (about a second); the worker is ended to free its memory. */
async function stretch(password) {
  const worker = new CryptoWorker();
  try {
    return await worker.stretchPassword(packageId, password);
  } finally {
    worker.terminate();
  }
}

$('#unlock-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const needCode = !$('#code-field').hidden;
  const needPassword = !$('#password-field').hidden;
  const code = $('#code').value.replace(/\s/g, '');
  const password = $('#password').value;
  fieldError($('#code'), '');
  fieldError($('#password'), '');
  if (needCode && !/^\d{6}$/.test(code)) {
    fieldError($('#code'), t('code.format'));
    return;
  }
  if (needPassword && !password) {
    fieldError($('#password'), t('receive.passwordMissing'));
    return;
  }
  notice.clear();
  await busy(event.currentTarget, async () => {
    // The password first: A includes P', and the server checks A before anything else.
    $('#unlock-status').textContent = needPassword ? t('receive.checkingPassword') : t('receive.opening');
    if (needPassword) {
      try {
        stretched = await stretch(password);
        proof = null;
      } catch (e) {
        $('#unlock-status').textContent = '';
        if (!handleKeyError(e)) notice.error(describeError(e));
        return;
      }
    }
    if (!access && status.verify === 'email' && !codeRequested) {
      // The password is in: now the code, asked for with A (a wrong password sends no mail).
      const sent = await sendCode();
      $('#unlock-status').textContent = '';
      if (sent) showUnlock();
      return;
    }
    if (!access) {
      try {
        const body = { access_proof: accessProof() };
        if (status.verify === 'email') Object.assign(body, { email, code });
        access = await api(`/p/${encodeURIComponent(packageId)}/access`, { method: 'POST', body });
        status = { ...status, downloads_left: access.downloads_left };
        saveSession();
        showFacts();
      } catch (e) {
        $('#unlock-status').textContent = '';
        if (handleKeyError(e) || handleGone(e) || handleRefused(e)) return;
        const seconds = waitOf(e);
        if (!(e instanceof ApiError)) {
          notice.error(describeError(e));
        } else if (e.code === 'wrong_code') {
          fieldError($('#code'), tn('code.wrong', e.details.tries_left ?? 0));
        } else if (e.code === 'locked') {
          $('#code').value = '';
          codesLocked(seconds);
        } else if (e.code === 'code_expired' || e.code === 'no_code') {
          // A new code is what helps, unless one may not be asked for yet (the countdown says when).
          $('#code').value = '';
          fieldError($('#code'), t(e.code === 'code_expired' ? 'signin.codeExpired' : 'signin.noCode'), { focus: false });
          if (!wait.running) $('#resend-code').focus();
        } else if (e.code === 'verification_required') {
          showEmail();
        } else if (e.code === 'rate_limited' && seconds) {
          notice.error(t('common.tooManyRequests'));
          wait.start(seconds, [$('#unlock-submit')], (clock) => t('common.waitRetry', { clock }), () => notice.clear());
        } else {
          notice.error(describeError(e));
        }
        return;
      }
    }
    $('#unlock-status').textContent = '';
    await openManifest();
  });
});

// ---------------------------------------------------------------- manifest

async function openManifest() {
  const blob = access.blobs.find((b) => b.index === 0);
  if (!blob || blob.size > MAX_MANIFEST) {
    unavailable('damaged');
    return;
  }
  try {
    manifestCipher ??= await fetchBlob(blob, access.download_token);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      // The download session ended: open the package again.
      forgetSession();
      access = null;
      notice.error(t('receive.sessionEnded'));
      start();
      return;
    }
    if (!handleGone(e)) notice.error(describeError(e));
    return;
  }
  // Both package identities (docs/architecture.md §3): the sender picked the kind, and the one
  // that opens the manifest opens the files too (the download worker takes one identity).
  const keys = wasm.packageIdentities(packageId, linkSecret, access.server_share, stretched ?? undefined);
  let plain;
  let key;
  try {
    ({ plain, key } = openWithEither(keys, manifestCipher));
  } catch (e) {
    if (e?.kind === 'no_match') {
      // Normally the server refused a wrong A before access; this is the fallback.
      stretched = null;
      proof = null;
      if (status.password) showUnlock({ wrongPassword: true });
      else unavailable('bad_link');
    } else {
      unavailable('damaged');
    }
    return;
  }
  try {
    manifest = wasm.parseManifest(plain, access.blobs.length);
  } catch (e) {
    unavailable(e?.kind === 'newer' ? 'newer' : 'damaged');
    return;
  }
  identity = key;
  showFiles();
  await offerUnfinishedReply();
}

/** Decrypts `cipher` with whichever of `keys` it is for: {plain, key}; else throws the last key's error. */
function openWithEither(keys, cipher) {
  for (const [i, key] of keys.entries()) {
    try {
      return { plain: runCodec(new wasm.Decryptor([key]).binaryOnly(), cipher), key };
    } catch (e) {
      if (i === keys.length - 1 || e?.kind !== 'no_match') throw e;
    }
  }
  throw new Error('no package identity');
}

// ---------------------------------------------------------------- files

const rows = [];

function showFiles() {
  $('#files-title').textContent = manifest.subject || t('receive.title');
  const message = $('#files-message');
  message.textContent = manifest.message;
  message.hidden = !manifest.message;
  const total = manifest.files.reduce((n, f) => n + f.size, 0);
  $('#facts-files').textContent = `${t('send.total', { files: tn('common.files', manifest.files.length), size: formatBytes(total) })} ${facts()}`;
  const list = $('#download-list');
  list.replaceChildren();
  rows.length = 0;
  manifest.files.forEach((file, i) => {
    const name = wasm.safeFileName(file.name);
    const item = document.createElement('li');
    item.className = 'download';
    const head = document.createElement('div');
    head.className = 'download-head';
    const title = document.createElement('span');
    title.className = 'file-name';
    title.textContent = name;
    const size = document.createElement('span');
    size.className = 'file-size';
    size.textContent = formatBytes(file.size);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'button button-small';
    button.textContent = t('receive.download');
    button.setAttribute('aria-label', t('receive.downloadFile', { name }));
    head.append(title, size, button);
    const progress = document.createElement('progress');
    progress.max = 1000;
    progress.value = 0;
    progress.hidden = true;
    progress.setAttribute('aria-label', t('receive.progressOf', { name }));
    const stats = document.createElement('p');
    stats.className = 'download-stats';
    const state = document.createElement('p');
    state.className = 'download-state';
    state.setAttribute('role', 'status');
    state.setAttribute('aria-live', 'polite');
    item.append(head, progress, stats, state);
    list.append(item);
    const row = { index: i, name, file, button, progress, stats, state, controller: null, item };
    rows.push(row);
    button.addEventListener('click', () => {
      if (row.controller) row.controller.abort();
      else download(row);
    });
  });
  // Without a folder picker, a browser with save dialogs would need one dialog per file.
  $('#download-all-row').hidden = manifest.files.length < 2 || (canPickFiles && !canPickFolder);
  $('#save-hint').textContent = canPickFiles ? t('receive.saveHintPicker') : t('receive.saveHintDownloads');
  showReplyCard();
  notice.clear();
  showStep($('#step-files'), { focus: false });
  $('#files-title').setAttribute('tabindex', '-1');
  $('#files-title').focus();
}

async function download(row, folder = null) {
  const blob = access.blobs.find((b) => b.index === row.index + 1);
  const { ok, code } = await saveRow(row, {
    blob,
    identity,
    token: access.download_token,
    folder,
    messages: { session: t('receive.sessionEnded'), gone: t('receive.goneNow') },
    onDamaged: (text) => notice.error(text),
  });
  if (code === 'session') forgetSession();
  return ok;
}

$('#download-all').addEventListener('click', async (event) => {
  const button = event.currentTarget;
  let folder = null;
  if (canPickFolder) {
    folder = await FolderTarget.pick();
    if (!folder) return;
  }
  button.disabled = true;
  try {
    for (const row of rows) {
      if (!row.controller) await download(row, folder);
    }
  } finally {
    button.disabled = false;
  }
});

addEventListener('beforeunload', (event) => {
  // Leaving the page stops the downloads that are running.
  if (rows.some((row) => row.controller)) event.preventDefault();
});

// ---------------------------------------------------------------- reply

/**
 * The reply's uploader session, once asked for (POST /p/<id>/reply):
 * {token, expires_at, requestId, info (RequestInfo: the sender's)}. Kept
 * for this tab as the upload page keeps its own (upload.js), so a reply
 * interrupted by a reload goes on: the delivery is this session's.
 */
let reply = null;
/** What the reply is encrypted to: the sender's recipient(s) as the server names them. */
let replyRecipients = [];
/** Where an unfinished reply is kept (send-store.js); the send page never lists it. */
const REPLY_OWNER = `reply:${packageId}`;
const REPLY_SESSION_KEY = `kluis.reply.${packageId}`;

/** Who sent the package, for the reply's sentences. */
function replyName() {
  if (reply) return reply.info.requester_name || reply.info.requester;
  if (sender) return sender.sender.name || sender.sender.email;
  return t('reply.theSender');
}

function showReplyCard() {
  $('#reply-intro').textContent = t('reply.intro', { sender: replyName() });
}

function saveReply() {
  try {
    sessionStorage.setItem(REPLY_SESSION_KEY, JSON.stringify(reply));
  } catch {
    // no storage: a reply interrupted by a reload starts again
  }
}

function forgetReply() {
  reply = null;
  try {
    sessionStorage.removeItem(REPLY_SESSION_KEY);
  } catch {
    // nothing saved
  }
}

/** The reply session kept for this tab, if it lasts a while yet. */
function savedReply() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(REPLY_SESSION_KEY) ?? 'null');
    if (saved?.token && new Date(saved.expires_at).getTime() > Date.now() + 60_000) return saved;
  } catch {
    // ignore
  }
  forgetReply();
  return null;
}

/** The sender's recipients as `info` names them, canonical; none if any is not a recipient. */
function recipientsOf(info) {
  try {
    const named = info.recipients?.length ? info.recipients : [info.recipient];
    return [...new Set(named.map((r) => wasm.parseRecipient(r)))];
  } catch {
    return [];
  }
}

/** Makes `session` the reply's and fills the compose step in for it; false if it names no recipient. */
function useReply(session) {
  const recipients = recipientsOf(session.info);
  if (!recipients.length) return false;
  reply = session;
  replyRecipients = recipients;
  const { info } = reply;
  $('#reply-to').textContent = t('reply.to', { sender: info.requester_name ? `${info.requester_name} <${info.requester}>` : info.requester });
  $('#drop-hint').textContent = t('upload.dropHint', { size: formatBytes(info.max_bytes) });
  $('#message-hint').textContent = t('upload.encryptedHint', { requester: replyName() });
  return true;
}

const replyForm = new DeliveryForm({
  notice,
  show: (step) => showStep($(`#step-${step}`)),
  owner: REPLY_OWNER,
  requireFiles: false,
  target: () => (reply ? { requestId: reply.requestId, info: reply.info, recipients: replyRecipients, token: reply.token } : null),
  onSessionEnded() {
    // The reply's session ran out, and its delivery with it: a fresh reply, with what was written and chosen.
    forgetReply();
    showStep($('#step-files'), { focus: false });
    busy($('#reply-card'), async () => {
      if (await startReply()) notice.info(t('reply.sessionEnded'));
    });
  },
  onUnavailable() {
    forgetReply();
    showStep($('#step-files'));
    notice.error(t('reply.unavailable', { sender: replyName() }));
  },
  onDone: showReplyDone,
});

/** Asks the server where a reply goes (only when the person wants to reply); shows the form. Returns whether it did. */
async function startReply() {
  notice.clear();
  let started;
  try {
    started = await api(`/p/${encodeURIComponent(packageId)}/reply`, { method: 'POST', token: access.download_token });
  } catch (e) {
    const code = e instanceof ApiError ? e.code : null;
    if (code === 'no_key') notice.error(t('reply.noKey', { sender: replyName() }));
    else if (code === 'replies_off') notice.error(sender?.organisation ? t('reply.offNamed', { organisation: sender.organisation }) : t('reply.off'));
    else if (code === 'feature_not_licensed') notice.error(t('reply.notLicensed'));
    else if (e instanceof ApiError && e.status === 401) {
      forgetSession();
      notice.error(t('reply.downloadSessionEnded'));
    } else if (!handleGone(e)) notice.error(describeError(e));
    return false;
  }
  const session = { token: started.session.token, expires_at: started.session.expires_at, requestId: started.request, info: started.info };
  if (!useReply(session)) {
    notice.error(t('reply.noKey', { sender: replyName() }));
    return false;
  }
  saveReply();
  // A reply left unfinished under another session cannot go on (its delivery is that session's): forget it.
  await forgetUnfinishedReplies();
  showStep($('#step-compose'));
  return true;
}

async function forgetUnfinishedReplies() {
  for (const record of await listSends(REPLY_OWNER).catch(() => [])) await deleteSend(record.id).catch(() => {});
}

/**
 * Once the files are open: a reply this tab left unfinished (a reload, the
 * tab restored) is offered to continue with its session, the same files
 * chosen again. When that session has ended the reply cannot go on: the
 * page says so and starts a fresh reply with its message.
 */
async function offerUnfinishedReply() {
  const saved = savedReply();
  if (saved && !useReply(saved)) forgetReply();
  const [unfinished] = await listSends(REPLY_OWNER).catch(() => []);
  if (!unfinished) return;
  if (reply) {
    replyForm.offerResume(unfinished);
    return;
  }
  await forgetUnfinishedReplies();
  $('#message').value = unfinished.message ?? '';
  const names = unfinished.files.map((f) => f.name).join(', ');
  await busy($('#reply-card'), async () => {
    if (await startReply()) notice.info(names ? t('reply.resumeEndedFiles', { names }) : t('reply.resumeEnded'));
  });
}

$('#reply-start').addEventListener('click', () =>
  busy($('#reply-card'), async () => {
    if (!reply) {
      await startReply();
      return;
    }
    notice.clear();
    // One left unfinished (its offer was put aside with "Back to the files") comes first: no second delivery.
    const [unfinished] = await listSends(REPLY_OWNER).catch(() => []);
    if (unfinished) replyForm.offerResume(unfinished);
    else showStep($('#step-compose'));
  }),
);

function backToFiles() {
  notice.clear();
  showStep($('#step-files'), { focus: false });
  $('#reply-start').focus();
}

$('#reply-back').addEventListener('click', backToFiles);
$('#resume-back').addEventListener('click', backToFiles);
$('#reply-done-back').addEventListener('click', backToFiles);

function showReplyDone(record) {
  const parts = [t('reply.doneText', { sender: replyName() })];
  if (record.files.length) parts.push(t('reply.doneFiles', { files: tn('common.files', record.files.length) }));
  $('#reply-done-text').textContent = parts.join(' ');
  $('#reply-done-list').replaceChildren(
    ...record.files.map((file) => {
      const item = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'file-name';
      name.textContent = file.name;
      const size = document.createElement('span');
      size.className = 'file-size';
      size.textContent = formatBytes(file.size);
      item.append(name, size);
      return item;
    }),
  );
  replyForm.reset();
  notice.clear();
  showStep($('#step-reply-done'));
}

start().catch((e) => notice.error(describeError(e)));


// The uploader's page (upload.html, served at /r/<id>#age1…; docs/inbound.md):
// someone who has no account sends files to a Kluis user who asked for
// them. The link's fragment is the requester's recipient (age1…); the page
// checks it against what the server says (GET /r/<id>) and refuses a link
// that was changed before anything is read or uploaded. The same page
// serves an organisation's upload portal (/upload/<name>): its address has
// no fragment, and the files go to every receiver the server names
// (GET /upload/<name>). Then the
// uploader's address (with a mailed code when the request asks for it)
// buys an upload session, and the files and a message are encrypted on
// this device to the requester's key alone and uploaded like a send
// (uploader.js: createDelivery, PackageSender). Nothing the server could
// read leaves the page: names and message are in the encrypted manifest.
import { api, ApiError } from '../shared/api.js';
import { formatBytes, lang, t, tn, translate } from '../shared/i18n.js';
import { describeError } from '../shared/messages.js';
import { deleteSend, listSends } from '../shared/send-store.js';
import { DeliveryForm } from '../shared/delivery-form.js';
import { $, busy, Countdown, emailIn, fieldError, Notice, showStep, waitOf } from '../shared/ui.js';
import { loadWasm } from '../shared/wasm.js';

translate();
document.body.classList.remove('loading');

const notice = new Notice($('#notice'));
const [route, slug = ''] = location.pathname.split('/').filter(Boolean);
/** An organisation's upload portal (/upload/<name>), or null for a request link (/r/<id>). */
const portal = route === 'upload' ? decodeURIComponent(slug) : null;
/** The request the uploads go through (a portal's: once GET /upload/<name> said which). */
let requestId = portal ? null : decodeURIComponent(slug);
const PLACE = portal ? `portal:${portal}` : `request:${requestId}`;
const SESSION_KEY = `kluis.upload.${PLACE}`;
/** Where an unfinished upload through this page is kept (send-store.js); the send page never lists it. */
const OWNER = PLACE;
/** The server mails at most one code a minute to an address (server/src/domain/codes.rs). */
const RESEND_SECONDS = 60;

let wasm;
/**
 * What the files are encrypted to: the recipient the link's fragment names
 * (canonical, checked against the server's), or a portal's receivers.
 */
let recipients = [];
/** GET /r/<id>: RequestInfo. */
let info = null;
let email = '';
/** POST /r/<id>/session: {token, expires_at, email}, and the RequestInfo it was started for. */
let session = null;

function show(step, options) {
  showStep($(`#step-${step}`), options);
}

// ---------------------------------------------------------------- the link

function unavailable(kind) {
  const keys = {
    not_found: 'upload.notFound',
    cut: 'upload.cut',
    changed: 'upload.changed',
    not_a_link: 'upload.notFound',
    portal_mixed_keys: 'upload.mixedKeys',
  };
  const key = keys[kind] ?? 'upload.notFound';
  $('#unavailable-title').textContent = t(`${key}Title`);
  $('#unavailable-text').textContent = t(`${key}Text`);
  $('#request-card').hidden = true;
  notice.clear();
  show('unavailable');
  forgetSession();
}

/** "27 November 2026": the day only. */
function formatDay(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : lang, { dateStyle: 'long' }).format(date);
}

/** Who gets the files, for the page's sentences: the requester, or a portal's organisation. */
function requester() {
  if (portal) return info.organisation;
  return info.requester_name ? `${info.requester_name} <${info.requester}>` : info.requester;
}

function showRequest() {
  $('#request-who').textContent = portal
    ? t('upload.whoPortal', { organisation: info.organisation })
    : t('upload.who', { requester: requester(), organisation: info.organisation });
  const note = $('#request-note');
  note.textContent = info.message ?? '';
  note.hidden = !info.message;
  $('#request-facts').textContent = portal
    ? t('upload.factsPortal', { size: formatBytes(info.max_bytes) })
    : t('upload.facts', { size: formatBytes(info.max_bytes), date: formatDay(info.expires_at) });
  $('#drop-hint').textContent = t('upload.dropHint', { size: formatBytes(info.max_bytes) });
  $('#message-hint').textContent = portal
    ? t('upload.encryptedHintPortal', { organisation: info.organisation })
    : t('upload.encryptedHint', { requester: info.requester_name || info.requester });
  $('#request-card').hidden = false;
}

/** A portal's page: the request behind it and its receivers, as the server names them. */
async function startPortal(saved) {
  try {
    const answer = await api(`/upload/${encodeURIComponent(portal)}`);
    requestId = answer.request;
    info = answer.info;
  } catch (e) {
    // Its receivers' keys are of both kinds (docs/inbound.md, "Upload portals"): nothing can be encrypted.
    if (e instanceof ApiError && e.code === 'portal_mixed_keys') {
      unavailable(e.code);
      return false;
    }
    if (!(e instanceof ApiError && e.status === 404)) {
      showRetry(e);
      return false;
    }
    const unfinished = saved?.info ? await listSends(OWNER).catch(() => []) : [];
    if (!unfinished.length) {
      unavailable('not_found');
      return false;
    }
    ({ requestId, info } = saved);
  }
  try {
    recipients = [...new Set((info.recipients ?? []).map((r) => wasm.parseRecipient(r)))];
  } catch {
    recipients = [];
  }
  if (!recipients.length) {
    unavailable('not_found');
    return false;
  }
  return true;
}

async function start() {
  wasm = await loadWasm();
  const saved = savedSession();
  if (portal) {
    if (!(await startPortal(saved))) return;
    await afterCard(saved);
    return;
  }
  // The link is /r/<id>#age1… (or #age1pq1…): without the recipient nothing may be encrypted.
  let recipient;
  try {
    recipient = wasm.parseRequestLink(`${location.origin}${location.pathname}${location.hash}`).recipient;
  } catch (e) {
    unavailable(e.kind === 'bad_recipient' ? 'cut' : 'not_found');
    return;
  }
  try {
    info = await api(`/r/${encodeURIComponent(requestId)}`);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) {
      showRetry(e);
      return;
    }
    // The server counts an unfinished upload as taking its place, so a request with one place
    // left answers 404 to the page that holds that upload: with its session and the upload kept
    // in this tab, the page continues with what it was told before (checked against the link below).
    const unfinished = saved?.info ? await listSends(OWNER).catch(() => []) : [];
    if (!unfinished.length) {
      unavailable('not_found');
      return;
    }
    info = saved.info;
  }
  let expected = null;
  try {
    expected = wasm.parseRecipient(info.recipient);
  } catch {
    // not a recipient: refused below like a changed link
  }
  if (expected !== recipient) {
    // Whoever changed the fragment would get the files: nothing is read or sent.
    unavailable('changed');
    return;
  }
  recipients = [recipient];
  await afterCard(saved);
}

/** The link checks out: who asks, then the session kept in this tab or the address. */
async function afterCard(saved) {
  showRequest();
  session = saved;
  if (session) {
    email = session.email;
    await afterSession();
    return;
  }
  showEmail();
}

function showRetry(e) {
  $('#loading-title').textContent = t('upload.checkFailed');
  notice.error(describeError(e));
  const retry = document.createElement('button');
  retry.type = 'button';
  retry.className = 'button';
  retry.textContent = t('common.tryAgain');
  retry.addEventListener('click', () => location.reload());
  $('#step-loading').append(retry);
  retry.focus();
}

// ---------------------------------------------------------------- session

function saveSession() {
  try {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  } catch {
    // no storage: a reload asks for the address again
  }
}

function forgetSession() {
  try {
    sessionStorage.removeItem(SESSION_KEY);
  } catch {
    // nothing saved
  }
}

function savedSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    if (saved?.token && new Date(saved.expires_at).getTime() > Date.now() + 60_000) return saved;
  } catch {
    // ignore
  }
  forgetSession();
  return null;
}

/** The session ended (401): the address again, with what was chosen kept. */
function sessionEnded() {
  session = null;
  forgetSession();
  showEmail();
  notice.error(t('upload.sessionEnded'));
}

// ---------------------------------------------------------------- address and code

function showEmail() {
  const code = info.verify === 'email';
  $('#email-intro').textContent = t(code ? 'upload.emailIntroCode' : 'upload.emailIntro', { requester: info.requester_name || info.requester });
  $('#email-submit').textContent = t(code ? 'signin.sendCode' : 'common.continue');
  $('#email').value = email;
  show('email');
}

const wait = new Countdown($('#code-wait'));

function holdResend(seconds) {
  wait.start(seconds, [$('#resend-code')], (clock) => t('signin.waitResend', { clock }));
}

/** Too many wrong codes: nothing works for this address until the server says so. */
function locked(seconds) {
  notice.error(t('upload.locked'));
  const controls = [$('#code-submit'), $('#resend-code')];
  if (seconds) wait.start(seconds, controls, (clock) => t('signin.waitLocked', { clock }), () => notice.clear());
  else wait.start(null, controls, () => t('upload.lockedHint'));
}

/** Handles what any call of the uploader's can meet; returns whether it did. */
function handleCommon(e) {
  if (e instanceof ApiError && (e.code === 'request_not_found' || e.status === 404)) {
    unavailable('not_found');
    return true;
  }
  if (e instanceof ApiError && e.code === 'rate_limited') {
    notice.error(describeError(e));
    return true;
  }
  if (e instanceof ApiError && e.code === 'feature_not_licensed') {
    notice.error(t('upload.notLicensed'));
    return true;
  }
  return false;
}

/** Asks for a code for `email`; shows the code step. */
async function sendCode() {
  notice.clear();
  let sentence = t('upload.codeSent', { email });
  try {
    await api(`/r/${encodeURIComponent(requestId)}/code`, { method: 'POST', body: { email } });
    holdResend(RESEND_SECONDS);
  } catch (e) {
    const seconds = waitOf(e);
    if (e instanceof ApiError && e.code === 'rate_limited' && seconds) {
      // A code went out a moment ago: it is the one to type.
      sentence = t('signin.codeRecent', { email });
      holdResend(seconds);
    } else if (e instanceof ApiError && e.code === 'locked') {
      showCode(sentence);
      locked(seconds);
      return;
    } else if (e instanceof ApiError && e.code === 'invalid_email') {
      fieldError($('#email'), t('signin.invalidEmail'));
      return;
    } else {
      if (!handleCommon(e)) notice.error(describeError(e));
      return;
    }
  }
  showCode(sentence);
}

function showCode(sentence) {
  $('#code-sent').textContent = sentence;
  $('#code').value = '';
  fieldError($('#code'), '');
  show('code');
}

$('#email-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const value = emailIn($('#email'), t('signin.invalidEmail'));
  if (!value) return;
  if (value !== email) wait.stop();
  email = value;
  await busy(event.currentTarget, async () => {
    if (info.verify === 'email') await sendCode();
    else await startSession(null);
  });
});

$('#resend-code').addEventListener('click', () => busy($('#code-form'), sendCode));

$('#other-email').addEventListener('click', () => {
  wait.stop();
  notice.clear();
  showEmail();
});

$('#code-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const code = $('#code').value.replace(/\s/g, '');
  if (!/^\d{6}$/.test(code)) {
    fieldError($('#code'), t('code.format'));
    return;
  }
  fieldError($('#code'), '');
  await busy(event.currentTarget, () => startSession(code));
});

/** Trades the address (and code) for an upload session. */
async function startSession(code) {
  notice.clear();
  let answer;
  try {
    answer = await api(`/r/${encodeURIComponent(requestId)}/session`, { method: 'POST', body: code ? { email, code } : { email } });
  } catch (e) {
    const seconds = waitOf(e);
    if (!(e instanceof ApiError)) {
      notice.error(describeError(e));
    } else if (e.code === 'wrong_code') {
      fieldError($('#code'), tn('code.wrong', e.details.tries_left ?? 0));
    } else if (e.code === 'locked') {
      fieldError($('#code'), '');
      locked(seconds);
    } else if (e.code === 'code_expired' || e.code === 'no_code') {
      fieldError($('#code'), t(e.code === 'code_expired' ? 'signin.codeExpired' : 'signin.noCode'), { focus: false });
      if (!wait.running) $('#resend-code').focus();
    } else if (e.code === 'invalid_email') {
      showEmail();
      fieldError($('#email'), t('signin.invalidEmail'));
    } else if (e.code === 'rate_limited' && seconds) {
      notice.error(t('common.tooManyRequests'));
      wait.start(seconds, [$('#code-submit')], (clock) => t('common.waitRetry', { clock }), () => notice.clear());
    } else if (!handleCommon(e)) {
      notice.error(describeError(e));
    }
    return;
  }
  wait.stop();
  session = { token: answer.token, expires_at: answer.expires_at, email, info, requestId };
  saveSession();
  await forgetUnfinished();
  showCompose();
}

/** With the session kept for this tab (a reload): an unfinished upload of this session is offered to continue. */
async function afterSession() {
  const unfinished = await listSends(OWNER).catch(() => []);
  if (unfinished.length) form.offerResume(unfinished[0]);
  else showCompose();
}

/**
 * A new session cannot continue an upload left unfinished under an earlier
 * one (a delivery is its session's: the server answers 404): it is
 * forgotten and the page says so. The form keeps what it still holds; the
 * message comes back from the record.
 */
async function forgetUnfinished() {
  const unfinished = await listSends(OWNER).catch(() => []);
  for (const record of unfinished) await deleteSend(record.id).catch(() => {});
  const [latest] = unfinished;
  if (!latest) return;
  if (!$('#message').value) $('#message').value = latest.message ?? '';
  notice.info(t('upload.resumeEnded', { names: latest.files.map((f) => f.name).join(', ') }));
}

// ---------------------------------------------------------------- compose and progress

/** The form, the upload, its failures and its resume (delivery-form.js, shared with the secure reply). */
const form = new DeliveryForm({
  notice,
  show,
  owner: OWNER,
  target: () => (session ? { requestId, info, recipients, token: session.token } : null),
  onSessionEnded: () => (session ? sessionEnded() : showEmail()),
  onUnavailable: unavailable,
  onDone: showDone,
});

function showCompose() {
  show('compose');
}

// ---------------------------------------------------------------- done

function showDone(record) {
  $('#done-text').textContent = t('upload.doneText', { requester: requester(), files: tn('common.files', record.files.length) });
  const list = $('#done-list');
  list.replaceChildren(
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
  form.reset();
  notice.clear();
  show('done');
}

$('#send-more').addEventListener('click', async () => {
  // The request may take no more (used up): the server says so, and the page then too.
  try {
    info = await api(`/r/${encodeURIComponent(requestId)}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      unavailable('not_found');
      return;
    }
  }
  showCompose();
});

start().catch((e) => notice.error(describeError(e)));

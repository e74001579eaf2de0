// The send page (index.html): sign in with an e-mail code, fill in the
// form, encrypt and upload (uploader.js), show the link. Unfinished sends
// are offered again after a reload.
import { api, ApiError, isAbort } from '../shared/api.js';
import { formatBytes, formatDate, t, tn, translate } from '../shared/i18n.js';
import { cannotSendText, checkStanding, showBanner } from '../shared/licence-notice.js';
import { describeError, refusalText } from '../shared/messages.js';
import { deleteSend, listSends, sameFile } from '../shared/send-store.js';
import { SavedSession } from '../shared/session.js';
import { codeMethods, SignInStep } from '../shared/signin.js';
import { providerMethods, returnFromProvider } from '../shared/single-sign-on.js';
import { $, copyField, EMAIL, fieldError, Notice, showStep } from '../shared/ui.js';
import { showSendProgress } from '../shared/send-progress.js';
import { createPackage, PackageSender, SendError } from '../shared/uploader.js';
import { loadWasm } from '../shared/wasm.js';

const TOKEN_KEY = 'kluis.token';

translate();
document.body.classList.remove('loading');

const notice = new Notice($('#notice'));
const steps = {
  signin: $('#step-signin'),
  resume: $('#step-resume'),
  compose: $('#step-compose'),
  progress: $('#step-progress'),
  done: $('#step-done'),
};

/** {token, email} once signed in. */
let session = null;
/** Files chosen in the form. */
let chosen = [];
/** The upload in progress (PackageSender) and its record. */
let sender = null;
/** An unfinished send offered on the resume step, and the files matched to it. */
let pending = null;
let pendingFiles = [];
/** Files of an upload that stopped on this page (kept for a resume after signing in again). */
let chosenForResume = [];
/** Why this user cannot send now (`cannot_send` of GET /me: no seat, licence lapsed), or null. */
let cannotSend = null;
/** GET /policy: the organisation's rules, checked before encrypting (null: the server's answer says it). */
let policy = null;

function show(step) {
  showStep(steps[step]);
}

// ---------------------------------------------------------------- sign-in

/** Where this device keeps the sign-in (localStorage: other tabs and restarts share it). */
const saved = new SavedSession(TOKEN_KEY);

/** Signed in on this page (with a code, or back from single sign-on): kept on this device. */
async function adopt(signed) {
  session = signed;
  saved.remember(session);
  await signedIn();
}

async function start() {
  loadWasm().catch(() => {}); // warm up while the person reads
  if (await returnFromProvider({ signin, showSignIn, signedIn: adopt })) return;
  let found = null;
  try {
    found = await saved.check();
  } catch {
    notice.error(t('error.network'));
  }
  // Signed out (or in as someone else) in another tab while the server was asked: that wins.
  if (found && saved.read()?.token === found.token) session = found;
  if (session) await signedIn();
  else showSignIn();
}

const signin = new SignInStep({
  notice,
  methods: {
    ...providerMethods('send'),
    ...codeMethods(),
  },
  onSignedIn: adopt,
});

function showSignIn() {
  $('#account').hidden = true;
  showBanner($('#licence-banner'), null);
  signin.show();
  show('signin');
}

/** Ends the sign-in on this page: the upload in progress pauses and is offered again after signing in. */
function signOutHere() {
  if (sender) {
    const current = sender;
    sender = null;
    chosenForResume = current.files;
    current.pause();
    current.dispose();
  }
  session = null;
  saved.forget();
  showSignIn();
}

$('#sign-out').addEventListener('click', () => {
  const token = session?.token;
  signOutHere();
  if (token) api('/auth/logout', { method: 'POST', token }).catch(() => {});
  notice.info(t('signin.signedOut'));
});

// Signed out in another tab (the shared storage emptied): this one follows.
addEventListener('storage', (event) => {
  if (event.key === TOKEN_KEY && session && !saved.read()) {
    signOutHere();
    notice.info(t('signin.signedOut'));
  }
});

// ---------------------------------------------------------------- devices

const devices = $('#devices');

$('#devices-open').addEventListener('click', async () => {
  devices.showModal();
  await listDevices();
});
$('#devices-close').addEventListener('click', () => devices.close());

async function listDevices() {
  const list = $('#devices-list');
  const error = $('#devices-error');
  error.hidden = true;
  let answer;
  try {
    answer = await api('/tokens', { token: session.token });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      devices.close();
      signOutHere();
      notice.error(t('error.signedOut'));
      return;
    }
    error.textContent = t('devices.failed', { message: describeError(e) });
    error.hidden = false;
    return;
  }
  list.replaceChildren(...answer.tokens.map(deviceItem));
}

function deviceItem(token) {
  const item = document.createElement('li');
  item.className = 'device';
  const name = document.createElement('span');
  name.className = 'device-name';
  name.textContent = token.label;
  if (token.current) {
    const mark = document.createElement('span');
    mark.className = 'badge';
    mark.textContent = t('devices.current');
    name.append(' ', mark);
  }
  const facts = document.createElement('span');
  facts.className = 'device-facts';
  facts.textContent = t('devices.facts', {
    since: formatDate(token.created_at),
    used: token.last_used_at ? formatDate(token.last_used_at) : t('devices.never'),
    ends: formatDate(token.expires_at),
  });
  const end = document.createElement('button');
  end.type = 'button';
  end.className = 'button-secondary';
  end.textContent = t('devices.signOut');
  end.setAttribute('aria-label', t('devices.signOutOne', { label: token.label }));
  end.addEventListener('click', async () => {
    end.disabled = true;
    try {
      await api(`/tokens/${token.id}`, { method: 'DELETE', token: session.token });
    } catch (e) {
      // Already gone (ended elsewhere) is what was wanted.
      if (!(e instanceof ApiError && e.status === 404)) {
        end.disabled = false;
        $('#devices-error').textContent = describeError(e);
        $('#devices-error').hidden = false;
        return;
      }
    }
    if (token.current) {
      devices.close();
      signOutHere();
      notice.info(t('signin.signedOut'));
      return;
    }
    item.remove();
  });
  item.append(name, facts, end);
  return item;
}

async function signedIn() {
  $('#account').hidden = false;
  $('#account-email').textContent = session.email;
  cannotSend = await checkStanding(session.token, $('#licence-banner'));
  policy = await api('/policy', { token: session.token }).catch(() => null);
  const unfinished = await listSends(session.email).catch(() => []);
  if (unfinished.length) showResume(unfinished[0]);
  else showCompose();
}

// ---------------------------------------------------------------- resume

function showResume(record) {
  pending = record;
  // Files still in memory (the same page, after signing in again) need no new choice.
  pendingFiles = record.files.map((d) => chosenForResume.find((f) => sameFile(f, d)) ?? null);
  const total = record.files.reduce((sum, f) => sum + f.size, 0);
  $('#resume-summary').textContent = t('resume.summary', {
    date: formatDate(new Date(record.createdAt).toISOString()),
    files: tn('common.files', record.files.length),
    size: formatBytes(total),
    recipients: record.recipients.length ? record.recipients.join(', ') : t('resume.noRecipients'),
  });
  $('#resume-files').value = '';
  renderResume();
  show('resume');
}

function renderResume(mismatched = []) {
  const list = $('#resume-list');
  list.replaceChildren();
  pending.files.forEach((described, i) => {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'file-name';
    name.textContent = described.name;
    const state = document.createElement('span');
    const ok = Boolean(pendingFiles[i]);
    state.className = ok ? 'file-state ok' : 'file-state';
    state.textContent = ok
      ? t('resume.matched')
      : mismatched.includes(i)
        ? t('resume.different')
        : t('resume.missing', { size: formatBytes(described.size) });
    item.append(name, state);
    list.append(item);
  });
  $('#resume-continue').disabled = !pendingFiles.every(Boolean);
}

$('#resume-files').addEventListener('change', (event) => {
  const mismatched = [];
  for (const file of event.currentTarget.files) {
    const i = pending.files.findIndex((d, j) => !pendingFiles[j] && sameFile(file, d));
    if (i >= 0) pendingFiles[i] = file;
    else {
      const sameName = pending.files.findIndex((d, j) => !pendingFiles[j] && d.name === file.name);
      if (sameName >= 0) mismatched.push(sameName);
    }
  }
  renderResume(mismatched);
  if (!$('#resume-continue').disabled) $('#resume-continue').focus();
});

$('#resume-continue').addEventListener('click', () => {
  sender = new PackageSender(pending, pendingFiles, session.token);
  pending = null;
  beginProgress();
  runSender();
});

$('#resume-later').addEventListener('click', () => {
  pending = null;
  notice.info(t('resume.laterHint'));
  showCompose();
});

$('#resume-discard').addEventListener('click', async () => {
  if (!confirm(t('resume.discardConfirm'))) return;
  const discarding = new PackageSender(pending, [], session.token);
  await discarding.cancel();
  discarding.dispose();
  pending = null;
  notice.info(t('resume.discarded'));
  await signedIn();
});

// ---------------------------------------------------------------- compose

function showCompose() {
  show('compose');
}

function addFiles(files) {
  for (const file of files) {
    if (!chosen.some((f) => sameFile(f, file))) chosen.push(file);
  }
  renderChosen();
}

function renderChosen() {
  const list = $('#file-list');
  list.replaceChildren();
  chosen.forEach((file, i) => {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'file-name';
    name.textContent = file.name;
    const size = document.createElement('span');
    size.className = 'file-size';
    size.textContent = formatBytes(file.size);
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'button-link';
    remove.textContent = t('send.remove');
    remove.setAttribute('aria-label', t('send.removeFile', { name: file.name }));
    remove.addEventListener('click', () => {
      chosen.splice(i, 1);
      renderChosen();
      $('#files').focus();
    });
    item.append(name, size, remove);
    list.append(item);
  });
  const total = chosen.reduce((sum, f) => sum + f.size, 0);
  $('#file-total').textContent = chosen.length ? t('send.total', { files: tn('common.files', chosen.length), size: formatBytes(total) }) : '';
  if (chosen.length) fieldError($('#files'), '');
}

$('#files').addEventListener('change', (event) => {
  addFiles(event.currentTarget.files);
  event.currentTarget.value = '';
});

const dropzone = $('#dropzone');
dropzone.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropzone.classList.add('dragging');
});
dropzone.addEventListener('dragleave', () => dropzone.classList.remove('dragging'));
dropzone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropzone.classList.remove('dragging');
  // Folders cannot be sent as such: keep only the files among what was dropped.
  const items = [...(event.dataTransfer?.items ?? [])].filter((item) => item.kind === 'file');
  const files = items.length
    ? items.filter((item) => item.webkitGetAsEntry?.()?.isFile ?? true).map((item) => item.getAsFile()).filter(Boolean)
    : [...(event.dataTransfer?.files ?? [])];
  addFiles(files);
});

$('#password-toggle').addEventListener('click', (event) => {
  const input = $('#password');
  const showing = input.type === 'text';
  input.type = showing ? 'password' : 'text';
  event.currentTarget.setAttribute('aria-pressed', String(!showing));
  event.currentTarget.textContent = showing ? t('common.show') : t('common.hide');
});

// "Protection and limits" stays folded, with what is chosen in one line.
function summarizeOptions() {
  const parts = [$('#expires').selectedOptions[0]?.textContent ?? ''];
  parts.push($('#verify-none').checked ? t('send.summaryNoCode') : t('send.summaryCode'));
  parts.push($('#password').value ? t('send.summaryPassword') : t('send.summaryNoPassword'));
  const max = Number($('#max-downloads').value);
  if (Number.isInteger(max) && max >= 1) parts.push(tn('send.summaryDownloads', max));
  $('#options-summary').textContent = parts.join(' · ');
}

for (const id of ['expires', 'verify-email', 'verify-none', 'password', 'max-downloads']) {
  $(`#${id}`).addEventListener('input', summarizeOptions);
  $(`#${id}`).addEventListener('change', summarizeOptions);
}
$('#send-form').addEventListener('reset', () => setTimeout(summarizeOptions));
summarizeOptions();

/**
 * `/?to=<address>` (the inbox's "Reply securely"): the recipient filled in.
 * Only one plain address is taken (EMAIL, at most 254 characters), and it
 * only goes into the field's value; anything else is ignored.
 */
function prefillRecipient() {
  const to = new URLSearchParams(location.search).get('to')?.trim() ?? '';
  if (to.length <= 254 && EMAIL.test(to) && !$('#recipients').value) $('#recipients').value = to;
}
prefillRecipient();

function parseRecipients(text) {
  return [...new Set(text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean))];
}

/**
 * The form's problems, field by field: [[input, message]], in the order of
 * the form. Empty when it can be sent.
 */
function problems() {
  const found = [];
  const verify = $('input[name=verify]:checked').value;
  const recipients = parseRecipients($('#recipients').value);
  const bad = recipients.find((r) => !EMAIL.test(r));
  const maxText = $('#max-downloads').value.trim();
  const maxDownloads = maxText === '' ? null : Number(maxText);
  if (!chosen.length) found.push([$('#files'), t('send.noFiles')]);
  if (bad) found.push([$('#recipients'), t('send.badRecipient', { address: bad })]);
  else if (verify === 'email' && !recipients.length) found.push([$('#recipients'), t('send.needRecipients')]);
  if (maxDownloads !== null && !(Number.isInteger(maxDownloads) && maxDownloads >= 1 && maxDownloads <= 10000)) {
    found.push([$('#max-downloads'), t('send.badMaxDownloads')]);
  }
  return found;
}

const CHECKED = ['files', 'recipients', 'max-downloads'];

/** Shows every problem next to its field at once, focus on the first; returns whether there were none. */
function showProblems(found) {
  for (const id of CHECKED) fieldError($(`#${id}`), '');
  if (found.some(([input]) => input.id === 'max-downloads')) $('#options').open = true;
  found.forEach(([input, message], i) => fieldError(input, message, { focus: i === 0 }));
  return found.length === 0;
}

// A field marked wrong is checked again as it is edited, so the message goes once it is fixed.
for (const id of ['recipients', 'max-downloads', 'verify-email', 'verify-none']) {
  $(`#${id}`).addEventListener('input', () => {
    const marked = CHECKED.filter((c) => $(`#${c}`).getAttribute('aria-invalid') === 'true');
    if (!marked.length) return;
    const still = new Map(problems().map(([input, message]) => [input.id, message]));
    for (const c of marked) fieldError($(`#${c}`), still.get(c) ?? '', { focus: false });
  });
}

/** Checks the form; returns the options for createPackage or null. */
function readForm() {
  if (!showProblems(problems())) return null;
  const maxText = $('#max-downloads').value.trim();
  return {
    files: [...chosen],
    recipients: parseRecipients($('#recipients').value),
    subject: $('#subject').value.trim(),
    message: $('#message').value,
    expiresInDays: Number($('#expires').value),
    maxDownloads: maxText === '' ? null : Number(maxText),
    verify: $('input[name=verify]:checked').value,
    password: $('#password').value,
    notify: $('#notify').checked,
  };
}

$('#send-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  notice.clear();
  // No seat, or the licence lapsed: said before anything is encrypted (asked again: an admin may have helped since).
  if (cannotSend) cannotSend = await checkStanding(session.token, $('#licence-banner'));
  if (cannotSend) {
    notice.error(cannotSendText(cannotSend));
    return;
  }
  const options = readForm();
  if (!options) return;
  beginProgress();
  setStatus(t('progress.preparing'));
  let record;
  try {
    record = await createPackage(options, {
      token: session.token,
      owner: session.email,
      policy,
      onStatus: () => setStatus(t('progress.password')),
    });
  } catch (e) {
    show('compose');
    handleSendError(e, { creating: true });
    return;
  }
  sender = new PackageSender(record, options.files, session.token);
  runSender();
});

// ---------------------------------------------------------------- progress

function setStatus(text) {
  $('#progress-status').textContent = text;
}

function beginProgress() {
  $('#progress-title').textContent = t('progress.title');
  $('#progress-bar').value = 0;
  $('#progress-stats').textContent = '';
  $('#progress-file').textContent = '';
  // Pause and Cancel appear once the package exists.
  $('#pause').hidden = true;
  $('#resume').hidden = true;
  $('#cancel').hidden = true;
  setStatus('');
  show('progress');
}

async function runSender() {
  const current = sender;
  const stopShowing = showSendProgress(current);
  const onWarning = () => notice.info(t('progress.notSaved'));
  current.addEventListener('warning', onWarning);
  $('#pause').hidden = false;
  $('#resume').hidden = true;
  $('#cancel').hidden = false;
  $('#progress-title').textContent = t('progress.title');
  try {
    const link = await current.run();
    current.dispose();
    if (sender === current) sender = null;
    chosen = [];
    chosenForResume = [];
    renderChosen();
    showDone(link, Boolean(current.record.stretched), current.record);
  } catch (e) {
    if (sender !== current) return; // cancelled
    if (isAbort(e)) {
      $('#progress-title').textContent = t('progress.paused');
      setStatus(t('progress.pausedHint'));
      $('#progress-stats').textContent = ''; // no speed or time left while nothing moves
      $('#pause').hidden = true;
      $('#resume').hidden = false;
      $('#resume').focus();
      return;
    }
    handleSendError(e, {});
  } finally {
    stopShowing();
    current.removeEventListener('warning', onWarning);
  }
}

function handleSendError(e, { creating }) {
  const code = e instanceof SendError ? e.code : null;
  const cause = e?.cause;
  if (code === 'signed_out') {
    chosenForResume = sender?.files ?? [];
    sender?.dispose();
    sender = null;
    session = null;
    saved.forget();
    showSignIn();
    notice.error(t('error.signedOut'));
    return;
  }
  const refusal = refusalText(e);
  if (refusal) {
    // The organisation's policy or licence, on the page or at creation: nothing was made.
    if (code === 'not_allowed') cannotSend = cause?.details ?? null;
    notice.error(refusal);
    if (!creating && code !== 'policy') abandon();
    return;
  }
  if (code === 'too_large') {
    // The server's 413 names the limit it broke (`limit`); the page knows the size it asked for.
    const limit = cause?.code === 'too_large' ? Number(cause.details?.limit) : NaN;
    notice.error(e.size && limit > 0
      ? t('error.tooLargeSizes', { size: formatBytes(e.size), limit: formatBytes(limit) })
      : t('error.tooLarge'));
    if (!creating) abandon();
    return;
  }
  if (code === 'invalid') {
    const messages = {
      invalid_recipient: t('send.badRecipientServer'),
      no_recipients: t('send.needRecipients'),
      invalid_expiry: t('send.badExpiry'),
      invalid_max_downloads: t('send.badMaxDownloads'),
      invalid_blobs: t('send.tooManyFiles'),
      too_many_recipients: t('send.tooManyRecipients'),
    };
    notice.error(messages[cause?.code] ?? t('error.generic', { message: cause?.message ?? '' }));
    if (!creating) abandon();
    return;
  }
  if (code === 'gone') {
    notice.error(t('error.gone'));
    abandon({ deleteRecord: true });
    return;
  }
  if (code === 'file_changed') {
    notice.error(t('error.fileChanged'));
    if (!creating) stalled();
    return;
  }
  if (code === 'network') {
    notice.error(t('error.networkUpload'));
    if (creating) return;
    stalled();
    return;
  }
  notice.error(describeError(cause ?? e));
  if (!creating) stalled();
}

/** The upload stopped on an error; it can be resumed or cancelled. */
function stalled() {
  $('#progress-title').textContent = t('progress.stopped');
  setStatus('');
  $('#progress-stats').textContent = '';
  $('#pause').hidden = true;
  $('#resume').hidden = false;
  $('#resume').focus();
}

async function abandon({ deleteRecord = false } = {}) {
  const current = sender;
  sender = null;
  if (current) {
    if (deleteRecord) {
      await deleteSend(current.record.id).catch(() => {});
      current.dispose();
    } else {
      await current.cancel();
      current.dispose();
    }
  }
  show('compose');
}

$('#pause').addEventListener('click', () => {
  sender?.pause();
});

$('#resume').addEventListener('click', () => {
  if (!sender) return;
  notice.clear();
  runSender();
  $('#pause').focus();
});

$('#cancel').addEventListener('click', async () => {
  if (!sender || !confirm(t('progress.cancelConfirm'))) return;
  const current = sender;
  sender = null;
  await current.cancel();
  current.dispose();
  notice.info(t('progress.cancelled'));
  show('compose');
});

addEventListener('beforeunload', (event) => {
  if (sender?.running) event.preventDefault();
});

// ---------------------------------------------------------------- done

function showDone(link, hasPassword, { recipients = [], colleagues = [], colleaguesLinkOnly = [] } = {}) {
  $('#link').value = link;
  // The sender's own mail program, addressed and filled in: Kluis never mails the link itself.
  // The package's subject is encrypted, so the mail gets a plain one rather than that.
  const query = new URLSearchParams({ subject: t('done.mailSubject'), body: `${t('done.mailBody')}\n\n${link}\n` });
  $('#mail-link').href = `mailto:${recipients.map(encodeURIComponent).join(',')}?${query.toString().replace(/\+/g, '%20')}`;
  $('#copy-status').textContent = '';
  $('#done-password').hidden = !hasPassword;
  // Colleagues with a key got it in their inbox too (docs/inbound.md, "Packages to colleagues"),
  // but for those whose key is of the other kind than the sender's (docs/architecture.md §3).
  const words = [];
  if (colleagues.length) words.push(t('done.colleagues', { names: colleagues.map((c) => c.email).join(', ') }));
  if (colleaguesLinkOnly.length) words.push(t('done.colleaguesLinkOnly', { names: colleaguesLinkOnly.join(', ') }));
  $('#done-colleagues').hidden = words.length === 0;
  $('#done-colleagues').textContent = words.join(' ');
  notice.clear();
  show('done');
  $('#copy-link').focus();
}

$('#copy-link').addEventListener('click', () => copyField($('#link'), $('#copy-status'), t('done.copied')));

$('#link').addEventListener('focus', (event) => event.currentTarget.select());

$('#send-more').addEventListener('click', () => {
  $('#send-form').reset();
  chosen = [];
  renderChosen();
  show('compose');
});

start();

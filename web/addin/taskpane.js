// The compose task pane ("Send securely"): sign in, read the draft's
// recipients, subject and attachments through Office.js, let the sender
// add files of any size and choose the protection the organisation's
// policy allows, then encrypt and upload with the send page's code
// (js/uploader.js). Only once the package is final does the pane touch
// the draft: the link block goes into the body, the packaged attachments
// come out, and the draft is marked secured for the send check.
//
// Draft state (Mailbox 1.11 sessionData, lives as long as the draft):
// `kluis.send` the id of an upload whose link is not yet in the mail (its
// record stays in IndexedDB until it is, so a pane closed at any moment
// continues where it stopped), `kluis.secured` {package, message, at} once done.
//
// Opened as taskpane.html?mode=request ("Request files"), the pane signs in
// the same way and then asks for files instead (request.js). "Inbox" in the
// header shows what came in, in either mode (inbox-pane.js).
import { api, isAbort } from '../js/shared/api.js';
import { formatBytes, formatDate, t, tn, translate } from '../js/shared/i18n.js';
import { cannotSendText, checkStanding, showBanner } from '../js/shared/licence-notice.js';
import { describeError, refusalText } from '../js/shared/messages.js';
import { showSendProgress } from '../js/shared/send-progress.js';
import { SignInStep } from '../js/shared/signin.js';
import { deleteSend, listSends, saveSend, sameFile } from '../js/shared/send-store.js';
import { $, EMAIL, fieldError, focusInto, Notice, showStep } from '../js/shared/ui.js';
import { createPackage, PackageSender, SendError } from '../js/shared/uploader.js';
import { loadWasm } from '../js/shared/wasm.js';
import * as auth from './auth.js';
import { setupInbox } from './inbox-pane.js';
import { linkBlock } from './link-block.js';
import * as outlook from './mailbox.js';
import { requestMode, setupRequest } from './request.js';

const SEND_KEY = 'kluis.send';
const SECURED_KEY = 'kluis.secured';

const notice = new Notice($('#notice'));
const steps = {
  loading: $('#step-loading'),
  outside: $('#step-outside'),
  signin: $('#step-signin'),
  compose: $('#step-compose'),
  resume: $('#step-resume'),
  progress: $('#step-progress'),
  done: $('#step-done'),
};

/** {token, email} once signed in. */
let session = null;
/** GET /policy: {content, send}. */
let policy = null;
/** Why this user cannot send now (`cannot_send` of GET /me: no seat, licence lapsed), or null. */
let cannotSend = null;
/** What the draft holds: {recipients: {to, cc, bcc}, subject, attachments}. */
let draft = { recipients: { to: [], cc: [], bcc: [] }, subject: '', attachments: [] };
/** Attachment ids the sender left out of the package. */
const leftOut = new Set();
/** Files added from disk. */
let diskFiles = [];
/** The upload in progress. */
let sender = null;
/** An unfinished upload offered on the resume step and the files matched to it. */
let pending = null;
let pendingFiles = [];

function show(step) {
  showStep(steps[step]);
}

function allRecipients() {
  const { to, cc, bcc } = draft.recipients;
  return [...new Set([...to, ...cc, ...bcc].map((a) => a.trim()).filter(Boolean))];
}

/** Attachments that go into the package: files and attached mails, not inline images or cloud links. */
function packable(attachments) {
  return attachments.filter((a) => !a.isInline && (a.kind === 'file' || a.kind === 'item'));
}

// ---------------------------------------------------------------- start

async function start() {
  const host = await outlook.officeReady();
  translate();
  document.body.classList.remove('loading');
  if (!host || !globalThis.Office?.context?.mailbox?.item) {
    show('outside');
    return;
  }
  loadWasm().catch(() => {}); // warm up while the person reads
  try {
    session = await auth.savedSession();
  } catch {
    notice.error(t('error.network'));
  }
  if (session) await signedIn();
  else showSignIn();
}

// ---------------------------------------------------------------- sign-in

const signin = new SignInStep({
  notice,
  methods: auth.signIn,
  onSignedIn: async (signed) => {
    session = signed;
    auth.remember(session);
    await signedIn();
  },
});

function showSignIn() {
  // Signed out: the key and what it opened are forgotten with the sign-in.
  inbox.reset();
  $('#account').hidden = true;
  showBanner($('#licence-banner'), null);
  signin.show($('#signin-email').value || outlook.userProfile().email);
  show('signin');
}

$('#sign-out').addEventListener('click', () => {
  if (sender) {
    // The upload stays saved; after signing in again it is offered to continue.
    const current = sender;
    sender = null;
    current.pause();
    current.dispose();
  }
  auth.signOut(session);
  session = null;
  notice.info(t('signin.signedOut'));
  showSignIn();
});

const inbox = setupInbox({
  notice,
  session: () => session,
  onSignedOut: () => {
    auth.forget();
    session = null;
    showSignIn();
    notice.error(t('error.signedOutInbox'));
  },
});

$('#inbox-open').addEventListener('click', () => inbox.show());

async function signedIn() {
  $('#account').hidden = false;
  $('#account-email').textContent = session.email;
  cannotSend = await checkStanding(session.token, $('#licence-banner'));
  try {
    policy = await api('/policy', { token: session.token });
  } catch {
    policy = null; // the server checks again; the form keeps its defaults
  }
  applyPolicy();
  if (requestMode()) {
    await request.show();
    return;
  }
  const state = outlook.sessionData();
  const secured = await state?.get(SECURED_KEY);
  const unfinishedId = await state?.get(SEND_KEY);
  const unfinished = unfinishedId ? (await listSends(session.email).catch(() => [])).find((r) => r.id === unfinishedId) : null;
  if (unfinished?.link) {
    // Final, but the pane closed before the link was in the mail: finish that now.
    beginProgress();
    await finishDraft(unfinished.link, unfinished);
  } else if (unfinished) {
    await showResume(unfinished);
  } else if (secured) {
    showSecured(JSON.parse(secured));
  } else {
    await showCompose();
  }
}

const request = setupRequest({ notice, session: () => session, policy: () => policy });

// ---------------------------------------------------------------- policy

function applyPolicy() {
  const send = policy?.send ?? {};
  const max = send.max_expiry_days ?? 30;
  const preferred = send.default_expiry_days ?? 7;
  const choices = [...new Set([1, 3, 7, 14, 30, 90, 365, preferred, max])].filter((d) => d <= max).sort((a, b) => a - b);
  const select = $('#expires');
  select.replaceChildren(
    ...choices.map((days) => {
      const option = document.createElement('option');
      option.value = String(days);
      option.textContent = tn('addin.days', days);
      option.selected = days === preferred;
      return option;
    }),
  );
  $('#include-message').checked = send.include_message ?? true;
  // "Always": the message goes in, and the sender cannot take it out.
  $('#include-message').disabled = policy?.rules?.message === 'always';
  const verificationRequired = Boolean(send.require_verification);
  $('#verify-none-choice').hidden = verificationRequired;
  if (verificationRequired) $('#verify-email').checked = true;
  $('#password-label').textContent = send.require_password ? t('addin.passwordRequired') : t('send.password');
  $('#password').required = Boolean(send.require_password);
}

// ---------------------------------------------------------------- compose

async function readDraft() {
  // In sequence: Outlook on the web allows three calls in flight per add-in.
  const recipients = await outlook.recipients();
  const subject = await outlook.subject().catch(() => '');
  const attachments = await outlook.attachments();
  draft = { recipients, subject, attachments };
}

async function showCompose() {
  // Focus on the heading, not on the first control (the hidden file input, whose label would light up).
  showStep(steps.compose, { focus: false });
  focusInto($('#compose-title'));
  await refreshDraft();
}

async function refreshDraft() {
  try {
    await readDraft();
  } catch (e) {
    notice.error(t('addin.officeFailed', { what: e.what ?? '', message: e.message }));
  }
  renderDraft();
}

$('#refresh').addEventListener('click', () => refreshDraft());

function renderDraft() {
  const list = $('#recipient-list');
  list.replaceChildren(
    ...allRecipients().map((address) => {
      const item = document.createElement('li');
      item.className = 'chip';
      item.textContent = address;
      return item;
    }),
  );
  if (!allRecipients().length) {
    const item = document.createElement('li');
    item.className = 'hint';
    item.textContent = t('addin.noRecipients');
    list.append(item);
  }
  $('#subject-line').textContent = draft.subject ? t('addin.subject', { subject: draft.subject }) : '';
  renderFiles();
}

function renderFiles() {
  const list = $('#file-list');
  list.replaceChildren();
  for (const attachment of packable(draft.attachments)) {
    const item = document.createElement('li');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.id = `attachment-${attachment.id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    box.checked = !leftOut.has(attachment.id);
    box.addEventListener('change', () => {
      if (box.checked) leftOut.delete(attachment.id);
      else leftOut.add(attachment.id);
      renderTotal();
    });
    const label = document.createElement('label');
    label.htmlFor = box.id;
    label.className = 'file-name';
    label.textContent = attachment.name;
    const size = document.createElement('span');
    size.className = 'file-size';
    size.textContent = formatBytes(attachment.size);
    item.append(box, label, size);
    list.append(item);
  }
  diskFiles.forEach((file, i) => {
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
      diskFiles.splice(i, 1);
      renderFiles();
      $('#files').focus();
    });
    item.append(name, size, remove);
    list.append(item);
  });
  // What cannot go into the package is named: cloud links, and images in the text (Outlook cannot remove those).
  const others = draft.attachments.filter((a) => !packable([a]).length && !a.isInline);
  const inline = draft.attachments.filter((a) => a.isInline).length;
  const notes = [];
  if (others.length) notes.push(t('addin.cloudStays', { names: others.map((a) => a.name).join(', ') }));
  if (inline) notes.push(tn('addin.inlineStays', inline));
  const note = $('#attachments-note');
  note.hidden = !notes.length;
  note.textContent = notes.join(' ');
  renderTotal();
}

function chosenAttachments() {
  return packable(draft.attachments).filter((a) => !leftOut.has(a.id));
}

function renderTotal() {
  const attachments = chosenAttachments();
  const count = attachments.length + diskFiles.length;
  const size = attachments.reduce((s, a) => s + a.size, 0) + diskFiles.reduce((s, f) => s + f.size, 0);
  $('#file-total').textContent = count ? t('send.total', { files: tn('common.files', count), size: formatBytes(size) }) : t('addin.noFiles');
}

$('#files').addEventListener('change', (event) => {
  for (const file of event.currentTarget.files) {
    if (!diskFiles.some((f) => sameFile(f, file))) diskFiles.push(file);
  }
  event.currentTarget.value = '';
  renderFiles();
});

$('#password-toggle').addEventListener('click', (event) => {
  const input = $('#password');
  const showing = input.type === 'text';
  input.type = showing ? 'password' : 'text';
  event.currentTarget.setAttribute('aria-pressed', String(!showing));
  event.currentTarget.textContent = showing ? t('common.show') : t('common.hide');
});

function boxError(id, text) {
  const box = $(`#${id}`);
  box.textContent = text ?? '';
  box.hidden = !text;
  return !text;
}

/** Checks the form against the draft; returns the choices or null (with every problem shown). */
function readForm() {
  fieldError($('#max-downloads'), '');
  fieldError($('#password'), '');
  const recipients = allRecipients();
  const verify = $('input[name=verify]:checked').value;
  const includeMessage = $('#include-message').checked;
  const attachments = chosenAttachments();
  const maxText = $('#max-downloads').value.trim();
  const maxDownloads = maxText === '' ? null : Number(maxText);
  const password = $('#password').value;
  const bad = recipients.find((r) => !EMAIL.test(r));
  let ok = boxError('recipients-error', !recipients.length ? t('addin.needRecipients') : bad ? t('send.badRecipient', { address: bad }) : '');
  ok = boxError('files-error', !attachments.length && !diskFiles.length && !includeMessage ? t('addin.nothingToSecure') : '') && ok;
  if (maxDownloads !== null && !(Number.isInteger(maxDownloads) && maxDownloads >= 1 && maxDownloads <= 10000)) {
    fieldError($('#max-downloads'), t('send.badMaxDownloads'));
    ok = false;
  }
  if (policy?.send?.require_password && !password) {
    fieldError($('#password'), t('policy.password'));
    ok = false;
  }
  if (!ok) {
    $('#send-form [aria-invalid=true], #send-form .field-error:not([hidden])')?.scrollIntoView({ block: 'center' });
    return null;
  }
  return { recipients, verify, includeMessage, attachments, maxDownloads, password, expiresInDays: Number($('#expires').value) };
}

$('#send-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  notice.clear();
  await refreshDraft(); // the sender may have changed the mail since the pane opened
  // No seat, or the licence lapsed: said before anything is read or encrypted (asked again: an admin may have helped since).
  if (cannotSend) cannotSend = await checkStanding(session.token, $('#licence-banner'));
  if (cannotSend) {
    notice.error(cannotSendText(cannotSend));
    return;
  }
  const choices = readForm();
  if (!choices) return;
  beginProgress();
  let files;
  let message = '';
  try {
    setStatus(t('addin.readingAttachments'));
    files = [];
    for (const attachment of choices.attachments) files.push(await outlook.attachmentFile(attachment));
    files.push(...diskFiles);
    if (choices.includeMessage) message = await outlook.bodyText();
  } catch (e) {
    show('compose');
    notice.error(t('addin.officeFailed', { what: e.what ?? '', message: e.message }));
    return;
  }
  setStatus(t('progress.preparing'));
  let record;
  try {
    record = await createPackage(
      {
        files,
        recipients: choices.recipients,
        subject: draft.subject,
        message,
        expiresInDays: choices.expiresInDays,
        maxDownloads: choices.maxDownloads,
        verify: choices.verify,
        password: choices.password,
        notify: false,
      },
      { token: session.token, owner: session.email, policy, onStatus: () => setStatus(t('progress.password')) },
    );
  } catch (e) {
    show('compose');
    handleSendError(e, { creating: true });
    return;
  }
  // What the pane needs to finish the draft, also after a reload.
  record.addin = {
    attachments: choices.attachments.map((a) => a.id),
    message: choices.includeMessage,
    verify: choices.verify,
    expiresInDays: choices.expiresInDays,
  };
  await saveSend(record).catch(() => {});
  await outlook.sessionData()?.set(SEND_KEY, record.id).catch(() => {});
  sender = new PackageSender(record, files, session.token, { keep: true });
  runSender();
});

// ---------------------------------------------------------------- resume

async function showResume(record) {
  pending = record;
  const attachmentIds = record.addin?.attachments ?? [];
  // Attachments come from the draft again; files from disk must be chosen again.
  pendingFiles = record.files.map(() => null);
  try {
    const attachments = await outlook.attachments();
    for (const id of attachmentIds) {
      const attachment = attachments.find((a) => a.id === id);
      if (!attachment) continue;
      const file = await outlook.attachmentFile(attachment);
      const i = record.files.findIndex((d, j) => !pendingFiles[j] && sameFile(file, d));
      if (i >= 0) pendingFiles[i] = file;
    }
  } catch (e) {
    notice.error(t('addin.officeFailed', { what: e.what ?? '', message: e.message }));
  }
  const total = record.files.reduce((sum, f) => sum + f.size, 0);
  $('#resume-summary').textContent = t('addin.resumeSummary', {
    date: formatDate(new Date(record.createdAt).toISOString()),
    files: tn('common.files', record.files.length),
    size: formatBytes(total),
  });
  renderResume();
  show('resume');
}

function renderResume() {
  const list = $('#resume-list');
  list.replaceChildren(
    ...pending.files.map((described, i) => {
      const item = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'file-name';
      name.textContent = described.name;
      const state = document.createElement('span');
      state.className = pendingFiles[i] ? 'file-state ok' : 'file-state';
      state.textContent = pendingFiles[i] ? t('resume.matched') : t('resume.missing', { size: formatBytes(described.size) });
      item.append(name, state);
      return item;
    }),
  );
  const complete = pendingFiles.every(Boolean);
  $('#resume-continue').disabled = !complete;
  $('#resume-pick').hidden = complete;
}

$('#resume-files').addEventListener('change', (event) => {
  for (const file of event.currentTarget.files) {
    const i = pending.files.findIndex((d, j) => !pendingFiles[j] && sameFile(file, d));
    if (i >= 0) pendingFiles[i] = file;
  }
  event.currentTarget.value = '';
  renderResume();
});

$('#resume-continue').addEventListener('click', () => {
  sender = new PackageSender(pending, pendingFiles, session.token, { keep: true });
  pending = null;
  beginProgress();
  runSender();
});

$('#resume-discard').addEventListener('click', async () => {
  const discarding = new PackageSender(pending, [], session.token);
  pending = null;
  await discarding.cancel();
  discarding.dispose();
  await outlook.sessionData()?.remove(SEND_KEY);
  notice.info(t('resume.discarded'));
  await showCompose();
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
  $('#pause').hidden = true;
  $('#resume').hidden = true;
  $('#cancel').hidden = true;
  setStatus('');
  show('progress');
}

async function runSender() {
  const current = sender;
  const stopShowing = showSendProgress(current);
  $('#pause').hidden = false;
  $('#resume').hidden = true;
  $('#cancel').hidden = false;
  $('#progress-title').textContent = t('progress.title');
  try {
    const link = await current.run();
    current.dispose();
    if (sender === current) sender = null;
    await finishDraft(link, current.record);
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
  }
}

/**
 * The package is final: put the link into the mail, then take out the
 * attachments it holds, then mark the draft secured. If the link cannot
 * be written, the attachments stay and the link is shown to paste.
 */
async function finishDraft(link, record) {
  const addin = record.addin ?? { attachments: [], message: false, verify: 'email', expiresInDays: 7 };
  const state = outlook.sessionData();
  setStatus(t('addin.writingMail'));
  const block = linkBlock({
    link,
    sender: outlook.userProfile().name || session.email,
    files: record.files.length,
    message: addin.message,
    verify: addin.verify,
    password: Boolean(record.stretched),
    expires: new Date(record.createdAt + addin.expiresInDays * 86_400_000),
  });
  let edited;
  try {
    const type = await outlook.bodyType();
    const data = type === 'html' ? block.html : block.text;
    // Text typed while the files uploaded is not in the package: then the link goes on top and the text stays.
    edited = addin.message && normalized(await outlook.bodyText()) !== normalized(record.message);
    if (addin.message && !edited) await outlook.setBody(data, type);
    else await outlook.prependBody(data, type);
  } catch (e) {
    // The record and `kluis.send` stay: opening the pane again tries once more.
    showDone(link, record, { linkWritten: false });
    notice.error(t('addin.linkNotWritten', { message: e.message }));
    return;
  }
  const failed = [];
  for (const id of addin.attachments) {
    try {
      await outlook.removeAttachment(id);
    } catch {
      failed.push(record.files[addin.attachments.indexOf(id)]?.name ?? id);
    }
  }
  const secured = { package: record.id, message: addin.message && !edited, at: new Date().toISOString() };
  await state?.set(SECURED_KEY, JSON.stringify(secured)).catch(() => {});
  await state?.remove(SEND_KEY);
  await deleteSend(record.id).catch(() => {});
  api('/policy/verdicts', {
    method: 'POST',
    token: session.token,
    body: { source: 'task_pane', action: 'allow', outcome: 'secured', findings: [], package_id: record.id },
  }).catch(() => {});
  showDone(link, record, { linkWritten: true, textStays: !secured.message });
  if (failed.length) notice.error(t('addin.attachmentsStay', { names: failed.join(', ') }));
  else if (edited) notice.info(t('addin.editedDuringUpload'));
}

/** Text compared for "was it changed": whitespace and line ends as Outlook may rewrite them. */
function normalized(text) {
  return String(text ?? '').replace(/\s+/g, ' ').trim();
}

function showDone(link, record, { linkWritten, textStays = false }) {
  $('#done-title').textContent = linkWritten ? t('addin.doneTitle') : t('addin.doneNoLinkTitle');
  $('#done-text').textContent = !linkWritten ? t('addin.doneNoLink') : textStays ? t('addin.doneTextStays') : t('addin.done');
  $('#done-link-field').hidden = linkWritten;
  $('#link').value = link;
  $('#done-password').hidden = !record.stretched;
  show('done');
}

function showSecured(secured) {
  $('#done-title').textContent = t('addin.doneTitle');
  $('#done-text').textContent = secured?.message === false ? t('addin.alreadySecuredTextStays') : t('addin.alreadySecured');
  $('#done-link-field').hidden = true;
  $('#done-password').hidden = true;
  show('done');
}

// Files added to the mail after it was secured can be secured too: another package, another link.
$('#secure-again').addEventListener('click', () => {
  notice.clear();
  leftOut.clear();
  diskFiles = [];
  // The body now holds the first link: it must stay, so the text cannot go into this package.
  $('#include-message').checked = false;
  $('#include-message').closest('.choice').hidden = true;
  $('#include-message-hint').hidden = true;
  showCompose();
});

$('#copy-link').addEventListener('click', async () => {
  const input = $('#link');
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand('copy');
  }
  $('#copy-status').textContent = t('done.copied');
});

function handleSendError(e, { creating }) {
  const code = e instanceof SendError ? e.code : null;
  const cause = e?.cause;
  if (code === 'signed_out') {
    sender?.dispose();
    sender = null;
    auth.forget();
    session = null;
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
    const limit = cause?.code === 'too_large' ? Number(cause.details?.limit) : NaN;
    notice.error(e.size && limit > 0 ? t('error.tooLargeSizes', { size: formatBytes(e.size), limit: formatBytes(limit) }) : t('error.tooLarge'));
    if (!creating) abandon();
    return;
  }
  if (code === 'invalid') {
    const messages = {
      invalid_recipient: t('send.badRecipientServer'),
      no_recipients: t('addin.needRecipients'),
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
  if (code === 'network') {
    notice.error(t('error.networkUpload'));
    if (!creating) stalled();
    return;
  }
  notice.error(describeError(cause ?? e));
  if (!creating) stalled();
}

/** The upload stopped on an error: nothing in the mail was touched; it can be resumed or cancelled. */
function stalled() {
  $('#progress-title').textContent = t('progress.stopped');
  setStatus(t('addin.mailUntouched'));
  $('#progress-stats').textContent = '';
  $('#pause').hidden = true;
  $('#resume').hidden = false;
  $('#resume').focus();
}

async function abandon({ deleteRecord = false } = {}) {
  const current = sender;
  sender = null;
  if (current) {
    if (deleteRecord) await deleteSend(current.record.id).catch(() => {});
    else await current.cancel();
    current.dispose();
  }
  await outlook.sessionData()?.remove(SEND_KEY);
  show('compose');
}

$('#pause').addEventListener('click', () => sender?.pause());

$('#resume').addEventListener('click', () => {
  if (!sender) return;
  notice.clear();
  runSender();
  $('#pause').focus();
});

$('#cancel').addEventListener('click', async () => {
  if (!sender) return;
  const current = sender;
  sender = null;
  await current.cancel();
  current.dispose();
  await outlook.sessionData()?.remove(SEND_KEY);
  notice.info(t('progress.cancelled'));
  show('compose');
});

start();

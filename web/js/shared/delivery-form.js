// Composing and sending a delivery through an upload request
// (docs/inbound.md): the form with the files and a message, the upload's
// progress with pause, resume and cancel, what its failures mean, and an
// unfinished upload continued after a reload (the same files chosen again).
// The uploader's page (upload.js) and a secure reply on the recipient page
// (receive.js) share it; each page keeps its own steps around it (who asks,
// the address or the package, the done screen). The files and the message
// are encrypted on this device (uploader.js: createDelivery, PackageSender).
//
// The page holds these elements: #upload-form, #files, #dropzone,
// #files-error, #file-list, #file-total, #message and #upload-button (the
// step "compose"), #progress-title, #progress-bar, #progress-stats,
// #progress-file, #progress-status, #pause, #resume and #cancel (the step
// "progress"; send-progress.js), #resume-summary, #resume-files,
// #resume-list, #resume-continue and #resume-discard (the step "resume").
import { ApiError, isAbort } from './api.js';
import { formatBytes, formatDate, t, tn } from './i18n.js';
import { describeError } from './messages.js';
import { sameFile } from './send-store.js';
import { showSendProgress } from './send-progress.js';
import { $, busy, fieldError } from './ui.js';
import { createDelivery, discardUnfinished, PackageSender, SendError } from './uploader.js';

/** Words for a refusal of the request's rules (a blocked file type) from the page or the server. */
function blockedText(files) {
  return files.map(({ name, type }) => t('upload.blocked', { name, type })).join(' ');
}

export class DeliveryForm {
  /** Files chosen in the form. */
  chosen = [];
  /** The upload running (PackageSender). */
  sender = null;
  /** An unfinished upload offered on the step "resume", and the files matched to it so far. */
  #pending = null;
  #pendingFiles = [];

  /**
   * `notice`: the page's Notice; `show(step)`: shows the step 'compose' or
   * 'progress'; `owner`: where an unfinished upload is kept (send-store.js);
   * `target()`: {requestId, info, recipients, token} for the delivery, or
   * null when the page holds no session; `requireFiles`: a delivery without
   * files is refused on the form (a reply may be a message only);
   * `onSessionEnded()`: the session is gone (401, or none); `onUnavailable(kind)`:
   * the request takes nothing ('not_found') or the recipient was refused
   * ('changed'); `onDone(record)`: the upload is finished.
   */
  constructor({ notice, show, owner, target, requireFiles = true, onSessionEnded, onUnavailable, onDone }) {
    Object.assign(this, { notice, show, owner, target, requireFiles, onSessionEnded, onUnavailable, onDone });
    this.#wire();
  }

  #wire() {
    $('#files').addEventListener('change', (event) => {
      this.addFiles(event.currentTarget.files);
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
      const items = [...(event.dataTransfer?.items ?? [])].filter((item) => item.kind === 'file');
      const files = items.length
        ? items.filter((item) => item.webkitGetAsEntry?.()?.isFile ?? true).map((item) => item.getAsFile()).filter(Boolean)
        : [...(event.dataTransfer?.files ?? [])];
      this.addFiles(files);
    });
    $('#upload-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.#submit(event.currentTarget);
    });
    $('#pause').addEventListener('click', () => this.sender?.pause());
    $('#resume').addEventListener('click', () => {
      if (!this.sender) return;
      this.notice.clear();
      this.#run();
      $('#pause').focus();
    });
    $('#cancel').addEventListener('click', async () => {
      if (!this.sender || !confirm(t('upload.cancelConfirm'))) return;
      const current = this.sender;
      this.sender = null;
      await current.cancel();
      this.notice.info(t('upload.cancelled'));
      this.show('compose');
    });
    addEventListener('beforeunload', (event) => {
      if (this.sender?.running) event.preventDefault();
    });
    $('#resume-files').addEventListener('change', (event) => this.#matchResume(event.currentTarget.files));
    $('#resume-continue').addEventListener('click', () => this.#continueResume());
    $('#resume-discard').addEventListener('click', async () => {
      const record = this.#pending;
      this.#pending = null;
      // Given up on the server too, so its place in the request is free for the fresh upload.
      await discardUnfinished(record, this.target()?.token);
      this.show('compose');
    });
  }

  // -------------------------------------------------------------- compose

  addFiles(files) {
    for (const file of files) {
      if (!this.chosen.some((f) => sameFile(f, file))) this.chosen.push(file);
    }
    this.render();
  }

  render() {
    const list = $('#file-list');
    list.replaceChildren();
    this.chosen.forEach((file, i) => {
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
        this.chosen.splice(i, 1);
        this.render();
        $('#files').focus();
      });
      item.append(name, size, remove);
      list.append(item);
    });
    const total = this.chosen.reduce((sum, f) => sum + f.size, 0);
    $('#file-total').textContent = this.chosen.length ? t('send.total', { files: tn('common.files', this.chosen.length), size: formatBytes(total) }) : '';
    if (this.chosen.length) fieldError($('#files'), '', { focus: false });
  }

  /** Empties the form (after a delivery is done). */
  reset() {
    this.chosen = [];
    this.render();
    $('#message').value = '';
  }

  async #submit(form) {
    this.notice.clear();
    const message = $('#message').value;
    if (this.requireFiles && !this.chosen.length) {
      fieldError($('#files'), t('send.noFiles'));
      return;
    }
    if (!this.chosen.length && !message.trim()) {
      fieldError($('#message'), t('reply.empty'));
      return;
    }
    fieldError($('#message'), '', { focus: false });
    const target = this.target();
    if (!target) {
      this.onSessionEnded();
      return;
    }
    const files = [...this.chosen];
    let record;
    await busy(form, async () => {
      try {
        record = await createDelivery({ files, message }, { ...target, owner: this.owner });
      } catch (e) {
        this.#failed(e, { creating: true });
      }
    });
    if (record) this.start(record, files, target.token);
  }

  // -------------------------------------------------------------- resume

  /**
   * Offers to continue `record`, an unfinished upload of this.owner kept
   * by send-store.js (after a reload): the same files are chosen again,
   * matched by name, size and modification time, and what the server has
   * already is not sent again.
   */
  offerResume(record) {
    this.#pending = record;
    this.#pendingFiles = record.files.map(() => null);
    const date = formatDate(new Date(record.createdAt).toISOString());
    const total = record.files.reduce((sum, f) => sum + f.size, 0);
    $('#resume-summary').textContent = record.files.length
      ? t('upload.resumeSummary', { date, files: tn('common.files', record.files.length), size: formatBytes(total) })
      : t('upload.resumeSummaryMessage', { date });
    $('#resume-files').value = '';
    $('#resume-files').closest('.field').hidden = !record.files.length;
    this.#renderResume();
    this.show('resume');
  }

  #renderResume(mismatched = []) {
    const list = $('#resume-list');
    list.replaceChildren();
    this.#pending.files.forEach((described, i) => {
      const item = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'file-name';
      name.textContent = described.name;
      const state = document.createElement('span');
      const ok = Boolean(this.#pendingFiles[i]);
      state.className = ok ? 'file-state ok' : 'file-state';
      state.textContent = ok ? t('resume.matched') : mismatched.includes(i) ? t('resume.different') : t('resume.missing', { size: formatBytes(described.size) });
      item.append(name, state);
      list.append(item);
    });
    $('#resume-continue').disabled = !this.#pendingFiles.every(Boolean);
  }

  #matchResume(files) {
    const pending = this.#pending.files;
    const matched = this.#pendingFiles;
    const mismatched = [];
    for (const file of files) {
      const i = pending.findIndex((d, j) => !matched[j] && sameFile(file, d));
      if (i >= 0) matched[i] = file;
      else {
        const sameName = pending.findIndex((d, j) => !matched[j] && d.name === file.name);
        if (sameName >= 0) mismatched.push(sameName);
      }
    }
    this.#renderResume(mismatched);
    if (!$('#resume-continue').disabled) $('#resume-continue').focus();
  }

  #continueResume() {
    const record = this.#pending;
    const files = [...this.#pendingFiles];
    const target = this.target();
    if (!target) {
      this.onSessionEnded();
      return;
    }
    this.#pending = null;
    // The form holds what goes on, as after a submit: should the session end on the
    // way, the page can send it anew without asking for it again.
    this.chosen = [...files];
    this.render();
    $('#message').value = record.message ?? '';
    this.start(record, files, target.token);
  }

  // -------------------------------------------------------------- progress

  /** Uploads `record` (createDelivery, or an unfinished one from send-store.js) from `files`. */
  start(record, files, token) {
    this.sender = new PackageSender(record, files, token);
    $('#progress-title').textContent = t('progress.title');
    $('#progress-bar').value = 0;
    $('#progress-stats').textContent = '';
    $('#progress-file').textContent = '';
    $('#progress-status').textContent = '';
    this.show('progress');
    this.#run();
  }

  async #run() {
    const current = this.sender;
    const stopShowing = showSendProgress(current);
    const onWarning = () => this.notice.info(t('progress.notSaved'));
    current.addEventListener('warning', onWarning);
    $('#pause').hidden = false;
    $('#resume').hidden = true;
    $('#cancel').hidden = false;
    $('#progress-title').textContent = t('progress.title');
    try {
      await current.run();
      current.dispose();
      if (this.sender === current) this.sender = null;
      this.onDone(current.record);
    } catch (e) {
      if (this.sender !== current) return; // cancelled
      if (isAbort(e)) {
        $('#progress-title').textContent = t('progress.paused');
        $('#progress-status').textContent = t('progress.pausedHint');
        $('#progress-stats').textContent = '';
        $('#pause').hidden = true;
        $('#resume').hidden = false;
        $('#resume').focus();
        return;
      }
      this.#failed(e, {});
    } finally {
      stopShowing();
      current.removeEventListener('warning', onWarning);
    }
  }

  #failed(e, { creating }) {
    const { notice } = this;
    const code = e instanceof SendError ? e.code : null;
    const cause = e?.cause;
    if (code === 'signed_out') {
      this.sender?.pause();
      this.sender?.dispose();
      this.sender = null;
      this.onSessionEnded();
      return;
    }
    if (code === 'blocked') {
      notice.error(blockedText(cause.files));
      return;
    }
    if (cause?.code === 'feature_not_licensed') {
      notice.error(t('upload.notLicensed'));
      if (!creating) this.#abandon();
      return;
    }
    if (code === 'too_large') {
      notice.error(e.size && e.limit ? t('upload.tooLargeSizes', { size: formatBytes(e.size), limit: formatBytes(e.limit) }) : t('upload.tooLarge'));
      if (!creating) this.#abandon();
      return;
    }
    if (code === 'invalid' && cause?.code?.startsWith('policy_')) {
      // The server's check of the organisation's rules (a file type the page did not see, the largest package).
      const type = cause.details?.file_type;
      if (type) notice.error(t('upload.blockedType', { type }));
      else if (cause.code === 'policy_too_large' && e.size && cause.details?.limit) notice.error(t('upload.tooLargeSizes', { size: formatBytes(e.size), limit: formatBytes(Number(cause.details.limit)) }));
      else notice.error(t('upload.policy', { message: cause.message }));
      if (!creating) this.#abandon();
      return;
    }
    if (code === 'wrong_recipient') {
      this.onUnavailable('changed');
      this.#abandon({ quiet: true });
      return;
    }
    if (code === 'gone' || (e instanceof ApiError && e.status === 404)) {
      if (creating || cause?.code === 'request_not_found') {
        this.onUnavailable('not_found');
        this.#abandon({ quiet: true });
        return;
      }
      notice.error(t('upload.gone'));
      this.#abandon();
      return;
    }
    if (cause?.code === 'request_full') {
      // Every upload the link takes is under way elsewhere; a place frees up if one is not finished.
      notice.error(t('upload.full'));
      return;
    }
    if (code === 'file_changed') {
      notice.error(t('error.fileChanged'));
      if (!creating) this.#stalled();
      return;
    }
    if (code === 'network') {
      notice.error(creating ? t('error.network') : t('error.networkUpload'));
      if (!creating) this.#stalled();
      return;
    }
    notice.error(describeError(cause ?? e));
    if (!creating) this.#stalled();
  }

  #stalled() {
    $('#progress-title').textContent = t('progress.stopped');
    $('#progress-status').textContent = '';
    $('#progress-stats').textContent = '';
    $('#pause').hidden = true;
    $('#resume').hidden = false;
    $('#resume').focus();
  }

  /** The upload cannot go on: forget it; back to the form unless the page says the request is dead. */
  async #abandon({ quiet = false } = {}) {
    const current = this.sender;
    this.sender = null;
    if (current) await current.cancel();
    if (!quiet) this.show('compose');
  }
}

// "Request files" (the task pane opened as taskpane.html?mode=request):
// once signed in (the pane's own sign-in), the user's key is checked (GET
// /key; without one the pane says so and links to /inbox, where it is made
// with a passphrase), a small form names who may upload (the draft's To),
// a note, days, uploads and verification, POST /requests makes the
// request, and the link (`url#recipient`, docs/inbound.md) goes into the
// mail body as "Send securely" puts its link there (mailbox.js).
import { api } from '../js/shared/api.js';
import { describeError } from '../js/shared/messages.js';
import { t, tn } from '../js/shared/i18n.js';
import { $, busy, copyField, EMAIL, fieldError, focusInto, showStep } from '../js/shared/ui.js';
import { bindVerifyToAddresses } from '../js/shared/verify-choice.js';
import { requestBlock } from './link-block.js';
import * as outlook from './mailbox.js';

/** Whether the pane was opened by the "Request files" button. */
export function requestMode() {
  return new URLSearchParams(location.search).get('mode') === 'request';
}

/** `session()`: {token, email}; `policy()`: GET /policy or null. */
export function setupRequest({ notice, session, policy }) {
  /** The user's recipient, once known. */
  let recipient = null;
  // Naming addresses makes the code compulsory (docs/inbound.md): the box says so.
  const updateVerify = bindVerifyToAddresses($('#request-emails'), $('#request-verify'));

  function fillDays() {
    const send = policy()?.send ?? {};
    const max = send.max_expiry_days ?? 30;
    const preferred = Math.min(send.default_expiry_days ?? 7, max);
    const choices = [...new Set([1, 3, 7, 14, 30, 90, 365, preferred, max])].filter((d) => d <= max).sort((a, b) => a - b);
    $('#request-days').replaceChildren(
      ...choices.map((days) => {
        const option = document.createElement('option');
        option.value = String(days);
        option.textContent = tn('addin.days', days);
        option.selected = days === preferred;
        return option;
      }),
    );
  }

  /** Shows the form, or the "make your key first" step. */
  async function show() {
    notice.clear();
    let state;
    try {
      state = await api('/key', { token: session().token });
    } catch (e) {
      notice.error(describeError(e));
      return;
    }
    if (!state.key) {
      recipient = null;
      $('#request-inbox-link').href = new URL('/inbox', location.origin).href;
      showStep($('#step-request-nokey'));
      return;
    }
    recipient = state.key.recipient;
    fillDays();
    let to;
    try {
      to = (await outlook.recipients()).to;
    } catch {
      to = [];
    }
    $('#request-emails').value = to.map((a) => a.trim()).filter(Boolean).join('\n');
    updateVerify();
    showStep($('#step-request'), { focus: false });
    focusInto($('#request-title'));
  }

  $('#request-check-again').addEventListener('click', () => show());

  const form = $('#request-form');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    notice.clear();
    const emailsField = $('#request-emails');
    const uploadsField = $('#request-uploads');
    for (const input of [emailsField, uploadsField]) fieldError(input, '', { focus: false });
    const emails = emailsField.value.split(/[\s,;]+/).map((a) => a.trim()).filter(Boolean);
    const wrongEmail = emails.find((a) => !EMAIL.test(a));
    const uploads = Number(uploadsField.value.trim() || '1');
    const wrong = [
      [wrongEmail !== undefined, emailsField, t('addin.request.invalidEmail', { address: wrongEmail })],
      [!(Number.isInteger(uploads) && uploads >= 1 && uploads <= 100), uploadsField, t('addin.request.uploadsWrong')],
    ].filter(([bad]) => bad);
    wrong.forEach(([, input, text], i) => fieldError(input, text, { focus: i === 0 }));
    if (wrong.length) return;
    const message = $('#request-note').value.trim();
    const body = {
      emails,
      expires_in_days: Number($('#request-days').value),
      max_uploads: uploads,
      // Naming addresses makes the code compulsory (the server's rule too).
      verify: emails.length || $('#request-verify').checked ? 'email' : 'none',
      ...(message ? { message } : {}),
    };
    busy(form, async () => {
      let made;
      try {
        made = await api('/requests', { method: 'POST', token: session().token, body });
      } catch (e) {
        if (e?.code === 'no_key') await show();
        else notice.error(describeError(e));
        return;
      }
      // Only a link to the user's own key goes out (docs/inbound.md, "Web pages").
      if (made.recipient !== recipient) {
        notice.error(t('addin.request.notYours'));
        return;
      }
      await insert(`${made.url}#${made.recipient}`);
    });
  });

  /** Puts the link on top of the mail body, as "Send securely" does; says so, or shows the link to copy. */
  async function insert(link) {
    $('#request-link').value = link;
    const block = requestBlock({ link, sender: outlook.userProfile().name || session().email });
    try {
      const type = await outlook.bodyType();
      await outlook.prependBody(type === 'html' ? block.html : block.text, type);
    } catch (e) {
      $('#request-done-title').textContent = t('addin.request.noLinkTitle');
      $('#request-done-text').textContent = t('addin.request.linkNotWritten', { message: e.message });
      $('#request-link-field').hidden = false;
      showStep($('#step-request-done'));
      return;
    }
    $('#request-done-title').textContent = t('addin.request.doneTitle');
    $('#request-done-text').textContent = t('addin.request.done');
    $('#request-link-field').hidden = true;
    showStep($('#step-request-done'));
  }

  $('#request-copy').addEventListener('click', () => copyField($('#request-link'), $('#request-copy-status'), t('done.copied')));

  return { show };
}

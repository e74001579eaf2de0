// The sign-in step the send page and the Outlook task pane share: an
// e-mail address, then the 6-digit code the server mails to it — or, when
// the address's organisation has single sign-on (OpenID Connect) and the
// page can go there, the organisation's sign-in service, with "send me a
// code instead" offered whenever that did not work.
//
// When the server refuses for a while (a new code asked for within the
// minute, too many wrong codes), the page is in one state that says so:
// the buttons it would refuse are disabled, a countdown says when they
// work again, and no message invites what the server would refuse.
import { api, ApiError } from './api.js';
import { t, tn, translate } from './i18n.js';
import { describeError } from './messages.js';
import { deviceName } from './session.js';
import { $, busy, Countdown, emailIn, fieldError, focusInto, waitOf } from './ui.js';

/** The forms, the same on every page with a sign-in: each page has `<div id="signin-forms">` where they go. */
const FORMS = `
<form id="signin-email-form" novalidate>
  <div class="field">
    <label for="signin-email" data-i18n="signin.email">Your e-mail address</label>
    <input id="signin-email" name="email" type="email" autocomplete="email" inputmode="email" required spellcheck="false">
  </div>
  <div class="actions">
    <button type="submit" class="button" id="signin-continue" data-i18n="signin.sendCode">Send me a code</button>
    <button type="button" class="button-link" id="signin-code-instead" data-i18n="signin.codeInstead" hidden>Send me a code instead</button>
  </div>
</form>
<form id="signin-code-form" novalidate hidden>
  <p id="signin-code-sent" role="status"></p>
  <div class="field">
    <label for="signin-code" data-i18n="signin.code">Code from the e-mail</label>
    <input id="signin-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="7" required class="input-code">
  </div>
  <div class="actions">
    <button type="submit" class="button" data-i18n="signin.signIn">Sign in</button>
    <button type="button" class="button-secondary" id="signin-resend" data-i18n="signin.resend">Send a new code</button>
    <button type="button" class="button-link" id="signin-other" data-i18n="signin.otherAddress">Use another address</button>
  </div>
</form>
<p class="wait" id="signin-wait" role="timer" hidden></p>
`;

/** The server mails at most one code a minute to an address (server/src/domain/codes.rs). */
const RESEND_SECONDS = 60;

/**
 * Signing in with a code the server mails: the methods SignInStep needs
 * for it. `label()` names the session under Devices (e.g. "Firefox on Linux").
 */
export function codeMethods(label = deviceName) {
  return {
    requestCode: (email) => api('/auth/code', { method: 'POST', body: { email } }),
    withCode: async (email, code) => {
      const answer = await api('/auth/token', { method: 'POST', body: { email, code, label: label() } });
      return { token: answer.token, email: answer.email };
    },
  };
}

export class SignInStep {
  /**
   * `methods`: `requestCode(email)` asks the server to mail a code,
   * `withCode(email, code)` trades it for `{token, email}`; optional:
   * `singleSignOn(email)` asks the server whether the address signs in at
   * its organisation's provider (`{sso, url}`), and `toProvider(url, email)` goes there:
   * a page that leaves for the provider never resolves; a dialog (the add-in)
   * resolves with `{token, email}`, or rejects with an Error whose message
   * says why, in the page's language.
   * `onSignedIn(session)` runs once signed in.
   */
  constructor({ notice, methods, onSignedIn }) {
    const forms = $('#signin-forms');
    forms.innerHTML = FORMS;
    translate(forms);
    // With single sign-on the address may lead to the organisation's sign-in rather than a code.
    if (methods.singleSignOn) $('#signin-continue').textContent = t('signin.continue');
    this.notice = notice;
    this.methods = methods;
    this.onSignedIn = onSignedIn;
    /** The address the code form is for. */
    this.email = '';
    this.wait = new Countdown($('#signin-wait'));
    this.emailForm = $('#signin-email-form');
    this.codeForm = $('#signin-code-form');

    this.emailForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const email = emailIn($('#signin-email'), t('signin.invalidEmail'));
      if (email) busy(this.emailForm, () => this.#continue(email));
    });
    // The fallback when single sign-on did not work (absent from pages without it).
    document.querySelector('#signin-code-instead')?.addEventListener('click', () => {
      const email = emailIn($('#signin-email'), t('signin.invalidEmail'));
      if (email) busy(this.emailForm, () => this.#requestCode(email));
    });
    // A wait is for one address: typing another one ends it (the server says again if it still refuses).
    $('#signin-email').addEventListener('input', () => {
      if (this.wait.running && $('#signin-email').value.trim() !== this.email) this.#endWait();
    });
    $('#signin-resend').addEventListener('click', () => busy(this.codeForm, () => this.#requestCode(this.email)));
    $('#signin-other').addEventListener('click', () => {
      this.#endWait();
      this.show();
      $('#signin-email').value = '';
      focusInto(this.emailForm);
    });
    this.codeForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const input = $('#signin-code');
      const code = input.value.replace(/\s/g, '');
      if (!/^\d{6}$/.test(code)) {
        fieldError(input, t('code.format'));
        return;
      }
      fieldError(input, '');
      busy(this.codeForm, () => this.#signIn(code));
    });
  }

  /** Shows the address form, with `email` filled in when given. */
  show(email = '') {
    this.emailForm.hidden = false;
    this.codeForm.hidden = true;
    if (email) $('#signin-email').value = email;
  }

  /**
   * Single sign-on did not work (`message` says why): the address form
   * again, with the mailed code offered instead.
   */
  singleSignOnFailed(message, email = '') {
    this.show(email);
    this.notice.error(message);
    const instead = document.querySelector('#signin-code-instead');
    if (instead) instead.hidden = false;
  }

  /** Single sign-on where the address's organisation has it, else the mailed code. */
  async #continue(email) {
    const instead = document.querySelector('#signin-code-instead');
    if (!this.methods.singleSignOn || (instead && !instead.hidden)) return this.#requestCode(email);
    this.notice.clear();
    let answer;
    try {
      answer = await this.methods.singleSignOn(email);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'invalid_email') {
        fieldError($('#signin-email'), t('signin.invalidEmail'));
      } else if (e instanceof ApiError && e.code === 'sso_unavailable') {
        this.singleSignOnFailed(t('sso.error.unreachable'));
      } else {
        this.notice.error(describeError(e));
      }
      return;
    }
    if (answer.sso) return this.#toProvider(answer.url, email);
    return this.#requestCode(email);
  }

  async #toProvider(url, email) {
    let session;
    try {
      session = await this.methods.toProvider(url, email);
    } catch (e) {
      this.singleSignOnFailed(e.message, email);
      return;
    }
    this.notice.clear();
    await this.onSignedIn(session);
  }

  #endWait() {
    this.wait.stop();
    this.notice.clear();
  }

  async #requestCode(email) {
    this.notice.clear();
    try {
      await this.methods.requestCode(email);
    } catch (e) {
      const wait = waitOf(e);
      if (e instanceof ApiError && e.code === 'rate_limited' && wait) {
        // A code went out a moment ago: it is the one to use.
        this.#showCodeForm(email, t('signin.codeRecent', { email }));
        this.#holdResend(wait);
      } else if (e instanceof ApiError && e.code === 'locked') {
        this.email = email;
        this.#locked(wait);
      } else if (e instanceof ApiError && e.code === 'invalid_email') {
        fieldError($('#signin-email'), t('signin.invalidEmail'));
      } else {
        this.notice.error(describeError(e));
      }
      return;
    }
    this.#showCodeForm(email, t('signin.codeSent', { email }));
    this.#holdResend(RESEND_SECONDS);
  }

  #showCodeForm(email, sentence) {
    const changed = this.codeForm.hidden || this.email !== email;
    this.email = email;
    $('#signin-code-sent').textContent = sentence;
    this.emailForm.hidden = true;
    this.codeForm.hidden = false;
    fieldError($('#signin-code'), '');
    if (changed) {
      $('#signin-code').value = '';
      focusInto(this.codeForm);
    } else {
      $('#signin-code').focus();
    }
  }

  /** No new code for `seconds`: the one sent is the one to type. */
  #holdResend(seconds) {
    this.wait.start(seconds, [$('#signin-resend')], (clock) => t('signin.waitResend', { clock }));
  }

  /** Too many wrong codes: nothing for this address works until the budget's window ends. */
  #locked(seconds) {
    this.notice.error(t('signin.locked'));
    const controls = [$('#signin-email-form button[type=submit]'), $('#signin-resend'), $('#signin-code-form button[type=submit]')];
    if (seconds) {
      this.wait.start(seconds, controls, (clock) => t('signin.waitLocked', { clock }), () => this.notice.clear());
    }
  }

  async #signIn(code) {
    const input = $('#signin-code');
    let session;
    try {
      session = await this.methods.withCode(this.email, code);
    } catch (e) {
      const wait = waitOf(e);
      if (!(e instanceof ApiError)) {
        this.notice.error(describeError(e));
      } else if (e.code === 'wrong_code') {
        fieldError(input, tn('code.wrong', e.details.tries_left ?? 0));
      } else if (e.code === 'locked') {
        fieldError(input, '');
        this.#locked(wait);
      } else if (e.code === 'code_expired' || e.code === 'no_code') {
        // A new code is what helps, unless one may not be asked for yet (the countdown says when).
        fieldError(input, t(e.code === 'code_expired' ? 'signin.codeExpired' : 'signin.noCode'), { focus: false });
        if (!this.wait.running) $('#signin-resend').focus();
      } else if (e.code === 'rate_limited' && wait) {
        const submit = $('#signin-code-form button[type=submit]');
        this.wait.start(wait, [submit], (clock) => t('common.waitRetry', { clock }));
        this.notice.error(t('common.tooManyRequests'));
      } else {
        this.notice.error(describeError(e));
      }
      return;
    }
    this.wait.stop();
    this.notice.clear();
    $('#signin-code').value = '';
    await this.onSignedIn(session);
  }
}

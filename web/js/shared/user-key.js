// The signed-in user's own key (docs/inbound.md), as the inbox, the Sent
// page and the Outlook task pane hold it: what GET /key says, and the
// identity once the passphrase unlocked it. Unwrapping runs in a Web Worker
// (crypto-client.js, scrypt 2^18); the passphrase and the identity never
// leave the page, and the identity lives only in this object (the page's
// memory) until lock() or leaving the page.
//
// UnlockForm is the passphrase form every one of those pages has, bound to
// the same ids: #unlock-form, #unlock-passphrase (its error goes next to it)
// and #unlock-status (role=status: "Unlocking…").
import { api } from './api.js';
import { CryptoWorker } from './crypto-client.js';
import { t } from './i18n.js';
import { describeError } from './messages.js';
import { $, busy, fieldError } from './ui.js';

/** Shortest passphrase accepted for a key. */
export const MIN_PASSPHRASE = 10;

/** Runs `work(worker)` in a fresh crypto worker and ends it (scrypt's 256 MiB go with it). */
export async function inWorker(work) {
  const worker = new CryptoWorker();
  try {
    return await work(worker);
  } finally {
    worker.terminate();
  }
}

export class UserKey {
  /** GET /key: {key?, recovery_recipient?}; null until loaded. */
  state = null;
  /** The unlocked identity (AGE-SECRET-KEY-1…): in this page's memory only. */
  identity = null;

  /** `onChange()` runs whenever the state or the identity changes. */
  constructor({ onChange = () => {} } = {}) {
    this.onChange = onChange;
  }

  /** The key (KeyView), or null when the user has none (or it is not loaded). */
  get key() {
    return this.state?.key ?? null;
  }

  /** Asks the server (GET /key); API errors are thrown. */
  async load(token) {
    this.state = await api('/key', { token });
    this.onChange();
  }

  /** Takes a new state (after PUT /key); `identity` when the page now holds it unlocked. */
  update(state, identity = this.identity) {
    this.state = state;
    this.identity = identity;
    this.onChange();
  }

  /**
   * Unwraps the key with `passphrase` in a worker and keeps the identity.
   * A wrong passphrase rejects with kind `no_match`; a stored key that does
   * not decrypt to its own recipient with kind `mismatch`.
   */
  async unlock(passphrase) {
    const key = this.key;
    const unwrapped = await inWorker((w) => w.unwrapKey(key.wrapped, passphrase));
    if (unwrapped.recipient !== key.recipient) throw Object.assign(new Error('the key does not match its recipient'), { kind: 'mismatch' });
    this.identity = unwrapped.identity;
    this.onChange();
    return key;
  }

  /** Forgets the identity. */
  lock() {
    this.identity = null;
    this.onChange();
  }

  /**
   * Whether the key already existed on `date` (ISO): what was encrypted
   * before it (sent before the user made it, or before they made a new one)
   * cannot be for it.
   */
  existedAt(date) {
    return Boolean(this.key) && Date.parse(date) >= Date.parse(this.key.created_at);
  }
}

/**
 * The passphrase form (#unlock-form): checks the field, unlocks `userKey`
 * and says what went wrong in words; `onUnlocked(key)` runs after a
 * successful unlock (the form's field is empty again by then).
 */
export class UnlockForm {
  constructor({ userKey, notice, onUnlocked }) {
    this.form = $('#unlock-form');
    this.input = $('#unlock-passphrase');
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!this.input.value) {
        fieldError(this.input, t('key.passphraseMissing'));
        return;
      }
      fieldError(this.input, '');
      notice.clear();
      const passphrase = this.input.value;
      busy(this.form, async () => {
        $('#unlock-status').textContent = t('key.unlocking');
        try {
          const key = await userKey.unlock(passphrase);
          this.input.value = '';
          await onUnlocked(key);
        } catch (e) {
          if (e?.kind === 'no_match') {
            this.input.value = '';
            fieldError(this.input, t('key.wrongPassphrase'));
          } else if (e?.kind === 'mismatch' || e?.kind === 'damaged') {
            notice.error(t('key.damaged'));
          } else {
            notice.error(describeError(e));
          }
        } finally {
          $('#unlock-status').textContent = '';
        }
      });
    });
  }

  focus() {
    this.input.focus();
  }
}

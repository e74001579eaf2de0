// Who the add-in acts for: signed in with the server's own e-mail code or,
// where the organisation has single sign-on, at its OpenID provider in an
// Office dialog (/addin/sso.html); either way the API token is kept on this
// device per Outlook account and callers work with {token, email}.
import { api } from '../js/shared/api.js';
import { t } from '../js/shared/i18n.js';
import { describeError } from '../js/shared/messages.js';
import { deviceName, SavedSession } from '../js/shared/session.js';
import { codeMethods } from '../js/shared/signin.js';
import { singleSignOnError, tradeHandoff } from '../js/shared/single-sign-on.js';
import { call } from './mailbox.js';

const KEY = 'kluis.addin.token';

/**
 * Storage of this add-in for this mailbox: Outlook on the web partitions
 * add-in storage per host page, and `Office.context.partitionKey` names
 * the partition where it exists (docs: "Persist add-in state").
 */
function saved() {
  const partition = globalThis.Office?.context?.partitionKey;
  return new SavedSession(partition ? `${partition}${KEY}` : KEY);
}

/** The saved session {token, email}, if it still works; null otherwise. */
export async function savedSession() {
  const session = await saved().check();
  if (!session) forget();
  return session;
}

/**
 * Keeps the session on this device. The send check reads the token to
 * record its verdicts: from localStorage where it runs in a browser, from
 * `OfficeRuntime.storage` in classic Outlook's JavaScript-only runtime.
 */
export function remember(session) {
  saved().remember(session);
  const value = JSON.stringify({ token: session.token, email: session.email });
  globalThis.OfficeRuntime?.storage?.setItem(mailboxKey(), value).catch(() => {});
}

/** `OfficeRuntime.storage` is shared by every account of an Outlook: keyed by mailbox. */
function mailboxKey() {
  const email = globalThis.Office?.context?.mailbox?.userProfile?.emailAddress ?? '';
  return `${KEY}:${email.toLowerCase()}`;
}

export function forget() {
  saved().forget();
  globalThis.OfficeRuntime?.storage?.removeItem(mailboxKey()).catch(() => {});
}

/** "Outlook on the web (Chrome on Windows)": how the Devices list names this sign-in. */
function label() {
  const platforms = { PC: 'Outlook for Windows', Mac: 'Outlook for Mac', OfficeOnline: 'Outlook on the web' };
  const platform = platforms[globalThis.Office?.context?.diagnostics?.platform] ?? 'Outlook';
  return `${platform} (${deviceName()})`;
}

/** Office's DialogEventReceived code for a dialog the user closed. */
const DIALOG_CLOSED = 12006;

/**
 * Opens `url` in an Office dialog (a window of its own: providers' login
 * pages refuse frames) and resolves with the first message it sends,
 * parsed; closing the dialog is `{error: 'cancelled'}`. The dialog is closed.
 */
async function fromDialog(url) {
  const ui = globalThis.Office?.context?.ui;
  if (typeof ui?.displayDialogAsync !== 'function') throw new Error(t('addin.sso.noDialog'));
  let dialog;
  try {
    // Outlook on the web answers once the user allowed the window: give them time.
    dialog = await call('opening the sign-in window', (cb) =>
      ui.displayDialogAsync(url, { height: 60, width: 30, displayInIframe: false }, cb), { timeout: 600_000 },
    );
  } catch (e) {
    // 12009: the user chose not to see it (Outlook on the web asks first); else a pop-up blocker, say.
    throw new Error(e.code === 12009 ? singleSignOnError('cancelled') : t('addin.sso.noDialog'), { cause: e });
  }
  return new Promise((resolve) => {
    dialog.addEventHandler(Office.EventType.DialogMessageReceived, (arg) => {
      if (arg.origin && arg.origin !== location.origin) return; // only this server's page speaks for the sign-in
      dialog.close();
      try {
        resolve(JSON.parse(arg.message));
      } catch {
        resolve({ error: 'failed' });
      }
    });
    // The user closed it (12006), or its page could not load (12002, 12003).
    dialog.addEventHandler(Office.EventType.DialogEventReceived, (arg) => {
      resolve({ error: arg.error === DIALOG_CLOSED ? 'cancelled' : 'failed' });
    });
  });
}

/** The dialog's sign-in at the organisation's provider, traded for `{token, email}` here in the pane. */
async function atProvider(email) {
  // The dialog starts the sign-in itself: the provider URL the pane was given
  // is tied to a cookie the dialog's browser (a separate one in Outlook desktop) never saw.
  const { handoff, error } = await fromDialog(`${location.origin}/addin/sso.html?email=${encodeURIComponent(email)}`);
  if (!handoff) throw new Error(singleSignOnError(error));
  let session;
  try {
    session = await tradeHandoff(handoff, label());
  } catch (e) {
    throw new Error(describeError(e), { cause: e });
  }
  if (!session) throw new Error(singleSignOnError('expired'));
  return session;
}

/**
 * Sign-in methods (web/js/shared/signin.js). `code`: asks the server to mail a
 * code, then trades it for a token. Single sign-on: the server says whether
 * the address's organisation has it; then the provider in a dialog.
 */
export const signIn = {
  ...codeMethods(label),
  // Only whether to: without the cookie (credentials omitted) its sign-in is never finished.
  singleSignOn: (email) => api(`/auth/sso?email=${encodeURIComponent(email)}`),
  toProvider: (url, email) => atProvider(email),
};

export function signOut(session) {
  forget();
  if (session?.token) api('/auth/logout', { method: 'POST', token: session.token }).catch(() => {});
}

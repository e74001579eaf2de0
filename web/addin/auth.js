// Who the add-in acts for. Today: the server's own e-mail code, the API
// token kept on this device per Outlook account. The seam for Microsoft
// single sign-on (nested app authentication, MSAL) is `signIn`: it will
// gain a method that trades an Entra token for a Kluis token at the
// server, and every caller keeps working with {token, email}.
import { api } from '../js/api.js';
import { deviceName, SavedSession } from '../js/session.js';

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

/** Sign-in methods. `code`: asks the server to mail a code, then trades it for a token. */
export const signIn = {
  requestCode: (email) => api('/auth/code', { method: 'POST', body: { email } }),
  withCode: async (email, code) => {
    const answer = await api('/auth/token', { method: 'POST', body: { email, code, label: label() } });
    return { token: answer.token, email: answer.email };
  },
};

export function signOut(session) {
  forget();
  if (session?.token) api('/auth/logout', { method: 'POST', token: session.token }).catch(() => {});
}

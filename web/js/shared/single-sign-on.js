// Single sign-on at the organisation's OpenID provider, for pages that go
// there themselves (the send page, the admin console; the Outlook task
// pane goes there in an Office dialog, web/addin/sso.js, and uses the words
// and the trade from here). The server tells whether an address's
// organisation has it (GET /auth/sso); the browser goes to the provider,
// and the server's callback sends it back to the page it started from with
// `#sso=<handoff>` (traded once, within a minute, for a session) or
// `#sso_error=<code>`.
import { api, ApiError } from './api.js';
import { t } from './i18n.js';
import { describeError } from './messages.js';
import { deviceName } from './session.js';

/** The address a sign-in started with, for the form if it comes back with an error. */
const EMAIL_KEY = 'kluis.sso.email';

/** What the callback's `#sso_error=` codes mean (server/src/domain/sso.rs, `Failure`). */
const ERRORS = ['expired', 'cancelled', 'unreachable', 'refused', 'invalid_token', 'unverified', 'outside_domains', 'unknown_user', 'disabled', 'failed'];

/** Words for a `#sso_error=` code (an unknown one: "failed"). */
export function singleSignOnError(code) {
  return t(`sso.error.${ERRORS.includes(code) ? code : 'failed'}`);
}

/**
 * Trades the handoff of a finished sign-in (single use, within a minute)
 * for `{token, email}`, the session named `label` under Devices; null when
 * it was used or came too late.
 */
export async function tradeHandoff(handoff, label) {
  try {
    const answer = await api('/auth/sso/token', { method: 'POST', body: { handoff, label } });
    return { token: answer.token, email: answer.email };
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

/**
 * The sign-in step's methods for single sign-on from a page that the
 * sign-in returns to: `landing` is `send` or `admin` (server/src/api/sso.rs).
 */
export function providerMethods(landing) {
  return {
    singleSignOn: (email) => api(`/auth/sso?email=${encodeURIComponent(email)}&to=${landing}`, { credentials: 'same-origin' }),
    toProvider: (url, email) => {
      sessionStorage.setItem(EMAIL_KEY, email);
      location.assign(url);
      return new Promise(() => {}); // the page is leaving
    },
  };
}

/**
 * Back from the provider: the fragment is removed from the address bar and
 * history first, the handoff traded for `{token, email}`, given to
 * `signedIn`. A failure shows the sign-in step (`showSignIn`) with why and
 * "send me a code instead". False when the page was not coming back from one.
 */
export async function returnFromProvider({ signin, showSignIn, signedIn }) {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const handoff = fragment.get('sso');
  let error = fragment.get('sso_error');
  if (handoff === null && error === null) return false;
  history.replaceState(null, '', location.pathname + location.search);
  const email = sessionStorage.getItem(EMAIL_KEY) || '';
  sessionStorage.removeItem(EMAIL_KEY);
  if (handoff) {
    try {
      const session = await tradeHandoff(handoff, deviceName());
      if (session) {
        await signedIn(session);
        return true;
      }
    } catch (e) {
      showSignIn();
      signin.singleSignOnFailed(describeError(e), email);
      return true;
    }
    error = 'expired';
  }
  showSignIn();
  signin.singleSignOnFailed(singleSignOnError(error), email);
  return true;
}

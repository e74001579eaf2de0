// The task pane's single sign-on dialog (Office dialog API: a task pane
// cannot show a provider's login page itself). The pane opens it as
// /addin/sso.html?email=ADDR; it starts the sign-in itself, so the browser
// cookie that ties the provider's answer to this sign-in is set in the
// dialog's own browser (in Outlook desktop it may share no cookies with the
// pane), and goes to the provider. The callback brings it back here with
// #sso=<handoff> or #sso_error=<code>, which it hands to the pane with
// messageParent: the pane trades the handoff and closes the dialog.
import { api, ApiError } from '../js/shared/api.js';
import { translate } from '../js/shared/i18n.js';
import { $ } from '../js/shared/ui.js';
import { officeReady } from './mailbox.js';

// The handoff signs in once, within a minute: out of the address bar and history before anything else.
const fragment = new URLSearchParams(location.hash.slice(1));
const handoff = fragment.get('sso');
const error = fragment.get('sso_error');
const back = handoff !== null || error !== null;
if (back) history.replaceState(null, '', location.pathname);

function status(key) {
  const el = $('#sso-status');
  el.dataset.i18n = key;
  translate(el.parentElement);
}

/** Sends `message` ({handoff} or {error: code}) to the task pane, which closes this dialog. */
function tell(message) {
  Office.context.ui.messageParent(JSON.stringify(message));
}

/** Asks the server for the provider's address (setting the cookie in this browser) and goes there. */
async function toProvider(email) {
  let answer;
  try {
    answer = await api(`/auth/sso?email=${encodeURIComponent(email)}&to=addin`, { credentials: 'same-origin' });
  } catch (e) {
    // The pane words it: the provider not answering is `unreachable`, anything else a failed sign-in.
    tell({ error: e instanceof ApiError && e.code === 'sso_unavailable' ? 'unreachable' : 'failed' });
    return;
  }
  // No single sign-on (any more) for this address: the pane offers the code.
  if (!answer.sso) tell({ error: 'failed' });
  else location.assign(answer.url);
}

async function start() {
  const host = await officeReady();
  translate();
  document.body.classList.remove('loading');
  if (!host || typeof globalThis.Office?.context?.ui?.messageParent !== 'function') {
    status('addin.sso.outside');
  } else if (back) {
    status('addin.sso.back');
    tell(handoff ? { handoff } : { error: error || 'failed' });
  } else {
    await toProvider(new URLSearchParams(location.search).get('email') ?? '');
  }
}

start();

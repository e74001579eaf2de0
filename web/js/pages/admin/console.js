// The admin console (/admin/): an organisation's admins see its figures
// and the audit chain's state, run its users, packages, audit log and
// settings, single sign-on, key recovery and upload portals. Signed in with the send page's sign-in (the
// same saved session, and single sign-on that comes back here); a user who
// is not an admin is told so.
import { api, ApiError } from '../../shared/api.js';
import { formatBytes, formatNumber, t, translate } from '../../shared/i18n.js';
import { licenceBanner, showBanner } from '../../shared/licence-notice.js';
import { describeError } from '../../shared/messages.js';
import { SavedSession } from '../../shared/session.js';
import { codeMethods, SignInStep } from '../../shared/signin.js';
import { providerMethods, returnFromProvider } from '../../shared/single-sign-on.js';
import { $, Notice, showStep } from '../../shared/ui.js';
import { setupAudit } from './audit.js';
import { adminApi, el, errorText, session } from './common.js';
import { setupLicence } from './licence.js';
import { setupOrganisation } from './organisation.js';
import { setupPackages } from './packages.js';
import { setupPolicy } from './policy.js';
import { setupPortals } from './portals.js';
import { setupUsers } from './users.js';

const TOKEN_KEY = 'kluis.token';

translate();
document.body.classList.remove('loading');

const notice = new Notice($('#notice'));
const saved = new SavedSession(TOKEN_KEY);
/** The signed-in address. */
let email = '';

// ---------------------------------------------------------------- sign-in

const signin = new SignInStep({
  notice,
  methods: {
    ...providerMethods('admin'),
    ...codeMethods(),
  },
  onSignedIn: adopt,
});

/** Signed in on this page (with a code, or back from single sign-on): kept on this device. */
async function adopt(signed) {
  saved.remember(signed);
  await signedIn(signed);
}

function showSignIn() {
  session.token = null;
  showBanner($('#licence-banner'), null);
  $('#account').hidden = true;
  signin.show();
  showStep($('#step-signin'));
}

/** Counts starts, so that a start overtaken by a later one (another tab signed in meanwhile) gives way. */
let starts = 0;

async function start() {
  const run = ++starts;
  if (await returnFromProvider({ signin, showSignIn, signedIn: adopt })) return;
  let found = null;
  try {
    found = await saved.check();
  } catch {
    notice.error(t('error.network'));
  }
  if (run !== starts) return;
  // Signed out in another tab while the server was asked: that wins.
  if (found && saved.read()?.token === found.token) await signedIn(found);
  else showSignIn();
}

/** Signed in: the console for an admin, the "needs an admin" page for anyone else. */
async function signedIn(signed) {
  session.token = signed.token;
  email = signed.email;
  $('#account-email').textContent = email;
  $('#account').hidden = false;
  let overview;
  try {
    let org;
    let licence;
    [overview, org, licence] = await Promise.all([adminApi('/overview'), adminApi('/organisation'), adminApi('/licence')]);
    if (session.token !== signed.token) return; // signed out meanwhile
    $('#admin-nav-title').textContent = org.name;
    showLicence(licence);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return;
    notice.error(errorText(e));
    return;
  }
  showStep($('#step-console'), { focus: false });
  const first = sectionOf(location.hash) ?? 'overview';
  await select(first, { focus: false, data: first === 'overview' ? overview : null });
}

/** The licence banner over every section: evaluation, ending within 30 days, grace, lapsed. */
function showLicence(view) {
  showBanner($('#licence-banner'), licenceBanner(view, $('#admin-nav-title').textContent, { admin: true }));
}

/** The server no longer takes the token (401), or the user is not an admin (403). */
session.lost = (status) => {
  if (status === 401) {
    saved.forget();
    showSignIn();
    notice.info(t('admin.signedOutServer'));
  } else {
    $('#denied-text').textContent = t('admin.denied.text', { email });
    showStep($('#step-denied'));
  }
};

function signOut() {
  const token = session.token;
  saved.forget();
  showSignIn();
  if (token) api('/auth/logout', { method: 'POST', token }).catch(() => {});
}

$('#sign-out').addEventListener('click', () => {
  signOut();
  notice.info(t('signin.signedOut'));
});
$('#denied-other').addEventListener('click', () => {
  signOut();
});
// Signed out in another tab (the send page, say): this one follows. Signed in there: this one too.
addEventListener('storage', (event) => {
  if (event.key !== TOKEN_KEY) return;
  // Also while this page is still starting (no step shown yet, no token taken).
  if (!saved.read() && $('#step-signin').hidden) {
    showSignIn();
    notice.info(t('signin.signedOut'));
  } else if (!session.token && saved.read() && !$('#step-signin').hidden) {
    notice.clear();
    start();
  }
});

// ---------------------------------------------------------------- sections

const SECTIONS = ['overview', 'users', 'packages', 'audit', 'portals', 'organisation', 'policy', 'licence'];
const tabs = [...document.querySelectorAll('#admin-tabs [role=tab]')];

const sections = {
  overview: { show: (data) => showOverview(data) },
  users: setupUsers({ notice, me: () => email }),
  packages: setupPackages({ notice }),
  audit: setupAudit({ notice }),
  portals: setupPortals({ notice }),
  policy: setupPolicy({ notice }),
  licence: setupLicence({ notice, onView: (view) => showLicence(view) }),
  organisation: setupOrganisation({ notice, onName: (name) => ($('#admin-nav-title').textContent = name) }),
};

function sectionOf(hash) {
  const name = hash.replace(/^#/, '');
  return SECTIONS.includes(name) ? name : null;
}

/** Shows one section (its tab selected, the others' panels hidden) and loads what it shows. */
async function select(name, { focus = true, data = null } = {}) {
  notice.clear();
  for (const tab of tabs) {
    const on = tab.dataset.section === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`#${tab.getAttribute('aria-controls')}`).hidden = !on;
  }
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  const panel = $(`#panel-${name}`);
  if (focus) {
    const heading = panel.querySelector('h2');
    heading.tabIndex = -1;
    heading.focus();
  }
  await sections[name].show(data);
}

// Tabs: click, or arrow keys / Home / End between them (the selected one is the Tab stop).
for (const tab of tabs) {
  tab.addEventListener('click', () => select(tab.dataset.section));
  tab.addEventListener('keydown', (event) => {
    const i = tabs.indexOf(tab);
    const to = { ArrowDown: i + 1, ArrowRight: i + 1, ArrowUp: i - 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    const next = tabs[(to + tabs.length) % tabs.length];
    next.focus();
    select(next.dataset.section, { focus: false });
  });
}
addEventListener('hashchange', () => {
  const name = sectionOf(location.hash);
  if (name && session.token && !$('#step-console').hidden) select(name);
});

// ---------------------------------------------------------------- overview

async function showOverview(data) {
  const figures = $('#overview-figures');
  let overview = data;
  let check;
  try {
    [overview, check] = await Promise.all([overview ?? adminApi('/overview'), adminApi('/audit/verify')]);
  } catch (e) {
    notice.error(errorText(e));
    return;
  }
  const rows = [
    ['activeUsers', formatNumber(overview.active_users)],
    ['admins', formatNumber(overview.admins)],
    ['disabledUsers', formatNumber(overview.disabled_users)],
    ['usersActive', formatNumber(overview.users_active_this_month)],
    ['packages', formatNumber(overview.packages_this_month)],
    ['bytes', formatBytes(overview.bytes_this_month)],
    ['failedVerifications', formatNumber(overview.failed_verifications_this_month)],
    ['livePackages', formatNumber(overview.live_packages)],
  ];
  figures.replaceChildren();
  for (const [key, value] of rows) {
    const item = el('div', '', 'figure');
    item.append(el('dt', t(`admin.overview.${key}`)), el('dd', value));
    figures.append(item);
  }
  const chain = $('#overview-chain');
  chain.className = check.intact ? 'chain-intact' : 'chain-broken';
  chain.textContent = check.intact
    ? t('admin.overview.intact', { rows: formatNumber(check.rows) })
    : // The server's sentence ("audit log broken at row 57 (…): …"): {where} from "at", {raw} whole.
      t('admin.overview.broken', { where: (check.first_break ?? '').replace(/^audit log broken /, ''), raw: check.first_break ?? '' });
  $('#overview-head').textContent = check.head ? t('admin.overview.head', { hash: check.head }) : '';
}

start().catch((e) => notice.error(describeError(e)));

// The inbox in the task pane ("Inbox" in the pane's header, next to Send
// securely and Request files): what came in (GET /inbox: uploads and
// replies), the key unlocked with the passphrase (user-key.js, the
// identity only in the pane's memory), an item opened and its files saved
// (item-viewer.js, save-file.js), as on /inbox.
//
// Saving is what Outlook allows. Outlook for Mac's webview starts no
// downloads at all, and no Outlook lets a pane pick where a file goes or
// stream a download reliably, so the pane decrypts a file into memory and
// hands it to the webview as a download — for files up to PANE_SAVE_LIMIT,
// and not on Mac, iOS or Android. Other files get "Open in the browser": the
// web inbox (/inbox), where any size streams to disk.
import { api, ApiError } from '../js/shared/api.js';
import { formatBytes, formatDate, t, tn } from '../js/shared/i18n.js';
import { ItemBlobs, ItemError, itemHeading, OpenItems, readManifest, showItem, UNOPENABLE } from '../js/shared/item-viewer.js';
import { describeError } from '../js/shared/messages.js';
import { saveRow } from '../js/shared/save-file.js';
import { $, showStep } from '../js/shared/ui.js';
import { UnlockForm, UserKey } from '../js/shared/user-key.js';
import { openInBrowser } from './mailbox.js';

/** Largest file the pane saves itself (it holds the file in memory until it is whole). */
const PANE_SAVE_LIMIT = 100_000_000;
/** Platforms (Office.context.diagnostics.platform) whose webview starts no downloads. */
const NO_DOWNLOADS = new Set(['Mac', 'iOS', 'Android']);
const PAGE = 20;

/** Whether the pane can save files here at all. */
function canSaveHere() {
  return !NO_DOWNLOADS.has(globalThis.Office?.context?.diagnostics?.platform);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * `session()`: {token, email}; `onSignedOut()`: the server ended the
 * sign-in. Returns {show, reset}: show the inbox step; forget the key and
 * what was opened (signing out).
 */
export function setupInbox({ notice, session, onSignedOut }) {
  const userKey = new UserKey({ onChange: () => renderKey() });
  const opened = new OpenItems();
  const list = $('#inbox-list');
  /** Cursor of the next page; loaded once the step was first shown. */
  let next = null;
  let loaded = false;
  /** The step shown before the inbox, to go back to. */
  let before = null;

  const inboxUrl = () => new URL('/inbox', location.origin).href;

  function failed(e) {
    if (e instanceof ApiError && e.status === 401) {
      reset();
      onSignedOut();
      return;
    }
    notice.error(describeError(e));
  }

  function renderKey() {
    const key = userKey.key;
    $('#key-none').hidden = !userKey.state || Boolean(key);
    $('#key-locked').hidden = !key || Boolean(userKey.identity);
    $('#key-unlocked').hidden = !key || !userKey.identity;
  }

  async function show() {
    const current = document.querySelector('.step:not([hidden])');
    if (current?.id !== 'step-inbox') before = current;
    notice.clear();
    showStep($('#step-inbox'), { focus: false });
    $('#inbox-title').setAttribute('tabindex', '-1');
    $('#inbox-title').focus();
    if (loaded) return;
    loaded = true;
    await Promise.all([loadKey(), loadPage(true)]);
  }

  async function loadKey() {
    try {
      await userKey.load(session().token);
    } catch (e) {
      failed(e);
    }
  }

  function reset() {
    for (const li of list.children) closeItem(li);
    userKey.lock();
    userKey.state = null;
    loaded = false;
    list.replaceChildren();
  }

  $('#inbox-back').addEventListener('click', () => {
    notice.clear();
    if (before) showStep(before);
  });
  $('#inbox-web').addEventListener('click', () => openInBrowser(inboxUrl()));
  $('#key-make').addEventListener('click', () => openInBrowser(inboxUrl()));
  $('#key-check').addEventListener('click', () => loadKey());

  new UnlockForm({
    userKey,
    notice,
    onUnlocked: (key) => {
      notice.success(key.must_change_passphrase ? t('addin.inbox.mustChange') : t('key.unlocked'));
      $('#lock').focus();
    },
  });

  $('#lock').addEventListener('click', () => {
    for (const li of list.children) closeItem(li);
    userKey.lock();
    notice.info(t('key.locked'));
    $('#unlock-passphrase').focus();
  });

  // ------------------------------------------------------------ the items

  function blobsOf(item) {
    return new ItemBlobs(`/api/v1/inbox/${encodeURIComponent(item.id)}/blobs`, item.blobs);
  }

  function itemCard(item) {
    const li = el('li', 'card inbox-item');
    li.dataset.id = item.id;
    const headingId = `item-${item.id}`;
    li.setAttribute('aria-labelledby', headingId);
    const head = el('div', 'sent-head');
    const h = el('h2', 'sent-heading', itemHeading(item));
    h.id = headingId;
    head.append(h, el('span', `badge ${item.verified ? 'badge-verified' : 'badge-unverified'}`, t(item.verified ? 'inbox.verified' : 'inbox.unverified')));
    const files = item.blobs.filter((b) => b.index >= 1).length;
    const facts = el('p', 'sent-facts');
    facts.append(
      el('span', '', t('inbox.receivedAt', { date: formatDate(item.received_at) })),
      el('span', '', `${tn('common.files', files)}, ${formatBytes(item.size)}`),
    );
    li.append(head, facts);
    if (!item.verified) li.append(el('p', 'sent-note', t('inbox.unverifiedNote')));
    const body = el('div', 'inbox-body');
    body.hidden = true;
    const open = el('button', 'button button-small', t('inbox.open'));
    open.type = 'button';
    open.setAttribute('aria-label', t('inbox.openLabel', { from: item.from, date: formatDate(item.received_at) }));
    open.setAttribute('aria-expanded', 'false');
    open.addEventListener('click', () => toggleItem(item, li, open, body));
    const actions = el('div', 'actions');
    actions.append(open);
    li.append(actions, body);
    return li;
  }

  function closeItem(li) {
    opened.close(li.dataset.id);
    const body = li.querySelector('.inbox-body');
    body.replaceChildren();
    body.hidden = true;
    const open = li.querySelector('.actions .button');
    open.textContent = t('inbox.open');
    open.setAttribute('aria-expanded', 'false');
  }


  async function toggleItem(item, li, control, body) {
    if (opened.has(item.id)) {
      closeItem(li);
      return;
    }
    notice.clear();
    if (!userKey.identity) {
      notice.error(t(userKey.key ? 'addin.inbox.unlockFirst' : 'inbox.noKey'));
      (userKey.key ? $('#unlock-passphrase') : $('#key-make')).focus();
      return;
    }
    control.disabled = true;
    try {
      const manifest = await readManifest(blobsOf(item), { identity: userKey.identity, token: session().token });
      const here = canSaveHere();
      const rows = await showItem(body, {
        manifest,
        texts: [[t('inbox.message'), manifest.message]],
        filesLabel: t('inbox.filesOf', { from: item.from }),
        onSave: (row) => saveFile(item, row),
        hint: here ? t('addin.inbox.saveHint', { size: formatBytes(PANE_SAVE_LIMIT) }) : t('addin.inbox.noSaving'),
      });
      for (const row of rows) {
        if (here && row.file.size <= PANE_SAVE_LIMIT) continue;
        row.elsewhere = true;
        row.button.textContent = t('addin.inbox.inBrowser');
        row.button.className = 'button-secondary button-small';
        row.button.setAttribute('aria-label', t('addin.inbox.inBrowserLabel', { name: row.name }));
        if (here) row.state.textContent = t('addin.inbox.tooLarge', { size: formatBytes(PANE_SAVE_LIMIT) });
      }
      opened.set(item.id, rows);
    } catch (e) {
      if (e instanceof ItemError) notice.error(t(UNOPENABLE[e.kind]));
      else if (e instanceof ApiError && e.status === 404) {
        notice.error(t('inbox.gone'));
        li.remove();
      } else failed(e);
      return;
    } finally {
      control.disabled = false;
    }
    control.textContent = t('inbox.hide');
    control.setAttribute('aria-expanded', 'true');
  }

  async function saveFile(item, row) {
    if (row.elsewhere) {
      openInBrowser(inboxUrl());
      return;
    }
    if (!userKey.identity) {
      notice.error(t('addin.inbox.unlockFirst'));
      return;
    }
    await saveRow(row, {
      blob: blobsOf(item).at(row.index),
      identity: userKey.identity,
      token: session().token,
      inMemory: true,
      messages: { session: t('error.signedOutInbox'), gone: t('inbox.gone') },
      onDamaged: (text) => notice.error(text),
    });
  }

  async function loadPage(first = false) {
    const more = $('#inbox-more');
    const loading = $('#inbox-loading');
    if (first) {
      next = null;
      list.replaceChildren();
    }
    more.hidden = true;
    loading.textContent = t('sent.loading');
    try {
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (next) query.set('cursor', next);
      const page = await api(`/inbox?${query}`, { token: session().token });
      for (const item of page.items) list.append(itemCard(item));
      next = page.next ?? null;
      more.hidden = !next;
      $('#inbox-empty').hidden = list.children.length > 0;
      loading.textContent = first ? '' : tn('inbox.loaded', page.items.length);
    } catch (e) {
      loading.textContent = '';
      more.hidden = !next;
      failed(e);
    }
  }

  $('#inbox-more').addEventListener('click', async () => {
    const count = list.children.length;
    await loadPage();
    const heading = list.children[count]?.querySelector('h2');
    heading?.setAttribute('tabindex', '-1');
    heading?.focus();
  });

  return { show, reset };
}

// What the admin console's sections share: calls to /api/v1/admin with the
// signed-in admin's token, errors in words, the confirm dialog, and lists
// that load a page at a time ("Show more").
import { api, ApiError, NetworkError } from '../../shared/api.js';
import { lang, t } from '../../shared/i18n.js';
import { describeError } from '../../shared/messages.js';
import { $ } from '../../shared/ui.js';

/** The signed-in admin; `lost(status)` runs when the server no longer takes the token (401) or the role (403). */
export const session = { token: null, lost: () => {} };

/** A refusal of `token`; ignored once the page has moved on (signed out, or in as someone else). */
function refused(e, token) {
  if (e instanceof ApiError && (e.status === 401 || e.status === 403) && token === session.token) session.lost(e.status);
  return e;
}

/** JSON call under /api/v1/admin. */
export async function adminApi(path, options = {}) {
  const token = session.token;
  try {
    return await api(`/admin${path}`, { ...options, token });
  } catch (e) {
    throw refused(e, token);
  }
}

/**
 * A call whose body or answer is not JSON (the CSV import, the CSV export):
 * fetch itself, since api() speaks JSON. Answers the Response; errors as api() has them.
 */
export async function adminRaw(path, { method = 'GET', body, type } = {}) {
  const token = session.token;
  const headers = { Authorization: `Bearer ${token}` };
  if (type) headers['Content-Type'] = type;
  let response;
  try {
    response = await fetch(`/api/v1/admin${path}`, { method, headers, body, cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    throw new NetworkError(e);
  }
  if (!response.ok) throw refused(await ApiError.from(response), token);
  return response;
}

/** Whether the strings have `key`. */
export function known(key) {
  return t(key) !== key;
}

/** Words for a failure: the console's own for the codes it knows, else the pages' shared ones. */
export function errorText(e) {
  if (e instanceof ApiError && known(`admin.error.${e.code}`)) return t(`admin.error.${e.code}`, { message: e.message });
  return describeError(e);
}

/** "27 Nov 2026, 14:05" */
export function shortDate(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

/** A date cell: "27 Nov 2026" (the time in its tooltip), kept on one line. */
export function dateCell(iso) {
  const cell = el('td', '', 'date');
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return cell;
  const time = el('time', new Intl.DateTimeFormat(lang, { dateStyle: 'medium' }).format(date));
  time.dateTime = iso;
  time.title = shortDate(iso);
  cell.append(time);
  return cell;
}

/** `?a=1&b=2` of the values that are not empty. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && String(value) !== '') q.set(name, String(value));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** An element with text (and optional class). */
export function el(tag, text = '', className = '') {
  const node = document.createElement(tag);
  if (text !== '') node.textContent = text;
  if (className) node.className = className;
  return node;
}

/** A small button for a table row; `label` names the row for screen readers. */
export function rowButton(text, label, kind, onClick) {
  const button = el('button', text, `${kind} button-small`);
  button.type = 'button';
  button.setAttribute('aria-label', label);
  button.addEventListener('click', () => onClick(button));
  return button;
}

/**
 * Asks before something that cannot be undone (a modal dialog: Escape or
 * Cancel says no). Resolves true for yes; focus goes back where it was.
 */
export function confirmAction({ title, text, yes }) {
  const dialog = $('#confirm');
  const back = document.activeElement;
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  $('#confirm-yes').textContent = yes;
  return new Promise((resolve) => {
    const done = (answer) => {
      $('#confirm-yes').removeEventListener('click', onYes);
      $('#confirm-no').removeEventListener('click', onNo);
      dialog.removeEventListener('close', onNo);
      if (dialog.open) dialog.close();
      if (back instanceof HTMLElement && back.isConnected) back.focus();
      resolve(answer);
    };
    const onYes = () => done(true);
    const onNo = () => done(false);
    $('#confirm-yes').addEventListener('click', onYes);
    $('#confirm-no').addEventListener('click', onNo);
    dialog.addEventListener('close', onNo);
    dialog.showModal();
    $('#confirm-no').focus();
  });
}

/**
 * A table filled a page at a time. `load(cursor)` answers `{items, next}`;
 * `row(item)` makes its <tr>; `count(n)` the words for the live region.
 */
export class PagedTable {
  constructor({ table, more, empty, status, load, row, count, notice }) {
    this.body = $(`${table} tbody`);
    this.more = $(more);
    this.empty = $(empty);
    this.status = $(status);
    this.load = load;
    this.row = row;
    this.count = count;
    this.notice = notice;
    this.next = null;
    this.shown = 0;
    /** Which reload is current (an older answer that comes late is dropped). */
    this.generation = 0;
    this.more.addEventListener('click', () => this.#page(false));
  }

  /** From the first page again (after a filter changed, say). */
  reload() {
    return this.#page(true);
  }

  async #page(fresh) {
    const generation = fresh ? ++this.generation : this.generation;
    this.more.disabled = true;
    let answer;
    try {
      answer = await this.load(fresh ? null : this.next);
    } catch (e) {
      this.notice.error(errorText(e));
      this.more.disabled = false;
      return;
    } finally {
      this.more.disabled = false;
    }
    if (generation !== this.generation) return;
    if (fresh) {
      this.body.replaceChildren();
      this.shown = 0;
    }
    const firstNew = this.body.rows.length;
    for (const item of answer.items) this.body.append(this.row(item));
    this.shown += answer.items.length;
    this.next = answer.next ?? null;
    this.more.hidden = this.next === null;
    this.empty.hidden = this.shown > 0;
    this.status.textContent = this.count(this.shown, this.next !== null);
    // After "Show more", the first new row's first cell takes focus, so the list goes on where the reader is.
    if (!fresh && this.body.rows[firstNew]) {
      const cell = this.body.rows[firstNew].cells[0];
      cell.tabIndex = -1;
      cell.focus();
    }
  }
}

// The audit log: filters (user, recipient, package, event, dates), a page
// at a time, newest first; CSV exports in English and Dutch, fetched with
// the token (a link cannot carry it) and saved as a download.
import { t, tn } from '../../shared/i18n.js';
import { $, busy } from '../../shared/ui.js';
import { adminApi, adminRaw, el, errorText, known, PagedTable, query, shortDate } from './common.js';

const PAGE = 100;

/** The events the server writes (server/src/domain/mod.rs, Event::as_str, and the admin ones). */
export const EVENTS = [
  'signed_in', 'sign_in_failed', 'sign_in_locked',
  'created', 'uploaded', 'finalized', 'accessed', 'access_denied', 'downloaded',
  'verification_sent', 'verification_failed', 'verification_locked',
  'revoked', 'expired', 'deleted', 'send_checked',
  'user_added', 'user_updated', 'user_changed', 'user_removed', 'organisation_changed', 'exported', 'restored', 'purged',
];

/** The event in words, with its name (what the filter and the CSV use). */
export function eventWords(event) {
  return known(`admin.event.${event}`) ? t(`admin.event.${event}`) : event;
}

/**
 * The detail cell. A decision of the SMTP relay first says, in words, that
 * the relay read the message (unlike the add-in, it holds the plaintext);
 * then the row's detail as recorded.
 */
function detailCell(entry) {
  const cell = el('td', entry.detail ?? '', 'admin-detail');
  if (entry.event !== 'send_checked' || !entry.detail) return cell;
  let detail;
  try {
    detail = JSON.parse(entry.detail);
  } catch {
    return cell;
  }
  if (detail?.source !== 'relay') return cell;
  const said = el('strong', t(detail.outcome === 'secured' ? 'admin.audit.relaySecured' : 'admin.audit.relayDecided'));
  cell.textContent = '';
  cell.append(said, ' ', entry.detail);
  return cell;
}

/** The day after a yyyy-mm-dd date: "to" names a day that is included. */
function dayAfter(date) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

export function setupAudit({ notice }) {
  // The known events by their words (in the list before "another event"), or any name typed.
  const kind = $('#audit-event-kind');
  const other = kind.querySelector('option[value=other]');
  for (const event of EVENTS) {
    const option = document.createElement('option');
    option.value = event;
    option.textContent = eventWords(event);
    kind.insertBefore(option, other);
  }
  const typed = () => {
    $('#audit-event-field').hidden = kind.value !== 'other';
  };
  kind.addEventListener('change', () => {
    typed();
    if (kind.value === 'other') $('#audit-event').focus();
  });

  const filter = () => {
    const to = $('#audit-to').value;
    return {
      user: $('#audit-user').value.trim(),
      recipient: $('#audit-recipient').value.trim(),
      package: $('#audit-package').value.trim(),
      event: kind.value === 'other' ? $('#audit-event').value.trim() : kind.value,
      from: $('#audit-from').value,
      to: to ? dayAfter(to) : '',
    };
  };

  const table = new PagedTable({
    table: '#audit-table',
    more: '#audit-more',
    empty: '#audit-empty',
    status: '#audit-status',
    notice,
    load: async (before) => {
      const answer = await adminApi(`/audit${query({ ...filter(), before, limit: PAGE })}`);
      return { items: answer.entries, next: answer.next };
    },
    row: (entry) => {
      const tr = document.createElement('tr');
      const at = el('th', shortDate(entry.at));
      at.scope = 'row';
      const event = el('td', eventWords(entry.event));
      event.title = entry.event;
      event.dataset.event = entry.event;
      tr.append(at, event, el('td', entry.actor, 'admin-address'), el('td', entry.package_id ?? '', 'admin-mono'), detailCell(entry));
      return tr;
    },
    count: (n, more) => (more ? tn('admin.audit.countMore', n) : tn('admin.audit.count', n)),
  });

  const form = $('#audit-filter');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    notice.clear();
    busy(form, () => table.reload());
  });
  $('#audit-clear').addEventListener('click', () => {
    form.reset();
    typed();
    notice.clear();
    table.reload();
    $('#audit-user').focus();
  });

  for (const language of ['en', 'nl']) {
    const button = $(`#audit-export-${language}`);
    button.addEventListener('click', () => busy(button.parentElement, () => exportCsv(language)));
  }

  async function exportCsv(language) {
    notice.clear();
    try {
      const response = await adminRaw(`/audit.csv${query({ ...filter(), lang: language })}`);
      const blob = await response.blob();
      const name = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') ?? '')?.[1] ?? `kluis-audit-${language}.csv`;
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      notice.success(t('admin.audit.exported', { name }));
    } catch (e) {
      notice.error(errorText(e));
    }
  }

  return { show: () => table.reload() };
}

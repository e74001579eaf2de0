// Packages: the organisation's packages (metadata only), newest first, a
// page at a time; revoke or delete one after a confirm. Below them the
// deleted packages, which an admin may restore until they are purged.
import { formatBytes, formatNumber, t, tn } from '../../shared/i18n.js';
import { adminApi, confirmAction, dateCell, el, errorText, PagedTable, query, rowButton, shortDate } from './common.js';

const PAGE = 50;

export function setupPackages({ notice }) {
  const table = new PagedTable({
    table: '#packages-table',
    more: '#packages-more',
    empty: '#packages-empty',
    status: '#packages-status',
    notice,
    load: async (before) => {
      const answer = await adminApi(`/packages${query({ before, limit: PAGE })}`);
      return { items: answer.packages, next: answer.next };
    },
    row: (p) => packageRow(p),
    count: (n, more) => (more ? tn('admin.packages.countMore', n) : tn('admin.packages.count', n)),
  });

  function packageRow(p) {
    const tr = document.createElement('tr');
    tr.dataset.id = p.id;
    const sender = el('th', p.sender, 'admin-address');
    sender.scope = 'row';
    const recipients = el('td', p.recipients.length ? p.recipients.join(', ') : t('admin.packages.anyone'), 'admin-address');
    const downloads = p.max_downloads ? t('admin.packages.downloadsOf', { n: formatNumber(p.downloads), max: formatNumber(p.max_downloads) }) : formatNumber(p.downloads);
    // The state, and under it what changes it (Revoke): one column less for narrow windows.
    const state = el('td', '', `state-${p.state} package-state`);
    state.append(el('span', known(p.state)));
    tr.append(
      sender,
      recipients,
      dateCell(p.created_at),
      dateCell(p.expires_at),
      state,
      el('td', downloads, 'num'),
      el('td', formatNumber(p.files), 'num'),
      el('td', formatBytes(p.bytes), 'num'),
    );
    const what = t('admin.packages.fromTo', { sender: p.sender, date: shortDate(p.created_at) });
    if (p.state === 'ready' || p.state === 'uploading') {
      const text = t('admin.packages.revoke');
      state.append(rowButton(text, t('admin.actionFor', { action: text, what: t('admin.packages.fromTo', { sender: p.sender, date: shortDate(p.created_at) }) }), 'button-danger', async (b) => {
        const yes = await confirmAction({ title: t('admin.packages.revokeTitle'), text: t('admin.packages.revokeText', { sender: p.sender }), yes: text });
        if (!yes) return;
        notice.clear();
        b.disabled = true;
        try {
          await adminApi(`/packages/${encodeURIComponent(p.id)}/revoke`, { method: 'POST' });
          const fresh = packageRow({ ...p, state: 'revoked' });
          tr.replaceWith(fresh);
          notice.success(t('admin.packages.revoked', { sender: p.sender }));
          fresh.cells[0].tabIndex = -1;
          fresh.cells[0].focus();
        } catch (e) {
          b.disabled = false;
          notice.error(errorText(e));
        }
      }));
    }
    const deleteText = t('admin.packages.delete');
    state.append(rowButton(deleteText, t('admin.actionFor', { action: deleteText, what }), 'button-secondary', async (b) => {
      const yes = await confirmAction({ title: t('admin.packages.deleteTitle'), text: t('admin.packages.deleteText', { sender: p.sender }), yes: deleteText });
      if (!yes) return;
      notice.clear();
      b.disabled = true;
      try {
        await adminApi(`/packages/${encodeURIComponent(p.id)}`, { method: 'DELETE' });
        tr.remove();
        notice.success(t('admin.packages.deletedNow', { sender: p.sender }));
        await showDeleted();
      } catch (e) {
        b.disabled = false;
        notice.error(errorText(e));
      }
    }));
    return tr;
  }

  // ------------------------------------------------------------ deleted packages

  const deletedBody = document.querySelector('#deleted-table tbody');
  const deletedEmpty = document.querySelector('#deleted-empty');

  async function showDeleted() {
    let answer;
    try {
      answer = await adminApi('/packages/deleted');
    } catch (e) {
      notice.error(errorText(e));
      return;
    }
    deletedBody.replaceChildren(...answer.packages.map(deletedRow));
    deletedEmpty.hidden = answer.packages.length > 0;
    document.querySelector('#deleted-table').hidden = answer.packages.length === 0;
  }

  function deletedRow(d) {
    const p = d.package;
    const tr = document.createElement('tr');
    tr.dataset.id = p.id;
    const sender = el('th', p.sender, 'admin-address');
    sender.scope = 'row';
    const deleted = dateCell(d.deleted_at);
    deleted.append(el('div', t('admin.deleted.by', { who: d.deleted_by.replace(/^user:/, '') }), 'hint'));
    const until = dateCell(d.restorable_until);
    const text = t('admin.deleted.restore');
    const what = t('admin.packages.fromTo', { sender: p.sender, date: shortDate(p.created_at) });
    until.append(rowButton(text, t('admin.actionFor', { action: text, what }), 'button-secondary', async (b) => {
      notice.clear();
      b.disabled = true;
      try {
        await adminApi(`/packages/${encodeURIComponent(p.id)}/restore`, { method: 'POST' });
        notice.success(t('admin.deleted.restored', { sender: p.sender }));
        await Promise.all([showDeleted(), table.reload()]);
      } catch (e) {
        b.disabled = false;
        notice.error(errorText(e));
      }
    }));
    tr.append(
      sender,
      el('td', p.recipients.length ? p.recipients.join(', ') : t('admin.packages.anyone'), 'admin-address'),
      dateCell(p.created_at),
      deleted,
      until,
      el('td', formatNumber(p.files), 'num'),
    );
    return tr;
  }

  return { show: () => Promise.all([table.reload(), showDeleted()]) };
}

/** The state in words; the server's name when the console has none for it. */
function known(state) {
  const key = `admin.packageState.${state}`;
  const words = t(key);
  return words === key ? state : words;
}

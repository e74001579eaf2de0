// Users: search, filter by state, a page at a time; add one; per row make
// admin / user, disable / enable, remove, recover their key (recovery.js);
// import a CSV file with a report.
import { t, tn } from '../../shared/i18n.js';
import { $, busy, emailIn, fieldError } from '../../shared/ui.js';
import { adminApi, adminRaw, confirmAction, el, errorText, known, PagedTable, query, rowButton, shortDate } from './common.js';
import { recoverKey } from './recovery.js';

const PAGE = 50;

export function setupUsers({ notice, me }) {
  const filter = () => ({ q: $('#users-q').value.trim(), state: $('#users-state').value });

  const table = new PagedTable({
    table: '#users-table',
    more: '#users-more',
    empty: '#users-empty',
    status: '#users-status',
    notice,
    load: async (after) => {
      const answer = await adminApi(`/users${query({ ...filter(), after, limit: PAGE })}`);
      return { items: answer.users, next: answer.next };
    },
    row: (user) => userRow(user),
    count: (n, more) => (more ? tn('admin.users.countMore', n) : tn('admin.users.count', n)),
  });

  function userRow(user) {
    const tr = document.createElement('tr');
    tr.dataset.email = user.email;
    const name = el('th', user.name ?? '');
    name.scope = 'row';
    if (!user.name) name.append(el('span', t('admin.users.noName'), 'hint'));
    const role = el('td', t(`admin.role.${user.role}`));
    if (user.role === 'admin') role.className = 'role-admin';
    const state = el('td', t(`admin.state.${user.state}`), `state-${user.state}`);
    const seat = el('td', user.seat ? t('admin.users.seatYes') : t('admin.users.seatNo'), user.seat ? 'seat-yes' : 'seat-no');
    tr.append(name, el('td', user.email, 'admin-address'), role, state, el('td', user.last_active_at ? shortDate(user.last_active_at) : t('admin.users.never')), seat);
    const actions = el('td', '', 'row-actions');
    const self = user.email === me();
    const named = (action) => t('admin.actionFor', { action, what: user.email });
    // Seats: an admin gives or takes one, themselves included (the server refuses when none is free).
    const seatText = user.seat ? t('admin.users.takeSeat') : t('admin.users.giveSeat');
    actions.append(rowButton(seatText, named(seatText), 'button-secondary', (b) => change(tr, b, user, { seat: !user.seat })));
    if (!self) {
      const roleText = user.role === 'admin' ? t('admin.users.makeUser') : t('admin.users.makeAdmin');
      actions.append(rowButton(roleText, named(roleText), 'button-secondary', (b) => change(tr, b, user, { role: user.role === 'admin' ? 'user' : 'admin' })));
      if (user.state === 'active') {
        const text = t('admin.users.disable');
        actions.append(rowButton(text, named(text), 'button-secondary', async (b) => {
          const yes = await confirmAction({ title: t('admin.users.disableTitle', { email: user.email }), text: t('admin.users.disableText'), yes: text });
          if (yes) await change(tr, b, user, { state: 'disabled' });
        }));
      } else {
        const text = t('admin.users.enable');
        actions.append(rowButton(text, named(text), 'button-secondary', (b) => change(tr, b, user, { state: 'active' })));
      }
      const text = t('admin.users.remove');
      actions.append(rowButton(text, named(text), 'button-danger', async (b) => {
        const yes = await confirmAction({ title: t('admin.users.removeTitle', { email: user.email }), text: t('admin.users.removeText'), yes: text });
        if (yes) await remove(tr, b, user);
      }));
    } else {
      actions.append(el('span', t('admin.users.you'), 'hint'));
    }
    // A user who forgot their passphrase: their own key back, from the recovery copy.
    const recoverText = t('admin.users.recoverKey');
    actions.append(rowButton(recoverText, named(recoverText), 'button-secondary', () => recoverKey({ notice, user })));
    tr.append(actions);
    return tr;
  }

  async function change(tr, button, user, body) {
    notice.clear();
    button.disabled = true;
    try {
      const changed = await adminApi(`/users/${user.id}`, { method: 'PATCH', body });
      const fresh = userRow(changed);
      tr.replaceWith(fresh);
      notice.success(t(`admin.users.changed.${Object.keys(body)[0]}.${Object.values(body)[0]}`, { email: user.email }));
      fresh.querySelector('.row-actions button')?.focus();
    } catch (e) {
      button.disabled = false;
      notice.error(errorText(e));
    }
  }

  async function remove(tr, button, user) {
    notice.clear();
    button.disabled = true;
    try {
      await adminApi(`/users/${user.id}`, { method: 'DELETE' });
      const next = tr.nextElementSibling ?? tr.previousElementSibling;
      tr.remove();
      notice.success(t('admin.users.removed', { email: user.email }));
      (next?.querySelector('.row-actions button') ?? $('#users-q')).focus();
    } catch (e) {
      button.disabled = false;
      notice.error(errorText(e));
    }
  }

  $('#users-filter').addEventListener('submit', (event) => {
    event.preventDefault();
    notice.clear();
    busy($('#users-filter'), () => table.reload());
  });
  $('#users-state').addEventListener('change', () => table.reload());

  // Add a user.
  const addForm = $('#user-add');
  addForm.addEventListener('submit', (event) => {
    event.preventDefault();
    notice.clear();
    const email = emailIn($('#user-add-email'), t('signin.invalidEmail'));
    if (!email) return;
    const name = $('#user-add-name').value.trim();
    const body = { email, role: $('#user-add-role').value, ...(name ? { name } : {}) };
    busy(addForm, async () => {
      try {
        const user = await adminApi('/users', { method: 'POST', body });
        notice.success(t('admin.users.added', { email: user.email }));
        addForm.reset();
        await table.reload();
        $('#user-add-email').focus();
      } catch (e) {
        if (['invalid_email', 'user_elsewhere'].includes(e?.code)) fieldError($('#user-add-email'), errorText(e));
        else notice.error(errorText(e));
      }
    });
  });

  // Import a CSV file.
  const importForm = $('#user-import');
  importForm.addEventListener('submit', (event) => {
    event.preventDefault();
    notice.clear();
    const input = $('#import-file');
    const file = input.files?.[0];
    if (!file) {
      fieldError(input, t('admin.import.pick'));
      return;
    }
    fieldError(input, '');
    busy(importForm, async () => {
      try {
        const text = await file.text();
        const response = await adminRaw('/users.csv', { method: 'POST', body: text, type: 'text/csv; charset=utf-8' });
        showReport(await response.json());
        await table.reload();
      } catch (e) {
        if (e?.code === 'invalid_csv' || e?.code === 'too_many_lines') fieldError(input, errorText(e));
        else notice.error(errorText(e));
      }
    });
  });

  function showReport(report) {
    const box = $('#import-report');
    box.replaceChildren();
    const summary = [tn('admin.import.added', report.added), tn('admin.import.updated', report.updated)];
    if (report.refused.length) summary.push(tn('admin.import.refused', report.refused.length));
    box.append(el('p', summary.join(' · '), report.refused.length ? 'import-summary has-refused' : 'import-summary'));
    if (report.refused.length) {
      const list = el('ul', '', 'import-refused');
      for (const r of report.refused) {
        const reason = known(`admin.import.reason.${r.code}`) ? t(`admin.import.reason.${r.code}`, { email: r.email }) : r.reason;
        list.append(el('li', t('admin.import.line', { line: r.line, email: r.email || '—', reason })));
      }
      box.append(list);
    }
  }

  return { show: () => table.reload() };
}

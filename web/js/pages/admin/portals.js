// Upload portals (docs/inbound.md, "/upload/<name>"): the organisation's
// permanent upload pages with their link (Copy), receivers (those without
// a key flagged: they receive nothing until they make one), uploads and
// state; publishing one (the server's refusals next to the fields) and
// closing one after a confirmation.
import { formatBytes, formatNumber, t, tn } from '../../shared/i18n.js';
import { $, busy, copyField, fieldError } from '../../shared/ui.js';
import { adminApi, confirmAction, el, errorText, known, rowButton, shortDate } from './common.js';

/** The server's rule for a name: 2 to 40 of a-z, 0-9 and -, not at either end. */
const NAME = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])$/;

export function setupPortals({ notice }) {
  const list = $('#portal-list');
  const form = $('#portal-form');

  function portalItem(portal) {
    const li = el('li', '', 'card portal');
    li.dataset.name = portal.name;
    const head = el('div', '', 'portal-head');
    const title = el('h3', portal.name);
    const state = el('span', t(`admin.portals.state.${portal.state}`) || portal.state, `badge state-${portal.state}`);
    head.append(title, state);
    li.append(head);

    const linkId = `portal-link-${portal.id}`;
    const statusId = `portal-copied-${portal.id}`;
    const field = el('div', '', 'field');
    const label = el('label', t('admin.portals.link'));
    label.htmlFor = linkId;
    const row = el('div', '', 'link-row');
    const input = el('input');
    input.id = linkId;
    input.type = 'text';
    input.readOnly = true;
    input.spellcheck = false;
    input.value = portal.url;
    input.addEventListener('focus', () => input.select());
    const status = el('p', '', 'hint');
    status.id = statusId;
    status.setAttribute('role', 'status');
    const copy = rowButton(t('admin.portals.copy'), t('admin.actionFor', { action: t('admin.portals.copy'), what: portal.name }), 'button-secondary', () =>
      copyField(input, status, t('admin.portals.copied')),
    );
    row.append(input, copy);
    field.append(label, row, status);
    li.append(field);

    const facts = el('dl', '', 'portal-facts');
    const fact = (term, value) => {
      const item = el('div');
      item.append(el('dt', term), value instanceof Node ? value : el('dd', value));
      facts.append(item);
    };
    const receivers = el('dd');
    const people = el('ul', '', 'portal-receivers');
    // Keys of both kinds: no file can be encrypted to all receivers, so the portal takes nothing (portal_mixed_keys).
    const postQuantum = portal.post_quantum ?? [];
    const classic = portal.receivers.filter((email) => !portal.without_key.includes(email) && !postQuantum.includes(email));
    const mixed = postQuantum.length > 0 && classic.length > 0;
    for (const email of portal.receivers) {
      const person = el('li', email);
      if (portal.without_key.includes(email)) {
        person.className = 'without-key';
        person.append(' ', el('span', t('admin.portals.noKey'), 'badge badge-warning'));
      } else if (mixed) {
        const kind = postQuantum.includes(email) ? 'admin.portals.postQuantumKey' : 'admin.portals.classicKey';
        person.append(' ', el('span', t(kind), 'badge badge-warning'));
      }
      people.append(person);
    }
    receivers.append(people);
    fact(t('admin.portals.receivers'), receivers);
    fact(t('admin.portals.uploads'), formatNumber(portal.uploads));
    fact(t('admin.portals.verifyShort'), portal.verify === 'email' ? t('admin.portals.verifyEmail') : t('admin.portals.verifyNone'));
    fact(t('admin.portals.maxShort'), formatBytes(portal.max_bytes));
    fact(t('admin.portals.created'), shortDate(portal.created_at));
    li.append(facts);
    if (portal.without_key.length) li.append(el('p', tn('admin.portals.withoutKey', portal.without_key.length), 'hint portal-warning'));
    if (mixed) {
      const text = t('admin.portals.mixedKeys', { postQuantum: postQuantum.join(', '), classic: classic.join(', ') });
      li.append(el('p', text, 'hint portal-warning portal-mixed-keys'));
    }
    if (portal.message) li.append(el('p', portal.message, 'portal-message'));

    if (portal.state === 'open') {
      const actions = el('div', '', 'actions');
      const text = t('admin.portals.close');
      actions.append(
        rowButton(text, t('admin.actionFor', { action: text, what: portal.name }), 'button-danger', async (button) => {
          const yes = await confirmAction({ title: t('admin.portals.closeTitle', { name: portal.name }), text: t('admin.portals.closeText'), yes: text });
          if (!yes) return;
          button.disabled = true;
          try {
            const closed = await adminApi(`/portals/${portal.id}/close`, { method: 'POST' });
            const fresh = portalItem(closed);
            li.replaceWith(fresh);
            notice.success(t('admin.portals.closed', { name: portal.name }));
            fresh.querySelector('h3').tabIndex = -1;
            fresh.querySelector('h3').focus();
          } catch (e) {
            button.disabled = false;
            notice.error(errorText(e));
          }
        }),
      );
      li.append(actions);
    }
    return li;
  }

  async function show() {
    $('#portal-name-hint').textContent = t('admin.portals.nameHint', { origin: location.origin });
    let answer;
    try {
      answer = await adminApi('/portals');
    } catch (e) {
      notice.error(errorText(e));
      return;
    }
    list.replaceChildren(...answer.portals.map(portalItem));
    $('#portals-empty').hidden = answer.portals.length > 0;
    $('#portals-status').textContent = tn('admin.portals.count', answer.portals.length);
  }

  /** Words for the server's refusal of a portal. */
  const refusal = (e) => (known(`admin.portals.error.${e?.code}`) ? t(`admin.portals.error.${e.code}`, { message: e.message }) : errorText(e));

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    notice.clear();
    const name = $('#portal-name');
    const receivers = $('#portal-receivers');
    const max = $('#portal-max');
    for (const input of [name, receivers, max]) fieldError(input, '', { focus: false });
    const wanted = name.value.trim().toLowerCase();
    const emails = receivers.value.split(/[\s,;]+/).map((a) => a.trim()).filter(Boolean);
    const mb = max.value.trim() === '' ? null : Number(max.value.trim());
    const wrong = [
      [!NAME.test(wanted), name, t('admin.portals.error.invalid_name')],
      [emails.length === 0, receivers, t('admin.portals.receiversMissing')],
      [mb !== null && !(Number.isInteger(mb) && mb >= 1), max, t('admin.portals.maxWrong')],
    ].filter(([bad]) => bad);
    wrong.forEach(([, input, text], i) => fieldError(input, text, { focus: i === 0 }));
    if (wrong.length) return;
    const message = $('#portal-message').value.trim();
    const body = {
      name: wanted,
      receivers: emails,
      verify: $('#portal-verify').checked ? 'email' : 'none',
      ...(message ? { message } : {}),
      ...(mb !== null ? { max_bytes: mb * 1_000_000 } : {}),
    };
    busy(form, async () => {
      try {
        const made = await adminApi('/portals', { method: 'POST', body });
        form.reset();
        notice.success(t('admin.portals.published', { name: made.name, url: made.url }));
        await show();
        const item = list.querySelector(`[data-name="${made.name}"] input`);
        item?.focus();
      } catch (e) {
        const field = { invalid_name: name, name_taken: name, invalid_receivers: receivers, invalid_email: receivers, invalid_max_bytes: max, feature_not_licensed: null }[e?.code];
        if (field) fieldError(field, refusal(e));
        else notice.error(refusal(e));
      }
    });
  });

  return { show };
}

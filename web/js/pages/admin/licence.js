// Licence: where the organisation stands (evaluation, valid, ending soon,
// in its grace period, lapsed), the licence's details and seats, and a
// paste box to install the licence the vendor sent. The server verifies
// it; its refusals say why (server/src/domain/licences.rs).
import { formatNumber, t } from '../../shared/i18n.js';
import { $, busy, fieldError } from '../../shared/ui.js';
import { adminApi, el, errorText, shortDate } from './common.js';

export function setupLicence({ notice, onView = () => {} }) {
  const form = $('#licence-form');

  function fill(view) {
    onView(view);
    const days = view.days_left ?? 0;
    const state = $('#licence-state');
    state.textContent = t(`admin.licence.state.${view.state}`, { days: formatNumber(days + 1), until: view.licence?.valid_until ?? '' });
    state.className = `licence-${view.state}`;
    const facts = [
      [t('admin.licence.seats'), t('admin.licence.seatsOf', { used: formatNumber(view.seats_used), total: formatNumber(view.seats_total) })],
      [t('admin.licence.features'), view.features.length ? view.features.map((f) => t(`admin.licence.feature.${f}`)).join(', ') : t('admin.licence.none')],
    ];
    const l = view.licence;
    if (l) {
      facts.unshift([t('admin.licence.licensee'), `${l.licensee} (${l.domains.join(', ')})`]);
      facts.push([t('admin.licence.valid'), t('admin.licence.validRange', { from: l.valid_from, until: l.valid_until })]);
      facts.push([t('admin.licence.id'), l.id]);
      facts.push([t('admin.licence.installed'), t('admin.licence.installedBy', { at: shortDate(l.installed_at), by: l.installed_by.replace(/^user:/, '') })]);
    }
    const list = $('#licence-facts');
    list.replaceChildren();
    for (const [term, value] of facts) {
      const item = el('div', '', 'figure');
      item.append(el('dt', term), el('dd', value));
      list.append(item);
    }
  }

  async function show() {
    try {
      fill(await adminApi('/licence'));
    } catch (e) {
      notice.error(errorText(e));
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    notice.clear();
    const input = $('#licence-text');
    fieldError(input, '', { focus: false });
    if (!input.value.includes('KLUIS LICENCE')) {
      fieldError(input, t('admin.licence.pasteMissing'));
      return;
    }
    busy(form, async () => {
      try {
        fill(await adminApi('/licence', { method: 'PUT', body: { text: input.value } }));
        input.value = '';
        notice.success(t('admin.licence.installedNow'));
      } catch (e) {
        if (e?.code?.startsWith('licence_')) fieldError(input, errorText(e));
        else notice.error(errorText(e));
      }
    });
  });

  return { show };
}

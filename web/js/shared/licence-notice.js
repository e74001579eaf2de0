// What the organisation's licence means for the signed-in user, in words:
// the banner (evaluation, ending, grace, lapsed) and why they cannot send
// (no seat, licence lapsed). The send page, the task pane and the console
// read the same GET /me (or /admin/licence) and say it the same way.
import { api } from './api.js';
import { t, tn } from './i18n.js';

/**
 * The banner for `licence` ({state, days_left, seats_total}) of
 * `organisation`: `{kind, text}`, or null when there is nothing to say.
 * Senders hear about the end only once it has come; `admin` also about
 * the 30 days before.
 */
export function licenceBanner(licence, organisation, { admin = false } = {}) {
  const days = (licence?.days_left ?? 0) + 1;
  switch (licence?.state) {
    case 'evaluation':
      return { kind: 'info', text: t('licence.banner.evaluation', { organisation, seats: licence.seats_total }) };
    case 'ends_soon':
      return admin ? { kind: 'info', text: tn('licence.banner.endsSoon', days, { organisation }) } : null;
    case 'grace':
      return { kind: 'warning', text: tn('licence.banner.grace', days, { organisation }) };
    case 'lapsed':
      return { kind: 'error', text: t('licence.banner.lapsed', { organisation }) };
    default:
      return null;
  }
}

/** Shows `banner` ({kind, text} or null) in the element `el`. */
export function showBanner(el, banner) {
  el.hidden = !banner;
  el.className = banner ? `notice notice-${banner.kind} licence-banner` : 'notice licence-banner';
  el.textContent = banner?.text ?? '';
}

/** Why the user cannot send, from the refusal's code (`cannot_send` of /me, or the 403 of a send). */
export function cannotSendText(error) {
  if (error?.code === 'no_seat') {
    const admins = error.admins ?? [];
    const ask = admins.length ? admins.join(t('licence.or')) : t('licence.yourAdmin');
    return t('licence.noSeat', { seats: error.seats ?? '?', ask });
  }
  if (error?.code === 'licence_lapsed') return t('licence.cannotSendLapsed');
  return error?.message ?? '';
}

/**
 * Asks GET /me with `token`, shows in `el` why this user cannot send or
 * else the licence banner, and answers the refusal (`cannot_send`) or null.
 * When the server cannot be asked: null, and the send answers it instead.
 */
export async function checkStanding(token, el) {
  try {
    const me = await api('/me', { token });
    const refusal = me.cannot_send ?? null;
    showBanner(el, refusal ? { kind: 'error', text: cannotSendText(refusal) } : licenceBanner(me.licence, me.organisation));
    return refusal;
  } catch {
    return null;
  }
}

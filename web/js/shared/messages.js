// Plain-language messages for API failures both pages share.
import { ApiError, NetworkError } from './api.js';
import { formatClock, t } from './i18n.js';
import { cannotSendText } from './licence-notice.js';
import { breachText } from './policy-rules.js';

/** Words for a failure, when the page has none more precise. */
export function describeError(e) {
  if (e instanceof NetworkError) return t('error.network');
  if (e instanceof ApiError) {
    if (e.code === 'rate_limited') return t('error.wait', { clock: formatClock(e.details.retry_after ?? 60) });
    if (e.status >= 500) return t('error.server');
    return t('error.generic', { message: e.message });
  }
  return t('error.unexpected', { message: e?.message ?? String(e) });
}

/**
 * Words for a send the organisation's rules refuse — its policy (on the page
 * or at the server) or its licence (no seat, lapsed) — or null for any other
 * failure. `e` is the uploader's SendError.
 */
export function refusalText(e) {
  const cause = e?.cause;
  if (e?.code === 'policy') return cause.breaches.map(breachText).join(' ');
  if (e?.code === 'not_allowed') return cannotSendText(cause?.details);
  if (e?.code === 'invalid' && cause?.code?.startsWith('policy_')) return breachText({ ...cause.details, message: cause.message });
  return null;
}

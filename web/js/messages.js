// Plain-language messages for API failures both pages share.
import { ApiError, NetworkError } from './api.js';
import { formatClock, t } from './i18n.js';

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

// Plain-language messages for API failures both pages share.
import { ApiError, NetworkError } from './api.js';
import { t, tn } from './i18n.js';

/** Words for a failed code check (sign-in and recipient codes alike). */
export function codeErrorMessage(e) {
  if (e instanceof ApiError) {
    if (e.code === 'wrong_code') return tn('code.wrong', e.details.tries_left ?? 0);
    if (e.code === 'locked') return t('code.locked');
    if (e.code === 'code_expired') return t('code.expired');
    if (e.code === 'no_code') return t('code.missing');
    if (e.code === 'rate_limited') return t('code.rateLimited', { seconds: e.details.retry_after ?? 60 });
  }
  return describeError(e);
}

/** Words for any other failure. */
export function describeError(e) {
  if (e instanceof NetworkError) return t('error.network');
  if (e instanceof ApiError) {
    if (e.code === 'rate_limited') return t('code.rateLimited', { seconds: e.details.retry_after ?? 60 });
    if (e.status >= 500) return t('error.server');
    return t('error.generic', { message: e.message });
  }
  return t('error.unexpected', { message: e?.message ?? String(e) });
}

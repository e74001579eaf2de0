// Talking to the Kluis API (/api/v1): JSON in and out, errors as
// ApiError (the server's {"error": {code, message, ...}}) or NetworkError
// (no answer at all), and the retry policy both pages share.

export class ApiError extends Error {
  constructor(status, body = {}) {
    const error = body.error ?? {};
    super(error.message ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = error.code ?? `http_${status}`;
    /** Extra fields of the error object, e.g. tries_left, retry_after, offset. */
    this.details = error;
  }

  static async from(response) {
    let body = {};
    try {
      body = await response.json();
    } catch {
      // not JSON (a proxy's error page, say)
    }
    return new ApiError(response.status, body);
  }

  /** Worth trying again later: the server or something in between is struggling. */
  get transient() {
    return this.status >= 500 || this.status === 408 || this.status === 423 || (this.status === 429 && this.code !== 'locked');
  }
}

export class NetworkError extends Error {
  constructor(cause) {
    super('The connection to the server was lost.');
    this.name = 'NetworkError';
    this.cause = cause;
  }
}

/** True for errors that a later attempt may not have. */
export function isTransient(e) {
  return e instanceof NetworkError || (e instanceof ApiError && e.transient);
}

export function isAbort(e) {
  return e?.name === 'AbortError';
}

/**
 * A URL the page may fetch. The server answers with absolute URLs built
 * from its public URL; the page may only talk to its own origin (CSP
 * connect-src 'self'), which is the same server.
 */
export function sameOrigin(url) {
  const u = new URL(url, location.href);
  return u.origin === location.origin ? u.href : `${location.origin}${u.pathname}${u.search}`;
}

/** Calls the API. `path` is under /api/v1 unless it is a full URL. */
export async function api(path, { method = 'GET', body, token, headers = {}, signal, credentials = 'omit' } = {}) {
  const url = /^https?:/.test(path) ? sameOrigin(path) : `/api/v1${path}`;
  const all = { Accept: 'application/json', ...headers };
  if (body !== undefined) all['Content-Type'] = 'application/json';
  if (token) all.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: all,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      // Cookies only where a call needs one (the single sign-on's browser cookie).
      credentials,
      signal,
    });
  } catch (e) {
    if (isAbort(e)) throw e;
    throw new NetworkError(e);
  }
  if (!response.ok) throw await ApiError.from(response);
  if (response.status === 204 || method === 'HEAD') return response;
  const type = response.headers.get('Content-Type') ?? '';
  return type.includes('json') ? response.json() : response;
}

/** Seconds to wait before attempt `n` (1, 2, 4, … 32). */
export function backoffSeconds(attempt) {
  return 2 ** Math.min(Math.max(attempt - 1, 0), 5);
}

/**
 * Waits `seconds`, or less if the browser comes back online; rejects with
 * an AbortError when `signal` fires. `onTick(secondsLeft)` runs each second.
 */
export function waitBeforeRetry(seconds, { signal, onTick } = {}) {
  return new Promise((resolve, reject) => {
    let left = seconds;
    const done = (fn, arg) => {
      clearInterval(timer);
      removeEventListener('online', online);
      signal?.removeEventListener('abort', aborted);
      fn(arg);
    };
    const online = () => done(resolve);
    const aborted = () => done(reject, new DOMException('Stopped', 'AbortError'));
    const timer = setInterval(() => {
      left -= 1;
      if (left <= 0) done(resolve);
      else onTick?.(left);
    }, 1000);
    addEventListener('online', online);
    signal?.addEventListener('abort', aborted);
    if (signal?.aborted) aborted();
    else onTick?.(left);
  });
}

/** Most attempts for one request before giving up (as the command line). */
export const MAX_ATTEMPTS = 8;

// Page text in Dutch or English, chosen by Outlook's display language in
// the add-in's panes (Office.js loads before this module) and by the
// browser's language elsewhere (nl* → Dutch, anything else → English).
// Strings live in /i18n/<lang>.json;
// elements carry data-i18n="key" (text), data-i18n-placeholder,
// data-i18n-aria-label or data-i18n-title; `t(key, {var})` fills {var}.

async function preferredLanguage() {
  if (globalThis.Office?.onReady) {
    await Promise.race([globalThis.Office.onReady(), new Promise((resolve) => setTimeout(resolve, 5000))]);
    const display = globalThis.Office?.context?.displayLanguage;
    if (display) return display;
  }
  return navigator.language || 'en';
}

export const lang = (await preferredLanguage()).toLowerCase().startsWith('nl') ? 'nl' : 'en';

/** The strings of one language; none if they cannot be loaded (the pages' English text stays). */
async function load(code) {
  try {
    const response = await fetch(`/i18n/${code}.json`, { credentials: 'omit' });
    return response.ok ? await response.json() : {};
  } catch {
    return {};
  }
}

const [english, chosen] = await Promise.all([load('en'), lang === 'en' ? {} : load(lang)]);
const strings = { ...english, ...chosen };

/** The text for `key` with {name} placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** Like `t`, choosing `key.one` or `key.other` by the count `n` (also available as {n}). */
export function tn(key, n, vars = {}) {
  const form = new Intl.PluralRules(lang).select(n) === 'one' ? 'one' : 'other';
  return t(`${key}.${form}`, { n: formatNumber(n), ...vars });
}

export function formatNumber(n, options) {
  return new Intl.NumberFormat(lang, options).format(n);
}

const ATTRIBUTES = [
  ['data-i18n-placeholder', 'placeholder'],
  ['data-i18n-aria-label', 'aria-label'],
  ['data-i18n-title', 'title'],
];

/** Translates every marked element under `root`, and the document title. */
export function translate(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll('[data-i18n]')) {
    if (el.dataset.i18n in strings) el.textContent = t(el.dataset.i18n);
  }
  for (const [data, attr] of ATTRIBUTES) {
    for (const el of root.querySelectorAll(`[${data}]`)) {
      if (el.getAttribute(data) in strings) el.setAttribute(attr, t(el.getAttribute(data)));
    }
  }
  const title = document.body?.dataset.pageTitle;
  if (title in strings) document.title = `${t(title)} · Kluis`;
}

/** Bytes for people: 1.5 MB, 730 kB (decimal units, as file managers show). */
export function formatBytes(bytes) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${formatNumber(value, { maximumFractionDigits: digits })} ${units[unit]}`;
}

/** A rough duration: "12 s", "3 min", "1 h 20 min". */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return '…';
  const s = Math.max(1, Math.round(seconds));
  if (s < 60) return t('time.seconds', { n: s });
  const m = Math.round(s / 60);
  if (m < 60) return t('time.minutes', { n: m });
  return t('time.hours', { h: Math.floor(m / 60), m: m % 60 });
}

/** A countdown clock: "0:54", "12:05", "23:41:10". */
export function formatClock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const two = (n) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

export function formatDate(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(lang, { dateStyle: 'long', timeStyle: 'short' }).format(date);
}

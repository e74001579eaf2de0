// Small DOM helpers shared by the pages: steps that show one at a time
// with focus moved to them, message boxes read out by screen readers, and
// speed / time-left estimates for progress bars.
import { formatBytes, formatClock, formatDuration, t } from './i18n.js';

export const $ = (selector, root = document) => root.querySelector(selector);

/** Shows `step` (an element) and hides its siblings marked .step; moves focus into it. */
export function showStep(step, { focus = true } = {}) {
  for (const other of document.querySelectorAll('.step')) other.hidden = other !== step;
  if (focus) focusInto(step);
}

/** Focus on the first field of `el`, else its heading (made focusable). */
export function focusInto(el) {
  const field = el.querySelector('input:not([type=hidden]):not([disabled]):not([readonly]), textarea, select');
  const target = field ?? el.querySelector('h1, h2, h3') ?? el;
  if (!field && !target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
  target.focus({ preventScroll: false });
}

/**
 * A message box: `error` text goes into role=alert (read at once), `info`
 * and `success` into role=status. Empty text hides it.
 */
export class Notice {
  constructor(el) {
    this.el = el;
  }

  #set(kind, text) {
    this.el.hidden = !text;
    this.el.className = `notice notice-${kind}`;
    this.el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    this.el.textContent = text ?? '';
  }

  error(text) {
    this.#set('error', text);
  }

  info(text) {
    this.#set('info', text);
  }

  success(text) {
    this.#set('success', text);
  }

  clear() {
    this.#set('info', '');
  }
}

/** What the pages accept as an e-mail address (the server checks again). */
export const EMAIL = /^[^\s@,;<>]+@[^\s@,;<>]+\.[^\s@,;<>]+$/;

/** The address typed into `input`, trimmed; null (and the field marked) when it is not one. */
export function emailIn(input, message) {
  const value = input.value.trim();
  if (!EMAIL.test(value)) {
    fieldError(input, message);
    return null;
  }
  fieldError(input, '');
  return value;
}

/**
 * Marks a field invalid with a message in its error element (aria-describedby):
 * the element `<id>-error` if the page has one where it belongs, else one made
 * right after the field. `focus`: move focus to the field (the first of several).
 */
export function fieldError(input, text, { focus = true } = {}) {
  const id = `${input.id}-error`;
  let box = document.getElementById(id);
  if (!box) {
    box = document.createElement('p');
    box.id = id;
    box.className = 'field-error';
    input.insertAdjacentElement('afterend', box);
  }
  box.textContent = text ?? '';
  box.hidden = !text;
  const described = new Set((input.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean));
  if (text) {
    input.setAttribute('aria-invalid', 'true');
    described.add(id);
  } else {
    input.removeAttribute('aria-invalid');
    described.delete(id);
  }
  if (described.size) input.setAttribute('aria-describedby', [...described].join(' '));
  else input.removeAttribute('aria-describedby');
  if (text && focus) input.focus();
}

/**
 * Copies a read-only field's text to the clipboard (or, where the page may
 * not use it, selects it and copies the old way); `status` says so.
 */
export async function copyField(input, status, sentence) {
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand('copy');
  }
  status.textContent = sentence;
}

/** Controls a running Countdown holds disabled (busy() leaves them so). */
const held = new WeakSet();

/** Disables every control of a form while `work` runs. */
export async function busy(form, work) {
  const controls = [...form.querySelectorAll('button, input, select, textarea')].filter((c) => !c.disabled);
  for (const c of controls) c.disabled = true;
  form.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    for (const c of controls) c.disabled = held.has(c);
    form.removeAttribute('aria-busy');
  }
}

/**
 * While the server refuses something for a while (a code asked for too
 * soon, too many wrong codes), the controls that would be refused are
 * disabled and `el` (role=timer) counts down to when they work again, so
 * the page never invites what the server will refuse. One countdown per
 * element; a new one replaces it.
 */
export class Countdown {
  constructor(el) {
    this.el = el;
    this.timer = null;
    this.active = false;
    this.controls = [];
    this.done = null;
  }

  /**
   * Holds `controls` for `seconds` (null: for good); `words(clock)` is the
   * sentence shown, with the time left as "0:54"; `done` runs when the
   * time is up.
   */
  start(seconds, controls, words, done = null) {
    this.stop();
    this.active = true;
    this.controls = controls;
    this.done = done;
    for (const c of controls) {
      held.add(c);
      c.disabled = true;
    }
    this.el.hidden = false;
    if (seconds === null) {
      this.el.textContent = words('');
      return;
    }
    const until = Date.now() + Math.max(1, seconds) * 1000;
    const tick = () => {
      const left = (until - Date.now()) / 1000;
      if (left <= 0) {
        const finished = this.done;
        this.stop();
        finished?.();
        return;
      }
      this.el.textContent = words(formatClock(left));
    };
    tick();
    this.timer = setInterval(tick, 250);
  }

  get running() {
    return this.active;
  }

  /** Ends the countdown now and gives the controls back. */
  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.active = false;
    for (const c of this.controls) {
      held.delete(c);
      c.disabled = false;
    }
    this.controls = [];
    this.done = null;
    this.el.hidden = true;
    this.el.textContent = '';
  }
}

/** Seconds the server asked to wait (429 with Retry-After), or null when it did not. */
export function waitOf(e) {
  const seconds = Number(e?.details?.retry_after);
  return e?.status === 429 && Number.isFinite(seconds) && seconds > 0 ? seconds : null;
}

/** Throughput over the last few seconds and the time left at that pace. */
export class Rate {
  constructor(total, windowMs = 6000) {
    this.total = total;
    this.windowMs = windowMs;
    this.samples = [];
  }

  /** Records that `done` bytes are done now. */
  update(done) {
    const now = performance.now();
    this.samples.push([now, done]);
    while (this.samples.length > 2 && now - this.samples[0][0] > this.windowMs) this.samples.shift();
    this.done = done;
  }

  /** Forgets the pace (after a pause or a broken connection). */
  reset() {
    this.samples = [];
  }

  /** Bytes per second, or NaN when not known yet. */
  get speed() {
    if (this.samples.length < 2) return NaN;
    const [t0, b0] = this.samples[0];
    const [t1, b1] = this.samples[this.samples.length - 1];
    return t1 - t0 < 500 ? NaN : ((b1 - b0) * 1000) / (t1 - t0);
  }

  /** "12 MB of 1.2 GB · 35 MB/s · about 30 s left" */
  describe() {
    const parts = [t('progress.amount', { done: formatBytes(this.done ?? 0), total: formatBytes(this.total) })];
    const speed = this.speed;
    if (speed > 0) {
      parts.push(t('progress.speed', { speed: formatBytes(speed) }));
      parts.push(t('progress.left', { time: formatDuration((this.total - this.done) / speed) }));
    }
    return parts.join(' · ');
  }
}

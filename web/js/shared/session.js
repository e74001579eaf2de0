// A sign-in kept on this device: in localStorage, so it outlasts the tab
// and a restart and every tab shares it. The server ends it after
// `limits.session_days` or when the user signs the device out (the
// Devices list); the next request then answers 401 and the page asks to
// sign in again.
import { api } from './api.js';

export class SavedSession {
  /** `key`: where in localStorage (the add-in adds Outlook's partition). */
  constructor(key) {
    this.key = key;
  }

  /** `{token, email}` as saved, unchecked; null when none. */
  read() {
    try {
      const saved = JSON.parse(localStorage.getItem(this.key) ?? 'null');
      return typeof saved?.token === 'string' ? saved : null;
    } catch {
      return null;
    }
  }

  /**
   * The saved session if the server still takes it; null (and forgotten)
   * when it does not. A network failure is thrown: the session may be fine.
   */
  async check() {
    const saved = this.read();
    if (!saved) return null;
    try {
      const me = await api('/me', { token: saved.token });
      return { token: saved.token, email: me.email };
    } catch (e) {
      if (e?.status !== 401) throw e;
      this.forget();
      return null;
    }
  }

  remember(session) {
    try {
      localStorage.setItem(this.key, JSON.stringify({ token: session.token, email: session.email }));
    } catch {
      // No storage (a locked-down browser): the sign-in lasts as long as the page.
    }
  }

  forget() {
    try {
      localStorage.removeItem(this.key);
    } catch {
      // nothing saved
    }
  }
}

/**
 * What the Devices list calls this sign-in, e.g. "Firefox on Linux": the
 * browser and system from the user agent, nothing that identifies the person.
 */
export function deviceName(userAgent = globalThis.navigator?.userAgent ?? '') {
  const browsers = [
    [/Edg(e|A|iOS)?\//, 'Edge'],
    [/OPR\//, 'Opera'],
    [/Firefox\/|FxiOS\//, 'Firefox'],
    [/Chrome\/|CriOS\//, 'Chrome'],
    [/Safari\//, 'Safari'],
  ];
  const systems = [
    [/Windows/, 'Windows'],
    [/iPhone|iPad|iPod/, 'iOS'],
    [/Mac OS X|Macintosh/, 'macOS'],
    [/Android/, 'Android'],
    [/CrOS/, 'ChromeOS'],
    [/Linux/, 'Linux'],
  ];
  const browser = browsers.find(([re]) => re.test(userAgent))?.[1] ?? 'A browser';
  const system = systems.find(([re]) => re.test(userAgent))?.[1];
  return system ? `${browser} on ${system}` : browser;
}

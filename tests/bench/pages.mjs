// Benchmark: the send page and the recipient page in headless Chromium
// *without* DevTools network instrumentation. Playwright always turns that
// on, and it copies every request body to its client: uploads under it run
// at a tenth of their speed and the renderer grows with every byte sent. So
// here each page is driven over a bare DevTools connection that only
// evaluates scripts, sets the chosen file and allows downloads, in a fresh
// Chromium per phase, against a release kluis-server over loopback.
//
// For each SIZE (MiB) of random bytes:
// - the send page signs in (code from the outbox), picks the file, encrypts
//   it in Web Workers while uploading, and shows the link;
// - the recipient page opens that link and downloads the file twice, once
//   per way a file leaves the page: "downloads", the service-worker stream
//   into the browser's download manager (Firefox, Safari); "save dialog",
//   the File System Access API (Chromium, Edge), with the dialog answered by
//   a file in the origin private file system, since a headless browser
//   shows no dialogs. The saved bytes are checked.
// Prints MB/s and the growth of the renderer processes' private memory
// (peak over idle, sampled every 100 ms; "flat" means it does not grow with
// the size), and of the browser process. --trace prints the memory of every
// Chromium process each second; --send-only skips the recipient page;
// --https serves HTTPS with a self-signed certificate, so Chromium speaks
// HTTP/2 and the send page streams its uploads (the protocol is printed);
// --http1 keeps Chromium to HTTP/1.1 (with --https: TLS, but bodies by XHR).
//
// Usage: node --experimental-websocket tests/bench/pages.mjs [--trace] [--send-only] [--https [--http1]] [SIZE_MIB ...]   (default 256 1024)
// Needs: cargo build --release -p kluis-server; cargo xtask wasm.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
process.env.KLUIS_SERVER_BIN ??= join(ROOT, 'target/release/kluis-server');
const { KluisServer, sleep } = await import('../browser/support/kluis.mjs');
const { CHROMIUM } = await import('../browser/support/browser.mjs');
const { chromiumMemoryMiB, randomFile, sha256File } = await import('./support.mjs');

const trace = process.argv.includes('--trace');
const sendOnly = process.argv.includes('--send-only');
const https = process.argv.includes('--https');
const http1 = process.argv.includes('--http1');
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
if (sizes.length === 0) sizes.push(256, 1024);
const DIR = join(ROOT, 'target/bench/pages');
const TIMEOUT_MS = 15 * 60_000;

/** A bare DevTools connection: commands and events, nothing enabled by itself. */
class Devtools {
  #socket;
  #next = 0;
  #pending = new Map();
  #listeners = [];

  static async connect(url) {
    const devtools = new Devtools();
    devtools.#socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      devtools.#socket.onopen = resolve;
      devtools.#socket.onerror = () => reject(new Error('cannot connect to Chromium'));
    });
    devtools.#socket.onmessage = ({ data }) => devtools.#receive(JSON.parse(data));
    return devtools;
  }

  #receive(message) {
    if (message.id !== undefined) {
      const job = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error) job?.reject(new Error(message.error.message));
      else job?.resolve(message.result);
    } else {
      for (const listener of this.#listeners) listener(message);
    }
  }

  send(method, params = {}, sessionId) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  on(listener) {
    this.#listeners.push(listener);
  }

  close() {
    this.#socket.close();
  }
}

/** Evaluates `expression` in the page until it returns true. */
async function until(devtools, session, expression, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const { result } = await devtools.send('Runtime.evaluate', { expression, returnByValue: true }, session);
    if (result.value === true) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for: ${expression}`);
}

/** Files under `dir` and its subfolders. */
function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

/** One line of --trace: each Chromium process's private memory (MiB). */
function traceLine(seconds) {
  const parts = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmdline.includes('chromium')) continue;
      const type = cmdline.match(/--type=([a-z-]+)/)?.[1] ?? 'browser';
      const kib = Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/RssAnon:\s+(\d+)/)?.[1] ?? 0);
      if (kib > 0) parts.push(`${type}:${pid}=${(kib / 1024).toFixed(0)}`);
    } catch {
      // gone meanwhile
    }
  }
  return `  ${seconds}s ${parts.join(' ')}`;
}

/** A headless Chromium of its own, with a bare DevTools connection and one page. */
class Browser {
  static async start(script) {
    const b = new Browser();
    b.profile = mkdtempSync(join(tmpdir(), 'kluis-pages-'));
    b.downloads = join(b.profile, 'downloads');
    b.chromium = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--remote-debugging-port=0', `--user-data-dir=${b.profile}`, ...(https ? ['--ignore-certificate-errors'] : []), ...(http1 ? ['--disable-http2'] : []), 'about:blank'], { stdio: 'ignore', detached: true });
    let port;
    for (let i = 0; i < 100 && !port; i++) {
      await sleep(100);
      if (existsSync(join(b.profile, 'DevToolsActivePort'))) [port] = readFileSync(join(b.profile, 'DevToolsActivePort'), 'utf8').split('\n');
    }
    const { webSocketDebuggerUrl } = await (await fetch(`http://127.0.0.1:${port}/json/version`)).json();
    b.devtools = await Devtools.connect(webSocketDebuggerUrl);
    await b.devtools.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: b.downloads, eventsEnabled: true });
    const { targetId } = await b.devtools.send('Target.createTarget', { url: 'about:blank' });
    ({ sessionId: b.session } = await b.devtools.send('Target.attachToTarget', { targetId, flatten: true }));
    await b.devtools.send('Page.enable', {}, b.session); // needed for scripts on new documents
    if (script) await b.devtools.send('Page.addScriptToEvaluateOnNewDocument', { source: script }, b.session);
    return b;
  }

  goto(url) {
    return this.devtools.send('Page.navigate', { url }, this.session);
  }

  /** Evaluates `expression` in the page (as a click would, for pickers) and returns its value. */
  async eval(expression) {
    const { result, exceptionDetails } = await this.devtools.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true, userGesture: true }, this.session);
    if (exceptionDetails) throw new Error(`${expression}: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
    return result.value;
  }

  until(expression, timeout) {
    return until(this.devtools, this.session, expression, timeout);
  }

  /** Sets the file chosen in the <input type=file> `selector`, as a person picking it would. */
  async chooseFile(selector, path) {
    const { result } = await this.devtools.send('Runtime.evaluate', { expression: `document.querySelector(${JSON.stringify(selector)})` }, this.session);
    await this.devtools.send('DOM.setFileInputFiles', { files: [path], objectId: result.objectId }, this.session);
  }

  /** Runs `work` while sampling memory; returns {result, rate (MB/s for `bytes`), renderer, browser (MiB over idle)}. */
  async measure(bytes, work) {
    await sleep(1000);
    const sample = () => ({ renderer: chromiumMemoryMiB(this.chromium.pid), browser: chromiumMemoryMiB(this.chromium.pid, 'browser') });
    const idle = sample();
    const peak = { ...idle };
    let ticks = 0;
    const timer = setInterval(() => {
      const now = sample();
      peak.renderer = Math.max(peak.renderer, now.renderer);
      peak.browser = Math.max(peak.browser, now.browser);
      if (trace && ++ticks % 10 === 0) console.log(traceLine(ticks / 10));
    }, 100);
    const started = performance.now();
    try {
      const result = await work();
      const seconds = (performance.now() - started) / 1000;
      return { result, rate: bytes / 1e6 / seconds, renderer: peak.renderer - idle.renderer, browser: peak.browser - idle.browser, idle: idle.renderer };
    } finally {
      clearInterval(timer);
    }
  }

  async close() {
    this.devtools?.close();
    const exited = new Promise((r) => this.chromium.once('exit', r));
    process.kill(-this.chromium.pid, 'SIGKILL'); // the whole process group, so nothing writes to the profile any more
    await exited;
    rmSync(this.profile, { recursive: true, force: true, maxRetries: 5 });
  }
}

function report(what, m) {
  console.log(`${what.padEnd(42)} ${m.rate.toFixed(0).padStart(5)} MB/s   renderers +${m.renderer.toFixed(0)} MiB over idle (${m.idle.toFixed(0)} MiB), browser process +${m.browser.toFixed(0)} MiB`);
}

/** What the send page was served over (http/1.1, h2). */
let protocol = '';

/** The send page: sign in as `sender`, pick `path`, send it to Bob without verification; returns the link. */
async function sendPage(server, sender, path, bytes) {
  const browser = await Browser.start();
  try {
    await browser.goto(`${server.url}/`);
    await browser.until(`!!document.querySelector('#signin-email') && !document.querySelector('#signin-email').closest('[hidden]')`);
    await browser.eval(`document.querySelector('#signin-email').value = ${JSON.stringify(sender)}; document.querySelector('#signin-email-form').requestSubmit()`);
    const code = await server.code(sender);
    await browser.until(`!document.querySelector('#signin-code-form').hidden`);
    await browser.eval(`document.querySelector('#signin-code').value = '${code}'; document.querySelector('#signin-code-form').requestSubmit()`);
    await browser.until(`!document.querySelector('#step-compose').hidden`);
    await browser.chooseFile('#files', path);
    await browser.until(`!!document.querySelector('#file-list li')`);
    await browser.eval(`document.querySelector('#recipients').value = 'bob@example.org'; document.querySelector('#verify-none').click()`);
    protocol = await browser.eval(`performance.getEntriesByType('navigation')[0].nextHopProtocol`);
    const sent = await browser.measure(bytes, async () => {
      await browser.eval(`document.querySelector('#send-button').click()`);
      await browser.until(`!document.querySelector('#step-done').hidden`, TIMEOUT_MS);
      return browser.eval(`document.querySelector('#link').value`);
    });
    return sent;
  } finally {
    await browser.close();
  }
}

/** Ways the recipient page saves a file: a script for new documents. */
const SINKS = {
  // As in the Playwright tests: no File System Access API, so the page streams through its service worker.
  downloads: 'delete window.showSaveFilePicker; delete window.showDirectoryPicker;',
  'save dialog': `delete window.showDirectoryPicker;
    window.showSaveFilePicker = async ({ suggestedName }) => (await navigator.storage.getDirectory()).getFileHandle(suggestedName, { create: true });`,
};

/** The recipient page: open `link`, download its one file through `sink`, check the saved bytes. */
async function recipientPage(link, bytes, expected, sink) {
  const browser = await Browser.start(SINKS[sink]);
  try {
    let finished;
    const downloaded = new Promise((resolve) => (finished = resolve));
    browser.devtools.on((m) => {
      if (m.method === 'Browser.downloadProgress' && (m.params.state === 'completed' || m.params.state === 'canceled')) finished(m.params.state);
    });
    await browser.goto(link);
    await browser.until(`!!document.querySelector('#unlock-submit') && !document.querySelector('#unlock-submit').closest('[hidden]')`);
    await browser.eval(`document.querySelector('#unlock-submit').click()`);
    await browser.until(`!!document.querySelector('#download-list li button')`);
    const received = await browser.measure(bytes, async () => {
      await browser.eval(`document.querySelector('#download-list li button').click()`);
      if (sink === 'downloads') {
        let timer;
        const timeout = new Promise((resolve) => (timer = setTimeout(resolve, TIMEOUT_MS, 'timed out')));
        return Promise.race([downloaded, timeout]).finally(() => clearTimeout(timer));
      }
      const row = `document.querySelector('#download-list li')`;
      await browser.until(`${row}.classList.contains('done') || ${row}.classList.contains('failed')`, TIMEOUT_MS);
      return (await browser.eval(`${row}.classList.contains('done')`)) ? 'completed' : 'failed';
    });
    if (received.result !== 'completed') throw new Error(`the download ${received.result}`);
    // The saved file: in the downloads folder, or in the profile's origin private file system.
    const saved = sink === 'downloads'
      ? join(browser.downloads, readdirSync(browser.downloads)[0])
      : [...walk(join(browser.profile, 'Default'))].find((path) => statSync(path).size === bytes);
    if (!saved || (await sha256File(saved)) !== expected) throw new Error('the saved file differs from the sent one');
    return received;
  } finally {
    await browser.close();
  }
}

const server = await KluisServer.start({ tls: https });
try {
  console.log(`\nweb pages without DevTools network instrumentation: headless Chromium, release kluis-server over loopback${https ? ' (HTTPS)' : ''}`);
  for (const mib of sizes) {
    const path = await randomFile(DIR, mib);
    const bytes = mib * 1048576;
    const expected = await sha256File(path);
    // A sender per size: sign-in codes are rate-limited per address.
    const sender = `bench-${mib}@example.org`;
    await server.addUser(sender);
    const sent = await sendPage(server, sender, path, bytes);
    report(`send page, ${mib} MiB, ${protocol}`, sent);
    for (const sink of sendOnly ? [] : Object.keys(SINKS)) {
      report(`recipient page, ${mib} MiB, to ${sink}`, await recipientPage(sent.result, bytes, expected, sink));
    }
  }
} finally {
  await server.close();
}

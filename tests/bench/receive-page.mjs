// Benchmark: the recipient page in headless Chromium *without* DevTools
// network instrumentation (Playwright always turns it on, and it buffers
// response data). The page is driven over a bare DevTools connection that
// only evaluates scripts and allows downloads. A file of SIZE MiB is sent
// with `kluis send`, then opened and downloaded by the page twice, once per
// way a file leaves the page:
// - "downloads": the service-worker stream into the browser's download
//   manager (what Firefox and Safari use);
// - "save dialog": the File System Access API (what Chromium and Edge
//   use), with the save dialog answered by a file in the origin private
//   file system, since a headless browser shows no dialogs.
// Prints MB/s and the growth of the renderer processes' private memory
// (peak over idle; the browser process too), and checks the bytes saved.
// --trace prints the memory of every Chromium process each second.
//
// Usage: node --experimental-websocket tests/bench/receive-page.mjs [--trace] [SIZE_MIB ...]   (default 256 1024)
// Needs: cargo build --release -p kluis-server -p kluis-cli; cargo xtask wasm.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
process.env.KLUIS_SERVER_BIN ??= join(ROOT, 'target/release/kluis-server');
process.env.KLUIS_BIN ??= join(ROOT, 'target/release/kluis');
const { KluisServer, sleep } = await import('../browser/support/kluis.mjs');
const { CHROMIUM } = await import('../browser/support/browser.mjs');
const { chromiumMemoryMiB, randomFile, sha256File } = await import('./support.mjs');

const trace = process.argv.includes('--trace');
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
if (sizes.length === 0) sizes.push(256, 1024);
const DIR = join(ROOT, 'target/bench/receive-page');
const TIMEOUT_MS = 10 * 60_000;

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

/** What each way of saving needs: a script for new documents, and where the file ends up. */
const SINKS = {
  downloads: {
    label: 'downloads',
    // As in the Playwright tests: no File System Access API, so the page streams through its service worker.
    script: 'delete window.showSaveFilePicker; delete window.showDirectoryPicker;',
  },
  dialog: {
    label: 'save dialog',
    script: `delete window.showDirectoryPicker;
      window.showSaveFilePicker = async ({ suggestedName }) => (await navigator.storage.getDirectory()).getFileHandle(suggestedName, { create: true });`,
  },
};

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

/** Opens `link` in a fresh Chromium, downloads its one file through `sink`, and returns the figures. */
async function receive(link, mib, expected, sink) {
  const profile = mkdtempSync(join(tmpdir(), 'kluis-receive-'));
  const downloads = join(profile, 'downloads');
  const chromium = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'], { stdio: 'ignore', detached: true });
  let devtools;
  try {
    let port;
    for (let i = 0; i < 100 && !port; i++) {
      await sleep(100);
      if (existsSync(join(profile, 'DevToolsActivePort'))) [port] = readFileSync(join(profile, 'DevToolsActivePort'), 'utf8').split('\n');
    }
    const { webSocketDebuggerUrl } = await (await fetch(`http://127.0.0.1:${port}/json/version`)).json();
    devtools = await Devtools.connect(webSocketDebuggerUrl);
    await devtools.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads, eventsEnabled: true });
    let finished;
    const downloaded = new Promise((resolve) => (finished = resolve));
    devtools.on((m) => {
      if (m.method === 'Browser.downloadProgress' && (m.params.state === 'completed' || m.params.state === 'canceled')) finished(m.params.state);
    });
    const { targetId } = await devtools.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await devtools.send('Target.attachToTarget', { targetId, flatten: true });
    await devtools.send('Page.enable', {}, sessionId); // needed for scripts on new documents
    await devtools.send('Page.addScriptToEvaluateOnNewDocument', { source: SINKS[sink].script }, sessionId);
    await devtools.send('Page.navigate', { url: link }, sessionId);
    await until(devtools, sessionId, `!!document.querySelector('#unlock-submit') && !document.querySelector('#unlock-submit').closest('[hidden]')`);
    await devtools.send('Runtime.evaluate', { expression: `document.querySelector('#unlock-submit').click()` }, sessionId);
    await until(devtools, sessionId, `!!document.querySelector('#download-list li button')`);
    await sleep(1000);
    const idle = { renderer: chromiumMemoryMiB(chromium.pid), browser: chromiumMemoryMiB(chromium.pid, 'browser') };
    const peak = { ...idle };
    let ticks = 0;
    const timer = setInterval(() => {
      peak.renderer = Math.max(peak.renderer, chromiumMemoryMiB(chromium.pid));
      peak.browser = Math.max(peak.browser, chromiumMemoryMiB(chromium.pid, 'browser'));
      if (trace && ++ticks % 10 === 0) console.log(traceLine(ticks / 10));
    }, 100);
    const started = performance.now();
    await devtools.send('Runtime.evaluate', { expression: `document.querySelector('#download-list li button').click()`, userGesture: true }, sessionId);
    let state;
    if (sink === 'downloads') {
      state = await Promise.race([downloaded, sleep(TIMEOUT_MS).then(() => 'timed out')]);
    } else {
      const row = `document.querySelector('#download-list li')`;
      await until(devtools, sessionId, `${row}.classList.contains('done') || ${row}.classList.contains('failed')`, TIMEOUT_MS);
      const { result } = await devtools.send('Runtime.evaluate', { expression: `${row}.classList.contains('done')`, returnByValue: true }, sessionId);
      state = result.value ? 'completed' : 'failed';
    }
    const seconds = (performance.now() - started) / 1000;
    clearInterval(timer);
    if (state !== 'completed') throw new Error(`the download ${state}`);
    // The saved file: in the downloads folder, or in the profile's origin private file system.
    const saved = sink === 'downloads' ? join(downloads, readdirSync(downloads)[0]) : [...walk(join(profile, 'Default'))].find((path) => statSync(path).size === mib * 1048576);
    if (!saved || (await sha256File(saved)) !== expected) throw new Error('the saved file differs from the sent one');
    return { rate: (mib * 1048576) / 1e6 / seconds, renderer: peak.renderer - idle.renderer, browser: peak.browser - idle.browser, idle: idle.renderer };
  } finally {
    devtools?.close();
    const exited = new Promise((r) => chromium.once('exit', r));
    process.kill(-chromium.pid, 'SIGKILL'); // the whole process group, so nothing writes to the profile any more
    await exited;
    rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  }
}

const server = await KluisServer.start();
try {
  const token = await server.token('bench@example.org');
  console.log(`\nrecipient page without DevTools network instrumentation: headless Chromium, release kluis-server`);
  for (const mib of sizes) {
    const path = await randomFile(DIR, mib);
    const expected = await sha256File(path);
    const sent = await server.kluis(['send', path, '--to', 'bob@example.org', '--verify', 'none', '--server', server.url, '--token', token], { timeout: TIMEOUT_MS });
    if (sent.code !== 0) throw new Error(`kluis send failed: ${sent.stderr}`);
    const link = sent.stdout.trim();
    for (const sink of (process.env.SINKS?.split(',') ?? Object.keys(SINKS))) {
      const r = await receive(link, mib, expected, sink);
      const what = `recipient page, ${`${mib} MiB`.padEnd(9)} to ${SINKS[sink].label.padEnd(11)}`;
      console.log(`${what} ${r.rate.toFixed(0).padStart(5)} MB/s   renderers +${r.renderer.toFixed(0)} MiB over idle (${r.idle.toFixed(0)} MiB), browser process +${r.browser.toFixed(0)} MiB`);
    }
  }
} finally {
  await server.close();
}

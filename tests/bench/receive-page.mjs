// Benchmark: the recipient page in headless Chromium *without* DevTools
// network instrumentation (Playwright always turns it on, and it buffers
// response data). The page is driven over a bare DevTools connection that
// only evaluates scripts and allows downloads. A file of SIZE MiB is sent
// with `kluis send`, then opened and downloaded by the page (service-worker
// stream into the browser's download manager). Prints MB/s and the growth of
// the renderer processes' private memory, and checks the bytes.
//
// Usage: node --experimental-websocket tests/bench/receive-page.mjs [SIZE_MIB ...]   (default 256 1024)
// Needs: cargo build --release -p kluis-server -p kluis-cli; cargo xtask wasm.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
process.env.KLUIS_SERVER_BIN ??= join(ROOT, 'target/release/kluis-server');
process.env.KLUIS_BIN ??= join(ROOT, 'target/release/kluis');
const { KluisServer, sleep } = await import('../browser/support/kluis.mjs');
const { CHROMIUM } = await import('../browser/support/browser.mjs');
const { chromiumMemoryMiB, randomFile, sha256File } = await import('./support.mjs');

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

    const profile = mkdtempSync(join(tmpdir(), 'kluis-receive-'));
    const downloads = join(profile, 'downloads');
    const chromium = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'], { stdio: 'ignore' });
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
      const completed = new Promise((resolve) => (finished = resolve));
      devtools.on((m) => {
        if (m.method === 'Browser.downloadProgress' && (m.params.state === 'completed' || m.params.state === 'canceled')) finished(m.params.state);
      });
      const { targetId } = await devtools.send('Target.createTarget', { url: 'about:blank' });
      const { sessionId } = await devtools.send('Target.attachToTarget', { targetId, flatten: true });
      await devtools.send('Page.enable', {}, sessionId); // needed for scripts on new documents
      // As in the Playwright tests: no File System Access API, so the page streams through its service worker.
      await devtools.send('Page.addScriptToEvaluateOnNewDocument', { source: 'delete window.showSaveFilePicker; delete window.showDirectoryPicker;' }, sessionId);
      await devtools.send('Page.navigate', { url: link }, sessionId);
      await until(devtools, sessionId, `!!document.querySelector('#unlock-submit') && !document.querySelector('#unlock-submit').closest('[hidden]')`);
      await devtools.send('Runtime.evaluate', { expression: `document.querySelector('#unlock-submit').click()` }, sessionId);
      await until(devtools, sessionId, `!!document.querySelector('#download-list li button')`);
      await sleep(1000);
      const idle = chromiumMemoryMiB(chromium.pid);
      let peak = idle;
      const timer = setInterval(() => {
        peak = Math.max(peak, chromiumMemoryMiB(chromium.pid));
      }, 100);
      const started = performance.now();
      await devtools.send('Runtime.evaluate', { expression: `document.querySelector('#download-list li button').click()`, userGesture: true }, sessionId);
      const state = await Promise.race([completed, sleep(TIMEOUT_MS).then(() => 'timed out')]);
      const seconds = (performance.now() - started) / 1000;
      clearInterval(timer);
      if (state !== 'completed') throw new Error(`the download ${state}`);
      const [saved] = readdirSync(downloads);
      if ((await sha256File(join(downloads, saved))) !== expected) throw new Error('the received file differs from the sent one');
      const rate = ((mib * 1048576) / 1e6 / seconds).toFixed(0).padStart(5);
      console.log(`recipient page, ${`${mib} MiB`.padEnd(9)} ${rate} MB/s   renderers +${(peak - idle).toFixed(0)} MiB over idle (peak ${peak.toFixed(0)} MiB)`);
    } finally {
      devtools?.close();
      const exited = new Promise((r) => chromium.once('exit', r));
      chromium.kill('SIGKILL');
      await exited;
      rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
    }
  }
} finally {
  await server.close();
}

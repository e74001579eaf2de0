// Benchmark: how Chromium's memory and speed depend on the kind of XHR
// request body, for uploads like the send page's (8 MiB PATCH bodies).
// Chromium is started without DevTools attached, because the DevTools
// network instrumentation (which Playwright always enables) copies every
// request body and alone makes uploads ~12x slower and memory grow.
//
// Bodies compared, each for the same number of bytes:
//   reused       one ArrayBuffer sent again and again (a buffer pool)
//   fresh        a new ArrayBuffer per body, filled by a Web Worker and
//                transferred back, as web/js/shared/uploader.js does
//   blob         a new Blob per body
//   fetch        fetch() instead of XHR, with the one reused ArrayBuffer
// Prints MB/s and the growth of the renderer and browser processes.
//
// Usage: node tests/bench/xhr-bodies.mjs [MIB [MODE ...]]   (default 1024, all modes)
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromiumMemoryMiB } from './support.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MIB = Number(process.argv[2] ?? 1024);
const BODY = 8 << 20;
const COUNT = Math.ceil((MIB << 20) / BODY);
const TIMEOUT_MS = 180_000;

const WORKER = `onmessage = ({ data: buffer }) => { new Uint8Array(buffer).fill(7); postMessage(buffer, [buffer]); };`;

function page(mode) {
  return `<!doctype html><script type="module">
const filler = new Worker(URL.createObjectURL(new Blob([${JSON.stringify(WORKER)}], { type: 'text/javascript' })));
const fill = (buffer) => new Promise((resolve) => { filler.onmessage = ({ data }) => resolve(data); filler.postMessage(buffer, [buffer]); });
const patch = (body) => new Promise((resolve, reject) => {
  const xhr = new XMLHttpRequest();
  xhr.open('PATCH', '/upload');
  xhr.onload = resolve;
  xhr.onerror = () => reject(new Error('PATCH failed'));
  xhr.send(body);
});
await fetch('/ready', { method: 'POST' });
await new Promise((r) => setTimeout(r, 1500)); // the idle figure is taken now
const reused = new Uint8Array(${BODY}).fill(7);
const started = performance.now();
try {
  for (let i = 0; i < ${COUNT}; i++) {
    if (${JSON.stringify(mode)} === 'reused') await patch(reused);
    else if (${JSON.stringify(mode)} === 'fresh') await patch(new Uint8Array(await fill(new ArrayBuffer(${BODY}))));
    else if (${JSON.stringify(mode)} === 'blob') await patch(new Blob([reused]));
    else {
      const response = await fetch('/upload', { method: 'PATCH', body: reused });
      if (!response.ok) throw new Error('PATCH failed');
    }
  }
  await fetch('/done', { method: 'POST', body: String((performance.now() - started) / 1000) });
} catch (e) {
  await fetch('/done', { method: 'POST', body: 'error ' + e.message });
}
</script>`;
}

async function run(mode) {
  let ready;
  let done;
  const readySignal = new Promise((r) => (ready = r));
  const doneSignal = new Promise((r) => (done = r));
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (d) => {
      if (req.url === '/done') text += d;
    });
    req.on('end', () => {
      if (req.url === '/ready') ready();
      if (req.url === '/done') done(text);
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' });
      res.end(req.method === 'GET' ? page(mode) : '');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const profile = mkdtempSync(join(tmpdir(), 'kluis-xhr-'));
  const chromium = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', `--user-data-dir=${profile}`,
    `http://127.0.0.1:${server.address().port}/`], { stdio: 'ignore', detached: true });
  try {
    await readySignal;
    await new Promise((r) => setTimeout(r, 1000));
    const idle = { renderer: chromiumMemoryMiB(chromium.pid, 'renderer'), browser: chromiumMemoryMiB(chromium.pid, 'browser') };
    const peak = { ...idle };
    const timer = setInterval(() => {
      for (const kind of ['renderer', 'browser']) peak[kind] = Math.max(peak[kind], chromiumMemoryMiB(chromium.pid, kind));
    }, 100);
    const outcome = await Promise.race([doneSignal, new Promise((r) => setTimeout(() => r('error: no answer in time'), TIMEOUT_MS))]);
    clearInterval(timer);
    const rate = outcome.startsWith('error') ? outcome : `${((COUNT * BODY) / 1e6 / Number(outcome)).toFixed(0).padStart(5)} MB/s`;
    const growth = (kind) => `+${(peak[kind] - idle[kind]).toFixed(0)} MiB`.padStart(10);
    console.log(`${mode.padEnd(8)} ${rate}   renderer ${growth('renderer')}   browser process ${growth('browser')}`);
  } finally {
    const exited = new Promise((r) => chromium.once('exit', r));
    process.kill(-chromium.pid, 'SIGKILL'); // the whole process group, so nothing writes to the profile any more
    await exited;
    server.close();
    rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  }
}

console.log(`\nXHR upload bodies in headless Chromium without DevTools: ${COUNT} x 8 MiB PATCH over loopback`);
const modes = process.argv.slice(3);
for (const mode of modes.length ? modes : ['reused', 'fresh', 'blob', 'fetch']) await run(mode);

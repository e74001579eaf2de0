// Benchmark: the send page and the recipient page in headless Chromium
// against a release kluis-server over loopback, for files of several sizes.
// Prints MB/s for each direction and the growth of the renderer processes'
// private memory (page + Web Workers), sampled every 100 ms: "flat" means it
// does not grow with the file size.
//
// Playwright drives Chromium over DevTools with network instrumentation on,
// which copies every request body to the DevTools client: uploads here are
// many times slower than without it, and memory grows with it. The bare XHR
// row shows that ceiling; tests/bench/xhr-bodies.mjs measures uploads
// without DevTools.
//
// Usage: node tests/bench/browser.mjs [SIZE_MIB ...]   (default 256 1024)
// Needs: cargo build --release -p kluis-server; cargo xtask wasm.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
process.env.KLUIS_SERVER_BIN ??= join(ROOT, 'target/release/kluis-server');
const { KluisServer } = await import('../browser/support/kluis.mjs');
const { launch } = await import('../browser/support/browser.mjs');
const { newPage, signIn } = await import('../browser/support/pages.mjs');
const { chromiumMemoryMiB, randomFile, sha256File } = await import('./support.mjs');

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
if (sizes.length === 0) sizes.push(256, 1024);
const DIR = join(ROOT, 'target/bench/browser');
const TIMEOUT_MS = 10 * 60_000;

/** Runs `work` while sampling renderer memory; returns {result, seconds, peakMiB}. */
async function measured(work) {
  let peak = chromiumMemoryMiB(process.pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, chromiumMemoryMiB(process.pid));
  }, 100);
  const started = performance.now();
  try {
    const result = await work();
    return { result, seconds: (performance.now() - started) / 1000, peakMiB: peak };
  } finally {
    clearInterval(timer);
  }
}

function row(label, bytes, { seconds, peakMiB }, idleMiB) {
  const rate = (bytes / 1e6 / seconds).toFixed(0).padStart(5);
  const growth = `+${(peakMiB - idleMiB).toFixed(0)}`.padStart(5);
  console.log(`${label.padEnd(34)} ${rate} MB/s   renderers ${growth} MiB over idle (peak ${peakMiB.toFixed(0)} MiB)`);
}

/** The same number of bytes PATCHed from the page in 8 MiB XHR bodies, with
 * no crypto: what this browser's upload path can do at best. */
async function bareUpload(page, token, mib) {
  const body = 8 << 20;
  const length = Math.ceil((mib << 20) / body) * body;
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const pkg = await (await fetch(`${server.url}/api/v1/packages`, {
    method: 'POST', headers, body: JSON.stringify({ recipients: [], verify: 'none', blobs: [{ size: length }] }),
  })).json();
  const created = await fetch(`${server.url}/api/v1/uploads`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(length),
      'Upload-Metadata': `package ${Buffer.from(pkg.id).toString('base64')},blob ${Buffer.from('0').toString('base64')}` },
  });
  const location = created.headers.get('location');
  return page.evaluate(async ({ location, token, length, body }) => {
    const bytes = new Uint8Array(body).fill(1);
    for (let offset = 0; offset < length; offset += body) {
      await new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open('PATCH', location);
        xhr.setRequestHeader('Authorization', `Bearer ${token}`);
        xhr.setRequestHeader('Tus-Resumable', '1.0.0');
        xhr.setRequestHeader('Upload-Offset', String(offset));
        xhr.setRequestHeader('Content-Type', 'application/offset+octet-stream');
        xhr.onload = () => (xhr.status === 204 ? resolve() : reject(new Error(`PATCH answered ${xhr.status}`)));
        xhr.onerror = () => reject(new Error('PATCH failed'));
        xhr.send(bytes);
      });
    }
    return length;
  }, { location, token, length, body });
}

/** Runs `phase(page)` in a browser of its own, so that the renderer memory
 * measured is that phase's only (garbage of an earlier phase would hide it). */
async function inOwnBrowser(phase) {
  const browser = await launch();
  try {
    const { page } = await newPage(browser);
    return await phase(page);
  } finally {
    await browser.close();
  }
}

const server = await KluisServer.start();
try {
  console.log(`\nbrowser pages over loopback: headless Chromium driven by Playwright (DevTools attached), release kluis-server, ${sizes.join(' and ')} MiB`);
  for (const mib of sizes) {
    const path = await randomFile(DIR, mib);
    const bytes = mib * 1048576;
    const expected = await sha256File(path);
    // A sender per size: sign-in codes are rate-limited per address.
    const sender = `bench-${mib}@example.org`;
    await server.addUser(sender);
    const token = await server.token(sender);

    await inOwnBrowser(async (page) => {
      await page.goto(`${server.url}/`);
      const idle = chromiumMemoryMiB(process.pid);
      const bare = await measured(() => bareUpload(page, token, mib));
      row(`bare XHR PATCH, ${mib} MiB`, bare.result, bare, idle);
    });

    // Send: pick the file, encrypt in workers while uploading, wait for the link.
    const link = await inOwnBrowser(async (page) => {
      await signIn(page, server, sender);
      await page.setInputFiles('#files', path);
      await page.locator('#file-list li').first().waitFor();
      await page.fill('#recipients', 'bob@example.org');
      await page.check('#verify-none');
      const idle = chromiumMemoryMiB(process.pid);
      const send = await measured(async () => {
        await page.click('#send-button');
        await page.locator('#step-done').waitFor({ state: 'visible', timeout: TIMEOUT_MS });
        return page.inputValue('#link');
      });
      row(`send page, ${mib} MiB`, bytes, send, idle);
      return send.result;
    });

    // Receive: open, decrypt while downloading, stream to disk (service worker
    // and the browser's download manager).
    await inOwnBrowser(async (page) => {
      await page.goto(link);
      await page.click('#unlock-submit');
      await page.locator('#step-files').waitFor({ state: 'visible' });
      const idle = chromiumMemoryMiB(process.pid);
      const received = await measured(async () => {
        const [download] = await Promise.all([
          page.waitForEvent('download', { timeout: TIMEOUT_MS }),
          page.locator('#download-list li button').first().click(),
        ]);
        const failure = await download.failure();
        if (failure) throw new Error(`the download failed: ${failure}`);
        return download.path(); // resolves when the download is complete
      });
      row(`recipient page, ${mib} MiB`, bytes, received, idle);
      if ((await sha256File(received.result)) !== expected) throw new Error('the received file differs from the sent one');
    });
  }
} finally {
  await server.close();
}

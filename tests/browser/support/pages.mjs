// Helpers for driving the send page (index.html) and the recipient page
// (receive.html) in end-to-end tests.

/** A fresh browser context and page. `picker`: 'none' removes the File
 * System Access API (downloads then go through the service worker and the
 * browser's download manager), 'stub' replaces it with an in-memory fake
 * that records what the page writes, closes and aborts. */
export async function newPage(browser, { locale = 'en-US', picker = 'none', tls = false } = {}) {
  // `tls`: the test server's self-signed certificate is accepted (it is made for the test).
  const context = await browser.newContext({ locale, acceptDownloads: true, ignoreHTTPSErrors: tls });
  if (picker === 'none') {
    await context.addInitScript(() => {
      delete window.showSaveFilePicker;
      delete window.showDirectoryPicker;
    });
  } else if (picker === 'stub') {
    await context.addInitScript(() => {
      // name → {chunks, closed, aborted}
      window.__files = {};
      const writable = (name) => {
        const file = { chunks: [], closed: false, aborted: false };
        window.__files[name] = file;
        return {
          async write(bytes) {
            if (file.closed || file.aborted) throw new TypeError('closed');
            file.chunks.push(bytes.slice());
          },
          async close() {
            file.closed = true;
          },
          async abort() {
            file.aborted = true;
            file.chunks = [];
          },
        };
      };
      window.showSaveFilePicker = async ({ suggestedName }) => ({ createWritable: async () => writable(suggestedName) });
      delete window.showDirectoryPicker;
    });
  }
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) console.error(`[page] ${msg.text()}`);
  });
  return { context, page };
}

/** What the stubbed file picker received for `name`: {closed, aborted, bytes (Buffer)}. */
export async function stubbedFile(page, name) {
  const result = await page.evaluate(async (name) => {
    const file = window.__files[name];
    if (!file) return null;
    const bytes = new Uint8Array(await new Blob(file.chunks).arrayBuffer());
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return { closed: file.closed, aborted: file.aborted, data: btoa(s) };
  }, name);
  return result && { closed: result.closed, aborted: result.aborted, bytes: Buffer.from(result.data, 'base64') };
}

/** Signs in on the send page with a code read from the outbox. */
export async function signIn(page, server, email) {
  await page.goto(`${server.url}/`);
  await page.fill('#signin-email', email);
  await page.click('#signin-email-form button[type=submit]');
  const code = await server.code(email);
  await page.fill('#signin-code', code);
  await page.click('#signin-code-form button[type=submit]');
  await page.waitForSelector('#step-compose:not([hidden]), #step-resume:not([hidden])');
}

/** The row of file `name` on the recipient page. */
export function fileRow(page, name) {
  return page.locator('#download-list li', { has: page.locator('.file-name', { hasText: name }) });
}

/** The package id in a link. */
export function packageIdOf(link) {
  return new URL(link).pathname.split('/').pop();
}

// Helpers for receiving files in browser tests (docs/inbound.md): the
// user's /inbox (sign in, make the key, unlock, save an item's file), the
// outsider's upload page, the admin console's sign-in and the add-in pane
// in the Office stand-in. The same steps inbound.test.mjs takes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT } from './kluis.mjs';
import { newPage, stubbedFile } from './pages.mjs';

export const PASSPHRASE = 'paard batterij nietje correct';
const STAND_IN = readFileSync(join(ROOT, 'tests/browser/support/office-stand-in.js'), 'utf8');

/**
 * Contexts for one test, all closed after it with the server. `open()`: a
 * page in a fresh context whose requests are recorded in `page.sent`
 * ({method, url, body}); `pane(fixture, path)`: the same, in Outlook (the
 * Office stand-in with `fixture` as the mail) at `path`.
 */
export function contexts(t, browser, server) {
  const all = [];
  t.after(async () => {
    for (const c of all) await c.close().catch(() => {});
    await server.close();
  });
  const record = (page) => {
    page.sent = [];
    page.on('request', (r) => page.sent.push({ method: r.method(), url: r.url(), body: r.postDataBuffer() ?? Buffer.alloc(0) }));
    return page;
  };
  const open = async (options) => {
    const { context, page } = await newPage(browser, options);
    all.push(context);
    return record(page);
  };
  const pane = async (fixture, path = '/addin/taskpane.html', options = { picker: 'stub' }) => {
    const { context, page } = await newPage(browser, options);
    all.push(context);
    await context.route('https://appsforoffice.microsoft.com/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/javascript', body: STAND_IN }),
    );
    await context.addInitScript((f) => {
      window.__officeFixture = f;
    }, fixture);
    record(page);
    await page.goto(`${server.url}${path}`);
    return page;
  };
  return { open, pane };
}

/** Signs in on /inbox with a code from the outbox. */
export async function signInInbox(page, server, email) {
  await page.goto(`${server.url}/inbox`);
  await page.fill('#signin-email', email);
  await page.click('#signin-email-form button[type=submit]');
  await page.fill('#signin-code', await server.code(email));
  await page.click('#signin-code-form button[type=submit]');
  await page.locator('#step-main').waitFor({ state: 'visible' });
}

/**
 * Opens /inbox already signed in with a token made on the server's command
 * line (the session the send page and inbox keep): for a user who signs in
 * with a mailed code elsewhere in the same test, as one code a minute is sent.
 */
export async function openInboxWithToken(page, server, email) {
  const token = await server.token(email);
  await page.goto(`${server.url}/inbox`);
  await page.evaluate(({ token, email }) => localStorage.setItem('kluis.token', JSON.stringify({ token, email })), { token, email });
  await page.reload();
  await page.locator('#step-main').waitFor({ state: 'visible' });
}

/** Makes the key on /inbox. */
export async function makeKey(page, passphrase = PASSPHRASE) {
  await page.locator('#key-new').waitFor({ state: 'visible' });
  await page.fill('#new-passphrase', passphrase);
  await page.fill('#new-passphrase-again', passphrase);
  await page.click('#key-new-submit');
  await page.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
}

/** Reloads /inbox and unlocks it. */
export async function unlockInbox(page, passphrase = PASSPHRASE) {
  await page.reload();
  await page.locator('#key-locked').waitFor({ state: 'visible' });
  await page.fill('#unlock-passphrase', passphrase);
  await page.click('#unlock-submit');
  await page.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
}

/** Opens the newest inbox item and saves `name` (the stubbed picker); returns its bytes. */
export async function saveFromInbox(page, name) {
  const item = page.locator('#inbox-list > li').first();
  await item.waitFor();
  await item.getByRole('button', { name: /^Open what/ }).click();
  const row = item.locator('.download', { has: page.locator('.file-name', { hasText: name }) });
  await row.getByRole('button', { name: `Download ${name}` }).click();
  await row.getByText('Saved, and checked').waitFor({ timeout: 60_000 });
  const saved = await stubbedFile(page, name);
  assert.equal(saved.closed, true);
  return saved.bytes;
}

/** The uploader's steps up to the code: the link, the address; returns the mailed code. */
export async function openAsUploader(page, server, link, email) {
  await page.goto(link);
  await page.locator('#step-email').waitFor({ state: 'visible' });
  await page.fill('#email', email);
  await page.click('#email-submit');
  await page.locator('#step-code').waitFor({ state: 'visible' });
  return server.code(email);
}

/** Paths of the requests `page` sent that would declare or upload anything. */
export function uploadCalls(page) {
  return page.sent.map((r) => `${r.method} ${new URL(r.url).pathname}`).filter((s) => /\/deliveries|\/uploads/.test(s));
}

/** Signs in on /admin/ with a mailed code and waits for the console. */
export async function signInAdmin(page, server, email) {
  await page.goto(`${server.url}/admin/`);
  await page.fill('#signin-email', email);
  await page.click('#signin-email-form button[type=submit]');
  await page.fill('#signin-code', await server.code(email));
  await page.click('#signin-code-form button[type=submit]');
  await page.locator('#step-console').waitFor({ state: 'visible' });
}

/** Asserts that nothing any of `pages` sent (URL or body) holds any of `secrets` ({what: Buffer}). */
export function assertNotSent(pages, secrets) {
  const sent = pages.flatMap((p) => p.sent);
  for (const [what, needle] of Object.entries(secrets)) {
    for (const r of sent) {
      assert.ok(!r.url.includes(needle.toString()) && !r.body.includes(needle), `${r.method} ${r.url} carried the ${what}`);
    }
  }
}

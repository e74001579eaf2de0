// The inbox in the Outlook task pane (the Office.js stand-in): an upload
// that came in through the user's request is listed in the pane, the key is
// unlocked with the passphrase (a wrong one is refused), the item opens and
// its file is saved as a download with identical bytes; "Back to the mail"
// returns to Send securely. On Outlook for Mac, whose webview starts no
// downloads, a file offers the web inbox in the browser instead.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { launch } from './support/browser.mjs';
import { contexts, makeKey, openInboxWithToken, PASSPHRASE } from './support/inbound.mjs';
import { KluisServer, sha256, testBytes } from './support/kluis.mjs';

const ALICE = 'alice@example.org';
const BOB = 'bob@outside.example';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** Alice's key (made on /inbox) and an upload from Bob through her request, without a code. */
async function uploadCameIn(server, open, file) {
  await server.addUser(ALICE);
  const inbox = await open();
  await openInboxWithToken(inbox, server, ALICE);
  await makeKey(inbox);
  const token = await server.token(ALICE);
  const made = await fetch(`${server.url}/api/v1/requests`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ emails: [], expires_in_days: 7, max_uploads: 1, verify: 'none' }),
  });
  assert.equal(made.status, 201, await made.clone().text());
  const request = await made.json();
  const bob = await open();
  await bob.goto(`${request.url}#${request.recipient}`);
  await bob.locator('#step-email').waitFor({ state: 'visible' });
  await bob.fill('#email', BOB);
  await bob.click('#email-submit');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  await bob.setInputFiles('#files', [file]);
  await bob.fill('#message', 'De scan.');
  await bob.click('#upload-button');
  await bob.locator('#step-done').waitFor({ state: 'visible', timeout: 60_000 });
}

const FIXTURE = { user: { email: ALICE, name: 'Alice Jansen' }, to: [BOB], subject: 'Scan', bodyType: 'html', body: '<p>Hallo</p>' };

test('the task pane lists an upload that came in, unlocks with the passphrase and saves its file with identical bytes', { timeout: 240_000 }, async (t) => {
  const server = await KluisServer.start();
  const { open, pane } = contexts(t, browser, server);
  const data = testBytes(1_500_000, 41);
  await uploadCameIn(server, open, { name: 'scan.pdf', mimeType: 'application/pdf', buffer: data });

  const page = await pane({ ...FIXTURE, platform: 'PC' }, '/addin/taskpane.html', { picker: 'none' });
  await page.locator('#step-signin').waitFor({ state: 'visible' });
  await page.click('#signin-email-form button[type=submit]');
  await page.fill('#signin-code', await server.code(ALICE));
  await page.click('#signin-code-form button[type=submit]');
  await page.locator('#step-compose').waitFor({ state: 'visible' });

  await page.getByRole('button', { name: 'Inbox', exact: true }).click();
  await page.locator('#step-inbox').waitFor({ state: 'visible' });
  const item = page.locator('#inbox-list > li').first();
  await item.waitFor();
  assert.match(await item.innerText(), new RegExp(`From ${BOB.replace(/\./g, '\\.')}`));
  assert.match(await item.innerText(), /Address not confirmed/);
  await page.locator('#key-locked').waitFor({ state: 'visible' });

  // Locked: unlock first; a wrong passphrase is refused; the right one unlocks.
  const open1 = item.getByRole('button', { name: /^Open what/ });
  await open1.click();
  await page.locator('#notice[role=alert]').getByText('Unlock your key first').waitFor();
  await page.fill('#unlock-passphrase', `${PASSPHRASE}!`);
  await page.click('#unlock-submit');
  await page.locator('#unlock-passphrase-error').getByText('That passphrase does not unlock your key.', { exact: false }).waitFor({ timeout: 60_000 });
  await page.fill('#unlock-passphrase', PASSPHRASE);
  await page.click('#unlock-submit');
  await page.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });

  await open1.click();
  await item.locator('.inbox-body .message').waitFor();
  assert.equal(await item.locator('.inbox-body .message').innerText(), 'De scan.');
  const row = item.locator('.download', { has: page.locator('.file-name', { hasText: 'scan.pdf' }) });
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 60_000 }),
    row.getByRole('button', { name: 'Download scan.pdf' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'scan.pdf');
  assert.equal(sha256(readFileSync(await download.path())), sha256(data), 'the saved file is identical');
  await row.getByText('Saved in your downloads, and checked').waitFor();

  // The pane is 320 px wide: nothing in the inbox is wider.
  await page.setViewportSize({ width: 320, height: 700 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(overflow <= 320, `the pane scrolls sideways (${overflow} px)`);

  // Back to the mail: the send form, as it was.
  await page.click('#inbox-back');
  await page.locator('#step-compose').waitFor({ state: 'visible' });
});

test('in Outlook for Mac the pane offers the web inbox in the browser for saving', { timeout: 240_000 }, async (t) => {
  const server = await KluisServer.start();
  const { open, pane } = contexts(t, browser, server);
  await uploadCameIn(server, open, { name: 'foto.jpg', mimeType: 'image/jpeg', buffer: testBytes(20_000, 42) });
  const token = await server.token(ALICE);
  const page = await pane({ ...FIXTURE, platform: 'Mac' }, '/addin/taskpane.html', { picker: 'none' });
  // Signed in already on this device (the pane keeps its token in localStorage).
  await page.evaluate(({ token, email }) => localStorage.setItem('kluis.addin.token', JSON.stringify({ token, email })), { token, email: ALICE });
  await page.reload();
  await page.locator('#step-compose').waitFor({ state: 'visible' });
  await page.click('#inbox-open');
  await page.fill('#unlock-passphrase', PASSPHRASE);
  await page.click('#unlock-submit');
  await page.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
  const item = page.locator('#inbox-list > li').first();
  await item.getByRole('button', { name: /^Open what/ }).click();
  await item.locator('.inbox-body').getByText('Outlook cannot save files from this pane here').waitFor();
  await item.getByRole('button', { name: 'Open your inbox in the browser to save foto.jpg' }).click();
  const calls = await page.evaluate(() => window.__officeCalls);
  assert.ok(calls.includes(`openBrowserWindow ${server.url}/inbox`), `the web inbox opened in the browser: ${calls.join(', ')}`);
});

// Signing in on the send page against a real kluis-server: the sign-in
// lasts on the device (other tabs, a restart of the browser's page), the
// Devices list shows and ends sign-ins, and while the server refuses (a new
// code asked for too soon, too many wrong codes) the page is in one state:
// the refused buttons disabled, a countdown to when they work again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { launch } from './support/browser.mjs';
import { KluisServer } from './support/kluis.mjs';
import { newPage, signIn } from './support/pages.mjs';

const ALICE = 'alice@example.org';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function setup(t) {
  const server = await KluisServer.start();
  await server.addUser(ALICE);
  const { context, page } = await newPage(browser);
  t.after(async () => {
    await context.close().catch(() => {});
    await server.close();
  });
  return { server, context, page };
}

async function me(server, token) {
  const res = await fetch(`${server.url}/api/v1/me`, { headers: { Authorization: `Bearer ${token}` } });
  return res.status;
}

test('a sign-in lasts on the device: a second tab and a reload need no code; signing out in one tab signs out the other', { timeout: 60_000 }, async (t) => {
  const { server, context, page } = await setup(t);
  await signIn(page, server, ALICE);
  const token = JSON.parse(await page.evaluate(() => localStorage.getItem('kluis.token'))).token;
  assert.equal(await me(server, token), 200);

  const second = await context.newPage();
  await second.goto(`${server.url}/`);
  await second.locator('#step-compose').waitFor({ state: 'visible' });
  assert.equal(await second.textContent('#account-email'), ALICE);
  await page.reload();
  await page.locator('#step-compose').waitFor({ state: 'visible' });
  assert.equal(server.mailCount(ALICE), 1, 'only the first sign-in mailed a code');

  await second.click('#sign-out');
  await page.locator('#step-signin').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#notice'), /signed out/);
  assert.equal(await me(server, token), 401, 'signing out ends the sign-in on the server too');
});

test('the Devices list names this browser, and signing out another device there ends that sign-in', { timeout: 60_000 }, async (t) => {
  const { server, page } = await setup(t);
  const other = await server.token(ALICE); // e.g. the command line on a laptop
  await signIn(page, server, ALICE);

  await page.click('#devices-open');
  const items = page.locator('#devices-list li');
  await items.nth(1).waitFor();
  assert.equal(await items.count(), 2);
  const mine = items.filter({ hasText: 'This device' });
  assert.match(await mine.locator('.device-name').textContent(), /^Chrome on Linux/);
  assert.match(await mine.locator('.device-facts').textContent(), /ends/);

  await items.filter({ hasNotText: 'This device' }).getByRole('button', { name: /Sign out/ }).click();
  await page.waitForFunction(() => document.querySelectorAll('#devices-list li').length === 1);
  assert.equal(await me(server, other), 401, 'the device signed out in the list still works');

  await mine.getByRole('button', { name: /Sign out/ }).click();
  await page.locator('#step-signin').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => localStorage.getItem('kluis.token')), null);
});

test('a new code cannot be asked for within the minute: the button waits with a countdown instead of a contradicting message', { timeout: 60_000 }, async (t) => {
  const { server, page } = await setup(t);
  await page.goto(`${server.url}/`);
  await page.fill('#signin-email', ALICE);
  await page.click('#signin-email-form button[type=submit]');
  await page.locator('#signin-code-form').waitFor({ state: 'visible' });
  assert.ok(await page.isDisabled('#signin-resend'), 'a new code can be asked for at once');
  const first = await page.textContent('#signin-wait');
  assert.match(first, /You can ask for a new code in (1:00|0:[0-5]\d)\./);
  await page.waitForFunction((before) => document.querySelector('#signin-wait').textContent !== before, first, { timeout: 3000 });

  // Back to the address and asking again: the server refuses; the page says the code sent is the one to use.
  await page.click('#signin-other');
  await page.fill('#signin-email', ALICE);
  await page.click('#signin-email-form button[type=submit]');
  await page.locator('#signin-code-form').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#signin-code-sent'), /a moment ago/);
  assert.ok(await page.isDisabled('#signin-resend'));
  assert.match(await page.textContent('#signin-wait'), /You can ask for a new code in (1:00|0:[0-5]\d)\./);
  assert.equal(await page.isVisible('#notice'), false, 'a second message besides the countdown');
  await page.fill('#signin-code', await server.code(ALICE));
  await page.click('#signin-code-form button[type=submit]');
  await page.locator('#step-compose').waitFor({ state: 'visible' });
});

test('too many wrong codes: sign-in is paused with a countdown, every button that would be refused disabled', { timeout: 90_000 }, async (t) => {
  const { server, page } = await setup(t);
  await page.goto(`${server.url}/`);
  await page.fill('#signin-email', ALICE);
  await page.click('#signin-email-form button[type=submit]');
  const code = await server.code(ALICE);
  const wrong = code === '000000' ? '111111' : '000000';
  for (let left = 9; left >= 1; left--) {
    await page.fill('#signin-code', wrong);
    await page.click('#signin-code-form button[type=submit]');
    const expected = left === 1 ? 'You can try once more.' : `You can try ${left} more times.`;
    await page.waitForFunction((text) => document.querySelector('#signin-code-error')?.textContent.endsWith(text), expected);
  }
  await page.fill('#signin-code', wrong);
  await page.click('#signin-code-form button[type=submit]');
  await page.waitForFunction(() => /paused/.test(document.querySelector('#notice').textContent));
  // The pause ends with the hour window the server counts in: under an hour left shows m:ss.
  assert.match(await page.textContent('#signin-wait'), /You can sign in again in (\d+:)?\d{1,2}:\d\d\./);
  assert.ok(await page.isDisabled('#signin-code-form button[type=submit]'), 'Sign in still offered');
  assert.ok(await page.isDisabled('#signin-resend'), 'a new code still offered');
  assert.equal(await page.isVisible('#signin-code-error'), false, 'the wrong-code message stayed beside the lock');

  // The right code is refused too, so the page does not offer it; nor a new code from the address form.
  await page.click('#signin-other');
  await page.fill('#signin-email', ALICE);
  await page.click('#signin-email-form button[type=submit]');
  await page.waitForFunction(() => /paused/.test(document.querySelector('#notice').textContent));
  assert.ok(await page.isDisabled('#signin-email-form button[type=submit]'));
  assert.match(await page.textContent('#signin-wait'), /You can sign in again in/);
  // Another address is not this address's lock.
  await page.fill('#signin-email', 'carol@example.org');
  assert.ok(!(await page.isDisabled('#signin-email-form button[type=submit]')));
  assert.equal(await page.isVisible('#signin-wait'), false);
});

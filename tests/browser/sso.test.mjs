// Single sign-on on the send page against a real OpenID provider
// (`oidc-provider` from npm, tests/support/oidc-provider.mjs) and a real
// kluis-server: an address of an organisation with single sign-on goes to
// the provider and comes back signed in (no code mailed, no token in the
// address bar); an organisation without it still gets the mailed code; a
// refusal ends on the page with a message and "send me a code instead".
// The Outlook task pane (with the Office.js stand-in) signs in the same way
// through an Office dialog, a popup window of its own.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { startProvider } from '../support/oidc-provider.mjs';
import { launch } from './support/browser.mjs';
import { KluisServer, ROOT } from './support/kluis.mjs';
import { newPage, signIn } from './support/pages.mjs';

const ALICE = 'alice@corp.example';
const BOB = 'bob@example.org';
const STAND_IN = readFileSync(join(ROOT, 'tests/browser/support/office-stand-in.js'), 'utf8');
/** An API token, wherever it would show. */
const TOKEN = /kluis_[A-Za-z0-9_-]{43}/;

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** A server with organisation Corp (corp.example, single sign-on at a fresh provider) and user alice. */
async function setup(t) {
  const server = await KluisServer.start();
  const provider = await startProvider({
    clientId: 'kluis-browser-test',
    clientSecret: 'browser-test-secret',
    redirectUris: [`${server.url}/auth/sso/callback`],
  });
  await server.admin('org', 'create', 'Corp', '--domain', 'corp.example');
  await server.addUser(ALICE);
  const secretFile = join(server.data, 'client-secret');
  writeFileSync(secretFile, 'browser-test-secret\n');
  const shown = await server.admin('org', 'sso', 'Corp', '--issuer', provider.issuer, '--client-id', 'kluis-browser-test', '--client-secret-file', secretFile);
  assert.match(shown, /client secret: set/);
  assert.doesNotMatch(shown, /browser-test-secret/, 'the secret is never shown');
  const { context, page } = await newPage(browser);
  const visited = [];
  page.on('request', (request) => visited.push(request.url()));
  t.after(async () => {
    await context.close().catch(() => {});
    await provider.close();
    await server.close();
  });
  return { server, provider, page, visited };
}

test('the send page signs in through the organisation\'s OpenID provider', { timeout: 60_000 }, async (t) => {
  const { server, provider, page, visited } = await setup(t);
  await page.goto(`${server.url}/`);
  await page.fill('#signin-email', ALICE);
  await page.click('#signin-email-form button[type=submit]');
  await page.locator('#step-compose').waitFor({ state: 'visible' });
  assert.equal(await page.textContent('#account-email'), ALICE);
  assert.ok(visited.some((u) => u.startsWith(`${provider.issuer}/auth?`)), 'the browser went to the provider');
  assert.equal(new URL(page.url()).hash, '', 'the handoff is gone from the address bar');
  assert.ok(!visited.some((u) => TOKEN.test(u)), 'no token in any URL');
  assert.equal(server.mailCount(ALICE), 0, 'no code mailed');

  const token = JSON.parse(await page.evaluate(() => localStorage.getItem('kluis.token'))).token;
  const tokens = await (await fetch(`${server.url}/api/v1/tokens`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.match(JSON.stringify(tokens), /\(single sign-on\)/);

  // A reload keeps the sign-in; going back to the handoff does not sign in again.
  await page.reload();
  await page.locator('#step-compose').waitFor({ state: 'visible' });
});

test('an organisation without single sign-on still gets the mailed code', { timeout: 60_000 }, async (t) => {
  const { server, provider, page, visited } = await setup(t);
  await server.admin('user', 'add', BOB, '--org', 'Kluis');
  await signIn(page, server, BOB);
  assert.equal(await page.textContent('#account-email'), BOB);
  assert.ok(!visited.some((u) => u.startsWith(provider.issuer)), 'the provider was not asked');
  assert.ok(await page.locator('#signin-code-instead').isHidden());
});

test('a refusal ends on the send page with a message, and the code instead works', { timeout: 60_000 }, async (t) => {
  const { server, page } = await setup(t);
  const stranger = 'newbie@corp.example';
  await page.goto(`${server.url}/`);
  await page.fill('#signin-email', stranger);
  await page.click('#signin-email-form button[type=submit]');
  await page.locator('#signin-code-instead').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#notice'), /may not send files with Kluis yet/);
  assert.equal(await page.inputValue('#signin-email'), stranger, 'the address is filled in again');
  assert.equal(new URL(page.url()).hash, '');

  // The mailed code instead: for a user of Corp it signs in as before.
  await server.addUser(stranger);
  await page.click('#signin-code-instead');
  const code = await server.code(stranger);
  await page.fill('#signin-code', code);
  await page.click('#signin-code-form button[type=submit]');
  await page.locator('#step-compose').waitFor({ state: 'visible' });
  assert.equal(await page.textContent('#account-email'), stranger);
});

test('Dutch: the refusal is in Dutch', { timeout: 60_000 }, async (t) => {
  const { server } = await setup(t);
  const { context, page } = await newPage(browser, { locale: 'nl-NL' });
  t.after(() => context.close().catch(() => {}));
  await page.goto(`${server.url}/#sso_error=outside_domains`);
  await page.locator('#signin-code-instead').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#notice'), /buiten de maildomeinen/);
});

/**
 * The compose task pane in Outlook (the Office.js stand-in) for `user`, in a
 * context of its own; `visited`: every URL its pages (the dialog too) asked for.
 */
async function taskPane(t, server, user, language = 'en-US') {
  const { context, page } = await newPage(browser);
  t.after(() => context.close().catch(() => {}));
  await context.route('https://appsforoffice.microsoft.com/**', (route) =>
    route.fulfill({ status: 200, contentType: 'text/javascript', body: STAND_IN }),
  );
  await context.addInitScript((f) => {
    globalThis.__officeFixture = f;
  }, { mode: 'compose', language, user: { email: user, name: user.split('@')[0] }, to: [BOB], subject: 'Dossier' });
  const visited = [];
  context.on('request', (request) => visited.push(request.url()));
  await page.goto(`${server.url}/addin/taskpane.html`);
  await page.locator('#step-signin').waitFor({ state: 'visible' });
  assert.equal(await page.inputValue('#signin-email'), user, 'the address comes from the mailbox');
  return { context, page, visited };
}

/** Clicks sign-in in the pane; resolves with the Office dialog's window. */
async function openDialog(page) {
  const [dialog] = await Promise.all([page.waitForEvent('popup'), page.click('#signin-email-form button[type=submit]')]);
  return dialog;
}

/** Resolves once the dialog's window is closed (it fails the test after 5 s). */
async function closed(dialog) {
  if (!dialog.isClosed()) await dialog.waitForEvent('close', { timeout: 5000 });
}

test('the Outlook task pane signs in at the provider in an Office dialog', { timeout: 60_000 }, async (t) => {
  const { server, provider } = await setup(t);
  const { page, visited } = await taskPane(t, server, ALICE);
  const dialog = await openDialog(page);
  assert.equal(new URL(dialog.url()).pathname, '/addin/sso.html');
  // The provider's non-interactive login ends at once; the pane closes the dialog once it has the handoff.
  await page.waitForSelector('#step-compose:not([hidden]), #signin-code-instead:not([hidden])');
  assert.ok(await page.locator('#step-compose').isVisible(), `signed in, not: ${await page.textContent('#notice')}`);
  assert.equal(await page.textContent('#account-email'), ALICE);
  await closed(dialog);

  const calls = await page.evaluate(() => globalThis.__officeCalls);
  assert.ok(calls.includes(`displayDialogAsync ${server.url}/addin/sso.html?email=alice%40corp.example`), calls.join('\n'));
  assert.ok(calls.includes('dialog.close'), 'the pane closed the dialog');
  // The dialog started the sign-in in its own browser (the cookie is set there) and went to the provider.
  assert.ok(visited.some((u) => u === `${server.url}/api/v1/auth/sso?email=alice%40corp.example&to=addin`));
  assert.ok(visited.some((u) => u.startsWith(`${provider.issuer}/auth?`)), 'the dialog went to the provider');
  assert.ok(visited.some((u) => u.startsWith(`${server.url}/auth/sso/callback?`)), 'and came back through the callback');
  assert.ok(!visited.some((u) => TOKEN.test(u)), 'no token in any URL');
  assert.equal(server.mailCount(ALICE), 0, 'no code mailed');

  const saved = JSON.parse(await page.evaluate(() => localStorage.getItem('kluis.addin.token')));
  assert.equal(saved.email, ALICE);
  const tokens = await (await fetch(`${server.url}/api/v1/tokens`, { headers: { Authorization: `Bearer ${saved.token}` } })).json();
  // Named like a code sign-in in the pane (the stand-in names no platform, so "Outlook").
  assert.match(JSON.stringify(tokens), /"label":"Outlook \([^)]*\) \(single sign-on\)"/);

  // Opened again, the pane is still signed in.
  await page.reload();
  await page.locator('#step-compose').waitFor({ state: 'visible' });
});

test('the task pane: a dialog the user closes says so, and the code instead works', { timeout: 60_000 }, async (t) => {
  const { server, provider } = await setup(t);
  const { context, page } = await taskPane(t, server, ALICE);
  // The provider's login page "takes a while", so the user can close the window on it.
  await context.route(`${provider.issuer}/auth**`, () => {});
  const dialog = await openDialog(page);
  await dialog.waitForRequest((r) => r.url().startsWith(`${provider.issuer}/auth?`));
  await dialog.close();

  await page.locator('#signin-code-instead').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#notice'), /cancelled/);
  assert.ok(!(await page.evaluate(() => globalThis.__officeCalls)).includes('dialog.close'), 'closed by the user, not the pane');
  assert.equal(await page.inputValue('#signin-email'), ALICE, 'the address is filled in again');

  await page.click('#signin-code-instead');
  await page.fill('#signin-code', await server.code(ALICE));
  await page.click('#signin-code-form button[type=submit]');
  await page.locator('#step-compose').waitFor({ state: 'visible' });
  assert.equal(await page.textContent('#account-email'), ALICE);
});

test('the task pane: a refusal at the provider comes back from the dialog, in Outlook\'s language', { timeout: 60_000 }, async (t) => {
  const { server } = await setup(t);
  const stranger = 'newbie@corp.example';
  const { page } = await taskPane(t, server, stranger, 'nl-NL');
  const dialog = await openDialog(page);
  await page.locator('#signin-code-instead').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#notice'), /mag nog geen bestanden versturen/);
  await closed(dialog);
  assert.equal(await page.textContent('#signin-code-instead'), 'Stuur me liever een code');
  assert.equal(server.mailCount(stranger), 0);
});

// Single sign-on on the send page against a real OpenID provider
// (`oidc-provider` from npm, tests/support/oidc-provider.mjs) and a real
// kluis-server: an address of an organisation with single sign-on goes to
// the provider and comes back signed in (no code mailed, no token in the
// address bar); an organisation without it still gets the mailed code; a
// refusal ends on the page with a message and "send me a code instead".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { startProvider } from '../support/oidc-provider.mjs';
import { launch } from './support/browser.mjs';
import { KluisServer } from './support/kluis.mjs';
import { newPage, signIn } from './support/pages.mjs';

const ALICE = 'alice@corp.example';
const BOB = 'bob@example.org';

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
  assert.ok(!visited.some((u) => /kluis_[A-Za-z0-9_-]{43}/.test(u)), 'no token in any URL');
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

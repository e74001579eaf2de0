// The admin console (/admin/) against a real kluis-server: an admin signs
// in, adds a user, imports a CSV file with a bad line and reads the report,
// disables a user (whose token the API then refuses), filters the audit log
// and exports it as CSV, revokes a package (the recipient link then says
// so), edits the organisation and its settings, turns single sign-on on
// against a real OpenID provider and signs in through it; a user who is not
// an admin is told the console needs one; the console is never framed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startProvider } from '../support/oidc-provider.mjs';
import { launch } from './support/browser.mjs';
import { KluisServer, LICENCE_BIN, ROOT, run } from './support/kluis.mjs';
import { newPage, signIn } from './support/pages.mjs';

const ANN = 'ann@example.org'; // the admin
const BOB = 'bob@example.org';
const CAROL = 'carol@example.org';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function setup(t, { locale } = {}) {
  const server = await KluisServer.start();
  await server.admin('user', 'add', ANN, '--admin', '--name', 'Ann Admin');
  await server.addUser(BOB);
  await server.addUser(CAROL);
  const dir = mkdtempSync(join(tmpdir(), 'kluis-admin-'));
  const { context, page } = await newPage(browser, { locale });
  t.after(async () => {
    await context.close().catch(() => {});
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, context, page, dir };
}

/** Signs in on /admin/ with a mailed code. */
async function signInAdmin(page, server, email) {
  await page.goto(`${server.url}/admin/`);
  await page.fill('#signin-email', email);
  await page.click('#signin-email-form button[type=submit]');
  await page.fill('#signin-code', await server.code(email));
  await page.click('#signin-code-form button[type=submit]');
}

async function me(server, token) {
  const res = await fetch(`${server.url}/api/v1/me`, { headers: { Authorization: `Bearer ${token}` } });
  return res.status;
}

/** The table row of the users list that holds `email`. */
const userRow = (page, email) => page.locator(`#users-table tbody tr[data-email="${email}"]`);

test('an admin runs users: adds one, imports a CSV with a bad line, disables one (their token is refused at once)', { timeout: 90_000 }, async (t) => {
  const { server, page } = await setup(t);
  const bobToken = await server.token(BOB);
  assert.equal(await me(server, bobToken), 200);

  await signInAdmin(page, server, ANN);
  await page.locator('#step-console').waitFor({ state: 'visible' });
  assert.equal(await page.getAttribute('#tab-overview', 'aria-selected'), 'true');
  await page.locator('#overview-chain', { hasText: /Audit log intact \(\d+ rows\)/ }).waitFor();
  assert.match(await page.textContent('#overview-figures'), /Active users\s*3/);

  // Keyboard: arrows move between the sections.
  await page.focus('#tab-overview');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.getAttribute('#tab-users', 'aria-selected'), 'true');
  await userRow(page, BOB).waitFor();
  assert.equal(await userRow(page, ANN).locator('td').nth(1).textContent(), 'Admin');
  assert.match(await userRow(page, ANN).textContent(), /You/, 'no actions on oneself');

  // Add a user.
  await page.fill('#user-add-email', 'dave@example.org');
  await page.fill('#user-add-name', 'Dave');
  await page.click('#user-add button[type=submit]');
  await page.locator('#notice', { hasText: 'dave@example.org was added.' }).waitFor();
  await userRow(page, 'dave@example.org').waitFor();
  assert.match(await userRow(page, 'dave@example.org').textContent(), /Dave.*User.*Active.*Never/);
  // Remove him again, after a confirm (Cancel first: nothing happens).
  await userRow(page, 'dave@example.org').getByRole('button', { name: 'Remove: dave@example.org' }).click();
  await page.click('#confirm-no');
  assert.equal(await page.locator('#confirm').isVisible(), false);
  assert.equal(await userRow(page, 'dave@example.org').count(), 1);
  await userRow(page, 'dave@example.org').getByRole('button', { name: 'Remove: dave@example.org' }).click();
  assert.equal(await page.textContent('#confirm-title'), 'Remove dave@example.org?');
  await page.click('#confirm-yes');
  await page.locator('#notice', { hasText: 'dave@example.org was removed.' }).waitFor();
  assert.equal(await userRow(page, 'dave@example.org').count(), 0);

  // Import a CSV file with one bad line.
  const csv = 'email,name,role\neve@example.org,Eve,user\nnot-an-address,X,user\nfrank@example.org,Frank,admin\n';
  await page.setInputFiles('#import-file', { name: 'users.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.click('#user-import button[type=submit]');
  const report = page.locator('#import-report');
  await report.locator('.import-summary').waitFor();
  assert.equal(await report.locator('.import-summary').textContent(), '2 users added · 0 updated · 1 line not taken');
  assert.equal(await report.locator('li').count(), 1);
  assert.equal(await report.locator('li').textContent(), 'Line 3 (not-an-address): this is not an e-mail address.');
  await userRow(page, 'frank@example.org').waitFor();
  assert.match(await userRow(page, 'frank@example.org').textContent(), /Frank.*Admin/);

  // Disable Bob, after a confirm: his token stops working at once.
  await userRow(page, BOB).getByRole('button', { name: `Disable: ${BOB}` }).click();
  const dialog = page.locator('#confirm');
  await dialog.waitFor({ state: 'visible' });
  assert.equal(await page.textContent('#confirm-title'), `Disable ${BOB}?`);
  await page.click('#confirm-yes');
  await page.locator('#notice', { hasText: `${BOB} is disabled` }).waitFor();
  assert.match(await userRow(page, BOB).textContent(), /Disabled/);
  assert.equal(await me(server, bobToken), 401, 'a disabled user\'s token is refused');

  // The state filter: only the disabled one.
  await page.selectOption('#users-state', 'disabled');
  await page.waitForFunction(() => document.querySelectorAll('#users-table tbody tr').length === 1);
  await userRow(page, BOB).waitFor();
  // ... and enabled again.
  await userRow(page, BOB).getByRole('button', { name: `Enable: ${BOB}` }).click();
  await page.locator('#notice', { hasText: `${BOB} can sign in again.` }).waitFor();

  // Frank back to a user.
  await page.selectOption('#users-state', 'all');
  await userRow(page, 'frank@example.org').getByRole('button', { name: 'Make user: frank@example.org' }).click();
  await page.locator('#notice', { hasText: 'frank@example.org is now a user' }).waitFor();

  // The audit log has the admin's own events.
  await page.click('#tab-audit');
  await page.selectOption('#audit-event-kind', { label: 'User added' });
  await page.click('#audit-filter button[type=submit]');
  await page.locator('#audit-status', { hasText: /rows? shown/ }).waitFor();
  const events = await page.locator('#audit-table tbody td[data-event]').evaluateAll((cells) => cells.map((c) => c.dataset.event));
  assert.ok(events.length >= 3, `user_added rows: ${events}`);
  assert.ok(events.every((e) => e === 'user_added'), `only user_added rows: ${events}`);
});

test('an admin revokes a package (the link then says so), filters the audit log and exports it as CSV; edits the organisation', { timeout: 90_000 }, async (t) => {
  const { server, context, page, dir } = await setup(t);
  const carolToken = await server.token(CAROL);
  writeFileSync(join(dir, 'report.pdf'), 'x'.repeat(12_345));
  const sent = await server.kluis(['send', join(dir, 'report.pdf'), '--server', server.url, '--token', carolToken, '--to', BOB, '--verify', 'none']);
  assert.equal(sent.code, 0, sent.stderr);
  const link = sent.stdout.trim();

  await signInAdmin(page, server, ANN);
  await page.locator('#step-console').waitFor({ state: 'visible' });
  await page.click('#tab-packages');
  const row = page.locator('#packages-table tbody tr', { hasText: CAROL });
  await row.waitFor();
  assert.match(await row.textContent(), new RegExp(`${BOB}.*Available.*0.*1.*kB`));
  await row.getByRole('button', { name: /^Revoke: package from carol@example\.org/ }).click();
  await page.click('#confirm-yes');
  await page.locator('#notice', { hasText: `The package from ${CAROL} was revoked.` }).waitFor();
  assert.match(await row.textContent(), /Revoked/);
  assert.equal(await row.getByRole('button', { name: /^Revoke/ }).count(), 0, 'nothing more to revoke');

  const recipient = await context.newPage();
  await recipient.goto(link);
  await recipient.locator('#unavailable-title').getByText('The sender withdrew these files').waitFor();
  await recipient.close();

  // The audit log, filtered by an event typed by its name.
  await page.click('#tab-audit');
  await page.selectOption('#audit-event-kind', 'other');
  await page.fill('#audit-event', 'revoked');
  await page.click('#audit-filter button[type=submit]');
  await page.locator('#audit-status', { hasText: '1 row shown.' }).waitFor();
  assert.equal(await page.locator('#audit-table tbody td[data-event]').getAttribute('data-event'), 'revoked');
  assert.match(await page.locator('#audit-table tbody tr').textContent(), new RegExp(`Package revoked.*user:${ANN}`));

  // Export as CSV (fetched with the token, saved as a download): the filter applies.
  for (const [button, header, separator] of [['#audit-export-en', 'Time (UTC),Event,Who,Package,Detail,Row', ','], ['#audit-export-nl', 'Tijd (UTC);Gebeurtenis;Wie;Pakket;Details;Regel', ';']]) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
    const bytes = readFileSync(await download.path());
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 BOM');
    const lines = bytes.subarray(3).toString('utf8').split('\r\n').filter(Boolean);
    assert.equal(lines[0], header);
    assert.equal(lines.length, 2, `one revoked row: ${lines}`);
    assert.ok(lines[1].split(separator)[1] === 'revoked', lines[1]);
    assert.match(download.suggestedFilename(), /\.csv$/);
  }

  // A decision of the SMTP relay (as kluis-relay records it) says plainly that the relay read the message.
  const verdict = { source: 'relay', action: 'block', outcome: 'secured', findings: [{ kind: 'iban', confidence: 'high', count: 1 }], triggers: ['subject_keyword'], sender: CAROL, reference: '019ac4e2f3a1b7c9' };
  const recorded = await fetch(`${server.url}/api/v1/policy/verdicts`, { method: 'POST', headers: { Authorization: `Bearer ${carolToken}`, 'Content-Type': 'application/json' }, body: JSON.stringify(verdict) });
  assert.equal(recorded.status, 204, await recorded.text());
  await page.selectOption('#audit-event-kind', 'send_checked');
  await page.click('#audit-filter button[type=submit]');
  await page.locator('#audit-status', { hasText: '1 row shown.' }).waitFor();
  const said = page.locator('#audit-table tbody td.admin-detail strong');
  assert.equal(await said.textContent(), 'Secured by the SMTP relay: the relay saw the plaintext.');
  const detail = await page.locator('#audit-table tbody td.admin-detail').textContent();
  for (const part of ['iban:high×1', '"triggers":["subject_keyword"]', '"sender":"carol@example.org"', '"reference":"019ac4e2f3a1b7c9"']) assert.ok(detail.includes(part), detail);


  // A row changed by hand (the triggers dropped first, as whoever holds the file could): the overview says where.
  const tampered = await run('sqlite3', [join(server.data, 'kluis.db'), "DROP TRIGGER audit_append_only_update; UPDATE audit SET detail = 'nothing to see' WHERE event = 'created';"]);
  assert.equal(tampered.code, 0, tampered.stderr);
  await page.click('#tab-overview');
  await page.locator('#overview-chain.chain-broken', { hasText: /^The audit log is broken at row \d+ \(.*, created\): its contents do not match its hash\. Ask/ }).waitFor();

  // The organisation: a domain another organisation has is refused next to the field.
  await server.admin('org', 'create', 'Elders', '--domain', 'elders.example');
  await page.click('#tab-organisation');
  await page.locator('#org-name').waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.querySelector('#org-name').value !== '');
  await page.fill('#org-name', 'Example Zorg');
  await page.fill('#org-domains', 'example.org\nelders.example');
  await page.click('#org-form button[type=submit]');
  await page.locator('#org-domains-error', { hasText: 'elders.example is already a domain of Elders' }).waitFor();
  assert.equal(await page.getAttribute('#org-domains', 'aria-invalid'), 'true');
  await page.fill('#org-domains', 'example.org\nexample.net');
  await page.click('#org-form button[type=submit]');
  await page.locator('#notice', { hasText: 'The organisation was saved.' }).waitFor();
  assert.equal(await page.textContent('#admin-nav-title'), 'Example Zorg');
  assert.equal(await page.locator('#org-domains-error').isVisible(), false);
});

/** The regular files of a tar archive: name → bytes. */
function untar(bytes) {
  const files = new Map();
  for (let at = 0; at + 512 <= bytes.length;) {
    const header = bytes.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 135).toString('ascii'), 8);
    files.set(name, bytes.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

test('an admin deletes a package and restores it from the deleted ones, and downloads everything as an export', { timeout: 90_000 }, async (t) => {
  const { server, page, dir } = await setup(t);
  // No file picker in a test (it needs a person): the console saves the archive as a download.
  await page.addInitScript(() => Object.defineProperty(globalThis, 'showSaveFilePicker', { value: undefined }));
  const carolToken = await server.token(CAROL);
  writeFileSync(join(dir, 'plan.pdf'), 'y'.repeat(5_000));
  const sent = await server.kluis(['send', join(dir, 'plan.pdf'), '--server', server.url, '--token', carolToken, '--to', BOB, '--verify', 'none']);
  assert.equal(sent.code, 0, sent.stderr);
  const id = new URL(sent.stdout.trim()).pathname.split('/').pop();
  const status = async () => (await fetch(`${server.url}/api/v1/p/${id}`)).status;
  assert.equal(await status(), 200);

  await signInAdmin(page, server, ANN);
  await page.locator('#step-console').waitFor({ state: 'visible' });
  await page.click('#tab-packages');
  const row = page.locator('#packages-table tbody tr', { hasText: CAROL });
  await row.waitFor();
  assert.ok(await page.locator('#deleted-empty').isVisible(), 'nothing deleted yet');
  await row.getByRole('button', { name: /^Delete: package from carol@example\.org/ }).click();
  await page.click('#confirm-yes');
  await page.locator('#notice', { hasText: `The package from ${CAROL} was deleted` }).waitFor();
  assert.equal(await status(), 404, 'a deleted package cannot be opened');
  const deleted = page.locator('#deleted-table tbody tr', { hasText: CAROL });
  await deleted.waitFor();
  assert.match(await deleted.textContent(), new RegExp(`by ${ANN.replace('.', '\\.')}`));
  await deleted.getByRole('button', { name: /^Restore: package from carol@example\.org/ }).click();
  await page.locator('#notice', { hasText: `The package from ${CAROL} was restored` }).waitFor();
  await row.waitFor();
  await page.locator('#deleted-empty').waitFor({ state: 'visible' });
  assert.equal(await status(), 200, 'restored, it opens again');

  // Everything, as one tar archive saved as a download.
  await page.click('#tab-organisation');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-button')]);
  assert.match(download.suggestedFilename(), /^kluis-export-\d+-\d{4}-\d{2}-\d{2}\.tar$/);
  const files = untar(readFileSync(await download.path()));
  const names = [...files.keys()].map((n) => n.slice(n.indexOf('/') + 1));
  for (const name of ['README.txt', 'users.jsonl', 'users.csv', 'packages.jsonl', 'audit.jsonl', 'audit.csv', 'organisation.json', 'MANIFEST.sha256', `blobs/${id}/0.age`]) {
    assert.ok(names.includes(name), `${name} in ${names}`);
  }
  await page.locator('#notice', { hasText: /^Saved kluis-export-.*\.tar/ }).waitFor();
});

test('an admin sets the organisation\'s expiry and retention, turns single sign-on on against a real provider, signs in through it, and turns it off', { timeout: 90_000 }, async (t) => {
  const { server, page } = await setup(t);
  const provider = await startProvider({
    clientId: 'kluis-console',
    clientSecret: 'console-secret',
    redirectUris: [`${server.url}/auth/sso/callback`],
  });
  t.after(() => provider.close());
  await signInAdmin(page, server, ANN);
  await page.locator('#step-console').waitFor({ state: 'visible' });
  await page.click('#tab-organisation');
  await page.waitForFunction(() => document.querySelector('#org-name').value !== '');

  // Settings: checked on the page against the server's limits (test server: 30 days longest), then saved.
  assert.match(await page.textContent('#org-max-expiry-hint'), /the server's, 30 days/);
  await page.fill('#org-domains', 'example.org');
  await page.fill('#org-max-expiry', '10');
  await page.fill('#org-default-expiry', '14');
  await page.click('#org-form button[type=submit]');
  await page.locator('#org-default-expiry-error', { hasText: 'from 1 to 10' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'org-default-expiry');
  await page.fill('#org-default-expiry', '5');
  await page.fill('#org-retention', '400');
  await page.click('#org-form button[type=submit]');
  await page.locator('#notice', { hasText: 'The organisation was saved.' }).waitFor();
  const token = JSON.parse(await page.evaluate(() => localStorage.getItem('kluis.token'))).token;
  const org = await (await fetch(`${server.url}/api/v1/admin/organisation`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.deepEqual(org.settings, { default_expiry_days: 5, max_expiry_days: 10, audit_retention_days: 400 });
  assert.deepEqual(org.domains, ['example.org']);

  // Single sign-on: off, with the redirect URI to register.
  assert.equal(await page.textContent('#sso-state'), 'Off: users sign in with a code by e-mail.');
  assert.equal(await page.inputValue('#sso-redirect'), `${server.url}/auth/sso/callback`);
  assert.ok(await page.locator('#sso-off').isHidden());
  // An issuer where no provider answers is refused next to the field; the secret is needed the first time.
  await page.fill('#sso-issuer', `http://127.0.0.1:9`);
  await page.fill('#sso-client-id', 'kluis-console');
  await page.click('#sso-save');
  await page.locator('#sso-secret-error', { hasText: 'Fill in the client secret' }).waitFor();
  await page.fill('#sso-secret', 'console-secret');
  await page.click('#sso-save');
  await page.locator('#sso-issuer-error', { hasText: 'No OpenID provider answers at this issuer URL' }).waitFor();
  await page.fill('#sso-issuer', provider.issuer);
  await page.click('#sso-save');
  await page.locator('#notice', { hasText: 'Single sign-on is on.' }).waitFor();
  assert.equal(await page.textContent('#sso-state'), `On: users of your mail domains sign in at ${provider.issuer}.`);
  assert.equal(await page.inputValue('#sso-secret'), '', 'the secret is not shown again');
  assert.match(await page.textContent('#sso-secret-hint'), /A secret is kept/);
  assert.equal(await page.textContent('#sso-save'), 'Save changes');

  // Signed out, the console signs in at the provider and comes back to itself, signed in.
  await page.click('#sign-out');
  await page.locator('#step-signin').waitFor({ state: 'visible' });
  const visited = [];
  page.on('request', (request) => visited.push(request.url()));
  await page.fill('#signin-email', ANN);
  await page.click('#signin-email-form button[type=submit]');
  await page.locator('#step-console').waitFor({ state: 'visible' });
  assert.ok(visited.some((u) => u.startsWith(`${provider.issuer}/auth?`)), 'the browser went to the provider');
  assert.equal(new URL(page.url()).pathname, '/admin/');
  assert.ok(!new URL(page.url()).hash.includes('sso'), 'the handoff is gone from the address bar');
  assert.equal(server.mailCount(ANN), 1, 'only the first sign-in mailed a code');

  // Off again, after a confirm: the code as before.
  await page.click('#tab-organisation');
  await page.locator('#sso-off').waitFor({ state: 'visible' });
  await page.click('#sso-off');
  await page.click('#confirm-yes');
  await page.locator('#notice', { hasText: 'Single sign-on is off.' }).waitFor();
  assert.equal(await page.textContent('#sso-state'), 'Off: users sign in with a code by e-mail.');
});

test('an admin installs the licence the vendor sent, sees its seats, and gives and takes seats', { timeout: 90_000 }, async (t) => {
  const { server, page, dir } = await setup(t);
  // Signed with the test vendor key, which this test server trusts (test-licence-key).
  const licence = join(dir, 'example.licence');
  const signed = await run(LICENCE_BIN, [
    'sign', '--key', join(ROOT, 'licence/testdata/test-vendor.key'), '--licensee', 'Example Zorg', '--domain', 'example.org',
    '--seats', '2', '--feature', 'single-sign-on', '--from', '2000-01-01', '--until', '2999-12-31', '--id', 'L-browser', '--out', licence,
  ]);
  assert.equal(signed.code, 0, signed.stderr);
  await signInAdmin(page, server, ANN);
  await page.locator('#step-console').waitFor({ state: 'visible' });
  // The licence is for the organisation with example.org among its mail domains.
  const token = JSON.parse(await page.evaluate(() => localStorage.getItem('kluis.token'))).token;
  const put = await fetch(`${server.url}/api/v1/admin/organisation`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'Example Zorg', domains: ['example.org'] }),
  });
  assert.equal(put.status, 200);
  await page.click('#tab-licence');
  await page.locator('#licence-state', { hasText: 'Evaluation: no licence is installed yet.' }).waitFor();
  // Over every section: the evaluation banner (the name is the one before this change: read at sign-in).
  await page.locator('#licence-banner', { hasText: 'Kluis runs in evaluation for' }).waitFor();
  assert.match(await page.textContent('#licence-banner'), /up to 5 people can send/);

  // Something that is not a licence is refused next to the field; the licence, pasted from a reply, is installed.
  await page.fill('#licence-text', 'hello');
  await page.click('#licence-form button[type=submit]');
  await page.locator('#licence-text-error', { hasText: 'Paste the whole licence' }).waitFor();
  const quoted = readFileSync(licence, 'utf8').split('\n').map((l) => `> ${l}`).join('\n');
  await page.fill('#licence-text', `Dear Ann,\n\n${quoted}\n\nKind regards`);
  await page.click('#licence-form button[type=submit]');
  await page.locator('#notice', { hasText: 'The licence is installed.' }).waitFor();
  assert.equal(await page.textContent('#licence-state'), 'Licensed until 2999-12-31.');
  assert.equal(await page.locator('#licence-banner').isVisible(), false, 'licensed for long: no banner');
  const facts = await page.textContent('#licence-facts');
  for (const part of ['Example Zorg (example.org)', '0 of 2 taken', 'single sign-on', 'L-browser', 'by ann@example.org']) assert.ok(facts.includes(part), `${part} in ${facts}`);

  // Seats: Ann gives Bob and herself one; a third is refused with the reason.
  await page.click('#tab-users');
  const seatButton = (email) => userRow(page, email).locator('button', { hasText: /seat/ });
  await seatButton(BOB).click();
  await page.locator('#notice', { hasText: `${BOB} has a seat and can send.` }).waitFor();
  assert.equal(await userRow(page, BOB).locator('td.seat-yes').count(), 1);
  await seatButton(ANN).click();
  await page.locator('#notice', { hasText: `${ANN} has a seat and can send.` }).waitFor();
  await seatButton(CAROL).click();
  await page.locator('#notice', { hasText: 'All 2 seats are taken' }).waitFor();
  await seatButton(BOB).click();
  await page.locator('#notice', { hasText: `${BOB}'s seat is free again.` }).waitFor();
  await page.click('#tab-licence');
  await page.locator('#licence-facts', { hasText: '1 of 2 taken' }).waitFor();

  // Carol takes the last seat; Bob, without one, is told on the send page before anything is encrypted.
  await page.click('#tab-users');
  await seatButton(CAROL).click();
  await page.locator('#notice', { hasText: `${CAROL} has a seat and can send.` }).waitFor();
  const bob = await newPage(browser);
  t.after(() => bob.context.close().catch(() => {}));
  await signIn(bob.page, server, BOB);
  const told = 'You cannot send yet: all 2 Kluis seats of your organisation are taken. Ask ann@example.org to give you one.';
  await bob.page.locator('#licence-banner', { hasText: told }).waitFor();
  await bob.page.setInputFiles('#files', [{ name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') }]);
  await bob.page.fill('#recipients', 'someone@example.net');
  const created = [];
  bob.page.on('request', (r) => r.method() === 'POST' && r.url().endsWith('/api/v1/packages') && created.push(r.url()));
  await bob.page.click('#send-form button[type=submit]');
  await bob.page.locator('#notice', { hasText: told }).waitFor();
  assert.deepEqual(created, [], 'nothing was made');

  // Ann takes Carol's seat back: Bob's next try takes the free one, without reloading.
  await seatButton(CAROL).click();
  await page.locator('#notice', { hasText: `${CAROL}'s seat is free again.` }).waitFor();
  await bob.page.click('#send-form button[type=submit]');
  await bob.page.locator('#step-done').waitFor({ state: 'visible', timeout: 30_000 });
  assert.equal(await bob.page.locator('#licence-banner').isVisible(), false);
});

test('an admin saves the policy as a version that lists what changed; the send page then refuses what breaks it before encrypting', { timeout: 90_000 }, async (t) => {
  const { server, page } = await setup(t);
  await signInAdmin(page, server, ANN);
  await page.locator('#step-console').waitFor({ state: 'visible' });
  await page.click('#tab-policy');
  await page.locator('#policy-version', { hasText: "No policy saved yet: the server's default applies." }).waitFor();
  assert.equal(await page.locator('#policy-versions-empty').isVisible(), true);
  assert.equal(await page.isChecked('#policy-verification-never'), true);

  await page.fill('#policy-blocked', 'gmail.com\nhotmail.com');
  await page.fill('#policy-file-types', 'exe, bat');
  await page.fill('#policy-max-downloads', '0');
  await page.click('#policy-form button[type=submit]');
  await page.locator('#policy-max-downloads-error', { hasText: 'From 1 to 10000' }).waitFor();
  await page.fill('#policy-max-downloads', '');
  await page.click('#policy-form button[type=submit]');
  await page.locator('#notice', { hasText: 'Saved as version 1 (2 changes).' }).waitFor();
  await page.locator('#policy-version', { hasText: 'Version 1, saved' }).waitFor();
  const change = page.locator('#policy-versions .policy-change', { hasText: 'Never to these domains' });
  assert.equal(await change.locator('del').textContent(), '[]');
  assert.equal(await change.locator('ins').textContent(), '["gmail.com","hotmail.com"]');
  // Saving again without a change makes no version.
  await page.click('#policy-form button[type=submit]');
  await page.locator('#notice', { hasText: 'Nothing changed' }).waitFor();
  assert.equal(await page.locator('#policy-versions > li').count(), 1);

  // Bob sends a program named like a document to a blocked domain: refused before anything is made.
  const bob = await newPage(browser);
  t.after(() => bob.context.close().catch(() => {}));
  await signIn(bob.page, server, BOB);
  const program = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(2000, 7)]);
  await bob.page.setInputFiles('#files', [{ name: 'offerte.pdf', mimeType: 'application/pdf', buffer: program }]);
  await bob.page.fill('#recipients', 'jan@gmail.com');
  const created = [];
  bob.page.on('request', (r) => r.method() === 'POST' && r.url().endsWith('/api/v1/packages') && created.push(r.url()));
  await bob.page.click('#send-form button[type=submit]');
  await bob.page.locator('#notice', { hasText: 'Your organisation does not allow sending to gmail.com.' }).waitFor();
  assert.match(await bob.page.textContent('#notice'), /does not allow sending files of type exe/);
  assert.deepEqual(created, [], 'nothing was made');
  assert.equal(await bob.page.locator('#step-compose').isVisible(), true, 'the form keeps what was filled in');
  assert.equal(await bob.page.inputValue('#recipients'), 'jan@gmail.com');
});

test('the users list loads a page at a time ("Show more" goes on where the reader is) and searches by name or address', { timeout: 60_000 }, async (t) => {
  const { server, page } = await setup(t);
  const token = await server.token(ANN);
  const lines = Array.from({ length: 60 }, (_, i) => `user${String(i + 1).padStart(2, '0')}@example.org;Gebruiker ${i + 1};gebruiker`);
  const res = await fetch(`${server.url}/api/v1/admin/users.csv`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'text/csv' },
    body: `e-mailadres;naam;rol\n${lines.join('\n')}\n`,
  });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).added, 60);

  await signInAdmin(page, server, ANN);
  await page.locator('#step-console').waitFor({ state: 'visible' });
  await page.click('#tab-users');
  await page.locator('#users-status', { hasText: '50 users shown; there are more.' }).waitFor();
  assert.equal(await page.locator('#users-table tbody tr').count(), 50);
  await page.click('#users-more');
  await page.locator('#users-status', { hasText: '63 users shown.' }).waitFor();
  assert.equal(await page.locator('#users-table tbody tr').count(), 63);
  assert.equal(await page.locator('#users-more').isVisible(), false);
  assert.equal(await page.evaluate(() => document.activeElement.closest('tr')?.rowIndex), 51, 'focus on the first new row');

  await page.fill('#users-q', 'Gebruiker 7');
  await page.press('#users-q', 'Enter');
  await page.locator('#users-status', { hasText: '1 user shown.' }).waitFor();
  await userRow(page, 'user07@example.org').waitFor();
});

test('a user who is not an admin is told the console needs one, with a way back to sending; the send page\'s sign-in is reused', { timeout: 60_000 }, async (t) => {
  const { server, page } = await setup(t);
  await signInAdmin(page, server, BOB);
  await page.locator('#step-denied').waitFor({ state: 'visible' });
  assert.equal(await page.textContent('#denied-title'), 'This needs an admin of your organisation');
  assert.match(await page.textContent('#denied-text'), /bob@example\.org, who is not an admin/);
  assert.equal(await page.getAttribute('#step-denied a.button', 'href'), '/');
  assert.equal(await page.locator('#step-console').isVisible(), false);

  // The sign-in is the send page's: that page needs no code now.
  await page.click('#step-denied a.button');
  await page.locator('#step-compose').waitFor({ state: 'visible' });
  assert.equal(server.mailCount(BOB), 1);

  // Signing out on the send page while the console in another tab is still
  // asking the server about the saved sign-in: the console follows the
  // sign-out, whichever answers first (CI once caught it showing "needs an admin").
  const admin = await page.context().newPage();
  let release, fetched;
  const held = new Promise((resolve) => (release = resolve));
  const before = new Promise((resolve) => (fetched = resolve));
  await admin.route('**/api/v1/me', async (route) => {
    const answer = await route.fetch(); // the server's answer from before the sign-out, delivered late
    fetched();
    await held;
    await route.fulfill({ response: answer });
  });
  const asked = [];
  admin.on('request', (request) => asked.push(new URL(request.url()).pathname));
  await admin.goto(`${server.url}/admin/`);
  await before;
  await page.click('#sign-out');
  await admin.locator('#step-signin').waitFor({ state: 'visible' });
  const answered = admin.waitForResponse('**/api/v1/me');
  release();
  await answered;
  await admin.waitForLoadState('networkidle');
  assert.equal(await admin.locator('#step-signin').isVisible(), true, 'the late answer does not undo the sign-out');
  assert.deepEqual(asked.filter((path) => path.startsWith('/api/v1/admin/')), []);
  await admin.unroute('**/api/v1/me');

  // Signing in on the send page in another tab (single sign-on returns there) signs this tab in too.
  await page.fill('#signin-email', ANN);
  await page.click('#signin-email-form button[type=submit]');
  await page.fill('#signin-code', await server.code(ANN));
  await page.click('#signin-code-form button[type=submit]');
  await admin.locator('#step-console').waitFor({ state: 'visible' });
});

test('in Dutch, and never framed: /admin/ forbids every frame', { timeout: 60_000 }, async (t) => {
  const { server, page } = await setup(t, { locale: 'nl-NL' });
  const res = await server.get('/admin/');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-security-policy'], /frame-ancestors 'none'/);
  assert.match(res.headers['content-security-policy'], /script-src 'self';/);
  assert.equal(res.headers['x-frame-options'], 'DENY');
  const redirect = await server.get('/admin');
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.location, '/admin/');

  await signInAdmin(page, server, ANN);
  await page.locator('#step-console').waitFor({ state: 'visible' });
  assert.equal(await page.textContent('#tab-users'), 'Gebruikers');
  await page.locator('#overview-chain', { hasText: /Auditlog intact/ }).waitFor();
  await page.click('#tab-users');
  await userRow(page, BOB).waitFor();
  assert.equal(await userRow(page, BOB).locator('td').nth(1).textContent(), 'Gebruiker');
  assert.equal(await page.title(), 'Beheer · Kluis');
});

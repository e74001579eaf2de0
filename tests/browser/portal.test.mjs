// Receiving files through Outlook and the admin console (docs/inbound.md)
// against a real kluis-server: "Request files" in the add-in (the Office
// stand-in) puts an upload link into the draft, an outsider fulfils it with
// a mailed code, and the requester saves identical bytes from /inbox; an
// admin publishes an upload portal in the console, whose page refuses a
// blocked file type before anything is uploaded and delivers to both
// receivers; an admin turns key recovery on (the identity saved as a file,
// never sent) and hands a user their own key back under a temporary
// passphrase. Nothing secret leaves the browsers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launch } from './support/browser.mjs';
import {
  assertNotSent,
  contexts,
  makeKey,
  openAsUploader,
  openInboxWithToken,
  PASSPHRASE,
  saveFromInbox,
  signInAdmin,
  signInInbox,
  unlockInbox,
  uploadCalls,
} from './support/inbound.mjs';
import { KluisServer, sha256, testBytes } from './support/kluis.mjs';

const ANN = 'ann@example.org'; // the admin
const ALICE = 'alice@example.org';
const CAROL = 'carol@example.org';
const BOB = 'bob@outside.example';
const ORGANISATION = '[organisation]\nname = "Example Org"\n';
const REQUEST_LINK = /https?:\/\/127\.0\.0\.1:\d+\/r\/[A-Za-z0-9_-]{22}#age1[0-9a-z]{58}/;
const SECRET_PREFIXES = { identity: Buffer.from('AGE-SECRET-KEY-1'), 'identity (lower case)': Buffer.from('age-secret-key-1') };

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

test('a request made in the add-in stand-in, fulfilled by an outsider in a fresh context with e-mail verification, opened in the inbox with the passphrase, bytes identical', { timeout: 240_000 }, async (t) => {
  const server = await KluisServer.start({ config: ORGANISATION });
  const { open, pane } = contexts(t, browser, server);
  await server.addUser(ALICE);
  // The user makes the key on /inbox first (signed in already: the pane asks for the code).
  const inbox = await open({ picker: 'stub' });
  await openInboxWithToken(inbox, server, ALICE);
  await makeKey(inbox);

  // "Request files" in Outlook: the pane signs in as "Send securely" does, then asks.
  const page = await pane(
    { user: { email: ALICE, name: 'Alice Jansen' }, to: [BOB], subject: 'Jaarstukken', bodyType: 'html', body: '<p>Beste Bob, stuur je de stukken?</p>' },
    '/addin/taskpane.html?mode=request',
  );
  await page.locator('#step-signin').waitFor({ state: 'visible' });
  assert.equal(await page.inputValue('#signin-email'), ALICE);
  await page.click('#signin-email-form button[type=submit]');
  await page.fill('#signin-code', await server.code(ALICE));
  await page.click('#signin-code-form button[type=submit]');
  await page.locator('#step-request').waitFor({ state: 'visible' });
  assert.equal(await page.inputValue('#request-emails'), BOB, 'the draft\'s To');
  await page.fill('#request-note', 'De jaarstukken graag.');
  await page.click('#request-submit');
  await page.locator('#step-request-done').waitFor({ state: 'visible' });
  const draft = await page.evaluate(() => window.__officeDraft());
  assert.match(draft.body, /Upload your files securely:/);
  assert.match(draft.body, /Upload uw bestanden beveiligd:/);
  assert.match(draft.body, /Beste Bob, stuur je de stukken\?/, 'the text stays');
  const link = draft.body.match(REQUEST_LINK)?.[0];
  assert.ok(link, `a request link in the body: ${draft.body}`);
  const key = (await (await fetch(`${server.url}/api/v1/key`, { headers: { Authorization: `Bearer ${await server.token(ALICE)}` } })).json()).key;
  assert.equal(link.split('#')[1], key.recipient, 'the link names the user\'s own key');

  // The outsider, in a fresh context: the address, the mailed code, the files.
  const bob = await open();
  const code = await openAsUploader(bob, server, link, BOB);
  assert.equal(await bob.locator('#request-note').innerText(), 'De jaarstukken graag.');
  await bob.fill('#code', code);
  await bob.click('#code-submit');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  const data = testBytes((3 << 20) + 777, 61);
  await bob.setInputFiles('#files', [{ name: 'jaarstukken.pdf', mimeType: 'application/pdf', buffer: data }]);
  await bob.click('#upload-button');
  await bob.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });

  // The user unlocks the inbox and saves it: identical.
  await unlockInbox(inbox);
  const item = inbox.locator('#inbox-list > li').first();
  await item.waitFor();
  assert.match(await item.innerText(), /Address confirmed/);
  assert.equal(sha256(await saveFromInbox(inbox, 'jaarstukken.pdf')), sha256(data));

  assertNotSent([inbox, page, bob], {
    passphrase: Buffer.from(PASSPHRASE),
    ...SECRET_PREFIXES,
    plaintext: data.subarray(1 << 20, (1 << 20) + 64),
  });
});

test('the console publishes a portal; its page refuses a blocked file type before anything uploads, and an allowed file reaches both receivers', { timeout: 240_000 }, async (t) => {
  const server = await KluisServer.start({ config: ORGANISATION });
  const { open } = contexts(t, browser, server);
  await server.admin('user', 'add', ANN, '--admin');
  await server.addUser(ALICE);
  await server.addUser(CAROL);
  await server.addUser('dave@example.org');
  const receivers = {};
  for (const email of [ALICE, CAROL]) {
    const page = await open({ picker: 'stub' });
    await signInInbox(page, server, email);
    await makeKey(page);
    receivers[email] = page;
  }
  const ann = await server.token(ANN);
  const saved = await fetch(`${server.url}/api/v1/admin/policy`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${ann}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ version: 0, policy: { send: { blocked_file_types: ['exe'] } } }),
  });
  assert.equal(saved.status, 200);

  const admin = await open();
  await signInAdmin(admin, server, ANN);
  await admin.click('#tab-portals');
  await admin.locator('#panel-portals').waitFor({ state: 'visible' });
  await admin.locator('#portals-empty').waitFor({ state: 'visible' });
  // A bad name is said next to the field; a receiver without a key is refused next to the receivers.
  await admin.fill('#portal-name', '-Intake!');
  await admin.fill('#portal-receivers', `${ALICE}\n${CAROL}`);
  await admin.click('#portal-form button[type=submit]');
  await admin.locator('#portal-name-error').getByText(/2 to 40 of a-z/).waitFor();
  await admin.fill('#portal-name', 'intake');
  await admin.fill('#portal-receivers', `${ALICE}\ndave@example.org`);
  await admin.click('#portal-form button[type=submit]');
  await admin.locator('#portal-receivers-error').getByText(/dave@example\.org has no key yet/).waitFor();
  await admin.fill('#portal-receivers', `${ALICE}\n${CAROL}`);
  await admin.fill('#portal-message', 'Stukken voor de afdeling.');
  await admin.uncheck('#portal-verify');
  await admin.click('#portal-form button[type=submit]');
  const card = admin.locator('#portal-list > li[data-name=intake]');
  await card.waitFor();
  const url = await card.locator('input').inputValue();
  assert.equal(url, `${server.url}/upload/intake`);
  assert.match(await card.innerText(), /Open/);
  assert.match(await card.innerText(), new RegExp(CAROL.replace('.', '\\.')));
  // The same name again: said next to the name.
  await admin.fill('#portal-name', 'intake');
  await admin.fill('#portal-receivers', ALICE);
  await admin.click('#portal-form button[type=submit]');
  await admin.locator('#portal-name-error').getByText('There is a portal with this name already.', { exact: false }).waitFor();

  // The outsider: a blocked type is refused on the page, nothing declared or uploaded.
  const bob = await open();
  await bob.goto(url);
  await bob.locator('#step-email').waitFor({ state: 'visible' });
  await bob.fill('#email', BOB);
  await bob.click('#email-submit');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  const data = testBytes(250_000, 71);
  await bob.setInputFiles('#files', [
    { name: 'aanvraag.pdf', mimeType: 'application/pdf', buffer: data },
    { name: 'setup.exe', mimeType: 'application/octet-stream', buffer: testBytes(5000, 7) },
  ]);
  await bob.click('#upload-button');
  await bob.locator('#notice[role=alert]').getByText('setup.exe cannot be sent: files of type exe are not accepted.').waitFor();
  assert.deepEqual(uploadCalls(bob), [], 'nothing declared or uploaded');
  await bob.locator('#file-list li', { hasText: 'setup.exe' }).getByRole('button').click();
  await bob.click('#upload-button');
  await bob.locator('#step-done').waitFor({ state: 'visible', timeout: 60_000 });

  for (const [email, page] of Object.entries(receivers)) {
    await unlockInbox(page);
    assert.equal(sha256(await saveFromInbox(page, 'aanvraag.pdf')), sha256(data), `${email} opens it with their own key`);
  }

  // The list counts the upload; Close asks first, then the page takes nothing more.
  await admin.click('#tab-users');
  await admin.click('#tab-portals');
  // The tab shows the list it had at once and loads it again: wait for the new one.
  await card.locator('.portal-facts > div', { has: admin.locator('dt', { hasText: /^Uploads$/ }) }).locator('dd', { hasText: /^1$/ }).waitFor();
  await card.getByRole('button', { name: 'Close: intake' }).click();
  await admin.locator('#confirm').waitFor({ state: 'visible' });
  await admin.click('#confirm-yes');
  await card.locator('.badge', { hasText: 'Closed' }).waitFor();
  await bob.goto(url);
  await bob.locator('#unavailable-title').waitFor({ state: 'visible' });
});

test('key recovery through the console: the identity is saved as a file and never sent; a user\'s key is handed back under a temporary passphrase, and they choose their own', { timeout: 240_000 }, async (t) => {
  const server = await KluisServer.start({ config: ORGANISATION });
  const { open } = contexts(t, browser, server);
  const dir = mkdtempSync(join(tmpdir(), 'kluis-recovery-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await server.admin('user', 'add', ANN, '--admin');
  await server.addUser(ALICE);
  await server.addUser(CAROL);
  const TEMPORARY = 'door de beheerder gekozen';

  const admin = await open();
  await signInAdmin(admin, server, ANN);
  await admin.click('#tab-organisation');
  await admin.locator('#recovery-state').getByText('Recovery is off', { exact: false }).waitFor();
  // Secure replies: on unless turned off; saved with the organisation.
  assert.equal(await admin.isChecked('#org-replies'), true);
  await admin.uncheck('#org-replies');
  await admin.click('#org-form button[type=submit]');
  await admin.locator('#notice').getByText('The organisation was saved.').waitFor();
  const org = await (await fetch(`${server.url}/api/v1/admin/organisation`, { headers: { Authorization: `Bearer ${await server.token(ANN)}` } })).json();
  assert.equal(org.settings.replies, false);
  await admin.check('#org-replies');
  await admin.click('#org-form button[type=submit]');
  await admin.locator('#notice').getByText('The organisation was saved.').waitFor();

  // Turning recovery on: the identity is made here and saved; the admin confirms it is stored.
  await admin.click('#recovery-on');
  await admin.locator('#recovery-setup').waitFor({ state: 'visible' });
  assert.equal(await admin.isDisabled('#recovery-confirm'), true, 'not before the file is saved and stored');
  const [download] = await Promise.all([admin.waitForEvent('download'), admin.click('#recovery-save')]);
  assert.equal(download.suggestedFilename(), 'kluis-recovery-example-org.txt');
  const file = join(dir, download.suggestedFilename());
  await download.saveAs(file);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^# Kluis recovery identity of Example Org\n/);
  const identity = text.match(/^AGE-SECRET-KEY-1[0-9A-Z]+$/m)?.[0];
  const recipient = text.match(/^# public key: (age1[0-9a-z]+)$/m)?.[1];
  assert.ok(identity && recipient, text);
  await admin.check('#recovery-stored');
  await admin.click('#recovery-confirm');
  await admin.locator('#recovery-state').getByText(`Recovery is on. Keys are also encrypted to ${recipient}.`).waitFor();
  const settings = await (await fetch(`${server.url}/api/v1/admin/recovery`, { headers: { Authorization: `Bearer ${await server.token(ANN)}` } })).json();
  assert.equal(settings.recipient, recipient);

  // The user makes a key (with a recovery copy), then forgets the passphrase.
  const alice = await open({ picker: 'stub' });
  await signInInbox(alice, server, ALICE);
  await makeKey(alice);

  // The admin: a user without a key cannot be recovered; a wrong identity file is said so.
  await admin.click('#tab-users');
  const recover = async (email) => {
    const row = admin.locator(`#users-table tbody tr[data-email="${email}"]`);
    await row.getByRole('button', { name: `Recover key: ${email}` }).click();
    await admin.locator('#recover-dialog').waitFor({ state: 'visible' });
  };
  const fill = async (path) => {
    await admin.setInputFiles('#recover-file', path);
    await admin.fill('#recover-passphrase', TEMPORARY);
    await admin.fill('#recover-again', TEMPORARY);
    await admin.click('#recover-submit');
  };
  await recover(CAROL);
  await fill(file);
  await admin.locator('#recover-file-error').getByText(`${CAROL} has no key yet`, { exact: false }).waitFor();
  await admin.click('#recover-cancel');
  await recover(ALICE);
  // (Made on /inbox: the console's own scripts may not compile WebAssembly; its workers do.)
  const other = await alice.evaluate(async () => {
    const { loadWasm } = await import('/js/shared/wasm.js');
    return (await loadWasm()).generateIdentity();
  });
  const wrongFile = join(dir, 'other.txt');
  writeFileSync(wrongFile, `# another identity\n${other}\n`);
  await fill(wrongFile);
  await admin.locator('#recover-file-error').getByText('This recovery identity does not open', { exact: false }).waitFor({ timeout: 60_000 });
  // Passphrases that differ are said next to the field.
  await admin.setInputFiles('#recover-file', file);
  await admin.fill('#recover-passphrase', TEMPORARY);
  await admin.fill('#recover-again', `${TEMPORARY}!`);
  await admin.click('#recover-submit');
  await admin.locator('#recover-again-error').getByText('The two passphrases are not the same.').waitFor();
  await fill(file);
  await admin.locator('#notice').getByText(`The key of ${ALICE} is recovered.`, { exact: false }).waitFor({ timeout: 60_000 });
  assert.equal(await admin.locator('#recover-dialog').isVisible(), false);

  // The user unlocks with the temporary passphrase and is asked to choose their own.
  await alice.reload();
  await alice.fill('#unlock-passphrase', TEMPORARY);
  await alice.click('#unlock-submit');
  await alice.locator('#change-form').waitFor({ state: 'visible', timeout: 60_000 });
  assert.match(await alice.locator('#change-intro').innerText(), /recovered with a passphrase your administrator chose/);
  await alice.fill('#change-passphrase', 'mijn eigen nieuwe zin');
  await alice.fill('#change-passphrase-again', 'mijn eigen nieuwe zin');
  await alice.click('#change-form button[type=submit]');
  await alice.locator('#notice').getByText('Your passphrase is changed.').waitFor({ timeout: 60_000 });
  const key = (await (await fetch(`${server.url}/api/v1/key`, { headers: { Authorization: `Bearer ${await server.token(ALICE)}` } })).json()).key;
  assert.equal(key.must_change_passphrase, false);
  assert.equal(key.recoverable, true);

  // Turning it off asks first.
  await admin.click('#tab-organisation');
  await admin.click('#recovery-off');
  await admin.click('#confirm-yes');
  await admin.locator('#recovery-state').getByText('Recovery is off', { exact: false }).waitFor();

  // Leak scan: the recovery identity, the temporary passphrase and the user's identity never left the browsers.
  assertNotSent([admin, alice], {
    'recovery identity': Buffer.from(identity),
    'recovery identity (file)': Buffer.from(identity.slice(16, 60)),
    'temporary passphrase': Buffer.from(TEMPORARY),
    passphrase: Buffer.from(PASSPHRASE),
    'new passphrase': Buffer.from('mijn eigen nieuwe zin'),
    ...SECRET_PREFIXES,
  });
  const written = [...server.files(), Buffer.from(server.log.join(''))];
  for (const needle of [identity, TEMPORARY, 'AGE-SECRET-KEY-1']) {
    assert.ok(!written.some((bytes) => bytes.includes(needle)), `the server wrote ${needle.slice(0, 20)}…`);
  }
});

// Receiving files (docs/inbound.md) against a real kluis-server: a user
// makes their key and an upload request on /inbox; an outsider, in a
// browser of their own, opens the link, confirms their address with a
// mailed code and uploads two files; the user unlocks the inbox with the
// passphrase and saves them, byte for byte. A link whose fragment was
// changed is refused before anything is sent, a blocked file type is
// refused on the page, a wrong passphrase does not unlock, and nothing the
// browsers sent (nor anything the server wrote) holds the passphrase, the
// identity or the plaintext.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launch } from './support/browser.mjs';
import { KluisServer, sha256, testBytes } from './support/kluis.mjs';
import { newPage, stubbedFile } from './support/pages.mjs';

const ALICE = 'alice@example.org';
const BOB = 'bob@outside.example';
const CAROL = 'carol@elsewhere.example';
const ORGANISATION = '[organisation]\nname = "Example Org"\n';
const PASSPHRASE = 'paard batterij nietje correct';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** A server and browser contexts that are all closed after the test. */
async function setup(t, options = { config: ORGANISATION }) {
  const server = await KluisServer.start(options);
  const contexts = [];
  t.after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await server.close();
  });
  /** A page in a fresh context; every request it sends is recorded in `page.sent` ({method, url, body}). */
  const open = async (options) => {
    const { context, page } = await newPage(browser, options);
    contexts.push(context);
    page.sent = [];
    page.on('request', (r) => page.sent.push({ method: r.method(), url: r.url(), body: r.postDataBuffer() ?? Buffer.alloc(0) }));
    return page;
  };
  return { server, open };
}

/** Signs in on /inbox with a code from the outbox. */
async function signInInbox(page, server, email) {
  await page.goto(`${server.url}/inbox`);
  await page.fill('#signin-email', email);
  await page.click('#signin-email-form button[type=submit]');
  await page.fill('#signin-code', await server.code(email));
  await page.click('#signin-code-form button[type=submit]');
  await page.locator('#step-main').waitFor({ state: 'visible' });
}

/** Makes the key on /inbox (the page says what the passphrase protects first). */
async function makeKey(page, passphrase = PASSPHRASE) {
  await page.locator('#key-new').waitFor({ state: 'visible' });
  assert.match(await page.locator('#key-new-warning').innerText(), /files sent to you can (never|no longer) be opened/);
  // Too short, then two that differ: said next to the fields, nothing made.
  await page.fill('#new-passphrase', 'kort');
  await page.fill('#new-passphrase-again', 'kort');
  await page.click('#key-new-submit');
  await page.locator('#new-passphrase-error').getByText('Use at least 10 characters.').waitFor();
  await page.fill('#new-passphrase', passphrase);
  await page.fill('#new-passphrase-again', `${passphrase}!`);
  await page.click('#key-new-submit');
  await page.locator('#new-passphrase-again-error').getByText('The two passphrases are not the same.').waitFor();
  await page.fill('#new-passphrase-again', passphrase);
  await page.click('#key-new-submit');
  await page.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
}

/** Makes an upload request on /inbox with the form's defaults (a code, 7 days, one upload) and returns its link. */
async function makeRequest(page, { emails = '', note = '', uploads = 1 } = {}) {
  await page.fill('#request-emails', emails);
  await page.fill('#request-note', note);
  await page.fill('#request-uploads', String(uploads));
  await page.click('#request-submit');
  await page.locator('#request-done').waitFor({ state: 'visible' });
  return page.inputValue('#request-link');
}

/** The uploader's steps up to the form: the link, the address, the code. */
async function openAsUploader(page, server, link, email) {
  await page.goto(link);
  await page.locator('#step-email').waitFor({ state: 'visible' });
  await page.fill('#email', email);
  await page.click('#email-submit');
  await page.locator('#step-code').waitFor({ state: 'visible' });
  return server.code(email);
}

/** Paths of the requests `page` sent that would read, make or upload anything for the request. */
function uploadCalls(page) {
  return page.sent.map((r) => `${r.method} ${new URL(r.url).pathname}`).filter((s) => /\/deliveries|\/uploads|\/session$|\/code$/.test(s));
}

test('a key and a request on /inbox; an outsider verifies and uploads two files; the unlocked inbox saves them identical; nothing secret leaves the browsers', { timeout: 240_000 }, async (t) => {
  const { server, open } = await setup(t);
  await server.addUser(ALICE);
  const alice = await open({ picker: 'stub' });
  await signInInbox(alice, server, ALICE);
  assert.equal(await alice.locator('#account-email').innerText(), ALICE);
  await makeKey(alice);
  const link = await makeRequest(alice, { note: 'De jaarstukken graag.' });
  assert.match(link, new RegExp(`^${server.url}/r/[A-Za-z0-9_-]{22}#age1[0-9a-z]{58}$`));
  const mailto = new URL(await alice.getAttribute('#request-mail', 'href'));
  assert.equal(mailto.protocol, 'mailto:');
  assert.ok(mailto.searchParams.get('body').includes(link));
  // The request is listed, open, with its uploads.
  const listed = alice.locator('#request-list > li').first();
  await listed.waitFor();
  assert.match(await listed.innerText(), /Open/);
  assert.match(await listed.innerText(), /0 of 1 uploads/);

  // The outsider: who asks, then the address and the code (a wrong one first).
  const bob = await open();
  const code = await openAsUploader(bob, server, link, BOB);
  assert.match(await bob.locator('#request-who').innerText(), new RegExp(`${ALICE.replace('.', '\\.')} of Example Org asks you to send files`));
  assert.equal(await bob.locator('#request-note').innerText(), 'De jaarstukken graag.');
  await bob.fill('#code', code === '000000' ? '111111' : '000000');
  await bob.click('#code-submit');
  await bob.locator('#code-error').getByText(/That code is not right\. You can try \d+ more times\./).waitFor();
  await bob.fill('#code', code);
  await bob.click('#code-submit');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });

  const big = testBytes((6 << 20) + 4321, 81);
  const small = testBytes(70_000, 82);
  const message = 'Hierbij de jaarstukken van 2025.';
  await bob.setInputFiles('#files', [
    { name: 'jaarstukken 2025.pdf', mimeType: 'application/pdf', buffer: big },
    { name: 'toelichting.txt', mimeType: 'text/plain', buffer: small },
  ]);
  await bob.locator('#file-list li').nth(1).waitFor();
  await bob.fill('#message', message);
  await bob.click('#upload-button');
  await bob.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });
  assert.match(await bob.locator('#done-text').innerText(), /2 files/);

  // The inbox, reloaded, is locked: a wrong passphrase does not open it, the right one does.
  await alice.reload();
  await alice.locator('#key-locked').waitFor({ state: 'visible' });
  const item = alice.locator('#inbox-list > li').first();
  await item.waitFor();
  assert.match(await item.innerText(), new RegExp(`From ${BOB.replace(/\./g, '\\.')}`));
  assert.match(await item.innerText(), /Address confirmed/);
  // Opening while locked says to unlock first.
  await item.getByRole('button', { name: /^Open what/ }).click();
  await alice.locator('#notice[role=alert]').getByText('Unlock your key first').waitFor();
  await alice.fill('#unlock-passphrase', `${PASSPHRASE} x`);
  await alice.click('#unlock-submit');
  await alice.locator('#unlock-passphrase-error').getByText('That passphrase does not unlock your key.', { exact: false }).waitFor({ timeout: 60_000 });
  assert.ok(await alice.locator('#key-locked').isVisible(), 'still locked');
  await alice.fill('#unlock-passphrase', PASSPHRASE);
  await alice.click('#unlock-submit');
  await alice.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });

  await item.getByRole('button', { name: /^Open what/ }).click();
  await item.locator('.inbox-body .message').waitFor();
  assert.equal(await item.locator('.inbox-body .message').innerText(), message);
  for (const [name, data] of [['jaarstukken 2025.pdf', big], ['toelichting.txt', small]]) {
    const row = item.locator('.download', { has: alice.locator('.file-name', { hasText: name }) });
    await row.getByRole('button', { name: `Download ${name}` }).click();
    await row.getByText('Saved, and checked').waitFor({ timeout: 60_000 });
    const saved = await stubbedFile(alice, name);
    assert.equal(saved.closed, true);
    assert.equal(sha256(saved.bytes), sha256(data), `${name} is identical`);
  }

  // Locking hides what was opened.
  await alice.click('#lock');
  await alice.locator('#key-locked').waitFor({ state: 'visible' });
  assert.equal(await item.locator('.inbox-body').isHidden(), true);

  // Leak check: no URL or body either browser sent, and nothing the server wrote, holds
  // the passphrase, an identity, the file plaintext, the message or the file names.
  const secrets = {
    passphrase: Buffer.from(PASSPHRASE),
    identity: Buffer.from('AGE-SECRET-KEY-1'),
    'identity (lower case)': Buffer.from('age-secret-key-1'),
    'big file plaintext': big.subarray(3 << 20, (3 << 20) + 64),
    'small file plaintext': small.subarray(1000, 1064),
    message: Buffer.from(message),
    'file name': Buffer.from('jaarstukken 2025'),
  };
  const sent = [...alice.sent, ...bob.sent];
  assert.ok(sent.some((r) => r.method === 'PATCH'), 'the uploads were recorded');
  for (const [what, needle] of Object.entries(secrets)) {
    for (const r of sent) {
      assert.ok(!r.url.includes(needle.toString()) && !r.body.includes(needle), `${r.method} ${r.url} carried the ${what}`);
    }
  }
  const written = [...server.files(), Buffer.from(server.log.join(''))];
  for (const [what, needle] of Object.entries(secrets)) {
    assert.ok(!written.some((bytes) => bytes.includes(needle)), `the server wrote the ${what}`);
  }

  // Delete, after a confirmation (declined once).
  alice.once('dialog', (dialog) => dialog.dismiss());
  await item.getByRole('button', { name: /^Delete what/ }).click();
  assert.equal(await alice.locator('#inbox-list > li').count(), 1);
  alice.once('dialog', (dialog) => {
    assert.match(dialog.message(), /deleted from the server for good/);
    dialog.accept();
  });
  await item.getByRole('button', { name: /^Delete what/ }).click();
  await alice.locator('#inbox-empty').waitFor({ state: 'visible' });
  const token = await server.token(ALICE);
  const inbox = await (await fetch(`${server.url}/api/v1/inbox`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.deepEqual(inbox.items, []);
});

test('a link whose fragment was changed or cut is refused before anything is asked or uploaded', { timeout: 120_000 }, async (t) => {
  const { server, open } = await setup(t);
  await server.addUser(ALICE);
  const alice = await open();
  await signInInbox(alice, server, ALICE);
  await makeKey(alice);
  const link = await makeRequest(alice);
  const other = await alice.evaluate(async () => {
    const { loadWasm } = await import('/js/shared/wasm.js');
    const wasm = await loadWasm();
    return wasm.identityToRecipient(wasm.generateIdentity());
  });

  const changed = await open();
  await changed.goto(`${link.split('#')[0]}#${other}`);
  await changed.locator('#unavailable-title').getByText('This link was changed').waitFor();
  assert.ok(await changed.locator('#request-card').isHidden(), 'nothing is offered to the changed link');
  assert.deepEqual(uploadCalls(changed), [], 'no code, session, delivery or upload was asked for');

  const cut = await open({ locale: 'nl-NL' });
  await cut.goto(link.slice(0, -5));
  await cut.locator('#unavailable-title').getByText('Deze link is onvolledig').waitFor();
  assert.deepEqual(uploadCalls(cut), []);

  // The whole link works, until its owner closes it.
  const whole = await open();
  await whole.goto(link);
  await whole.locator('#step-email').waitFor({ state: 'visible' });
  const listed = alice.locator('#request-list > li').first();
  alice.once('dialog', (dialog) => dialog.accept());
  await listed.getByRole('button', { name: /^Close the link for anyone with the link$/ }).click();
  await alice.locator('#request-list > li .badge', { hasText: 'Closed' }).waitFor();
  await whole.reload();
  await whole.locator('#unavailable-title').getByText('This link does not take files').waitFor();
});

test('a file type the organisation blocks is refused on the upload page before anything is uploaded', { timeout: 120_000 }, async (t) => {
  const { server, open } = await setup(t);
  await server.admin('user', 'add', 'ann@example.org', '--admin');
  await server.addUser(ALICE);
  const ann = await server.token('ann@example.org');
  const saved = await fetch(`${server.url}/api/v1/admin/policy`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${ann}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ version: 0, policy: { send: { blocked_file_types: ['exe'] } } }),
  });
  assert.equal(saved.status, 200);
  const alice = await open();
  await signInInbox(alice, server, ALICE);
  await makeKey(alice);
  const link = await makeRequest(alice);

  const bob = await open();
  const code = await openAsUploader(bob, server, link, BOB);
  await bob.fill('#code', code);
  await bob.click('#code-submit');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  await bob.setInputFiles('#files', [
    { name: 'brief.txt', mimeType: 'text/plain', buffer: Buffer.from('hallo') },
    { name: 'setup.exe', mimeType: 'application/octet-stream', buffer: testBytes(5000, 7) },
  ]);
  await bob.click('#upload-button');
  await bob.locator('#notice[role=alert]').getByText('setup.exe cannot be sent: files of type exe are not accepted.').waitFor();
  assert.ok(await bob.locator('#step-compose').isVisible(), 'the form stays, to remove the file');
  assert.deepEqual(uploadCalls(bob).filter((s) => /deliveries|uploads/.test(s)), [], 'nothing declared or uploaded');

  // Without it, the rest goes.
  await bob.locator('#file-list li', { hasText: 'setup.exe' }).getByRole('button').click();
  await bob.click('#upload-button');
  await bob.locator('#step-done').waitFor({ state: 'visible', timeout: 60_000 });
});

test('the uploader pauses and resumes; the user changes the passphrase, and after "I forgot my passphrase" what came to the old key says it cannot be opened', { timeout: 240_000 }, async (t) => {
  const { server, open } = await setup(t);
  await server.addUser(ALICE);
  const alice = await open({ picker: 'stub' });
  await signInInbox(alice, server, ALICE);
  await makeKey(alice);
  const link = await makeRequest(alice, { emails: BOB });
  // Naming an address makes the code compulsory.
  assert.match(await alice.locator('#request-list > li').first().innerText(), /with a code/);

  const bob = await open();
  const code = await openAsUploader(bob, server, link, BOB);
  await bob.fill('#code', code);
  await bob.click('#code-submit');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  const data = testBytes((12 << 20) + 99, 91);
  await bob.setInputFiles('#files', [{ name: 'scan.tiff', mimeType: 'image/tiff', buffer: data }]);
  // Hold the second body until the upload is paused; then it breaks.
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  let patches = 0;
  await bob.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && ++patches === 2) {
      await held;
      await route.abort('connectionreset').catch(() => {});
      return;
    }
    await route.continue().catch(() => {});
  });
  await bob.click('#upload-button');
  await bob.waitForFunction(() => document.querySelector('#progress-bar').value > 100, null, { timeout: 60_000 });
  while (patches < 2) await new Promise((resolve) => setTimeout(resolve, 50));
  await bob.click('#pause');
  await bob.locator('#progress-title').getByText('Paused').waitFor();
  release();
  await bob.unroute('**/api/v1/uploads/*');
  await bob.click('#resume');
  await bob.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });

  // A new passphrase for the same key: the old one no longer unlocks, the new one does.
  await alice.click('#change-open');
  await alice.fill('#change-passphrase', 'een heel nieuwe zin');
  await alice.fill('#change-passphrase-again', 'een heel nieuwe zin');
  await alice.click('#change-form button[type=submit]');
  await alice.locator('#notice').getByText('Your passphrase is changed.').waitFor({ timeout: 60_000 });
  await alice.click('#lock');
  await alice.fill('#unlock-passphrase', PASSPHRASE);
  await alice.click('#unlock-submit');
  await alice.locator('#unlock-passphrase-error').waitFor({ timeout: 60_000 });
  await alice.fill('#unlock-passphrase', 'een heel nieuwe zin');
  await alice.click('#unlock-submit');
  await alice.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
  await alice.reload();
  await alice.fill('#unlock-passphrase', 'een heel nieuwe zin');
  await alice.click('#unlock-submit');
  await alice.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
  const item = alice.locator('#inbox-list > li').first();
  await item.getByRole('button', { name: /^Open what/ }).click();
  const row = item.locator('.download', { has: alice.locator('.file-name', { hasText: 'scan.tiff' }) });
  await row.getByRole('button', { name: 'Download scan.tiff' }).click();
  await row.getByText('Saved, and checked').waitFor({ timeout: 60_000 });
  assert.equal(sha256((await stubbedFile(alice, 'scan.tiff')).bytes), sha256(data), 'the paused and resumed upload arrives identical');

  // Forgotten: the confirmation says what is lost; a new key (replace) cannot open what came before.
  const before = JSON.parse(await (await fetch(`${server.url}/api/v1/key`, { headers: { Authorization: `Bearer ${await server.token(ALICE)}` } })).text()).key.recipient;
  await alice.click('#lock');
  alice.once('dialog', (dialog) => {
    assert.match(dialog.message(), /can then never be opened/);
    dialog.accept();
  });
  await alice.click('#forgot');
  await alice.fill('#new-passphrase', 'derde sleutel zin');
  await alice.fill('#new-passphrase-again', 'derde sleutel zin');
  await alice.click('#key-new-submit');
  await alice.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
  assert.match(await alice.locator('#notice').innerText(), /cannot be opened/);
  const after = JSON.parse(await (await fetch(`${server.url}/api/v1/key`, { headers: { Authorization: `Bearer ${await server.token(ALICE)}` } })).text()).key.recipient;
  assert.notEqual(after, before, 'a new key');
  await item.getByRole('button', { name: /^Open what/ }).click();
  await alice.locator('#notice[role=alert]').getByText('encrypted to a key you no longer have', { exact: false }).waitFor();
});

test('an upload interrupted by a reload continues where the server stopped, once the same file is chosen again', { timeout: 180_000 }, async (t) => {
  const { server, open } = await setup(t);
  await server.addUser(ALICE);
  const alice = await open();
  await signInInbox(alice, server, ALICE);
  await makeKey(alice);
  const link = await makeRequest(alice);
  // A real file: choosing it again gives the same name, size and modification time.
  const dir = mkdtempSync(join(tmpdir(), 'kluis-inbound-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'video.mp4');
  writeFileSync(path, testBytes((20 << 20) + 7, 95));

  const bob = await open();
  const code = await openAsUploader(bob, server, link, BOB);
  await bob.fill('#code', code);
  await bob.click('#code-submit');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  await bob.setInputFiles('#files', path);
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  let patches = 0;
  await bob.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && ++patches === 2) {
      await held;
      await route.abort('connectionreset').catch(() => {});
      return;
    }
    await route.continue().catch(() => {});
  });
  await bob.click('#upload-button');
  while (patches < 2) await new Promise((resolve) => setTimeout(resolve, 50));
  await bob.click('#pause');
  await bob.locator('#progress-title').getByText('Paused').waitFor();
  release();
  await bob.unroute('**/api/v1/uploads/*');

  const offsets = [];
  bob.on('request', (r) => r.method() === 'PATCH' && offsets.push(Number(r.headers()['upload-offset'])));
  bob.once('dialog', (dialog) => dialog.accept());
  await bob.reload();
  // The session is kept for this tab: no new code; the page asks for the same file.
  await bob.locator('#step-resume').waitFor({ state: 'visible' });
  assert.ok(await bob.locator('#resume-continue').isDisabled());
  await bob.setInputFiles('#resume-files', path);
  await bob.locator('#resume-list').getByText('Ready').waitFor();
  await bob.click('#resume-continue');
  await bob.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });
  assert.ok(offsets[0] > 0, `continued where the server stopped (first offset ${offsets[0]}), not from 0`);
  const owner = `request:${new URL(link).pathname.split('/').pop()}`;
  const left = await bob.evaluate(async (owner) => (await import('/js/shared/send-store.js')).listSends(owner), owner);
  assert.deepEqual(left, [], 'nothing is left in IndexedDB');
  const token = await server.token(ALICE);
  const inbox = await (await fetch(`${server.url}/api/v1/inbox`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.equal(inbox.items.length, 1);
  assert.equal(inbox.items[0].blobs.length, 2);
});

test('an upload left unfinished in a closed tab cannot go on under a new session: the page says so and it is sent anew', { timeout: 180_000 }, async (t) => {
  const { server, open } = await setup(t);
  await server.addUser(ALICE);
  const alice = await open();
  await signInInbox(alice, server, ALICE);
  await makeKey(alice);
  // Two places: the unfinished upload holds one until its session and an hour have passed.
  // Without codes (the server mails one a minute to an address).
  await alice.uncheck('#request-verify');
  const link = await makeRequest(alice, { uploads: 2 });
  /** The uploader's steps without a code: the link, the address. */
  const toForm = async (page) => {
    await page.goto(link);
    await page.fill('#email', BOB);
    await page.click('#email-submit');
    await page.locator('#step-compose').waitFor({ state: 'visible' });
  };

  const bob = await open();
  await toForm(bob);
  const data = testBytes((9 << 20) + 1, 101);
  await bob.fill('#message', 'De stukken voor de aangifte.');
  await bob.setInputFiles('#files', [{ name: 'aangifte.pdf', mimeType: 'application/pdf', buffer: data }]);
  let patches = 0;
  await bob.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && ++patches >= 2) return; // never answered
    await route.continue().catch(() => {});
  });
  await bob.click('#upload-button');
  while (patches < 2) await new Promise((resolve) => setTimeout(resolve, 50));
  await bob.click('#pause');
  await bob.locator('#progress-title').getByText('Paused').waitFor();
  const owner = `request:${new URL(link).pathname.split('/').pop()}`;
  const listed = (page) => page.evaluate(async (owner) => (await import('/js/shared/send-store.js')).listSends(owner), owner);
  assert.equal((await listed(bob)).length, 1, 'an unfinished upload is kept');

  // A new tab of the same browser (the session was the closed tab's): the address again, a new session.
  const again = await bob.context().newPage();
  await bob.close();
  await toForm(again);
  await again.locator('#notice').getByText('Your unfinished upload could not be continued: its session had ended. Send aangifte.pdf again.').waitFor();
  assert.equal(await again.inputValue('#message'), 'De stukken voor de aangifte.');
  assert.deepEqual(await listed(again), [], 'the one that cannot go on is forgotten');
  await again.setInputFiles('#files', [{ name: 'aangifte.pdf', mimeType: 'application/pdf', buffer: data }]);
  await again.click('#upload-button');
  await again.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });
  const token = await server.token(ALICE);
  const inbox = await (await fetch(`${server.url}/api/v1/inbox`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.equal(inbox.items.length, 1);
  assert.equal(inbox.items[0].blobs.length, 2);
});

test('a request that takes one upload, held by an unfinished one: a second uploader is told every upload is under way; the first still finishes', { timeout: 180_000 }, async (t) => {
  const { server, open } = await setup(t);
  await server.addUser(ALICE);
  const alice = await open();
  await signInInbox(alice, server, ALICE);
  await makeKey(alice);
  // Naming addresses makes the code compulsory: the box is checked and greyed out, and says why, until emptied.
  const verify = alice.locator('#request-verify');
  await alice.locator('#request-emails').pressSequentially(BOB);
  assert.ok((await verify.isChecked()) && (await verify.isDisabled()));
  await alice.locator('#request-verify-forced').getByText('Always on when addresses are filled in').waitFor();
  await alice.fill('#request-emails', '');
  assert.ok(await verify.isEnabled());
  assert.ok(await alice.locator('#request-verify-forced').isHidden());
  const link = await makeRequest(alice, { uploads: 1 });

  // Bob starts an upload and leaves it unfinished: it holds the one place.
  const bob = await open();
  await bob.fill('#code', await openAsUploader(bob, server, link, BOB));
  await bob.click('#code-submit');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  const data = testBytes((9 << 20) + 3, 99);
  await bob.setInputFiles('#files', [{ name: 'jaarrekening.pdf', mimeType: 'application/pdf', buffer: data }]);
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  let patches = 0;
  await bob.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && ++patches === 2) {
      await held;
      await route.abort('connectionreset').catch(() => {});
      return;
    }
    await route.continue().catch(() => {});
  });
  await bob.click('#upload-button');
  while (patches < 2) await new Promise((resolve) => setTimeout(resolve, 50));
  await bob.click('#pause');
  await bob.locator('#progress-title').getByText('Paused').waitFor();
  release();
  await bob.unroute('**/api/v1/uploads/*');

  // Carol, in another browser, still finds the link, but her upload is refused in words; nothing of hers goes up.
  const carol = await open({ locale: 'en-US' });
  await carol.fill('#code', await openAsUploader(carol, server, link, CAROL));
  await carol.click('#code-submit');
  await carol.locator('#step-compose').waitFor({ state: 'visible' });
  await carol.setInputFiles('#files', [{ name: 'offerte.pdf', mimeType: 'application/pdf', buffer: testBytes(4000, 100) }]);
  await carol.locator('#file-list li').first().waitFor();
  await carol.click('#upload-button');
  await carol.locator('#notice[role=alert]').getByText('Every upload this link takes is under way right now. Try again later: a place frees up if one of them is not finished.').waitFor();
  assert.ok(await carol.locator('#step-compose').isVisible(), 'the form stays, with her file');
  assert.equal(await carol.locator('#file-list li').count(), 1);
  assert.deepEqual(uploadCalls(carol).filter((c) => !/\/session$|\/code$/.test(c)), [`POST /api/v1/r/${new URL(link).pathname.split('/').pop()}/deliveries`]);

  // Bob goes on and finishes; the request is used up then, which Carol's next try is told.
  await bob.click('#resume');
  await bob.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });
  const token = await server.token(ALICE);
  const inbox = await (await fetch(`${server.url}/api/v1/inbox`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.equal(inbox.items.length, 1);
  assert.equal(inbox.items[0].from, BOB);
  assert.equal(inbox.items[0].blobs.length, 2);
  await carol.click('#upload-button');
  await carol.locator('#unavailable-title').getByText('This link does not take files').waitFor();
});

test('"Start again" on an unfinished upload gives its place back at once: the same person uploads again through a link that takes one upload', { timeout: 180_000 }, async (t) => {
  const { server, open } = await setup(t);
  await server.addUser(ALICE);
  const alice = await open();
  await signInInbox(alice, server, ALICE);
  await makeKey(alice);
  await alice.uncheck('#request-verify');
  const link = await makeRequest(alice, { uploads: 1 });
  const requestId = new URL(link).pathname.split('/').pop();

  const bob = await open();
  await bob.goto(link);
  await bob.fill('#email', BOB);
  await bob.click('#email-submit');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  await bob.setInputFiles('#files', [{ name: 'concept.pdf', mimeType: 'application/pdf', buffer: testBytes((9 << 20) + 5, 102) }]);
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  let patches = 0;
  await bob.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && ++patches === 2) {
      await held;
      await route.abort('connectionreset').catch(() => {});
      return;
    }
    await route.continue().catch(() => {});
  });
  await bob.click('#upload-button');
  while (patches < 2) await new Promise((resolve) => setTimeout(resolve, 50));
  await bob.click('#pause');
  await bob.locator('#progress-title').getByText('Paused').waitFor();
  release();
  await bob.unroute('**/api/v1/uploads/*');

  // Reloaded, Bob would rather send another file: "Start again" gives the unfinished one up on the server.
  bob.once('dialog', (dialog) => dialog.accept());
  await bob.reload();
  await bob.locator('#step-resume').waitFor({ state: 'visible' });
  await bob.click('#resume-discard');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  assert.ok(
    bob.sent.some((r) => r.method === 'DELETE' && new URL(r.url).pathname.startsWith(`/api/v1/r/${requestId}/deliveries/`)),
    'the unfinished delivery was given up',
  );
  // The link's one place is his again straight away (no "every upload is under way").
  await bob.setInputFiles('#files', [{ name: 'definitief.pdf', mimeType: 'application/pdf', buffer: testBytes(5000, 103) }]);
  await bob.click('#upload-button');
  await bob.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });
  const token = await server.token(ALICE);
  const inbox = await (await fetch(`${server.url}/api/v1/inbox`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.equal(inbox.items.length, 1);
  assert.equal(inbox.items[0].from, BOB);
});

test('with the organisation\'s key recovery on, the key is also encrypted to the recovery recipient; an admin hands it back under a passphrase the user then replaces', { timeout: 180_000 }, async (t) => {
  const { server, open } = await setup(t);
  await server.admin('user', 'add', 'ann@example.org', '--admin');
  await server.addUser(ALICE);
  const ann = await server.token('ann@example.org');
  const admin = (path, options = {}) =>
    fetch(`${server.url}/api/v1/admin${path}`, { ...options, headers: { Authorization: `Bearer ${ann}`, 'Content-Type': 'application/json' } });

  const alice = await open();
  await alice.goto(`${server.url}/inbox`);
  // The recovery identity is made where the admin keeps it (here: a page of the test).
  const recovery = await alice.evaluate(async () => {
    const wasm = await (await import('/js/shared/wasm.js')).loadWasm();
    const identity = wasm.generateIdentity();
    return { identity, recipient: wasm.identityToRecipient(identity) };
  });
  assert.equal((await admin('/recovery', { method: 'PUT', body: JSON.stringify({ recipient: recovery.recipient }) })).status, 200);

  await signInInbox(alice, server, ALICE);
  await alice.locator('#key-new').waitFor({ state: 'visible' });
  assert.match(await alice.locator('#key-new-warning').innerText(), /only your organisation's key recovery can help/);
  await makeKey(alice);
  assert.match(await alice.locator('#key-facts').innerText(), /Your organisation keeps a recovery copy\./);

  // The admin decrypts the copy with the recovery identity and hands the key back under a passphrase of theirs.
  const { users } = await (await admin('/users')).json();
  const id = users.find((u) => u.email === ALICE).id;
  const copy = await (await admin(`/users/${id}/key`)).json();
  assert.equal(copy.recovery_recipient, recovery.recipient);
  const handed = await alice.evaluate(async ({ armored, identity }) => {
    const wasm = await (await import('/js/shared/wasm.js')).loadWasm();
    const decryptor = new wasm.Decryptor([identity]);
    const bytes = new Uint8Array(await new Blob([...decryptor.push(new TextEncoder().encode(armored)), ...decryptor.finish()]).arrayBuffer());
    const recovered = new TextDecoder().decode(bytes).trim();
    const { CryptoWorker } = await import('/js/shared/crypto-client.js');
    const worker = new CryptoWorker();
    try {
      return { recipient: wasm.identityToRecipient(recovered), wrapped: (await worker.wrapKey(recovered, 'door de beheerder gekozen')).wrapped };
    } finally {
      worker.terminate();
    }
  }, { armored: copy.recovery, identity: recovery.identity });
  assert.equal(handed.recipient, copy.recipient, 'the recovery copy holds the user\'s own key');
  assert.equal((await admin(`/users/${id}/key`, { method: 'PUT', body: JSON.stringify({ wrapped: handed.wrapped }) })).status, 200);

  // The user unlocks with the admin's passphrase and is asked to choose their own at once.
  await alice.reload();
  await alice.fill('#unlock-passphrase', 'door de beheerder gekozen');
  await alice.click('#unlock-submit');
  await alice.locator('#change-form').waitFor({ state: 'visible', timeout: 60_000 });
  assert.match(await alice.locator('#change-intro').innerText(), /recovered with a passphrase your administrator chose/);
  await alice.fill('#change-passphrase', 'mijn eigen nieuwe zin');
  await alice.fill('#change-passphrase-again', 'mijn eigen nieuwe zin');
  await alice.click('#change-form button[type=submit]');
  await alice.locator('#notice').getByText('Your passphrase is changed.').waitFor({ timeout: 60_000 });
  const key = (await (await fetch(`${server.url}/api/v1/key`, { headers: { Authorization: `Bearer ${await server.token(ALICE)}` } })).json()).key;
  assert.equal(key.recipient, copy.recipient, 'the same key');
  assert.equal(key.must_change_passphrase, false);
  assert.equal(key.recoverable, true, 'the new wrapping kept a recovery copy');
});

test('an organisation\'s upload portal (/upload/<name>): the files are encrypted to every receiver, and each opens them in their own inbox', { timeout: 240_000 }, async (t) => {
  const { server, open } = await setup(t);
  const CAROL = 'carol@example.org';
  await server.admin('user', 'add', 'ann@example.org', '--admin');
  await server.addUser(ALICE);
  await server.addUser(CAROL);
  const receivers = {};
  for (const email of [ALICE, CAROL]) {
    const page = await open({ picker: 'stub' });
    await signInInbox(page, server, email);
    await makeKey(page);
    receivers[email] = page;
  }
  const ann = await server.token('ann@example.org');
  const made = await fetch(`${server.url}/api/v1/admin/portals`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ann}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'intake', message: 'Stukken voor de afdeling.', receivers: [ALICE, CAROL], verify: 'none' }),
  });
  assert.equal(made.status, 201, await made.clone().text());
  const portal = await made.json();
  assert.equal(new URL(portal.url).pathname, '/upload/intake');

  const bob = await open();
  await bob.goto(`${server.url}/upload/intake`);
  await bob.locator('#step-email').waitFor({ state: 'visible' });
  assert.equal(await bob.locator('#request-who').innerText(), 'Send files to Example Org.');
  assert.equal(await bob.locator('#request-note').innerText(), 'Stukken voor de afdeling.');
  await bob.fill('#email', BOB);
  await bob.click('#email-submit');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  const data = testBytes(300_000, 97);
  await bob.setInputFiles('#files', [{ name: 'aanvraag.pdf', mimeType: 'application/pdf', buffer: data }]);
  await bob.click('#upload-button');
  await bob.locator('#step-done').waitFor({ state: 'visible', timeout: 60_000 });

  for (const [email, page] of Object.entries(receivers)) {
    await page.reload();
    await page.fill('#unlock-passphrase', PASSPHRASE);
    await page.click('#unlock-submit');
    await page.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
    const item = page.locator('#inbox-list > li').first();
    await item.waitFor();
    assert.match(await item.innerText(), /Address not confirmed/);
    await item.getByRole('button', { name: /^Open what/ }).click();
    const row = item.locator('.download', { has: page.locator('.file-name', { hasText: 'aanvraag.pdf' }) });
    await row.getByRole('button', { name: 'Download aanvraag.pdf' }).click();
    await row.getByText('Saved, and checked').waitFor({ timeout: 60_000 });
    assert.equal(sha256((await stubbedFile(page, 'aanvraag.pdf')).bytes), sha256(data), `${email} opens it with their own key`);
  }
});

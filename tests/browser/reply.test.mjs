// A secure reply (docs/inbound.md) against a real kluis-server: Alice makes
// her key on /inbox and sends Bob a package that asks for his address; Bob,
// in a browser of his own, confirms it with a code, saves the file, and
// replies with a message and a file, encrypted on his page to Alice's key;
// Alice is mailed, unlocks her inbox and saves the file byte for byte.
// Nothing either browser sent, nor anything the server wrote, holds the
// reply's message, its file name or contents, the passphrase or an
// identity. A sender without a key cannot be replied to, and says so.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launch } from './support/browser.mjs';
import { KluisServer, sha256, testBytes } from './support/kluis.mjs';
import { fileRow, newPage, stubbedFile } from './support/pages.mjs';

const ALICE = 'alice@example.org';
const BOB = 'bob@outside.example';
const ORGANISATION = '[organisation]\nname = "Example Org"\n';
const PASSPHRASE = 'fiets lantaarn wolk zeventien';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** A server, a temp folder and browser contexts that are all cleaned up after the test. */
async function setup(t) {
  const server = await KluisServer.start({ config: ORGANISATION });
  const dir = mkdtempSync(join(tmpdir(), 'kluis-reply-'));
  const contexts = [];
  t.after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  /** A page in a fresh context; every request it sends is recorded in `page.sent` ({method, url, body}). */
  const open = async (options) => {
    const { context, page } = await newPage(browser, options);
    contexts.push(context);
    page.sent = [];
    page.on('request', (r) => page.sent.push({ method: r.method(), url: r.url(), body: r.postDataBuffer() ?? Buffer.alloc(0) }));
    return page;
  };
  return { server, dir, open };
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

/** Makes the key on /inbox. */
async function makeKey(page) {
  await page.locator('#key-new').waitFor({ state: 'visible' });
  await page.fill('#new-passphrase', PASSPHRASE);
  await page.fill('#new-passphrase-again', PASSPHRASE);
  await page.click('#key-new-submit');
  await page.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
}

/** `kluis send` of one file to Bob that asks for his address; returns the link. */
async function sendToBob(server, dir, name, data) {
  writeFileSync(join(dir, name), data);
  const token = await server.token(ALICE);
  const result = await server.kluis(['send', join(dir, name), '--server', server.url, '--token', token, '--to', BOB, '--verify', 'email']);
  assert.equal(result.code, 0, `kluis send failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** Bob opens the link and confirms his address with the mailed code, up to the file list. */
async function openAsBob(page, server, link) {
  await page.goto(link);
  await page.locator('#step-email').waitFor({ state: 'visible' });
  await page.fill('#email', BOB);
  await page.click('#email-form button[type=submit]');
  await page.locator('#code-field').waitFor({ state: 'visible' });
  await page.fill('#code', await server.code(BOB));
  await page.click('#unlock-submit');
  await page.locator('#step-files').waitFor({ state: 'visible' });
}

/** Paths of the requests `page` sent that declare, upload or finish a delivery. */
function deliveryCalls(page) {
  return page.sent.map((r) => `${r.method} ${new URL(r.url).pathname}`).filter((s) => /\/deliveries|\/uploads/.test(s));
}

test('Bob replies securely with a message and a file; Alice is mailed and saves it identical from her inbox; nothing secret leaves the browsers', { timeout: 240_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  await server.addUser(ALICE);
  const alice = await open({ picker: 'stub' });
  await signInInbox(alice, server, ALICE);
  await makeKey(alice);
  const original = testBytes(40_000, 91);
  const link = await sendToBob(server, dir, 'offerte.pdf', original);

  // Bob confirms his address, saves the file, and only then is a reply offered.
  const bob = await open({ picker: 'stub' });
  await openAsBob(bob, server, link);
  const row = fileRow(bob, 'offerte.pdf');
  await row.getByRole('button', { name: 'Download offerte.pdf' }).click();
  await row.getByText('Saved, and checked').waitFor({ timeout: 60_000 });
  assert.equal(sha256((await stubbedFile(bob, 'offerte.pdf')).bytes), sha256(original));
  assert.ok(!bob.sent.some((r) => /\/reply$/.test(new URL(r.url).pathname)), 'nothing is asked about replies before the click');
  assert.match(await bob.locator('#reply-intro').innerText(), new RegExp(`Send ${ALICE.replace(/\./g, '\\.')} a message or files back`));

  await bob.click('#reply-start');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  assert.equal(await bob.locator('#reply-to').innerText(), `To ${ALICE}`);
  // Neither a message nor a file: said next to the message, nothing declared.
  await bob.click('#upload-button');
  await bob.locator('#message-error').getByText('Write a message or choose files to send.').waitFor();
  assert.deepEqual(deliveryCalls(bob), []);

  const signed = testBytes((1 << 20) + 777, 92);
  const fileName = 'getekende offerte Bakker.pdf';
  const message = 'Akkoord, de getekende offerte zit erbij. Groet, Bob';
  await bob.fill('#message', message);
  await bob.setInputFiles('#files', [{ name: fileName, mimeType: 'application/pdf', buffer: signed }]);
  await bob.locator('#file-list li').first().waitFor();
  await bob.click('#upload-button');
  await bob.locator('#step-reply-done').waitFor({ state: 'visible', timeout: 120_000 });
  assert.match(await bob.locator('#reply-done-text').innerText(), new RegExp(`^${ALICE.replace(/\./g, '\\.')} can read your reply in their Kluis inbox\\.`));
  assert.match(await bob.locator('#reply-done-list').innerText(), /getekende offerte Bakker\.pdf/);
  // Back to the files: they are still there.
  await bob.click('#reply-done-back');
  await bob.locator('#step-files').waitFor({ state: 'visible' });

  // Alice is told, without names.
  const mail = await server.mail(ALICE, /secure reply/i);
  assert.ok(mail.includes(`${BOB} replied to the file you sent`), mail);
  assert.ok(!mail.includes('getekende'), 'the mail names no file');

  // Her inbox, reloaded, is locked; unlocked, the reply opens with Bob's message and file.
  await alice.reload();
  await alice.locator('#key-locked').waitFor({ state: 'visible' });
  const item = alice.locator('#inbox-list > li').first();
  await item.waitFor();
  assert.match(await item.innerText(), new RegExp(`Reply from ${BOB.replace(/\./g, '\\.')}`));
  await item.getByText(/^A secure reply to the files you sent on /).waitFor();
  assert.equal(await item.getByRole('link', { name: `Reply securely to ${BOB}` }).getAttribute('href'), `/?to=${encodeURIComponent(BOB)}`);
  await alice.fill('#unlock-passphrase', PASSPHRASE);
  await alice.click('#unlock-submit');
  await alice.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
  await item.getByRole('button', { name: /^Open what/ }).click();
  await item.locator('.inbox-body .message').waitFor();
  assert.equal(await item.locator('.inbox-body .message').innerText(), message);
  const saved = item.locator('.download', { has: alice.locator('.file-name', { hasText: fileName }) });
  await saved.getByRole('button', { name: `Download ${fileName}` }).click();
  await saved.getByText('Saved, and checked').waitFor({ timeout: 60_000 });
  const file = await stubbedFile(alice, fileName);
  assert.equal(file.closed, true);
  assert.equal(sha256(file.bytes), sha256(signed), 'the reply\'s file is identical');

  // "Reply securely" in the inbox opens the send page with Bob's address filled in.
  await item.getByRole('link', { name: `Reply securely to ${BOB}` }).click();
  await alice.waitForSelector('#step-compose:not([hidden]), #step-resume:not([hidden])');
  assert.equal(await alice.inputValue('#recipients'), BOB);

  // Leak check: no URL or body either browser sent, and nothing the server wrote, holds the
  // passphrase, an identity, the reply's message, its file name or its contents.
  const secrets = {
    passphrase: Buffer.from(PASSPHRASE),
    identity: Buffer.from('AGE-SECRET-KEY-1'),
    'identity (lower case)': Buffer.from('age-secret-key-1'),
    'reply file plaintext': signed.subarray(500_000, 500_064),
    'reply message': Buffer.from(message),
    'reply file name': Buffer.from('getekende offerte'),
  };
  const sent = [...alice.sent, ...bob.sent];
  assert.ok(bob.sent.some((r) => r.method === 'PATCH'), 'the reply\'s uploads were recorded');
  for (const [what, needle] of Object.entries(secrets)) {
    for (const r of sent) {
      assert.ok(!r.url.includes(needle.toString()) && !r.body.includes(needle), `${r.method} ${r.url} carried the ${what}`);
    }
  }
  const written = [...server.files(), Buffer.from(server.log.join(''))];
  for (const [what, needle] of Object.entries(secrets)) {
    assert.ok(!written.some((bytes) => bytes.includes(needle)), `the server wrote the ${what}`);
  }
});

test('a sender without a key cannot be replied to, and the page says so; once they have one, a reply with only a message goes', { timeout: 180_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  await server.addUser(ALICE);
  const link = await sendToBob(server, dir, 'notulen.txt', testBytes(3000, 93));

  const bob = await open({ locale: 'en-US' });
  await openAsBob(bob, server, link);
  await bob.click('#reply-start');
  await bob.locator('#notice[role=alert]').getByText(`${ALICE} cannot receive secure replies yet.`).waitFor();
  assert.ok(await bob.locator('#step-files').isVisible(), 'the files stay');
  assert.deepEqual(deliveryCalls(bob), [], 'nothing declared or uploaded');

  // Alice makes her key; while her organisation takes no replies, the page says that.
  const alice = await open();
  await signInInbox(alice, server, ALICE);
  await makeKey(alice);
  await server.admin('user', 'add', 'ann@example.org', '--admin');
  const ann = await server.token('ann@example.org');
  const organisation = (replies) =>
    fetch(`${server.url}/api/v1/admin/organisation`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${ann}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'Example Org', domains: ['example.org'], settings: { replies } }),
    });
  assert.equal((await organisation(false)).status, 200);
  await bob.click('#reply-start');
  await bob.locator('#notice[role=alert]').getByText('Example Org does not take secure replies.').waitFor();
  assert.deepEqual(deliveryCalls(bob), []);

  // Replies on again: the next click works, and a message alone is a reply.
  assert.equal((await organisation(true)).status, 200);
  await bob.click('#reply-start');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  await bob.fill('#message', 'Dank je, ontvangen.');
  await bob.click('#upload-button');
  await bob.locator('#step-reply-done').waitFor({ state: 'visible', timeout: 60_000 });
  assert.equal(await bob.locator('#reply-done-text').innerText(), `${ALICE} can read your reply in their Kluis inbox.`);

  const token = await server.token(ALICE);
  const inbox = await (await fetch(`${server.url}/api/v1/inbox`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.equal(inbox.items.length, 1);
  assert.equal(inbox.items[0].kind, 'reply');
  assert.equal(inbox.items[0].from, BOB);
  assert.equal(inbox.items[0].blobs.length, 1, 'the manifest alone');
  await alice.reload();
  const item = alice.locator('#inbox-list > li').first();
  await item.waitFor();
  await alice.fill('#unlock-passphrase', PASSPHRASE);
  await alice.click('#unlock-submit');
  await alice.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
  await item.getByRole('button', { name: /^Open what/ }).click();
  await item.locator('.inbox-body .message').waitFor();
  assert.equal(await item.locator('.inbox-body .message').innerText(), 'Dank je, ontvangen.');
});

test('what Alice sends from the send page once she has a key is encrypted to her key too, so she can open it later', { timeout: 120_000 }, async (t) => {
  const { server, open } = await setup(t);
  const token = await server.token(ALICE); // makes Alice a user
  const alice = await open();
  await signInInbox(alice, server, ALICE);
  await makeKey(alice);
  const recipient = (await (await fetch(`${server.url}/api/v1/key`, { headers: { Authorization: `Bearer ${token}` } })).json()).key.recipient;

  // The same sign-in on the send page.
  await alice.goto(`${server.url}/`);
  await alice.setInputFiles('#files', [{ name: 'brief.txt', mimeType: 'text/plain', buffer: Buffer.from('a letter for Bob') }]);
  await alice.locator('#file-list li').first().waitFor();
  await alice.fill('#recipients', BOB);
  await alice.click('#send-button');
  await alice.locator('#step-done').waitFor({ state: 'visible', timeout: 60_000 });
  const link = await alice.inputValue('#link');
  const id = new URL(link).pathname.split('/').pop();

  // Its file's age header has two X25519 stanzas: the package key and Alice's own.
  const response = await fetch(`${server.url}/api/v1/packages/${id}/blobs/1`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200);
  const header = Buffer.from(await response.arrayBuffer()).toString('latin1').split('\n---')[0];
  assert.equal(header.split('\n').filter((l) => l.startsWith('-> X25519 ')).length, 2, header);
  // Bob's link still opens it; Alice's identity (unlocked with her passphrase by the CLI) does too.
  const dir = mkdtempSync(join(tmpdir(), 'kluis-own-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'pass'), `${PASSPHRASE}\n`);
  const identity = join(dir, 'identity.txt');
  const unlocked = await server.kluis(['key', 'unlock', '--identity', identity, '--passphrase-file', join(dir, 'pass'), '--server', server.url, '--token', token]);
  assert.equal(unlocked.code, 0, unlocked.stderr);
  assert.equal(unlocked.stdout.trim(), recipient);
  const fetched = await server.kluis(['fetch', id, '--identity', identity, '--out', join(dir, 'out'), '--server', server.url, '--token', token]);
  assert.equal(fetched.code, 0, fetched.stderr);
  assert.match(fetched.stderr, /sent by you/);
  assert.equal(readFileSync(join(dir, 'out', 'brief.txt'), 'utf8'), 'a letter for Bob');
});

/** Alice's key made with the CLI (an identity file here, to open what comes in); returns its path. */
async function aliceKey(server, dir) {
  writeFileSync(join(dir, 'pass'), `${PASSPHRASE}\n`);
  const identity = join(dir, 'identity.txt');
  const made = await server.kluis(['key', 'init', '--identity', identity, '--passphrase-file', join(dir, 'pass'), '--server', server.url, '--token', await server.token(ALICE)]);
  assert.equal(made.code, 0, made.stderr);
  return identity;
}

/** Alice's inbox as the API lists it. */
async function inboxOf(server) {
  const token = await server.token(ALICE);
  return (await (await fetch(`${server.url}/api/v1/inbox`, { headers: { Authorization: `Bearer ${token}` } })).json()).items;
}

/** Starts the reply upload of what the form holds, holds its second body, pauses: an unfinished reply is left. */
async function replyUntilPaused(bob) {
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
}

const pathsOf = (page, pattern) => page.sent.filter((r) => r.method === 'POST' && pattern.test(new URL(r.url).pathname));

test('a reply interrupted by a reload goes on once the package is open again and the same file is chosen; Alice gets it once, identical', { timeout: 240_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  await server.addUser(ALICE);
  const identity = await aliceKey(server, dir);
  const link = await sendToBob(server, dir, 'contract.pdf', testBytes(5000, 94));

  const bob = await open();
  await openAsBob(bob, server, link);
  await bob.click('#reply-start');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  // A real file: choosing it again gives the same name, size and modification time.
  const path = join(dir, 'bijlage.bin');
  const data = testBytes((20 << 20) + 11, 96);
  writeFileSync(path, data);
  const message = 'Hierbij de bijlage, in één keer.';
  await bob.fill('#message', message);
  await bob.setInputFiles('#files', path);
  await bob.locator('#file-list li').first().waitFor();
  await replyUntilPaused(bob);

  const offsets = [];
  bob.on('request', (r) => r.method() === 'PATCH' && offsets.push(Number(r.headers()['upload-offset'])));
  bob.once('dialog', (dialog) => dialog.accept());
  await bob.reload();
  // The package opens again (its download session is kept for this tab) and the reply is offered.
  await bob.locator('#step-resume').waitFor({ state: 'visible', timeout: 30_000 });
  assert.match(await bob.locator('#resume-summary').innerText(), /^Started .+: 1 file, .+\.$/);
  assert.ok(await bob.locator('#resume-continue').isDisabled(), 'the file must be chosen again');
  // Back to the files and "Reply securely" again: the unfinished reply is offered, not a second one.
  await bob.click('#resume-back');
  await bob.locator('#step-files').waitFor({ state: 'visible' });
  await bob.click('#reply-start');
  await bob.locator('#step-resume').waitFor({ state: 'visible' });
  await bob.setInputFiles('#resume-files', path);
  await bob.locator('#resume-list').getByText('Ready').waitFor();
  await bob.click('#resume-continue');
  await bob.locator('#step-reply-done').waitFor({ state: 'visible', timeout: 120_000 });
  assert.match(await bob.locator('#reply-done-list').innerText(), /bijlage\.bin/);
  assert.ok(offsets[0] > 0, `continued where the server stopped (first offset ${offsets[0]}), not from 0`);
  assert.equal(pathsOf(bob, /\/reply$/).length, 1, 'one reply session, kept over the reload');
  assert.equal(pathsOf(bob, /\/deliveries$/).length, 1, 'one delivery');
  const left = await bob.evaluate(async (owner) => (await import('/js/shared/send-store.js')).listSends(owner), `reply:${new URL(link).pathname.split('/').pop()}`);
  assert.deepEqual(left, [], 'nothing is left in IndexedDB');

  // Alice has exactly one reply, with Bob's message and the file byte for byte.
  const items = await inboxOf(server);
  assert.equal(items.length, 1, JSON.stringify(items));
  assert.equal(items[0].kind, 'reply');
  assert.equal(items[0].blobs.length, 2);
  const out = join(dir, 'out');
  const fetched = await server.kluis(['fetch', items[0].id, '--identity', identity, '--out', out, '--server', server.url, '--token', await server.token(ALICE)]);
  assert.equal(fetched.code, 0, fetched.stderr);
  assert.ok(`${fetched.stdout}${fetched.stderr}`.includes(message), `the message is shown: ${fetched.stdout}${fetched.stderr}`);
  assert.equal(sha256(readFileSync(join(out, 'bijlage.bin'))), sha256(data), 'the reply\'s file is identical');
});

test('a reply whose session ended cannot go on: the page says so after the reload and starts a fresh one with the message; Alice gets that one only', { timeout: 180_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  await server.addUser(ALICE);
  await aliceKey(server, dir);
  const link = await sendToBob(server, dir, 'notulen.txt', testBytes(3000, 97));

  const bob = await open();
  await openAsBob(bob, server, link);
  await bob.click('#reply-start');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  const path = join(dir, 'scan.bin');
  writeFileSync(path, testBytes((9 << 20) + 5, 98));
  await bob.fill('#message', 'De scan, zoals gevraagd.');
  await bob.setInputFiles('#files', path);
  await bob.locator('#file-list li').first().waitFor();
  await replyUntilPaused(bob);

  // The session kept for the tab has run out (it lasts a day): as if the reload came that much later.
  const key = `kluis.reply.${new URL(link).pathname.split('/').pop()}`;
  await bob.evaluate((key) => {
    const saved = JSON.parse(sessionStorage.getItem(key));
    sessionStorage.setItem(key, JSON.stringify({ ...saved, expires_at: new Date(Date.now() - 1000).toISOString() }));
  }, key);
  bob.once('dialog', (dialog) => dialog.accept());
  await bob.reload();
  await bob.locator('#step-compose').waitFor({ state: 'visible', timeout: 30_000 });
  await bob.locator('#notice').getByText('Your unfinished reply could not be continued: its session had ended. A new reply is started with your message: choose the files again (scan.bin), then send it.').waitFor();
  assert.equal(await bob.inputValue('#message'), 'De scan, zoals gevraagd.');
  assert.equal(await bob.locator('#file-list li').count(), 0);
  assert.equal(pathsOf(bob, /\/reply$/).length, 2, 'a fresh reply session');
  await bob.setInputFiles('#files', path);
  await bob.locator('#file-list li').first().waitFor();
  await bob.click('#upload-button');
  await bob.locator('#step-reply-done').waitFor({ state: 'visible', timeout: 120_000 });

  const items = await inboxOf(server);
  assert.equal(items.length, 1, 'the unfinished one never arrives');
  assert.equal(items[0].kind, 'reply');
  assert.equal(items[0].blobs.length, 2);
});

test('a reply whose session ends during the upload starts afresh with what was written and chosen; Alice gets one reply', { timeout: 120_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  await server.addUser(ALICE);
  await aliceKey(server, dir);
  const link = await sendToBob(server, dir, 'planning.txt', testBytes(2000, 102));

  const bob = await open();
  await openAsBob(bob, server, link);
  await bob.click('#reply-start');
  await bob.locator('#step-compose').waitFor({ state: 'visible' });
  await bob.fill('#message', 'Akkoord met de planning.');
  await bob.setInputFiles('#files', [{ name: 'planning-getekend.pdf', mimeType: 'application/pdf', buffer: testBytes(60_000, 103) }]);
  // The server no longer knows the session (as when it ran out): once, where the upload starts.
  await bob.route('**/api/v1/uploads', (route) =>
    route.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unauthorized', message: 'Sign in again.' } }) }),
  { times: 1 });
  await bob.click('#upload-button');
  await bob.locator('#notice').getByText('Your reply’s session had ended, so a new reply is started: what you wrote and chose is kept. Send it again.').waitFor({ timeout: 30_000 });
  assert.ok(await bob.locator('#step-compose').isVisible());
  assert.equal(await bob.inputValue('#message'), 'Akkoord met de planning.');
  assert.match(await bob.locator('#file-list').innerText(), /planning-getekend\.pdf/);
  assert.equal(pathsOf(bob, /\/reply$/).length, 2, 'a fresh reply session');
  await bob.click('#upload-button');
  await bob.locator('#step-reply-done').waitFor({ state: 'visible', timeout: 60_000 });
  const items = await inboxOf(server);
  assert.equal(items.length, 1);
  assert.equal(items[0].blobs.length, 2);
});

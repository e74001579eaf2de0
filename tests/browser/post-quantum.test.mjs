// Post-quantum keys in the browser (issue 14; docs/architecture.md §3,
// "Post-quantum recipients") against a real kluis-server: Alice makes a
// post-quantum key on /inbox (the form's option; the page says which kind
// the key is) and an upload request, whose link carries her `age1pq1…`
// recipient in its fragment; an outsider uploads a file through that link
// in a browser of their own, and Alice saves it from her inbox, byte for
// byte. Then she sends a package on the send page: as her key is
// post-quantum, so is the package (every blob's header has mlkem768x25519
// stanzas only), and the recipient page opens it from the link without
// being told its kind and saves the file, byte for byte; the recipient's
// secure reply reaches Alice's post-quantum key. A portal whose
// receivers have keys of both kinds takes nothing: its page says so before
// anything is asked, and the console's portal card names whose keys differ.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launch } from './support/browser.mjs';
import { contexts, openAsUploader, saveFromInbox, signInAdmin, signInInbox, unlockInbox, uploadCalls, PASSPHRASE } from './support/inbound.mjs';
import { KluisServer, sha256, testBytes } from './support/kluis.mjs';
import { fileRow, packageIdOf, stubbedFile } from './support/pages.mjs';

const ALICE = 'alice@example.org';
const ANN = 'ann@example.org';
const CAROL = 'carol@example.org';
const JAN = 'jan@klant.example';
const ORGANISATION = '[organisation]\nname = "Example Org"\n';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** The stanza types of an age file's header (the lines `-> TYPE …` before `---`). */
function stanzaTypes(file) {
  const end = file.indexOf(Buffer.from('\n---'));
  return file
    .subarray(0, end)
    .toString('latin1')
    .split('\n')
    .filter((line) => line.startsWith('-> '))
    .map((line) => line.split(' ')[1]);
}

test('a post-quantum key made on /inbox receives through an age1pq1 request link; its package opens on the recipient page', { timeout: 300_000 }, async (t) => {
  const server = await KluisServer.start({ config: ORGANISATION });
  const { open } = contexts(t, browser, server);
  await server.addUser(ALICE);

  // The key: the option is off by default and says what it costs.
  const alice = await open({ picker: 'stub' });
  await signInInbox(alice, server, ALICE);
  await alice.locator('#key-new').waitFor({ state: 'visible' });
  assert.equal(await alice.isChecked('#new-post-quantum'), false, 'classic unless asked');
  assert.match(await alice.locator('#new-post-quantum-hint').innerText(), /about 2000 characters/);
  await alice.check('#new-post-quantum');
  await alice.fill('#new-passphrase', PASSPHRASE);
  await alice.fill('#new-passphrase-again', PASSPHRASE);
  await alice.click('#key-new-submit');
  await alice.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
  assert.match(await alice.locator('#key-facts').innerText(), /post-quantum key/);
  const token = await server.token(ALICE);
  const state = await (await fetch(`${server.url}/api/v1/key`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.match(state.key.recipient, /^age1pq1[0-9a-z]{1900,}$/);

  // A request: its link carries the post-quantum recipient.
  await alice.fill('#request-uploads', '1');
  await alice.click('#request-submit');
  await alice.locator('#request-done').waitFor({ state: 'visible' });
  const link = await alice.inputValue('#request-link');
  assert.equal(link.split('#')[1], state.key.recipient);

  // The outsider uploads through it.
  const jan = await open();
  const code = await openAsUploader(jan, server, link, JAN);
  await jan.fill('#code', code);
  await jan.click('#code-submit');
  await jan.locator('#step-compose').waitFor({ state: 'visible' });
  const upload = testBytes((2 << 20) + 999, 91);
  await jan.setInputFiles('#files', [{ name: 'aangifte.pdf', mimeType: 'application/pdf', buffer: upload }]);
  await jan.locator('#file-list li').first().waitFor();
  await jan.click('#upload-button');
  await jan.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });

  await unlockInbox(alice);
  const saved = await saveFromInbox(alice, 'aangifte.pdf');
  assert.equal(sha256(saved), sha256(upload), 'the upload is identical');

  // A package from the send page (same sign-in): post-quantum, like Alice's key. Carol, a colleague
  // whose key is classic, gets the link only, and the done step says so.
  await server.addUser(CAROL);
  const dir = mkdtempSync(join(tmpdir(), 'kluis-pq-send-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'passphrase'), `${PASSPHRASE}\n`);
  const carolKey = ['key', 'init', '--passphrase-file', join(dir, 'passphrase'), '--identity', join(dir, 'carol.txt')];
  const made = await server.kluis([...carolKey, '--server', server.url, '--token', await server.token(CAROL)]);
  assert.equal(made.code, 0, made.stderr);
  await alice.goto(`${server.url}/`);
  await alice.locator('#step-compose').waitFor({ state: 'visible' });
  const data = testBytes((1 << 20) + 77, 92);
  await alice.setInputFiles('#files', [{ name: 'contract.pdf', mimeType: 'application/pdf', buffer: data }]);
  await alice.locator('#file-list li').first().waitFor();
  await alice.fill('#recipients', `${JAN}, ${CAROL}`);
  await alice.click('#options summary');
  await alice.check('#verify-none');
  await alice.click('#send-button');
  await alice.locator('#step-done').waitFor({ state: 'visible', timeout: 90_000 });
  const packageLink = await alice.inputValue('#link');
  assert.match(await alice.locator('#done-colleagues').innerText(), new RegExp(`^${CAROL.replace('.', '\\.')} get the link only`));
  const created = alice.sent.find((r) => r.method === 'POST' && new URL(r.url).pathname === '/api/v1/packages');
  assert.equal(JSON.parse(created.body.toString()).colleagues, undefined, 'Carol is not declared a colleague');
  const id = packageIdOf(packageLink);
  for (const idx of [0, 1]) {
    const blob = await fetch(`${server.url}/api/v1/packages/${id}/blobs/${idx}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(blob.status, 200);
    const types = stanzaTypes(Buffer.from(await blob.arrayBuffer()));
    assert.deepEqual([...new Set(types)], ['mlkem768x25519'], `blob ${idx}: ${types}`);
  }

  // The recipient page opens it from the link and saves the file.
  const recipient = await open({ picker: 'stub' });
  await recipient.goto(packageLink);
  await recipient.click('#unlock-submit');
  await recipient.locator('#step-files').waitFor({ state: 'visible', timeout: 60_000 });
  await fileRow(recipient, 'contract.pdf').getByRole('button').click();
  await fileRow(recipient, 'contract.pdf').getByText('Saved, and checked').waitFor({ timeout: 60_000 });
  const received = await stubbedFile(recipient, 'contract.pdf');
  assert.equal(received.closed, true);
  assert.equal(sha256(received.bytes), sha256(data), 'the package file is identical');

  // A secure reply goes to Alice's post-quantum key, and opens in her inbox.
  await recipient.click('#reply-start');
  await recipient.locator('#step-compose').waitFor({ state: 'visible' });
  const signed = testBytes(300_000, 93);
  await recipient.fill('#message', 'Getekend retour.');
  await recipient.setInputFiles('#files', [{ name: 'getekend.pdf', mimeType: 'application/pdf', buffer: signed }]);
  await recipient.locator('#file-list li').first().waitFor();
  await recipient.click('#upload-button');
  await recipient.locator('#step-reply-done').waitFor({ state: 'visible', timeout: 120_000 });
  await alice.goto(`${server.url}/inbox`);
  await unlockInbox(alice);
  assert.equal(sha256(await saveFromInbox(alice, 'getekend.pdf')), sha256(signed), 'the reply is identical');
});

test('a portal whose receivers have post-quantum and classic keys says it cannot take files, and the console names whose keys differ', { timeout: 180_000 }, async (t) => {
  const server = await KluisServer.start({ config: ORGANISATION });
  const { open } = contexts(t, browser, server);
  const dir = mkdtempSync(join(tmpdir(), 'kluis-pq-portal-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await server.admin('user', 'add', ANN, '--admin');
  await server.addUser(ALICE);
  await server.addUser(CAROL);
  // Alice's key is post-quantum, Carol's classic (made with the command line).
  const passphraseFile = join(dir, 'passphrase');
  writeFileSync(passphraseFile, `${PASSPHRASE}\n`);
  for (const [email, pq] of [[ALICE, true], [CAROL, false]]) {
    const args = ['key', 'init', ...(pq ? ['--pq'] : []), '--passphrase-file', passphraseFile, '--identity', join(dir, `${email}.txt`)];
    const made = await server.kluis([...args, '--server', server.url, '--token', await server.token(email)]);
    assert.equal(made.code, 0, made.stderr);
  }
  const ann = await server.token(ANN);
  const created = await fetch(`${server.url}/api/v1/admin/portals`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ann}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'intake', receivers: [ALICE, CAROL], verify: 'none' }),
  });
  assert.equal(created.status, 201);

  // The uploader is told at once; nothing is asked for, declared or uploaded.
  const bob = await open();
  await bob.goto(`${server.url}/upload/intake`);
  await bob.locator('#unavailable-title').getByText('This page cannot take files right now').waitFor();
  assert.match(await bob.locator('#unavailable-text').innerText(), /keys of two different kinds/);
  assert.deepEqual(uploadCalls(bob), []);
  assert.ok(!bob.sent.some((r) => /\/session$|\/code$/.test(new URL(r.url).pathname)), 'no session or code asked for');

  // The console's card says why, naming each receiver's kind.
  const admin = await open();
  await signInAdmin(admin, server, ANN);
  await admin.click('#tab-portals');
  const card = admin.locator('#portal-list > li[data-name=intake]');
  await card.waitFor();
  const warning = card.locator('.portal-mixed-keys');
  await warning.waitFor();
  assert.match(await warning.innerText(), new RegExp(`${ALICE.replace('.', '\\.')} have post-quantum keys and ${CAROL.replace('.', '\\.')} classic ones`));
  await card.locator('li', { hasText: ALICE }).locator('.badge', { hasText: 'post-quantum key' }).waitFor();
  await card.locator('li', { hasText: CAROL }).locator('.badge', { hasText: 'classic key' }).waitFor();
});

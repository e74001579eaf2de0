// A package to a colleague (docs/inbound.md, "Packages to colleagues")
// against a real kluis-server: Bob makes his key on /inbox; Alice sends a
// file on the send page to Bob (a colleague with a key) and to an outsider.
// The page looks Bob up, encrypts every blob to his key too and declares
// him; Bob unlocks his inbox with his passphrase and saves the file, byte
// for byte, with no link and no code. Revoked, it leaves Bob's inbox. (That
// the link still opens it is checked by the server and CLI tests.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { launch } from './support/browser.mjs';
import { contexts, makeKey, PASSPHRASE, saveFromInbox, signInInbox } from './support/inbound.mjs';
import { KluisServer, sha256, testBytes } from './support/kluis.mjs';
import { signIn } from './support/pages.mjs';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';
const JAN = 'jan@klant.example';
const ORGANISATION = '[organisation]\nname = "Example Org"\n';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

test('a package sent on the send page to a colleague opens from their inbox with their passphrase, identical', { timeout: 240_000 }, async (t) => {
  const server = await KluisServer.start({ config: ORGANISATION });
  const { open } = contexts(t, browser, server);
  await server.addUser(ALICE);
  await server.addUser(BOB);

  const bob = await open({ picker: 'stub' });
  await signInInbox(bob, server, BOB);
  await makeKey(bob, PASSPHRASE);

  const alice = await open();
  await signIn(alice, server, ALICE);
  const original = testBytes((1 << 20) + 4321, 61);
  await alice.setInputFiles('#files', [{ name: 'begroting 2027.xlsx', mimeType: 'application/octet-stream', buffer: original }]);
  await alice.locator('#file-list li').first().waitFor();
  await alice.fill('#recipients', `${BOB}, ${JAN}`);
  await alice.click('#send-button');
  await alice.locator('#step-done').waitFor({ state: 'visible', timeout: 90_000 });
  const link = await alice.inputValue('#link');
  const id = new URL(link).pathname.split('/').pop();
  // The done step says who has it in their inbox as well.
  assert.equal(
    await alice.locator('#done-colleagues').innerText(),
    `Also in the Kluis inbox of ${BOB}: as colleagues with a key, they open it there with their own key.`,
  );
  // Bob was looked up and declared with his key.
  const lookup = alice.sent.find((r) => r.method === 'POST' && new URL(r.url).pathname === '/api/v1/directory');
  assert.ok(lookup, 'the send page looks the recipients up');
  const created = alice.sent.find((r) => r.method === 'POST' && new URL(r.url).pathname === '/api/v1/packages');
  const declared = JSON.parse(created.body.toString()).colleagues;
  assert.deepEqual(declared.map((c) => c.email), [BOB]);

  // Bob's inbox, reloaded, is locked: the item is there; unlocked, the file opens, identical.
  await bob.reload();
  await bob.locator('#key-locked').waitFor({ state: 'visible' });
  const item = bob.locator('#inbox-list > li').first();
  await item.waitFor();
  assert.match(await item.innerText(), new RegExp(`Files from ${ALICE.replace(/\./g, '\\.')}, a colleague`));
  assert.equal(await item.getByRole('button', { name: /^Delete/ }).count(), 0, 'a colleague\'s package is theirs to revoke');
  assert.equal(await item.getAttribute('data-id'), id);
  await bob.fill('#unlock-passphrase', PASSPHRASE);
  await bob.click('#unlock-submit');
  await bob.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
  const saved = await saveFromInbox(bob, 'begroting 2027.xlsx');
  assert.equal(sha256(saved), sha256(original), 'the colleague\'s file is identical');

  // Revoked: gone from Bob's inbox.
  const token = await server.token(ALICE);
  const revoked = await server.kluis(['revoke', link, '--server', server.url, '--token', token]);
  assert.equal(revoked.code, 0, revoked.stderr);
  await bob.reload();
  await bob.locator('#key-locked').waitFor({ state: 'visible' });
  await bob.locator('#inbox-empty').waitFor({ state: 'visible' });
  assert.equal(await bob.locator('#inbox-list > li[data-id]').count(), 0);
});

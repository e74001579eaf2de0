// The Sent page reopens what the user sent with their own key (every blob
// is also encrypted to it, docs/inbound.md): a package sent before the key
// was made says it cannot be opened; one sent on the send page afterwards
// opens with the passphrase (a wrong one is refused), shows its subject and
// message, and saves its file byte for byte; Lock hides it again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launch } from './support/browser.mjs';
import { makeKey, PASSPHRASE } from './support/inbound.mjs';
import { KluisServer, sha256, testBytes } from './support/kluis.mjs';
import { newPage, packageIdOf, signIn, stubbedFile } from './support/pages.mjs';

const ALICE = 'alice@example.org';
const BOB = 'bob@client.example';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

test('the Sent page opens a package sent after the key was made with the passphrase and saves its file identical; an older one says it cannot be opened', { timeout: 240_000 }, async (t) => {
  const server = await KluisServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'kluis-sent-open-'));
  const { context, page } = await newPage(browser, { picker: 'stub' });
  t.after(async () => {
    await context.close().catch(() => {});
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await server.addUser(ALICE);

  // Before the key: sent from the command line.
  const old = join(dir, 'oud.txt');
  writeFileSync(old, 'van voor de sleutel');
  const sent = await server.kluis(['send', old, '--server', server.url, '--token', await server.token(ALICE), '--to', BOB]);
  assert.equal(sent.code, 0, sent.stderr);
  const oldId = packageIdOf(sent.stdout.trim());

  // Without a key the Sent page says how to get one and offers nothing to open.
  await signIn(page, server, ALICE);
  await page.goto(`${server.url}/sent`);
  await page.locator('#key-none').waitFor({ state: 'visible' });
  await page.locator(`#sent-list > li[data-id="${oldId}"]`).waitFor();
  assert.equal(await page.locator('.sent-open').count(), 0);

  // The key, then a package from the send page.
  await page.goto(`${server.url}/inbox`);
  await makeKey(page);
  await page.goto(`${server.url}/`);
  await page.locator('#step-compose').waitFor({ state: 'visible' });
  const data = testBytes((3 << 20) + 1234, 61);
  await page.setInputFiles('#files', [{ name: 'jaarrekening.pdf', mimeType: 'application/pdf', buffer: data }]);
  await page.locator('#file-list li').first().waitFor();
  await page.fill('#recipients', BOB);
  await page.fill('#subject', 'Jaarrekening 2025');
  await page.fill('#message', 'Zoals besproken.');
  await page.click('#send-button');
  await page.locator('#step-done').waitFor({ state: 'visible', timeout: 90_000 });
  const id = packageIdOf(await page.inputValue('#link'));

  await page.goto(`${server.url}/sent`);
  const item = page.locator(`#sent-list > li[data-id="${id}"]`);
  const older = page.locator(`#sent-list > li[data-id="${oldId}"]`);
  await item.waitFor();
  await page.locator('#key-locked').waitFor({ state: 'visible' });
  assert.match(await older.locator('.sent-note').first().innerText(), /Sent before you made your key, so it cannot be opened here\./);
  assert.equal(await older.locator('.sent-open').count(), 0, 'nothing to open on the older package');

  // Open while locked: unlock first.
  const open = item.getByRole('button', { name: /^Open the package sent .* to bob@client\.example$/ });
  await open.click();
  await page.locator('#notice[role=alert]').getByText('Unlock your key first').waitFor();

  // A wrong passphrase is refused, the right one unlocks.
  await page.fill('#unlock-passphrase', `${PASSPHRASE}?`);
  await page.click('#unlock-submit');
  await page.locator('#unlock-passphrase-error').getByText('That passphrase does not unlock your key.', { exact: false }).waitFor({ timeout: 60_000 });
  assert.ok(await page.locator('#key-locked').isVisible(), 'still locked');
  await page.fill('#unlock-passphrase', PASSPHRASE);
  await page.click('#unlock-submit');
  await page.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });

  await open.click();
  await item.locator('.inbox-body .message').first().waitFor();
  assert.deepEqual(await item.locator('.inbox-body .message').allInnerTexts(), ['Jaarrekening 2025', 'Zoals besproken.']);
  assert.equal(await open.getAttribute('aria-expanded'), 'true');
  const row = item.locator('.download', { has: page.locator('.file-name', { hasText: 'jaarrekening.pdf' }) });
  await row.getByRole('button', { name: 'Download jaarrekening.pdf' }).click();
  await row.getByText('Saved, and checked').waitFor({ timeout: 60_000 });
  const saved = await stubbedFile(page, 'jaarrekening.pdf');
  assert.equal(saved.closed, true);
  assert.equal(sha256(saved.bytes), sha256(data), 'the file is identical');

  // Lock hides what was opened.
  await page.click('#lock');
  await page.locator('#key-locked').waitFor({ state: 'visible' });
  assert.equal(await item.locator('.inbox-body').isHidden(), true);
  assert.equal(await open.getAttribute('aria-expanded'), 'false');
});

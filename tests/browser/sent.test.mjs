// The Sent page (sent.html) against a real kluis-server, with the real
// `kluis` command line as sender and recipients: each recipient's status in
// words (code asked, opened, downloaded), a package without verification by
// its opens, "show more" paging, and revoking from the page, after which the
// link says so.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launch } from './support/browser.mjs';
import { KluisServer } from './support/kluis.mjs';
import { newPage, packageIdOf, signIn } from './support/pages.mjs';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';
const CAROL = 'carol@example.org';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function setup(t) {
  const server = await KluisServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'kluis-sent-'));
  const contexts = [];
  t.after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const open = async () => {
    const { context, page } = await newPage(browser);
    contexts.push(context);
    return page;
  };
  return { server, dir, open };
}

async function cliSend(server, token, files, args = []) {
  const result = await server.kluis(['send', ...files, '--server', server.url, '--token', token, ...args]);
  assert.equal(result.code, 0, `kluis send failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** The list item of package `id` on the Sent page. */
function item(page, id) {
  return page.locator(`#sent-list > li[data-id="${id}"]`);
}

function recipientRow(page, id, email) {
  return item(page, id).locator('.sent-recipients li', { has: page.locator('.sent-email', { hasText: email }) });
}

test('the Sent page shows each recipient\'s status, pages, and revokes with a confirmation', { timeout: 180_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  await server.addUser(ALICE);
  const token = await server.token(ALICE);
  const a = join(dir, 'a.txt');
  const b = join(dir, 'b.txt');
  writeFileSync(a, 'first file');
  writeFileSync(b, 'second file');
  const link = await cliSend(server, token, [a, b], ['--to', BOB, '--to', CAROL, '--max-downloads', '3']);
  const id = packageIdOf(link);

  // Bob verifies and downloads both files; Carol only asks for a code.
  const out = join(dir, 'bob');
  let result = await server.kluis(['receive', link, '-o', out, '--email', BOB]);
  assert.equal(result.code, 2, result.stderr);
  const code = await server.code(BOB);
  result = await server.kluis(['receive', link, '-o', out, '--email', BOB, '--code', code]);
  assert.equal(result.code, 0, result.stderr);
  result = await server.kluis(['receive', link, '-o', join(dir, 'carol'), '--email', CAROL]);
  assert.equal(result.code, 2, result.stderr);
  await server.code(CAROL);

  // A package without verification, opened once by someone unknown.
  const open1 = await cliSend(server, token, [a], ['--verify', 'none']);
  result = await server.kluis(['receive', open1, '-o', join(dir, 'anyone')]);
  assert.equal(result.code, 0, result.stderr);

  const page = await open();
  await signIn(page, server, ALICE);
  // The link in the send page's header leads to the Sent page.
  await page.getByRole('link', { name: 'Sent' }).click();
  await page.waitForURL(`${server.url}/sent`);
  await page.waitForSelector(`#sent-list > li[data-id="${id}"]`);

  const bob = recipientRow(page, id, BOB);
  await assert.doesNotReject(bob.waitFor());
  assert.match(await bob.innerText(), /opened .+, downloaded both files/);
  assert.match(await recipientRow(page, id, CAROL).innerText(), /code asked .+, not opened yet/);
  const facts = await item(page, id).locator('.sent-facts').innerText();
  assert.match(facts, /Expires/);
  assert.match(facts, /Opened 1 of 3 times, 2 left/);
  assert.match(await item(page, id).locator('h2').innerText(), /2 files/);
  const anonymous = item(page, packageIdOf(open1));
  assert.match(await anonymous.locator('.sent-recipients').innerText(), /anyone with the link: opened once/);
  assert.match(await anonymous.locator('.sent-note').innerText(), /who opened it is not known/);
  // Both listed once (newest first; sent within the same second they may come in either order).
  const ids = await page.locator('#sent-list > li').evaluateAll((lis) => lis.map((li) => li.dataset.id));
  assert.deepEqual(ids.toSorted(), [packageIdOf(open1), id].toSorted());
  assert.equal(await page.locator('#sent-more').isHidden(), true);

  // Revoke: a named button per package, a confirmation (declined once), then the row says so.
  const revoke = item(page, id).getByRole('button', { name: /^Revoke the package sent .* to bob@example\.org, carol@example\.org$/ });
  page.once('dialog', (dialog) => dialog.dismiss());
  await revoke.click();
  assert.equal((await server.package(token, id)).state, 'ready');
  page.once('dialog', (dialog) => {
    assert.match(dialog.message(), /stops working for good/);
    dialog.accept();
  });
  await revoke.click();
  await item(page, id).locator('.badge', { hasText: 'Revoked' }).waitFor();
  assert.match(await page.locator('#notice').innerText(), /Revoked/);
  assert.match(await item(page, id).locator('.sent-facts').innerText(), /Revoked: the link no longer opens/);
  assert.equal(await item(page, id).getByRole('button', { name: /Revoke/ }).count(), 0);
  assert.equal((await server.package(token, id)).state, 'revoked');

  // The recipient's link now says the files were withdrawn.
  const recipient = await open();
  await recipient.goto(link);
  await recipient.getByText('The sender withdrew these files').waitFor();

  // "Show more": past the first page of 20.
  for (let i = 0; i < 20; i += 1) await cliSend(server, token, [a], ['--verify', 'none']);
  await page.reload();
  await page.waitForSelector('#sent-list > li');
  assert.equal(await page.locator('#sent-list > li').count(), 20);
  await page.locator('#sent-more').click();
  await page.locator('#sent-list > li').nth(21).waitFor();
  assert.equal(await page.locator('#sent-list > li').count(), 22);
  assert.equal(await page.locator('#sent-more').isHidden(), true);
  assert.equal(await page.locator(`#sent-list > li[data-id="${id}"] .badge`).innerText(), 'Revoked');
});

test('the Sent page without a sign-in links to the send page', { timeout: 60_000 }, async (t) => {
  const { server, open } = await setup(t);
  const page = await open();
  await page.goto(`${server.url}/sent`);
  await page.getByRole('heading', { name: 'Sign in to see what you sent' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'Sign in on the send page' }).getAttribute('href'), '/');
});

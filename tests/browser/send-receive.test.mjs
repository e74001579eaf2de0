// The send page and the recipient page against a real kluis-server, with
// the real `kluis` command line on the other side: bytes must arrive
// identical in both directions, damage must never look like a finished
// download, every dead link must say why, and an interrupted upload must
// continue after a reload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launch } from './support/browser.mjs';
import { KluisServer, sha256, sleep, testBytes } from './support/kluis.mjs';
import { fileRow, newPage, packageIdOf, signIn, stubbedFile } from './support/pages.mjs';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** A server, a temp folder and contexts that are all cleaned up after the test. */
async function setup(t) {
  const server = await KluisServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'kluis-pages-'));
  const contexts = [];
  t.after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const open = async (options) => {
    const { context, page } = await newPage(browser, options);
    contexts.push(context);
    return page;
  };
  return { server, dir, open };
}

/** `kluis send` from the command line; returns the link. */
async function cliSend(server, token, files, args = []) {
  const result = await server.kluis(['send', ...files, '--server', server.url, '--token', token, ...args]);
  assert.equal(result.code, 0, `kluis send failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** `kluis receive`, answering the e-mail code when the package asks for one. */
async function cliReceive(server, link, out, { email, passwordFile } = {}) {
  const base = ['receive', link, '-o', out, ...(passwordFile ? ['--password-file', passwordFile] : [])];
  let result = await server.kluis(email ? [...base, '--email', email] : base);
  if (email && result.code === 2) {
    const code = await server.code(email);
    result = await server.kluis([...base, '--email', email, '--code', code]);
  }
  assert.equal(result.code, 0, `kluis receive failed: ${result.stderr}`);
  return result;
}

/** Opens a package without verification or password and waits for the file list. */
async function openSimple(page, link) {
  await page.goto(link);
  await page.click('#unlock-submit');
  await page.locator('#step-files').waitFor({ state: 'visible' });
}

test('kluis send → browser receive: e-mail code, password (a wrong one first), identical bytes', { timeout: 120_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  const token = await server.token(ALICE);
  const data = testBytes((3 << 20) + 12_345, 11);
  writeFileSync(join(dir, 'Rapport Q3.pdf'), data);
  writeFileSync(join(dir, 'password'), 'paard batterij nietje\n');
  const link = await cliSend(server, token, [join(dir, 'Rapport Q3.pdf')], [
    '--to', BOB, '--verify', 'email', '--password-file', join(dir, 'password'),
    '--subject', 'Cijfers', '--message', 'Hallo Bob,\nhier zijn ze.',
  ]);

  const page = await open();
  await page.goto(link);
  await page.locator('#step-email').waitFor({ state: 'visible' });
  await page.fill('#email', BOB);
  await page.click('#email-form button[type=submit]');
  await page.locator('#code-field').waitFor({ state: 'visible' });
  assert.ok(await page.locator('#password-field').isVisible(), 'the password is asked for with the code, before the access check');
  const code = await server.code(BOB);

  // A wrong code costs a try and says how many are left.
  const wrong = code === '000000' ? '111111' : '000000';
  await page.fill('#code', wrong);
  await page.fill('#password', 'paard batterij nietje');
  await page.click('#unlock-submit');
  await page.locator('#code-error').getByText('That code is not right. You can try 4 more times.').waitFor();

  // The right code with a wrong password: the package opens once, the password is retried locally.
  await page.fill('#code', code);
  await page.fill('#password', 'paard batterij');
  await page.click('#unlock-submit');
  await page.locator('#password-error').getByText('That password is not right').waitFor({ timeout: 30_000 });
  assert.ok(await page.locator('#code-field').isHidden(), 'no second code is needed');
  await page.fill('#password', 'paard batterij nietje');
  await page.click('#unlock-submit');
  await page.locator('#step-files').waitFor({ state: 'visible', timeout: 30_000 });

  assert.equal(await page.locator('#files-title').innerText(), 'Cijfers');
  assert.equal(await page.locator('#files-message').innerText(), 'Hallo Bob,\nhier zijn ze.');
  const row = fileRow(page, 'Rapport Q3.pdf');
  const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: 'Download Rapport Q3.pdf' }).click()]);
  assert.equal(download.suggestedFilename(), 'Rapport Q3.pdf');
  assert.equal(await download.failure(), null);
  const saved = join(dir, 'saved.pdf');
  await download.saveAs(saved);
  assert.equal(sha256(readFileSync(saved)), sha256(data), 'the downloaded file is identical');
  await row.getByText('checked: the file is exactly what was sent').waitFor();

  // One access only: the wrong password did not count a second download.
  const status = await (await fetch(`${server.url}/api/v1/packages/${packageIdOf(link)}`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.equal(status.downloads, 1);
});

test('browser send → kluis receive: sign in with a code, two files, e-mail verification and password', { timeout: 120_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  await server.addUser(ALICE);
  const page = await open();
  await signIn(page, server, ALICE);
  assert.equal(await page.locator('#account-email').innerText(), ALICE);

  const big = testBytes((6 << 20) + 777, 21);
  const small = testBytes(70_000, 22);
  await page.setInputFiles('#files', [
    { name: 'groot bestand.bin', mimeType: 'application/octet-stream', buffer: big },
    { name: 'klein.txt', mimeType: 'text/plain', buffer: small },
  ]);
  await page.locator('#file-list li').nth(1).waitFor();
  await page.fill('#recipients', `${BOB}, carol@example.org`);
  await page.fill('#subject', 'Contract');
  await page.fill('#message', 'Zie bijlagen.');
  await page.check('#verify-email');
  await page.fill('#password', 'geheim wachtwoord');
  await page.fill('#max-downloads', '3');
  await page.click('#send-button');
  await page.locator('#step-done').waitFor({ state: 'visible', timeout: 60_000 });
  const link = await page.inputValue('#link');
  assert.match(link, new RegExp(`^${server.url}/p/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$`));
  assert.ok(await page.locator('#done-password').isVisible(), 'the sender is reminded to share the password separately');

  // Nothing secret is left behind in IndexedDB.
  const left = await page.evaluate(async () => (await import('/js/send-store.js')).listSends('alice@example.org'));
  assert.deepEqual(left, []);

  writeFileSync(join(dir, 'password'), 'geheim wachtwoord\n');
  const out = join(dir, 'out');
  const result = await cliReceive(server, link, out, { email: BOB, passwordFile: join(dir, 'password') });
  assert.match(result.stderr, /Subject: Contract/);
  assert.equal(sha256(readFileSync(join(out, 'groot bestand.bin'))), sha256(big));
  assert.equal(sha256(readFileSync(join(out, 'klein.txt'))), sha256(small));

  // The package has the options chosen in the form.
  const token = await server.token(ALICE);
  const info = await (await fetch(`${server.url}/api/v1/packages/${packageIdOf(link)}`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.equal(info.verify, 'email');
  assert.equal(info.password, true);
  assert.equal(info.max_downloads, 3);
  assert.deepEqual(info.recipients.sort(), [BOB, 'carol@example.org']);
});

test('a flipped byte in a stored blob is never offered as a complete download', { timeout: 120_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  const token = await server.token(ALICE);
  const good = testBytes(400_000, 31);
  const bad = testBytes((2 << 20) + 5, 32);
  writeFileSync(join(dir, 'good.bin'), good);
  writeFileSync(join(dir, 'bad.bin'), bad);
  const link = await cliSend(server, token, [join(dir, 'good.bin'), join(dir, 'bad.bin')], ['--to', BOB, '--verify', 'none']);
  // Blob 2 is the second file; flip one byte in its middle.
  const blob = server.blobPath(packageIdOf(link), 2);
  const bytes = readFileSync(blob);
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  writeFileSync(blob, bytes);

  // Through the service worker and the browser's download manager.
  const page = await open();
  await openSimple(page, link);
  const goodRow = fileRow(page, 'good.bin');
  const [okDownload] = await Promise.all([page.waitForEvent('download'), goodRow.getByRole('button').click()]);
  assert.equal(await okDownload.failure(), null);
  assert.equal(sha256(readFileSync(await okDownload.path())), sha256(good));

  const badRow = fileRow(page, 'bad.bin');
  const [badDownload] = await Promise.all([page.waitForEvent('download'), badRow.getByRole('button').click()]);
  await badRow.getByText('This file was changed or damaged after it was sent, so it was not saved.').waitFor({ timeout: 30_000 });
  await page.locator('#notice[role=alert]').getByText('bad.bin: This file was changed or damaged').waitFor();
  assert.notEqual(await badDownload.failure(), null, 'the browser marks the download as failed');
  assert.equal(await badDownload.path().catch(() => null), null, 'no finished file is left');

  // Through the File System Access API (an in-memory fake of it): written, then aborted, never closed.
  const picker = await open({ picker: 'stub' });
  await openSimple(picker, link);
  await fileRow(picker, 'good.bin').getByRole('button').click();
  await fileRow(picker, 'good.bin').getByText('Saved, and checked').waitFor();
  const saved = await stubbedFile(picker, 'good.bin');
  assert.equal(saved.closed, true);
  assert.equal(sha256(saved.bytes), sha256(good));
  await fileRow(picker, 'bad.bin').getByRole('button').click();
  await fileRow(picker, 'bad.bin').getByText('was not saved').waitFor({ timeout: 30_000 });
  const aborted = await stubbedFile(picker, 'bad.bin');
  assert.equal(aborted.closed, false, 'the damaged file is never closed (committed)');
  assert.equal(aborted.aborted, true, 'the damaged file is aborted (thrown away)');
});

/** Moves a package's expiry into the past by rewriting the SQLite file (the server has no test hook). */
async function expirePackage(server, id, token) {
  const { expires_at: iso } = await (await fetch(`${server.url}/api/v1/packages/${id}`, { headers: { Authorization: `Bearer ${token}` } })).json();
  const expiresAt = Math.round(Date.parse(iso) / 1000);
  await server.stop();
  // Opening and closing the database once more checkpoints the WAL into the main file.
  await server.addUser('checkpoint@example.org');
  const wal = join(server.data, 'kluis.db-wal');
  if (existsSync(wal) && statSync(wal).size > 0) return false;
  const db = join(server.data, 'kluis.db');
  const file = readFileSync(db);
  // SQLite stores this time as a 4-byte big-endian integer (record serial type 4), in the row and in the expiry index.
  const find = Buffer.alloc(4);
  find.writeInt32BE(expiresAt);
  const replace = Buffer.alloc(4);
  replace.writeInt32BE(expiresAt - 30 * 86_400);
  let count = 0;
  for (let at = file.indexOf(find); at >= 0; at = file.indexOf(find, at + 4)) {
    replace.copy(file, at);
    count += 1;
  }
  writeFileSync(db, file);
  await server.spawn();
  return count > 0;
}

test('expired, withdrawn, used-up, unknown and cut-short links each say why', { timeout: 120_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  const token = await server.token(ALICE);
  writeFileSync(join(dir, 'a.txt'), 'hello');
  const send = (args = []) => cliSend(server, token, [join(dir, 'a.txt')], ['--to', BOB, '--verify', 'none', ...args]);

  const expect = async (link, title, { locale } = {}) => {
    const page = await open({ locale });
    await page.goto(link);
    await page.locator('#unavailable-title').getByText(title).waitFor();
    assert.ok(await page.locator('#step-unavailable').isVisible());
    await page.context().close();
  };

  // Download limit: one download allowed, the command line takes it.
  const limited = await send(['--max-downloads', '1']);
  await cliReceive(server, limited, join(dir, 'out1'));
  await expect(limited, 'These files cannot be downloaded any more');
  await expect(limited, 'Deze bestanden kunnen niet meer worden gedownload', { locale: 'nl-NL' });

  // Revoked with `kluis revoke`.
  const revoked = await send();
  const result = await server.kluis(['revoke', revoked, '--token', token]);
  assert.equal(result.code, 0, result.stderr);
  await expect(revoked, 'The sender withdrew these files');

  // Not found, and the key cut off the link.
  const fine = await send();
  const id = packageIdOf(fine);
  await expect(fine.replace(id, `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`), 'Nothing found at this link');
  await expect(fine.slice(0, -10), 'This link is incomplete');
  await expect(fine.split('#')[0], 'This link is incomplete');
  await expect(fine.split('#')[0], 'Deze link is onvolledig', { locale: 'nl' });

  // A changed key (same length) does not open the file list.
  const secret = fine.split('#')[1];
  const changed = `${fine.split('#')[0]}#${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`;
  const page = await open();
  await page.goto(changed);
  await page.click('#unlock-submit');
  await page.locator('#unavailable-title').getByText('This link does not open the files').waitFor();

  // Expired: the server has no clock to turn, so the expiry is moved back in its database file.
  const expiring = await send();
  const moved = await expirePackage(server, packageIdOf(expiring), token);
  if (!moved) {
    t.diagnostic('expiry not tested: the database could not be rewritten in place');
    return;
  }
  await expect(expiring, 'These files have expired');
});

test('an interrupted upload continues after a reload without sending anything twice', { timeout: 180_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  await server.addUser(ALICE);
  // A real file on disk: choosing it again gives the same name, size and modification time.
  const data = testBytes((20 << 20) + 4321, 41);
  const path = join(dir, 'video.mp4');
  writeFileSync(path, data);

  const page = await open();
  page.on('dialog', (dialog) => dialog.accept());
  await signIn(page, server, ALICE);
  await page.setInputFiles('#files', path);
  await page.check('#verify-none');
  await page.fill('#recipients', BOB);

  // Let the first body through, hold the second until the upload is paused.
  const patches = [];
  page.on('request', (request) => {
    if (request.method() === 'PATCH') patches.push(Number(request.headers()['upload-offset']));
  });
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  let seen = 0;
  await page.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && ++seen === 2) {
      await held;
      await route.abort('connectionreset').catch(() => {});
      return;
    }
    await route.continue().catch(() => {});
  });
  await page.click('#send-button');
  await page.waitForFunction(() => document.querySelector('#progress-bar').value > 300, null, { timeout: 60_000 });
  while (seen < 2) await sleep(50);
  await page.click('#pause');
  await page.locator('#progress-title').getByText('Paused').waitFor();
  release();
  await page.unroute('**/api/v1/uploads/*');
  const before = patches.length;

  // Reload: the page offers to continue and asks for the same file.
  await page.reload();
  await page.locator('#step-resume').waitFor({ state: 'visible' });
  assert.ok(await page.locator('#resume-continue').isDisabled());
  await page.setInputFiles('#resume-files', path);
  await page.locator('#resume-list').getByText('Ready').waitFor();

  // One more broken connection after the reload: retried automatically.
  let broken = false;
  await page.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && !broken) {
      broken = true;
      await route.abort('connectionreset');
      return;
    }
    await route.continue();
  });
  await page.click('#resume-continue');
  await page.locator('#step-done').waitFor({ state: 'visible', timeout: 90_000 });
  assert.ok(broken, 'a connection was broken after the reload');
  const link = await page.inputValue('#link');

  const after = patches.slice(before);
  assert.ok(after.length >= 2, `PATCHes after the reload: ${after}`);
  assert.ok(after[0] > 0, `the upload continued where the server stopped (first offset ${after[0]}), not from 0`);
  assert.equal(await page.evaluate(async () => (await import('/js/send-store.js')).listSends('alice@example.org').then((l) => l.length)), 0);

  const out = join(dir, 'out');
  await cliReceive(server, link, out);
  assert.deepEqual(readdirSync(out), ['video.mp4']);
  assert.equal(sha256(readFileSync(join(out, 'video.mp4'))), sha256(data), 'the file arrives identical');
});

// The send page and the recipient page against a real kluis-server, with
// the real `kluis` command line on the other side: bytes must arrive
// identical in both directions, damage must never look like a finished
// download, every dead link must say why, and an interrupted upload must
// continue after a reload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launch } from './support/browser.mjs';
import { KluisServer, sha256, sleep, testBytes } from './support/kluis.mjs';
import { startCuttingProxy } from './support/proxy.mjs';
import { startServer } from './support/server.mjs';
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
async function setup(t, options) {
  const server = await KluisServer.start(options);
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

/** The organisation the sender cards name. */
const ORGANISATION = '[organisation]\nname = "Example Org"\n';

/** The sender card for a package Alice sent today with `files` files: what the page shows before it asks anything. */
async function senderCard(server, token, id, files) {
  const { created_at: sent } = await server.package(token, id);
  const day = new Intl.DateTimeFormat('en-GB', { dateStyle: 'long' }).format(new Date(sent));
  return `From ${ALICE} · Example Org · ${files === 1 ? '1 file' : `${files} files`}, sent ${day}`;
}

/** Opens a package without verification or password and waits for the file list. */
async function openSimple(page, link) {
  await page.goto(link);
  await page.click('#unlock-submit');
  await page.locator('#step-files').waitFor({ state: 'visible' });
}

test('kluis send → browser receive: e-mail, then the password (a wrong one refused first, no mail, nothing counted), then the code, identical bytes', { timeout: 120_000 }, async (t) => {
  const { server, dir, open } = await setup(t, { config: ORGANISATION });
  const token = await server.token(ALICE);
  const data = testBytes((3 << 20) + 12_345, 11);
  writeFileSync(join(dir, 'Rapport Q3.pdf'), data);
  writeFileSync(join(dir, 'password'), 'paard batterij nietje\n');
  const link = await cliSend(server, token, [join(dir, 'Rapport Q3.pdf')], [
    '--to', BOB, '--verify', 'email', '--password-file', join(dir, 'password'),
    '--subject', 'Cijfers', '--message', 'Hallo Bob,\nhier zijn ze.',
  ]);
  const id = packageIdOf(link);

  // The address first: with a password, the button only continues (no code yet).
  // Above it, who sent the files (from the link alone: no password, nothing counted).
  const page = await open();
  await page.goto(link);
  await page.locator('#step-email').waitFor({ state: 'visible' });
  const card = await senderCard(server, token, id, 1);
  assert.equal(await page.locator('#sender-email').innerText(), card);
  assert.equal((await server.package(token, id)).downloads, 0);
  assert.equal(await page.locator('#email-form button[type=submit]').innerText(), 'Continue');
  await page.fill('#email', BOB);
  await page.click('#email-form button[type=submit]');

  // Then the password alone: the code is asked for with the access proof, which needs it.
  await page.locator('#password-field').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#sender-unlock').innerText(), card);
  assert.ok(await page.locator('#code-field').isHidden(), 'no code field before the password');
  assert.equal(await page.locator('#unlock-submit').innerText(), 'Send me a code');
  assert.equal(await page.locator('#unlock-intro').innerText(), 'These files are protected with a password. Enter it first; then we send you the code.');

  // A wrong password is refused by the server: no code is mailed, nothing is counted.
  await page.fill('#password', 'paard batterij');
  await page.click('#unlock-submit');
  await page.locator('#password-error').getByText('That password is not right. Check it and try again; nothing was counted.').waitFor({ timeout: 30_000 });
  const passwordBox = await page.locator('#password').boundingBox();
  const fieldBox = await page.locator('#password-field').boundingBox();
  assert.ok(passwordBox.width > fieldBox.width / 2, `the error does not squash the field (${passwordBox.width} of ${fieldBox.width} px)`);
  assert.ok(await page.locator('#code-field').isHidden(), 'still no code field');
  assert.equal(await page.inputValue('#password'), '', 'the wrong password is cleared');
  assert.equal((await server.package(token, id)).downloads, 0);
  assert.equal(server.mailCount(BOB), 0, 'no code mail for a wrong password');

  // The right password: now the code is sent, and the password is not asked again.
  await page.fill('#password', 'paard batterij nietje');
  await page.click('#unlock-submit');
  await page.locator('#code-field').waitFor({ state: 'visible', timeout: 30_000 });
  assert.ok(await page.locator('#password-field').isHidden(), 'the password is not asked twice');
  // Had the refused request mailed a code, this one would be refused as too soon (one code a minute).
  assert.ok(await page.locator('#notice').isHidden(), `no "wait before asking again": ${await page.locator('#notice').innerText()}`);
  assert.equal(await page.locator('#unlock-intro').innerText(), `If ${BOB} is one of the recipients, a code is on its way to it. It is valid for 10 minutes.`);
  const code = await server.code(BOB);

  // A wrong code costs a try and says how many are left.
  const wrong = code === '000000' ? '111111' : '000000';
  await page.fill('#code', wrong);
  await page.click('#unlock-submit');
  await page.locator('#code-error').getByText('That code is not right. You can try 4 more times.').waitFor();

  await page.fill('#code', code);
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

  // One access only, and one mail to Bob only (the code): the refused password sent none.
  assert.equal((await server.package(token, id)).downloads, 1);
  assert.equal(server.mailCount(BOB), 1);
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
  // Protection and limits: folded, with the choices in one line.
  assert.equal(await page.locator('#options-summary').innerText(), '7 days · code by e-mail · no password');
  await page.click('#options summary');
  await page.check('#verify-email');
  await page.fill('#password', 'geheim wachtwoord');
  await page.fill('#max-downloads', '3');
  await page.selectOption('#expires', '14');
  await page.check('#notify');
  await page.click('#send-button');
  await page.locator('#step-done').waitFor({ state: 'visible', timeout: 60_000 });
  const link = await page.inputValue('#link');
  assert.match(link, new RegExp(`^${server.url}/p/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$`));
  assert.ok(await page.locator('#done-password').isVisible(), 'the sender is reminded to share the password separately');
  // Kluis never mails the link: the sender's own mail program does, addressed and filled in.
  const mailto = new URL(await page.getAttribute('#mail-link', 'href'));
  assert.equal(mailto.protocol, 'mailto:');
  assert.equal(decodeURIComponent(mailto.pathname), `${BOB},carol@example.org`);
  assert.equal(mailto.searchParams.get('subject'), 'Files for you', 'not the package subject, which is encrypted');
  assert.ok(mailto.searchParams.get('body').includes(link));

  // Nothing secret is left behind in IndexedDB.
  const left = await page.evaluate(async () => (await import('/js/shared/send-store.js')).listSends('alice@example.org'));
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
  assert.equal(info.notify_on_download, true);
  const days = (Date.parse(info.expires_at) - Date.parse(info.created_at)) / 86_400_000;
  assert.equal(Math.round(days), 14);
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
  // The first response for good.bin is cut in half: the page continues with a Range request.
  const picker = await open({ picker: 'stub' });
  await openSimple(picker, link);
  const ranges = [];
  await picker.route('**/api/v1/p/*/blobs/1', async (route) => {
    ranges.push(route.request().headers().range ?? null);
    if (ranges.length > 1) return route.continue();
    const response = await route.fetch();
    const body = await response.body();
    return route.fulfill({ status: 200, contentType: 'application/octet-stream', body: body.subarray(0, body.length >> 1) });
  });
  await fileRow(picker, 'good.bin').getByRole('button').click();
  await fileRow(picker, 'good.bin').getByText('Saved, and checked').waitFor({ timeout: 30_000 });
  const saved = await stubbedFile(picker, 'good.bin');
  assert.equal(saved.closed, true);
  assert.equal(sha256(saved.bytes), sha256(good));
  assert.equal(ranges.length, 2);
  assert.match(ranges[1], /^bytes=\d+-$/, 'the broken download resumed with a Range request');
  await fileRow(picker, 'bad.bin').getByRole('button').click();
  await fileRow(picker, 'bad.bin').getByText('was not saved').waitFor({ timeout: 30_000 });
  const aborted = await stubbedFile(picker, 'bad.bin');
  assert.equal(aborted.closed, false, 'the damaged file is never closed (committed)');
  assert.equal(aborted.aborted, true, 'the damaged file is aborted (thrown away)');
});

test('a blob swapped for another of the same package (same key, same size) is refused before a byte is written', { timeout: 120_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  const token = await server.token(ALICE);
  const [first, second] = [testBytes(300_000, 41), testBytes(300_000, 42)];
  writeFileSync(join(dir, 'first.bin'), first);
  writeFileSync(join(dir, 'second.bin'), second);
  const link = await cliSend(server, token, [join(dir, 'first.bin'), join(dir, 'second.bin')], ['--to', BOB, '--verify', 'none']);
  // Both decrypt with the package key: only the manifest's header hash tells them apart.
  const [one, two] = [server.blobPath(packageIdOf(link), 1), server.blobPath(packageIdOf(link), 2)];
  const [oneBytes, twoBytes] = [readFileSync(one), readFileSync(two)];
  writeFileSync(one, twoBytes);
  writeFileSync(two, oneBytes);

  const page = await open({ picker: 'stub' });
  await openSimple(page, link);
  await fileRow(page, 'first.bin').getByRole('button').click();
  await fileRow(page, 'first.bin').getByText('was not saved').waitFor({ timeout: 30_000 });
  const refused = await stubbedFile(page, 'first.bin');
  assert.equal(refused.bytes.length, 0, 'not a byte of the other file was written');
  assert.equal(refused.closed, false);
});

test('a download whose connection breaks mid-file continues with a Range request, with and without a BYOB reader', { timeout: 120_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  const token = await server.token(ALICE);
  const data = testBytes((5 << 20) + 4321, 33);
  writeFileSync(join(dir, 'scan.tiff'), data);
  const link = await cliSend(server, token, [join(dir, 'scan.tiff')], ['--to', BOB, '--verify', 'none', '--max-downloads', '5']);
  // Each first response for the file (no Range) is cut 3 MiB + 777 bytes in: halfway through
  // the page's second 2 MiB piece, whose bytes are lost with the connection.
  const CUT = (3 << 20) + 777;
  const proxy = await startCuttingProxy(server.url, (req) => (/\/blobs\/1$/.test(req.url) && !req.headers.range ? CUT : null));
  t.after(() => proxy.close());
  const viaProxy = link.replace(server.url, proxy.url);

  for (const byob of [true, false]) {
    const page = await open({ picker: 'stub' });
    if (!byob) {
      // As in browsers whose fetch bodies are not byte streams: only a default reader.
      await page.addInitScript(() => {
        const getReader = ReadableStream.prototype.getReader;
        ReadableStream.prototype.getReader = function (options) {
          if (options?.mode === 'byob') throw new TypeError('no BYOB reader here');
          return getReader.call(this, options);
        };
      });
    }
    await openSimple(page, viaProxy);
    const row = fileRow(page, 'scan.tiff');
    await row.getByRole('button').click();
    await row.getByText('Saved, and checked').waitFor({ timeout: 30_000 });
    const saved = await stubbedFile(page, 'scan.tiff');
    assert.equal(saved.closed, true);
    assert.equal(sha256(saved.bytes), sha256(data), `identical bytes (${byob ? 'BYOB' : 'default'} reader)`);
    const ranges = proxy.requests.filter((r) => /\/blobs\/1$/.test(r.url)).map((r) => r.range);
    const resumed = Number(ranges.at(-1)?.match(/^bytes=(\d+)-$/)?.[1]);
    assert.equal(ranges.at(-2), null, 'the first request asks for the whole file');
    assert.ok(resumed > 0 && resumed <= CUT, `the second asks for the rest, from at most where the connection broke (${ranges.at(-1)})`);
  }
});

/** Moves a package's expiry into the past, with Python's sqlite3 (the database is in WAL mode, so the running server sees it). */
function expirePackage(server, id) {
  const sql = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=10); " +
    "n = c.execute(\"UPDATE packages SET expires_at = strftime('%s','now') - 1 WHERE id = ?\", (sys.argv[2],)).rowcount; " +
    "c.commit(); sys.exit(0 if n == 1 else 1)";
  execFileSync('python3', ['-c', sql, join(server.data, 'kluis.db'), id]);
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
  // The API token goes only to the server named with --server (or KLUIS_SERVER), never to the one a link names.
  const result = await server.kluis(['revoke', revoked, '--server', server.url, '--token', token]);
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

  // Five wrong codes lock the code.
  const verified = await cliSend(server, token, [join(dir, 'a.txt')], ['--to', 'carol@example.org', '--verify', 'email']);
  const locking = await open();
  await locking.goto(verified);
  await locking.fill('#email', 'carol@example.org');
  await locking.click('#email-form button[type=submit]');
  const real = await server.code('carol@example.org');
  // No new code within the minute: the button says when instead of inviting a refusal. (The mail can
  // reach the outbox before the page has handled the server's answer: wait for the page, briefly.)
  await locking.waitForFunction(() => document.querySelector('#resend-code').disabled, null, { timeout: 5000 });
  assert.match(await locking.textContent('#unlock-wait'), /^You can ask for a new code in (1:00|0:[0-5]\d)\.$/);
  const wrongCode = real === '123456' ? '654321' : '123456';
  for (let left = 4; left >= 1; left--) {
    await locking.fill('#code', wrongCode);
    await locking.click('#unlock-submit');
    const text = left === 1 ? 'You can try once more.' : `You can try ${left} more times.`;
    await locking.locator('#code-error').getByText(text).waitFor();
  }
  await locking.fill('#code', wrongCode);
  await locking.click('#unlock-submit');
  // For good, for this address (the server refuses even the right code): nothing on the page offers to try.
  await locking.locator('#notice[role=alert]').getByText('Too many wrong codes: these files can no longer be opened with a code for this address.').waitFor();
  await locking.waitForFunction(() => !document.querySelector('#unlock-form').hasAttribute('aria-busy'));
  assert.ok(await locking.isDisabled('#unlock-submit'), 'Open is still offered');
  assert.ok(await locking.isDisabled('#resend-code'), 'a new code is still offered');
  assert.equal(await locking.textContent('#unlock-wait'), 'Ask the sender to send the files again.');
  assert.equal(await locking.isVisible('#code-error'), false, 'the wrong-code message stayed beside the lock');

  // Expired: the expiry is moved into the past in the database.
  const expiring = await send();
  expirePackage(server, packageIdOf(expiring));
  await expect(expiring, 'These files have expired');
});

/** The link with one character of its key (after the #) changed; the length stays right. */
function damaged(link) {
  const [base, key] = link.split('#');
  const at = 20; // not the last character, whose low bits are padding
  return `${base}#${key.slice(0, at)}${key[at] === 'A' ? 'B' : 'A'}${key.slice(at + 1)}`;
}

test('a damaged link (one character of the key changed) shows the wrong-link page, mails no code and counts nothing', { timeout: 120_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  const token = await server.token(ALICE);
  writeFileSync(join(dir, 'a.txt'), 'hello');
  const expectWrongLink = async (page) => {
    await page.locator('#unavailable-title').getByText('This link does not open the files').waitFor({ timeout: 30_000 });
    assert.match(await page.locator('#unavailable-text').innerText(), /was damaged on the way\. Nothing was counted\./);
  };

  // Without verification: the access check refuses the proof (403 wrong_link).
  const link = await cliSend(server, token, [join(dir, 'a.txt')], ['--to', BOB, '--verify', 'none', '--max-downloads', '2']);
  const id = packageIdOf(link);
  const page = await open();
  await page.goto(damaged(link));
  await page.click('#unlock-submit');
  await expectWrongLink(page);
  const info = await server.package(token, id);
  assert.equal(info.downloads, 0, 'the damaged link counted no download');
  assert.equal(info.state, 'ready');
  // The whole link still opens the package, and that counts.
  const whole = await open();
  await openSimple(whole, link);
  assert.equal((await server.package(token, id)).downloads, 1);

  // With e-mail verification: the code request carries the proof, so no code is mailed.
  const verified = await cliSend(server, token, [join(dir, 'a.txt')], ['--to', 'carol@example.org', '--verify', 'email']);
  const mailing = await open();
  await mailing.goto(damaged(verified));
  await mailing.fill('#email', 'carol@example.org');
  await mailing.click('#email-form button[type=submit]');
  await expectWrongLink(mailing);
  // The whole link gets the code, not refused as too soon after another: the damaged link asked for none.
  const right = await open();
  await right.goto(verified);
  await right.fill('#email', 'carol@example.org');
  await right.click('#email-form button[type=submit]');
  await right.locator('#code-field').waitFor({ state: 'visible' });
  assert.ok(await right.locator('#notice').isHidden(), `no "wait before asking again": ${await right.locator('#notice').innerText()}`);
  await right.fill('#code', await server.code('carol@example.org'));
  await right.click('#unlock-submit');
  await right.locator('#step-files').waitFor({ state: 'visible', timeout: 30_000 });
  assert.equal(server.mailCount('carol@example.org'), 1, 'no code was mailed for the damaged link');
  assert.equal((await server.package(token, packageIdOf(verified))).downloads, 1);
});

test('without an answer about the sender the page shows no card and still opens; the card request carries no link secret', { timeout: 120_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  const token = await server.token(ALICE);
  writeFileSync(join(dir, 'a.txt'), 'hallo');
  const link = await cliSend(server, token, [join(dir, 'a.txt')], ['--to', BOB, '--verify', 'none']);
  const secret = link.slice(link.indexOf('#') + 1);
  const page = await open();
  const sent = [];
  page.on('request', (r) => sent.push({ url: r.url(), body: r.postData() ?? '' }));
  await page.route('**/api/v1/p/*/sender', (route) => route.abort());
  await page.goto(link);
  await page.locator('#step-unlock').waitFor({ state: 'visible' });
  assert.ok(await page.locator('#sender-unlock').isHidden(), 'no card without an answer');
  const asked = sent.filter((r) => r.url.endsWith('/sender'));
  assert.equal(asked.length, 1);
  assert.match(JSON.parse(asked[0].body).link_proof, /^[A-Za-z0-9_-]{43}$/);
  assert.ok(sent.every((r) => !r.url.includes(secret) && !r.body.includes(secret)), 'L never leaves the page');
  assert.ok(!sent.some((r) => r.url.endsWith('/access')), 'the page does not open the package on its own');
  await page.click('#unlock-submit');
  await page.locator('#step-files').waitFor({ state: 'visible' });
  assert.equal((await server.package(token, packageIdOf(link))).downloads, 1);
});

test('a wrong password (no e-mail verification) is refused by the server and asked again, without counting a download; the downloads left stay current after a reload', { timeout: 120_000 }, async (t) => {
  const { server, dir, open } = await setup(t, { config: ORGANISATION });
  const token = await server.token(ALICE);
  const data = testBytes(300_000, 71);
  writeFileSync(join(dir, 'notulen.odt'), data);
  writeFileSync(join(dir, 'password'), 'correct horse\n');
  const link = await cliSend(server, token, [join(dir, 'notulen.odt')], ['--to', BOB, '--verify', 'none', '--password-file', join(dir, 'password'), '--max-downloads', '2']);
  const id = packageIdOf(link);

  const page = await open({ picker: 'stub' });
  await page.goto(link);
  await page.locator('#password-field').waitFor({ state: 'visible' });
  assert.ok(await page.locator('#code-field').isHidden());
  assert.equal(await page.locator('#unlock-intro').innerText(), 'These files are protected with a password.');
  assert.equal(await page.locator('#unlock-submit').innerText(), 'Open the files');
  assert.match(await page.locator('#facts-unlock').innerText(), /It can be opened 2 more times\./);
  // Who sent it shows before the password is entered.
  assert.equal(await page.locator('#sender-unlock').innerText(), await senderCard(server, token, id, 1));

  for (const wrong of ['Correct horse', 'correct hors']) {
    await page.fill('#password', wrong);
    await page.click('#unlock-submit');
    await page.locator('#password-error').getByText('That password is not right. Check it and try again; nothing was counted.').waitFor({ timeout: 30_000 });
  const passwordBox = await page.locator('#password').boundingBox();
  const fieldBox = await page.locator('#password-field').boundingBox();
  assert.ok(passwordBox.width > fieldBox.width / 2, `the error does not squash the field (${passwordBox.width} of ${fieldBox.width} px)`);
    assert.equal(await page.inputValue('#password'), '', 'the wrong password is cleared');
    assert.ok(await page.locator('#step-unlock').isVisible(), 'the password is asked again');
    const info = await server.package(token, id);
    assert.equal(info.downloads, 0, `"${wrong}" counted no download`);
  }

  await page.fill('#password', 'correct horse');
  await page.click('#unlock-submit');
  await page.locator('#step-files').waitFor({ state: 'visible', timeout: 30_000 });
  assert.ok(await page.locator('#password-error').isHidden(), 'the error is gone');
  assert.match(await page.locator('#facts-files').innerText(), /It can be opened once more after this\./);
  const row = fileRow(page, 'notulen.odt');
  await row.getByRole('button').click();
  await row.getByText('Saved, and checked').waitFor({ timeout: 30_000 });
  assert.equal(sha256((await stubbedFile(page, 'notulen.odt')).bytes), sha256(data));
  assert.equal((await server.package(token, id)).downloads, 1, 'two wrong passwords and the right one: one download');

  // Someone else opens it the last time; this page, reloaded, says so instead of what it saw before.
  const other = await open({ picker: 'stub' });
  await other.goto(link);
  await other.fill('#password', 'correct horse');
  await other.click('#unlock-submit');
  await other.locator('#step-files').waitFor({ state: 'visible', timeout: 30_000 });
  assert.match(await other.locator('#facts-files').innerText(), /It cannot be opened again after this\./);
  await page.reload();
  await page.locator('#step-unlock').waitFor({ state: 'visible' });
  assert.match(await page.locator('#facts-unlock').innerText(), /It cannot be opened again after this\./);
  assert.doesNotMatch(await page.locator('#facts-unlock').innerText(), /once more/);
});

/**
 * Holds the lease of a tus upload as another writer would: a PATCH at
 * `offset` whose body never comes. Resolves once the server answers a probe
 * (an empty PATCH) with 423, so the lease is surely held; `release()` ends
 * the request, and the server then gives the lease up (keeping nothing).
 */
async function holdUpload(url, offset, token) {
  const headers = {
    'Tus-Resumable': '1.0.0',
    'Upload-Offset': String(offset),
    'Content-Type': 'application/offset+octet-stream',
    Authorization: `Bearer ${token}`,
  };
  for (let tries = 0; tries < 20; tries++) {
    const holder = request(url, { method: 'PATCH', headers: { ...headers, 'Content-Length': '4096' } });
    let answered = false;
    holder.on('response', (res) => {
      answered = true;
      res.resume();
    });
    holder.on('error', () => {});
    holder.flushHeaders();
    for (let probes = 0; probes < 20 && !answered; probes++) {
      await sleep(100);
      // A probe that gets the lease (before the holder has it) writes nothing and gives it back.
      const probe = await fetch(url, { method: 'PATCH', headers, body: new Uint8Array(0) });
      if (probe.status === 423 && !answered) return { release: () => holder.destroy() };
      assert.ok([204, 423].includes(probe.status), `probe: ${probe.status} ${await probe.text()}`);
    }
    holder.destroy(); // it lost the race to a probe: try again
  }
  throw new Error('could not hold the upload');
}

test('the send page keeps going when the server answers 423 upload_busy on a PATCH, and the package arrives whole', { timeout: 120_000 }, async (t) => {
  const { server, dir, open } = await setup(t);
  await server.addUser(ALICE);
  const token = await server.token(ALICE);
  const data = testBytes((10 << 20) + 999, 61);
  const page = await open();
  await signIn(page, server, ALICE);
  await page.setInputFiles('#files', [{ name: 'busy.bin', mimeType: 'application/octet-stream', buffer: data }]);
  await page.click('#options summary');
  await page.check('#verify-none');
  await page.fill('#recipients', BOB);

  const patches = []; // [offset, status]
  page.on('response', (response) => {
    const request = response.request();
    if (request.method() === 'PATCH') patches.push([Number(request.headers()['upload-offset']), response.status()]);
  });
  // The file's second body (at 8 MiB) goes out only once another request holds the upload.
  let holder = null;
  let seen = 0;
  await page.route('**/api/v1/uploads/*', async (route) => {
    const request = route.request();
    if (request.method() === 'PATCH' && ++seen === 2) holder = await holdUpload(request.url(), request.headers()['upload-offset'], token);
    await route.continue();
  });
  const busy = page.waitForResponse((r) => r.request().method() === 'PATCH' && r.status() === 423, { timeout: 60_000 });
  await page.click('#send-button');
  const refused = await busy;
  // When the lease lapses at the latest; the page tries again sooner, with a growing wait.
  assert.ok(Number(refused.headers()['retry-after']) >= 1, `Retry-After: ${refused.headers()['retry-after']}`);
  assert.equal((await refused.json()).error.code, 'upload_busy');
  holder.release();
  await page.unroute('**/api/v1/uploads/*');

  await page.locator('#step-done').waitFor({ state: 'visible', timeout: 90_000 });
  const link = await page.inputValue('#link');
  const busyAt = patches.findIndex(([, status]) => status === 423);
  const [offset] = patches[busyAt];
  assert.ok(offset > 0, `the refused PATCH was in the middle of the file (${offset})`);
  assert.ok(patches.slice(busyAt + 1).some(([o, status]) => o === offset && status === 204), `the same body was sent again and taken: ${JSON.stringify(patches)}`);

  const out = join(dir, 'out');
  await cliReceive(server, link, out);
  assert.equal(sha256(readFileSync(join(out, 'busy.bin'))), sha256(data), 'the file arrives identical');
});

test('over HTTPS (HTTP/2) the send page streams each blob in one request, and the package arrives whole', { timeout: 120_000 }, async (t) => {
  const { server, open } = await setup(t, { tls: true });
  await server.addUser(ALICE);
  const big = testBytes((20 << 20) + 333, 71);
  const small = testBytes(5_000, 72);
  const page = await open({ tls: true, picker: 'stub' });
  await signIn(page, server, ALICE);
  assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol), 'h2');
  await page.setInputFiles('#files', [
    { name: 'stream.bin', mimeType: 'application/octet-stream', buffer: big },
    { name: 'small.txt', mimeType: 'text/plain', buffer: small },
  ]);
  await page.locator('#file-list li').nth(1).waitFor();
  await page.click('#options summary');
  await page.check('#verify-none');
  await page.fill('#recipients', BOB);
  const patches = []; // [upload, status]
  page.on('response', (response) => {
    if (response.request().method() === 'PATCH') patches.push([new URL(response.url()).pathname, response.status()]);
  });
  await page.click('#send-button');
  await page.locator('#step-done').waitFor({ state: 'visible', timeout: 60_000 });
  const link = await page.inputValue('#link');
  // Three blobs (the manifest and two files), one PATCH each: by XMLHttpRequest the big file alone takes three.
  assert.equal(patches.length, 3, JSON.stringify(patches));
  assert.equal(new Set(patches.map(([upload]) => upload)).size, 3);
  assert.ok(patches.every(([, status]) => status === 204), JSON.stringify(patches));

  const recipient = await open({ tls: true, picker: 'stub' });
  await openSimple(recipient, link);
  for (const [name, bytes] of [['stream.bin', big], ['small.txt', small]]) {
    await fileRow(recipient, name).getByRole('button').click();
    await fileRow(recipient, name).getByText('Saved, and checked').waitFor({ timeout: 30_000 });
    const saved = await stubbedFile(recipient, name);
    assert.equal(sha256(saved.bytes), sha256(bytes), `${name} arrives identical`);
  }
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
  await page.click('#options summary');
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
  assert.equal(await page.locator('#progress-stats').innerText(), '', 'no speed or time left while paused');
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
  assert.equal(await page.evaluate(async () => (await import('/js/shared/send-store.js')).listSends('alice@example.org').then((l) => l.length)), 0);

  const out = join(dir, 'out');
  await cliReceive(server, link, out);
  assert.deepEqual(readdirSync(out), ['video.mp4']);
  assert.equal(sha256(readFileSync(join(out, 'video.mp4'))), sha256(data), 'the file arrives identical');
});

test('a package over the server\'s size limit is refused with the sizes in plain words', { timeout: 60_000 }, async (t) => {
  const { server, open } = await setup(t, { config: '[limits]\nmax_package_bytes = 1000000\n' });
  await server.addUser(ALICE);
  const page = await open();
  await signIn(page, server, ALICE);
  await page.setInputFiles('#files', [{ name: 'big.bin', mimeType: 'application/octet-stream', buffer: testBytes(1_500_000, 51) }]);
  await page.fill('#recipients', BOB);
  await page.click('#send-button');
  await page.locator('#notice[role=alert]').getByText('These files are too large to send: together 1.5 MB, and this server takes at most 1 MB.').waitFor();
  assert.ok(await page.locator('#step-compose').isVisible(), 'the form stays, with the files chosen');
  assert.equal(await page.locator('#file-list li').count(), 1);
});

test('the send form shows every problem at once, next to its field, and each goes as soon as it is fixed', { timeout: 60_000 }, async (t) => {
  const { server, open } = await setup(t);
  await server.addUser(ALICE);
  const page = await open();
  await signIn(page, server, ALICE);
  await page.fill('#recipients', 'bob@');
  await page.click('#options summary');
  await page.fill('#max-downloads', '0');
  await page.click('#send-button');
  await page.locator('#files-error').getByText('Choose at least one file.').waitFor();
  assert.equal(await page.locator('#dropzone #files-error').count(), 0, 'the file error is not inside the drop zone');
  assert.match(await page.locator('#recipients-error').innerText(), /bob@/);
  assert.ok(await page.locator('#max-downloads-error').isVisible(), 'all three at once');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'files', 'focus on the first');

  await page.fill('#recipients', BOB);
  assert.ok(await page.locator('#recipients-error').isHidden(), 'fixed as it is typed');
  assert.ok(await page.locator('#max-downloads-error').isVisible(), 'the others stay until fixed');
  await page.fill('#max-downloads', '3');
  assert.ok(await page.locator('#max-downloads-error').isHidden());
  await page.setInputFiles('#files', [{ name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('a') }]);
  assert.ok(await page.locator('#files-error').isHidden());
});

test('the organisation\'s send rules are explained in plain words before anything is encrypted, and by the server too', { timeout: 60_000 }, async (t) => {
  const { server, open } = await setup(t, { config: '[policy]\nrequire_password = true\n' });
  await server.addUser(ALICE);
  const page = await open();
  await signIn(page, server, ALICE);
  await page.setInputFiles('#files', [{ name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') }]);
  await page.fill('#recipients', BOB);
  const created = [];
  page.on('request', (r) => r.method() === 'POST' && r.url().endsWith('/api/v1/packages') && created.push(r.url()));
  await page.click('#send-button');
  await page.locator('#notice[role=alert]').getByText('Your organisation requires a password on every package.').waitFor();
  assert.ok(await page.locator('#step-compose').isVisible(), 'the form stays, to add a password');
  assert.deepEqual(created, [], 'refused on the page');

  // A page that could not read the policy: the server refuses, in the same words.
  await page.route('**/api/v1/policy', (route) => route.fulfill({ status: 503, body: '' }));
  await page.reload();
  await page.locator('#step-compose').waitFor({ state: 'visible' });
  await page.setInputFiles('#files', [{ name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') }]);
  await page.fill('#recipients', BOB);
  await page.click('#send-button');
  await page.locator('#notice[role=alert]').getByText('Your organisation requires a password on every package.').waitFor();
  assert.equal(created.length, 1, 'asked the server, which refused');
});

test('the upload worker restarts the ciphertext at any offset, also from a saved state (after a reload)', { timeout: 60_000 }, async (t) => {
  const server = await startServer();
  const { context, page } = await newPage(browser);
  t.after(async () => {
    await context.close();
    await server.close();
  });
  await page.goto(`${server.url}/test/blank.html`);
  const result = await page.evaluate(async () => {
    const { WorkerRpc } = await import('/js/shared/rpc.js');
    const { loadWasm } = await import('/js/shared/wasm.js');
    const uploadWorker = async () => {
      const worker = new WorkerRpc('/js/workers/upload-worker.js');
      return { call: (...args) => worker.call(...args), terminate: () => worker.terminate() };
    };
    const wasm = await loadWasm();
    const identity = wasm.generateIdentity();
    const plain = new Uint8Array((9 << 20) + 3);
    for (let i = 0; i < plain.length; i += 65536) crypto.getRandomValues(plain.subarray(i, i + 65536));
    const source = new Blob([plain]);
    const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');

    const readAll = async (worker, extra, target) => {
      const parts = [];
      for (;;) {
        const buffer = new ArrayBuffer(target + extra);
        const out = await worker.call('fill', { buffer, target }, [buffer]);
        parts.push(new Uint8Array(out.buffer, 0, out.length).slice());
        if (out.end) break;
      }
      return new Uint8Array(await new Blob(parts).arrayBuffer());
    };
    const worker = await uploadWorker();
    const recipient = wasm.identityToRecipient(identity);
    const { extra } = await worker.call('bound', { recipients: [recipient] });
    const { resumeState, headerHash } = await worker.call('open', { source, size: plain.length, recipient });
    await worker.call('seek', { offset: 0 });
    const full = await readAll(worker, extra, 3_000_000);
    // A retry in the same worker: back to the middle of the second 4 MiB piece, then on to the end.
    const middle = Math.floor(full.length * 0.6);
    await worker.call('seek', { offset: middle });
    const tail = await readAll(worker, extra, 1_000_000);
    const retried = tail.length === full.length - middle && tail.every((b, i) => b === full[middle + i]);
    worker.terminate();

    const decryptor = new wasm.Decryptor([identity]);
    const back = new Uint8Array(await new Blob([...decryptor.push(full), ...decryptor.finish()]).arrayBuffer());
    const decrypts = back.length === plain.length && back.every((b, i) => b === plain[i]);

    const header = full.length - (plain.length + 16 * Math.ceil(plain.length / 65536));
    // The header hash names these bytes: SHA-256 of the header and the payload nonce.
    const bound = hex(await crypto.subtle.digest('SHA-256', full.subarray(0, header))) === headerHash;
    const checks = [];
    for (const offset of [1, 37, header - 1, header, header + 1, header + 65552, header + 65552 * 3 + 999, full.length - 17, full.length - 1]) {
      const again = await uploadWorker();
      const reopened = await again.call('open', { source, size: plain.length, resumeState });
      await again.call('seek', { offset });
      const rest = await readAll(again, extra, 2_500_000);
      const expected = full.subarray(offset);
      const same = rest.length === expected.length && rest.every((b, i) => b === expected[i]);
      again.terminate();
      checks.push({ offset, same, header: reopened.headerHash === headerHash });
    }
    return { decrypts, retried, bound, checks };
  });
  assert.ok(result.decrypts, 'the ciphertext decrypts to the file');
  assert.ok(result.retried, 'identical ciphertext after seeking back in the same worker');
  assert.ok(result.bound, 'the header hash is the SHA-256 of the header and nonce');
  for (const c of result.checks) {
    assert.ok(c.same, `identical ciphertext from offset ${c.offset}`);
    assert.ok(c.header, `the same header hash from the saved state (offset ${c.offset})`);
  }
});

// The Outlook add-in's pages (task pane, read pane, send check) against a
// real kluis-server in headless Chromium, with a stand-in for Office.js
// (support/office-stand-in.js) that supplies the mail and records what the
// pages do to it. The other side is the real recipient page.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launch } from './support/browser.mjs';
import { KluisServer, ROOT, sha256, testBytes } from './support/kluis.mjs';
import { fileRow, newPage, stubbedFile } from './support/pages.mjs';

const ALICE = 'alice@example.org';
const BOB = 'bob@client.example';
const STAND_IN = readFileSync(join(ROOT, 'tests/browser/support/office-stand-in.js'), 'utf8');
const LINK = /https?:\/\/127\.0\.0\.1:\d+\/p\/[A-Za-z0-9_-]+#[A-Za-z0-9_-]+/;
/** 11-proof: 9·1 + 8·1 + 7·1 + 6·2 + 5·2 + 4·2 + 3·3 + 2·3 − 1·3 = 66 = 6·11. */
const BSN = '111222333';
const IBAN = 'NL91 ABNA 0417 1643 00';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function setup(t, options) {
  const server = await KluisServer.start(options);
  const dir = mkdtempSync(join(tmpdir(), 'kluis-addin-'));
  const contexts = [];
  t.after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  /** A page in Outlook (the stand-in) with `fixture` as the mail, at `path` on the server. */
  const tls = Boolean(options?.tls);
  const pane = async (fixture, path = '/addin/taskpane.html', pageOptions = { picker: 'stub' }) => {
    const { context, page } = await newPage(browser, { ...pageOptions, tls });
    contexts.push(context);
    await context.route('https://appsforoffice.microsoft.com/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/javascript', body: STAND_IN }),
    );
    await context.addInitScript((f) => {
      window.__officeFixture = f;
    }, fixture);
    await page.goto(`${server.url}${path}`);
    return page;
  };
  const open = async (pageOptions) => {
    const { context, page } = await newPage(browser, { ...pageOptions, tls });
    contexts.push(context);
    return page;
  };
  return { server, dir, pane, open };
}

function attachment(id, name, bytes, contentType = 'application/octet-stream') {
  return { id, name, contentType, base64: Buffer.from(bytes).toString('base64') };
}

/** Signs in in the pane with the code from the outbox; the address comes from the mailbox profile. */
async function signInPane(page, server, email) {
  await page.locator('#step-signin').waitFor({ state: 'visible' });
  assert.equal(await page.inputValue('#signin-email'), email, 'the address comes from the mailbox');
  await page.click('#signin-email-form button[type=submit]');
  await page.fill('#signin-code', await server.code(email));
  await page.click('#signin-code-form button[type=submit]');
  await page.locator('#step-compose').waitFor({ state: 'visible' });
}

const draftOf = (page) => page.evaluate(() => window.__officeDraft());

/** Runs the send check (the OnMessageSend handler) on the page's draft; resolves with what it completed. */
async function sendCheck(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        window.__officeActions.onMessageSendHandler({ completed: resolve });
      }),
  );
}

/** Opens `link` on the recipient page as `email` (code from the outbox); returns the page at the file list. */
async function receive(open, server, link, email) {
  const page = await open({ picker: 'stub' });
  await page.goto(link);
  await page.locator('#step-email').waitFor({ state: 'visible' });
  await page.fill('#email', email);
  await page.click('#email-form button[type=submit]');
  await page.locator('#code-field').waitFor({ state: 'visible', timeout: 30_000 });
  await page.fill('#code', await server.code(email));
  await page.click('#unlock-submit');
  await page.locator('#step-files').waitFor({ state: 'visible', timeout: 30_000 });
  return page;
}

async function save(page, name) {
  await fileRow(page, name).getByRole('button').click();
  await fileRow(page, name).getByText('Saved, and checked').waitFor({ timeout: 30_000 });
  const saved = await stubbedFile(page, name);
  assert.equal(saved.closed, true);
  return saved.bytes;
}

test('Send securely over HTTPS: two attachments and the text go into the package, the mail keeps only the link, the recipient gets identical bytes, the send check then lets it through', { timeout: 180_000 }, async (t) => {
  const { server, pane, open } = await setup(t, {
    config: '[policy.content]\nmode = "require"\ninternal_domains = ["example.org"]\n',
    tls: true,
  });
  await server.addUser(ALICE);
  const report = testBytes((2 << 20) + 999, 3);
  const scan = testBytes(300_001, 4);
  const logo = testBytes(2_000, 5);
  const page = await pane({
    user: { email: ALICE, name: 'Alice Jansen' },
    to: [BOB],
    cc: ['carol@example.org'],
    subject: 'Dossier 2026-114',
    bodyType: 'html',
    body: `<p>Hallo Bob, hier de stukken. Het BSN is ${BSN}.</p><img src="cid:logo">`,
    attachments: [
      attachment('att-1', 'Rapport Q3.pdf', report, 'application/pdf'),
      attachment('att-2', 'scan.png', scan, 'image/png'),
      { ...attachment('att-logo', 'logo.png', logo, 'image/png'), isInline: true },
    ],
  });
  await signInPane(page, server, ALICE);

  // Before securing, the send check stops the mail: a BSN to someone outside example.org.
  // (The handler page runs in the same tab, so it sees the same draft.)
  await page.goto(`${server.url}/addin/commands.html`);
  await page.waitForFunction(() => window.__officeActions?.onMessageSendHandler);
  const blocked = await sendCheck(page);
  assert.equal(blocked.allowEvent, false, 'a BSN to an outsider is stopped');
  assert.match(blocked.errorMessage, /citizen service number/);

  // Back in the pane, still signed in (the token is kept per mailbox).
  await page.goto(`${server.url}/addin/taskpane.html`);
  await page.locator('#step-compose').waitFor({ state: 'visible' });

  // What the pane read from the draft (read after the step shows: wait for it).
  await page.locator('#recipient-list .chip').nth(1).waitFor();
  await page.locator('#file-list .file-name').nth(1).waitFor();
  assert.deepEqual(await page.locator('#recipient-list .chip').allInnerTexts(), [BOB, 'carol@example.org']);
  assert.deepEqual(await page.locator('#file-list .file-name').allInnerTexts(), ['Rapport Q3.pdf', 'scan.png'], 'inline images are not offered');
  assert.equal(await page.locator('#attachments-note').innerText(), '1 image in the text stays in the mail as it is, not encrypted.');
  assert.equal(await page.isChecked('#include-message'), true, 'the policy default: the text goes into the package');

  await page.click('#send-button');
  await page.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });
  const draft = await draftOf(page);
  assert.deepEqual(draft.attachments.map((a) => a.name), ['logo.png'], 'the packaged attachments are gone; the inline image stays');
  assert.doesNotMatch(draft.body, /Hallo Bob|111222333/, 'the text went into the package');
  assert.match(draft.body, /Beveiligd bericht/);
  assert.match(draft.body, /Secure message/);
  const link = draft.body.match(LINK)?.[0];
  assert.ok(link, `a link in the body: ${draft.body}`);
  assert.ok(link.startsWith('https://'), 'the link names the server by its HTTPS URL');
  assert.ok(JSON.parse(draft.sessionData['kluis.secured']).package, 'the draft is marked secured');

  // The send check now lets it through.
  await page.goto(`${server.url}/addin/commands.html`);
  await page.waitForFunction(() => window.__officeActions?.onMessageSendHandler);
  assert.deepEqual(await sendCheck(page), { allowEvent: true });

  // The recipient opens it and gets identical bytes and the message.
  const bob = await receive(open, server, link, BOB);
  assert.match(await bob.locator('#files-message').innerText(), /Hallo Bob, hier de stukken/);
  assert.equal(sha256(await save(bob, 'Rapport Q3.pdf')), sha256(report));
  assert.equal(sha256(await save(bob, 'scan.png')), sha256(scan));

  // Leak scan: nothing the server wrote (database, WAL, blobs, outbox, log) holds the
  // plaintext, the message, the BSN, the link secret or the add-in's API token.
  const token = JSON.parse(await page.evaluate(() => localStorage.getItem('kluis.addin.token'))).token;
  const secrets = {
    'attachment plaintext': report.subarray(1 << 20, (1 << 20) + 64),
    'second attachment': scan.subarray(1000, 1064),
    message: Buffer.from('Hallo Bob, hier de stukken'),
    BSN: Buffer.from(BSN),
    'link secret': Buffer.from(new URL(link).hash.slice(1)),
    'API token': Buffer.from(token),
  };
  const written = [...server.files(), Buffer.from(server.log.join(''))];
  for (const [what, needle] of Object.entries(secrets)) {
    assert.ok(!written.some((bytes) => bytes.includes(needle)), `the server wrote the ${what}`);
  }
});

test('an upload that fails leaves the mail as it was; continuing finishes it', { timeout: 180_000 }, async (t) => {
  const { server, pane } = await setup(t);
  await server.addUser(ALICE);
  const body = '<p>Zie bijlage.</p>';
  const page = await pane({
    user: { email: ALICE },
    to: [BOB],
    subject: 'Contract',
    bodyType: 'html',
    body,
    attachments: [attachment('a1', 'contract.pdf', testBytes(1 << 20, 7)), attachment('a2', 'bijlage.docx', testBytes(5000, 8))],
  });
  await signInPane(page, server, ALICE);
  // The server refuses every upload body, as a broken proxy might.
  await page.route('**/api/v1/uploads/**', (route) =>
    route.request().method() === 'PATCH'
      ? route.fulfill({ status: 403, contentType: 'application/json', body: '{"error":{"code":"forbidden","message":"Refused by a proxy."}}' })
      : route.continue(),
  );
  await page.click('#send-button');
  await page.locator('#progress-status').getByText('Your mail was not changed').waitFor({ timeout: 60_000 });
  assert.ok(await page.locator('#notice').isVisible(), 'the error is shown in the pane');
  let draft = await draftOf(page);
  assert.deepEqual(draft.attachments.map((a) => a.name), ['contract.pdf', 'bijlage.docx'], 'nothing removed');
  assert.equal(draft.body, body, 'the body untouched');
  assert.equal(draft.sessionData['kluis.secured'], undefined);

  await page.unroute('**/api/v1/uploads/**');
  await page.click('#resume');
  await page.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });
  draft = await draftOf(page);
  assert.deepEqual(draft.attachments, []);
  assert.match(draft.body, LINK);
});

test('a user without a seat is told in the pane why, and whom to ask, before anything is read or uploaded', { timeout: 120_000 }, async (t) => {
  const { server, pane } = await setup(t, { config: '[licence]\nevaluation_seats = 1\n' });
  await server.admin('user', 'add', 'ann@example.org', '--admin');
  await server.addUser(ALICE);
  // Someone else takes the only seat at their first send.
  await server.addUser('olga@example.org');
  const other = await server.token('olga@example.org');
  const made = await fetch(`${server.url}/api/v1/packages`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${other}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ verify: 'none', blobs: [{ size: 200 }] }),
  });
  assert.equal(made.status, 201);

  const body = '<p>Zie bijlage.</p>';
  const page = await pane({ user: { email: ALICE }, to: [BOB], subject: 'Contract', bodyType: 'html', body, attachments: [attachment('a1', 'contract.pdf', testBytes(5000, 7))] });
  await signInPane(page, server, ALICE);
  const told = 'You cannot send yet: all 1 Kluis seats of your organisation are taken. Ask ann@example.org to give you one.';
  await page.locator('#licence-banner', { hasText: told }).waitFor();
  const asked = [];
  page.on('request', (r) => r.method() !== 'GET' && asked.push(new URL(r.url()).pathname));
  await page.click('#send-button');
  await page.locator('#notice', { hasText: told }).waitFor();
  assert.deepEqual(asked, [], 'nothing made or uploaded');
  const draft = await draftOf(page);
  assert.deepEqual(draft.attachments.map((a) => a.name), ['contract.pdf']);
  assert.equal(draft.body, body);
});

test('an attachment of a type the policy blocks is refused in the pane before anything is read or uploaded', { timeout: 120_000 }, async (t) => {
  const { server, pane } = await setup(t);
  await server.admin('user', 'add', 'ann@example.org', '--admin');
  await server.addUser(ALICE);
  const ann = await server.token('ann@example.org');
  const saved = await fetch(`${server.url}/api/v1/admin/policy`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${ann}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ version: 0, policy: { send: { blocked_file_types: ['exe'] } } }),
  });
  assert.equal(saved.status, 200);

  const body = '<p>Zie bijlage.</p>';
  const page = await pane({ user: { email: ALICE }, to: [BOB], subject: 'Installatie', bodyType: 'html', body, attachments: [attachment('a1', 'setup.exe', testBytes(5000, 7))] });
  await signInPane(page, server, ALICE);
  const asked = [];
  page.on('request', (r) => r.method() !== 'GET' && asked.push(new URL(r.url()).pathname));
  await page.click('#send-button');
  await page.locator('#notice', { hasText: 'Your organisation does not allow sending files of type exe.' }).waitFor();
  assert.deepEqual(asked, [], 'nothing made or uploaded');
  const draft = await draftOf(page);
  assert.deepEqual(draft.attachments.map((a) => a.name), ['setup.exe']);
  assert.equal(draft.body, body);
});

test('when Outlook will not take the link, the attachments stay and the link is shown; opening the pane again finishes the mail', { timeout: 180_000 }, async (t) => {
  const { server, pane } = await setup(t);
  await server.addUser(ALICE);
  const body = '<p>Zie bijlage.</p>';
  const page = await pane({
    user: { email: ALICE },
    to: [BOB],
    subject: 'Offerte',
    bodyType: 'html',
    body,
    attachments: [attachment('o1', 'offerte.pdf', testBytes(40_000, 12))],
    fail: { setBody: 'The item is read-only.', prependBody: 'The item is read-only.' },
  });
  await signInPane(page, server, ALICE);
  await page.click('#send-button');
  await page.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });
  assert.equal(await page.locator('#done-title').innerText(), 'Uploaded — add the link yourself');
  assert.match(await page.inputValue('#link'), LINK, 'the link is shown to paste');
  assert.match(await page.locator('#notice').innerText(), /would not take the link/);
  let draft = await draftOf(page);
  assert.deepEqual(draft.attachments.map((a) => a.name), ['offerte.pdf'], 'the attachments stay while the link is not in the mail');
  assert.equal(draft.body, body);
  assert.ok(draft.sessionData['kluis.send'], 'the pane remembers that this mail still needs its link');

  // Outlook takes writes again; the pane, opened again, finishes the mail by itself.
  await page.evaluate(() => sessionStorage.setItem('__officeFail', '{}'));
  await page.reload();
  await page.locator('#step-done').waitFor({ state: 'visible', timeout: 60_000 });
  assert.equal(await page.locator('#done-title').innerText(), 'Secured');
  draft = await draftOf(page);
  assert.deepEqual(draft.attachments, []);
  assert.match(draft.body, LINK);
  assert.equal(draft.sessionData['kluis.send'], undefined);
});

test('an upload interrupted by the pane reloading continues on the same draft; a plain-text body gets the link as text', { timeout: 180_000 }, async (t) => {
  const { server, pane } = await setup(t);
  await server.addUser(ALICE);
  const big = testBytes(9 << 20, 9); // more than one 8 MiB upload body
  const page = await pane({
    language: 'nl-NL',
    user: { email: ALICE },
    to: [BOB],
    subject: 'Scans',
    bodyType: 'text',
    body: 'Hierbij de scans.',
    attachments: [attachment('s1', 'scans.zip', big, 'application/zip')],
  });
  await signInPane(page, server, ALICE);
  // Outlook's display language, not the browser's (en-US here), decides.
  assert.equal(await page.locator('#compose-title').innerText(), 'Veilig versturen');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'nl');
  await page.uncheck('#include-message');
  // Hold the second upload body so the pane is closed mid-upload.
  let bodies = 0;
  await page.route('**/api/v1/uploads/**', async (route) => {
    if (route.request().method() === 'PATCH' && ++bodies >= 2) return; // never answered
    return route.continue();
  });
  await page.click('#send-button');
  await page.waitForFunction(() => Number(document.querySelector('#progress-bar').value) > 0, null, { timeout: 60_000 });
  await page.unroute('**/api/v1/uploads/**');
  await page.reload();

  // The pane finds the unfinished upload of this draft and the attachment it came from.
  await page.locator('#step-resume').waitFor({ state: 'visible', timeout: 30_000 });
  assert.equal(await page.locator('#resume-list .file-state.ok').count(), 1, 'the attachment is read from the draft again');
  await page.click('#resume-continue');
  await page.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });
  const draft = await draftOf(page);
  assert.deepEqual(draft.attachments, []);
  assert.equal(draft.bodyType, 'text');
  assert.match(draft.body, /^— Beveiligd bericht \/ Secure message —\n/, 'the link block as plain text, on top');
  assert.match(draft.body, LINK);
  assert.match(draft.body, /Hierbij de scans\.$/, 'the text stays below the link when it is not in the package');
});

test('the send check: blocks a BSN or IBAN to outsiders in require mode, warns in advise mode, lets internal mail through', { timeout: 120_000 }, async (t) => {
  const check = async (config, fixture, mailbox = '1.14') => {
    const { pane } = await setup(t, { config });
    const page = await pane({ mailbox, user: { email: ALICE }, ...fixture }, '/addin/commands.html', { picker: 'none' });
    await page.waitForFunction(() => window.__officeActions?.onMessageSendHandler);
    return sendCheck(page);
  };
  const require = '[policy.content]\nmode = "require"\ninternal_domains = ["example.org"]\n';
  const advise = '[policy.content]\nmode = "advise"\ninternal_domains = ["example.org"]\n';

  const bsn = await check(require, { to: [BOB], subject: 'Aanvraag', bodyType: 'text', body: `Het burgerservicenummer is ${BSN}.` });
  assert.equal(bsn.allowEvent, false);
  assert.match(bsn.errorMessage, /citizen service number \(BSN\)/);
  assert.doesNotMatch(bsn.errorMessage, new RegExp(BSN), 'the alert names the kind, never the number');
  assert.equal(bsn.commandId, 'kluisSendSecurelyButton', 'the alert offers Send securely');
  assert.equal(bsn.sendModeOverride, undefined, 'require mode: no "send anyway"');

  const iban = await check(require, { to: [BOB], subject: 'Betaling', bodyType: 'html', body: `<p>Graag overmaken naar IBAN ${IBAN}.</p>`, language: 'nl-NL' });
  assert.equal(iban.allowEvent, false);
  assert.match(iban.errorMessage, /rekeningnummer \(IBAN\)/, 'in the mailbox language');

  const warned = await check(advise, { to: [BOB], subject: 'Aanvraag', bodyType: 'text', body: `BSN: ${BSN}` });
  assert.equal(warned.allowEvent, false);
  assert.equal(warned.sendModeOverride, 'promptUser', 'advise mode: Outlook asks whether to send anyway');

  const csv = await check(require, {
    to: [BOB],
    subject: 'Lijst',
    bodyType: 'text',
    body: 'Zie bijlage.',
    attachments: [attachment('c1', 'klanten.csv', Buffer.from(`naam;bsn\nJan;${BSN}\n`), 'text/csv')],
  });
  assert.equal(csv.allowEvent, false, 'a text attachment is read like the body');
  assert.match(csv.errorMessage, /citizen service number/);

  const internal = await check(require, { to: ['carol@example.org'], subject: 'Intern', bodyType: 'text', body: `BSN ${BSN}` });
  assert.deepEqual(internal, { allowEvent: true }, 'internal mail goes');

  const plain = await check(require, { to: [BOB], subject: 'Lunch', bodyType: 'text', body: 'Zullen we om 12 uur lunchen?' });
  assert.deepEqual(plain, { allowEvent: true }, 'nothing sensitive goes');
});

test('Open with Kluis: the read pane finds the link in the mail and decrypts the package in the pane', { timeout: 120_000 }, async (t) => {
  const { server, dir, pane } = await setup(t);
  const token = await server.token(ALICE);
  const data = testBytes(700_000, 21);
  writeFileSync(join(dir, 'jaarstukken.xlsx'), data);
  const sent = await server.kluis(['send', join(dir, 'jaarstukken.xlsx'), '--server', server.url, '--token', token, '--to', BOB, '--verify', 'none', '--message', 'Voor de vergadering.']);
  assert.equal(sent.code, 0, sent.stderr);
  const link = sent.stdout.trim();
  const page = await pane({
    mode: 'read',
    user: { email: BOB },
    subject: 'Jaarstukken',
    bodyType: 'html',
    body: `<p>Beste Bob,</p><p><a href="${link}">Open de bestanden</a></p>`,
  }, '/addin/read.html');
  await page.waitForURL(/\/addin\/p\//);
  await page.click('#unlock-submit');
  await page.locator('#step-files').waitFor({ state: 'visible', timeout: 30_000 });
  assert.match(await page.locator('#files-message').innerText(), /Voor de vergadering/);
  assert.equal(sha256(await save(page, 'jaarstukken.xlsx')), sha256(data));
});

test('Request files without a key says so and links to the inbox; once the key is made, the form takes the draft\'s To', { timeout: 120_000 }, async (t) => {
  const { server, pane } = await setup(t);
  await server.addUser(ALICE);
  const page = await pane({ user: { email: ALICE, name: 'Alice Jansen' }, to: [BOB, 'dirk@client.example'], bodyType: 'text', body: 'Hallo' }, '/addin/taskpane.html?mode=request');
  await page.locator('#step-signin').waitFor({ state: 'visible' });
  await page.click('#signin-email-form button[type=submit]');
  await page.fill('#signin-code', await server.code(ALICE));
  await page.click('#signin-code-form button[type=submit]');
  await page.locator('#step-request-nokey').waitFor({ state: 'visible' });
  assert.equal(await page.getAttribute('#request-inbox-link', 'href'), `${server.url}/inbox`);
  assert.ok(await page.locator('#step-compose').isHidden(), 'not the Send securely form');

  // The key, made elsewhere (as /inbox does): then "check again" shows the form.
  const token = await server.token(ALICE);
  const key = await page.evaluate(async () => {
    const { CryptoWorker } = await import('/js/shared/crypto-client.js');
    const worker = new CryptoWorker();
    try {
      const made = await worker.makeKey('een lange wachtzin hier');
      return { recipient: made.recipient, wrapped: made.wrapped };
    } finally {
      worker.terminate();
    }
  });
  const put = await fetch(`${server.url}/api/v1/key`, { method: 'PUT', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(key) });
  assert.equal(put.status, 200);
  await page.click('#request-check-again');
  await page.locator('#step-request').waitFor({ state: 'visible' });
  assert.equal(await page.inputValue('#request-emails'), `${BOB}\ndirk@client.example`);
  // Addresses named: the code is compulsory, so the box is checked, greyed out and says why;
  // emptied, it is the user's choice again (and stays theirs when they type an address and remove it).
  const verify = page.locator('#request-verify');
  const forced = page.locator('#request-verify-forced');
  assert.ok((await verify.isChecked()) && (await verify.isDisabled()), 'checked and disabled with the draft\'s To');
  assert.equal(await forced.innerText(), 'Always on when addresses are filled in: they confirm their address with a code.');
  assert.equal(await verify.getAttribute('aria-describedby'), 'request-verify-forced');
  await page.fill('#request-emails', '');
  assert.ok(await verify.isEnabled());
  assert.ok(await forced.isHidden());
  await verify.uncheck();
  await page.locator('#request-emails').pressSequentially('d');
  assert.ok((await verify.isChecked()) && (await verify.isDisabled()), 'typing an address checks and disables it');
  assert.ok(await forced.isVisible());
  await page.fill('#request-emails', ' \n');
  assert.ok(!(await verify.isChecked()) && (await verify.isEnabled()), 'blank again: the user\'s own choice');
  assert.equal(await verify.getAttribute('aria-describedby'), null);
  await page.fill('#request-emails', `${BOB}\ndirk@client.example`);
  assert.ok((await verify.isChecked()) && (await verify.isDisabled()));
  await page.click('#request-submit');
  await page.locator('#step-request-done').waitFor({ state: 'visible' });
  const body = (await draftOf(page)).body;
  assert.match(body, new RegExp(`Upload your files securely: ${server.url.replace(/\./g, '\\.')}/r/[A-Za-z0-9_-]{22}#${key.recipient}`));
  assert.match(body, /Hallo$/, 'the text stays under the link');
  const requests = await (await fetch(`${server.url}/api/v1/requests`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.deepEqual(requests.requests[0].emails.sort(), [BOB, 'dirk@client.example'].sort());
  assert.equal(requests.requests[0].verify, 'email');
});

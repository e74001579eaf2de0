// Takes the README's screenshots of the main screens from a real server in
// headless Chromium: `node docs/screenshots/take.mjs` after `cargo xtask wasm`
// and `cargo build -p kluis-server -p kluis-cli`. The add-in's task pane is
// shown with the Office.js stand-in the browser tests use; the admin
// console's Users and Organisation sections as an admin of the organisation.
// Receiving: Alice's inbox (her key, a request, an upload opened), the
// outsider's upload page, a secure reply on the recipient page, and the
// console's upload portals.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { launch } from '../../tests/browser/support/browser.mjs';
import { KluisServer, ROOT, testBytes } from '../../tests/browser/support/kluis.mjs';

const OUT = join(ROOT, 'docs/screenshots');
const STAND_IN = readFileSync(join(ROOT, 'tests/browser/support/office-stand-in.js'), 'utf8');
const ALICE = 'alice@example.org';
const PASSPHRASE = 'paard batterij nietje correct';

const server = await KluisServer.start({ config: '[organisation]\nname = "Zorggroep Noord"\n' });
const browser = await launch();
try {
  await server.addUser(ALICE);
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 960, height: 900 } });
  const page = await context.newPage();

  // Alice makes her key first (on /inbox), so what she sends can be answered securely.
  const inbox = await context.newPage();
  await inbox.goto(`${server.url}/inbox`);
  await inbox.evaluate((t) => localStorage.setItem('kluis.token', JSON.stringify({ token: t, email: 'alice@example.org' })), await server.token(ALICE));
  await inbox.reload();
  await inbox.locator('#key-new').waitFor({ state: 'visible' });
  await inbox.fill('#new-passphrase', PASSPHRASE);
  await inbox.fill('#new-passphrase-again', PASSPHRASE);
  await inbox.click('#key-new-submit');
  await inbox.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });

  // The send page, filled in.
  // (Signed in already: the inbox keeps the same session.)
  await page.goto(`${server.url}/`);
  await page.locator('#step-compose').waitFor();
  await page.setInputFiles('#files', [
    { name: 'Jaarverslag 2026.pdf', mimeType: 'application/pdf', buffer: testBytes(2_400_000, 1) },
    { name: 'Bijlage B.xlsx', mimeType: 'application/octet-stream', buffer: testBytes(180_000, 2) },
  ]);
  await page.fill('#recipients', 'bob@client.example');
  await page.fill('#subject', 'Annual report');
  await page.fill('#message', 'Hello Bob, here are the figures we discussed.');
  await page.screenshot({ path: join(OUT, 'send.png'), fullPage: true });

  // The link.
  await page.click('#send-button');
  await page.locator('#step-done').waitFor({ timeout: 60_000 });
  const link = await page.inputValue('#link');
  await page.screenshot({ path: join(OUT, 'sent.png'), fullPage: true });

  // The recipient's page, at the file list.
  const recipient = await context.newPage();
  await recipient.goto(link);
  // Who sent it, before anything is asked.
  await recipient.locator('#sender-email').waitFor({ timeout: 30_000 });
  await recipient.screenshot({ path: join(OUT, 'receive-start.png'), fullPage: true });
  await recipient.fill('#email', 'bob@client.example');
  await recipient.click('#email-form button[type=submit]');
  await recipient.fill('#code', await server.code('bob@client.example'));
  await recipient.click('#unlock-submit');
  await recipient.locator('#step-files').waitFor({ timeout: 30_000 });
  await recipient.screenshot({ path: join(OUT, 'receive.png'), fullPage: true });

  // Bob replies securely from the same page.
  await recipient.click('#reply-start');
  await recipient.locator('#reply-to').waitFor({ state: 'visible', timeout: 30_000 });
  await recipient.fill('#message', 'Thank you. The signed form is attached.');
  await recipient.setInputFiles('#files', [{ name: 'Signed form.pdf', mimeType: 'application/pdf', buffer: testBytes(320_000, 3) }]);
  await recipient.screenshot({ path: join(OUT, 'reply.png'), fullPage: true });

  // Sent items: the package just sent, opened by Bob after his code.
  await page.goto(`${server.url}/sent.html`);
  await page.locator('#sent-list li').first().waitFor({ timeout: 30_000 });
  await page.screenshot({ path: join(OUT, 'sent-items.png'), fullPage: true });

  // A request from Alice's inbox, and the outsider's upload page with files chosen.
  await inbox.fill('#request-emails', 'notaris@kantoor.example');
  await inbox.fill('#request-note', 'Please send the signed deed and the land registry extract.');
  await inbox.click('#request-submit');
  await inbox.locator('#request-done').waitFor({ state: 'visible' });
  const requestLink = await inbox.inputValue('#request-link');
  const outsider = await (await browser.newContext({ locale: 'en-US', viewport: { width: 960, height: 900 } })).newPage();
  await outsider.goto(requestLink);
  await outsider.locator('#step-email').waitFor({ state: 'visible' });
  await outsider.fill('#email', 'notaris@kantoor.example');
  await outsider.click('#email-submit');
  await outsider.fill('#code', await server.code('notaris@kantoor.example'));
  await outsider.click('#code-submit');
  await outsider.locator('#step-compose').waitFor({ state: 'visible' });
  await outsider.setInputFiles('#files', [
    { name: 'Deed of transfer (signed).pdf', mimeType: 'application/pdf', buffer: testBytes(1_800_000, 4) },
    { name: 'Land registry extract.pdf', mimeType: 'application/pdf', buffer: testBytes(260_000, 5) },
  ]);
  await outsider.locator('#file-list li').nth(1).waitFor();
  await outsider.fill('#message', 'Dear Ms Jansen, here are the documents.');
  await outsider.screenshot({ path: join(OUT, 'upload.png'), fullPage: true });
  await outsider.click('#upload-button');
  await outsider.locator('#step-done').waitFor({ state: 'visible', timeout: 120_000 });
  await outsider.context().close();

  // Alice's inbox: unlocked, the upload opened.
  await inbox.reload();
  await inbox.fill('#unlock-passphrase', PASSPHRASE);
  await inbox.click('#unlock-submit');
  await inbox.locator('#key-unlocked').waitFor({ state: 'visible', timeout: 60_000 });
  const upload = inbox.locator('#inbox-list > li', { hasText: 'notaris@kantoor.example' }).first();
  await upload.getByRole('button', { name: /^Open what/ }).click();
  await upload.locator('.inbox-body .message').waitFor();
  await inbox.screenshot({ path: join(OUT, 'inbox.png'), fullPage: true });

  // The Outlook task pane, 340 px wide as in Outlook on the web.
  const outlook = await browser.newContext({ locale: 'en-US', viewport: { width: 340, height: 900 } });
  await outlook.route('https://appsforoffice.microsoft.com/**', (route) => route.fulfill({ contentType: 'text/javascript', body: STAND_IN }));
  await outlook.addInitScript(() => {
    window.__officeFixture = {
      user: { email: 'alice@example.org', name: 'Alice Jansen' },
      to: ['bob@client.example'],
      cc: ['carol@example.org'],
      subject: 'Dossier 2026-114',
      bodyType: 'html',
      body: '<p>Hello Bob, the documents for Monday.</p>',
      attachments: [
        { id: 'a1', name: 'Intake form.pdf', contentType: 'application/pdf', base64: 'JVBERi0xLjQK'.repeat(40_000) },
        { id: 'a2', name: 'Lab results.pdf', contentType: 'application/pdf', base64: 'JVBERi0xLjQK'.repeat(9_000) },
      ],
    };
  });
  const pane = await outlook.newPage();
  const token = await server.token(ALICE);
  await pane.goto(`${server.url}/addin/taskpane.html`);
  await pane.evaluate((t) => localStorage.setItem('kluis.addin.token', JSON.stringify({ token: t, email: 'alice@example.org' })), token);
  await pane.reload();
  await pane.locator('#step-compose').waitFor();
  await pane.screenshot({ path: join(OUT, 'addin-taskpane.png'), fullPage: true });
  await outlook.close();

  // The admin console's Users section, signed in as an admin of the organisation.
  const ADMIN = 'ingrid@example.org';
  await server.admin('user', 'add', ADMIN, '--admin', '--name', 'Ingrid de Boer');
  for (const [email, name] of [['jeroen@example.org', 'Jeroen Visser'], ['fatima@example.org', 'Fatima el Amrani'], ['pieter@example.org', 'Pieter Smit']]) {
    await server.admin('user', 'add', email, '--name', name);
  }
  const adminContext = await browser.newContext({ locale: 'en-US', viewport: { width: 1200, height: 900 } });
  const admin = await adminContext.newPage();
  const adminToken = await server.token(ADMIN);
  // Signed in before the console loads (a jump from /admin/ to /admin/#users would not load it again).
  await adminContext.addInitScript((t) => localStorage.setItem('kluis.token', JSON.stringify({ token: t, email: 'ingrid@example.org' })), adminToken);
  await admin.goto(`${server.url}/admin/#users`);
  await admin.locator('#users-table tbody tr[data-email="pieter@example.org"]').waitFor();
  await admin.screenshot({ path: join(OUT, 'admin.png'), fullPage: true });
  // Its Organisation section: name, domains, expiry, audit retention, single sign-on.
  await admin.click('#tab-organisation');
  await admin.waitForFunction(() => document.querySelector('#sso-redirect').value !== '');
  await admin.fill('#org-domains', 'zorggroepnoord.nl\nzgn.nl');
  await admin.fill('#org-retention', '2555');
  await admin.evaluate(() => document.activeElement.blur());
  await admin.screenshot({ path: join(OUT, 'admin-organisation.png'), fullPage: true });
  // Its Policy section, after two changes: the form, then each version with what it changed.
  const putPolicy = (version, policy) =>
    fetch(`${server.url}/api/v1/admin/policy`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ version, policy }),
    }).then((r) => r.json());
  let policy = (await putPolicy(0, { send: { blocked_file_types: ['exe', 'bat', 'js'], verification: 'external' } })).policy;
  policy.send.blocked_domains = ['gmail.com', 'hotmail.com'];
  policy.content.mode = 'require';
  await putPolicy(1, policy);
  await admin.click('#tab-policy');
  await admin.locator('#policy-versions > li').nth(1).waitFor();
  await admin.screenshot({ path: join(OUT, 'admin-policy.png'), fullPage: true });
  // Its Upload portals section, with one portal for Alice's department.
  await admin.click('#tab-portals');
  await admin.fill('#portal-name', 'intake');
  await admin.fill('#portal-receivers', ALICE);
  await admin.fill('#portal-message', 'Send us your documents for the intake interview.');
  await admin.click('#portal-form button[type=submit]');
  await admin.locator('#portal-list > li[data-name=intake]').waitFor();
  await admin.screenshot({ path: join(OUT, 'admin-portals.png'), fullPage: true });
  await adminContext.close();
  await context.close();
} finally {
  await browser.close();
  await server.close();
}

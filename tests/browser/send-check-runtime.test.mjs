// The send check as classic Outlook for Windows runs it: /addin/commands.js,
// exactly as the server serves it, in a JavaScript-only context (node:vm)
// with no DOM, no localStorage and no WebAssembly — only what that runtime
// has (Office, OfficeRuntime.storage, fetch, setTimeout) — against a real
// server with a policy in require mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';

import { KluisServer } from './support/kluis.mjs';

const BSN = '111222333';

/** A classic-Outlook-like runtime around `script`: returns {run(item) → completed options, storage}. */
function runtime(script, { mailbox = '1.14', language = 'en-US', storage = {} } = {}) {
  const associated = {};
  const item = { current: null };
  const getAsync = (value) => (cb) => setTimeout(() => cb({ status: 'succeeded', value }), 1);
  const context = vm.createContext({
    setTimeout,
    clearTimeout,
    fetch,
    Promise,
    JSON,
    OfficeRuntime: {
      storage: {
        getItem: (k) => Promise.resolve(k in storage ? storage[k] : null),
        setItem: (k, v) => Promise.resolve(void (storage[k] = v)),
        removeItem: (k) => Promise.resolve(void delete storage[k]),
      },
    },
    Office: {
      actions: { associate: (name, fn) => { associated[name] = fn; } },
      MailboxEnums: { SendModeOverride: { PromptUser: 'promptUser' } },
      context: {
        displayLanguage: language,
        requirements: { isSetSupported: (set, v) => set === 'Mailbox' && Number(v.split('.')[1]) <= Number(mailbox.split('.')[1]) },
        mailbox: {
          get item() {
            return item.current;
          },
        },
      },
    },
  });
  // V8 gives every context WebAssembly; classic Outlook's runtime may not have it.
  vm.runInContext('delete globalThis.WebAssembly', context);
  assert.equal(vm.runInContext('typeof WebAssembly + typeof document + typeof localStorage', context), 'undefinedundefinedundefined');
  vm.runInContext(script, context, { filename: 'commands.js' });
  return {
    associated,
    storage,
    context,
    run(mail) {
      const recipients = (list) => ({ getAsync: getAsync((list ?? []).map((emailAddress) => ({ emailAddress }))) });
      item.current = {
        to: recipients(mail.to),
        cc: recipients(mail.cc),
        bcc: recipients([]),
        subject: { getAsync: getAsync(mail.subject ?? '') },
        body: { getAsync: (type, cb) => getAsync(mail.body)(cb) },
        getAttachmentsAsync: getAsync((mail.attachments ?? []).map((a, i) => ({ id: String(i), name: a.name ?? a, size: (a.text ?? '').length, isInline: false }))),
        getAttachmentContentAsync: (id, cb) => {
          const text = mail.attachments[Number(id)].text ?? '';
          getAsync({ format: 'base64', content: Buffer.from(text, 'utf8').toString('base64') })(cb);
        },
      };
      return new Promise((resolve) => associated.onMessageSendHandler({ completed: resolve }));
    },
  };
}

test('the send check runs without DOM or WebAssembly, reads the policy from the server, and decides with the Rust detectors', { timeout: 60_000 }, async (t) => {
  const server = await KluisServer.start({
    config: '[policy.content]\nmode = "require"\ninternal_domains = ["example.org"]\nsecure_external_attachments = true\n',
  });
  t.after(() => server.close());
  const response = await fetch(`${server.url}/addin/commands.js`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /javascript/);
  const script = await response.text();
  assert.ok(script.startsWith(`var KLUIS_SERVER = "${server.url}";\n`), 'the server puts its URL in front');

  const outlook = runtime(script);
  assert.equal(typeof outlook.associated.onMessageSendHandler, 'function', 'the handler is associated with its manifest name');

  const blocked = await outlook.run({ to: ['bob@client.example'], subject: 'Aanvraag', body: `BSN ${BSN}` });
  assert.equal(blocked.allowEvent, false);
  assert.match(blocked.errorMessage, /citizen service number/);
  assert.ok(blocked.errorMessage.length <= 500);
  assert.equal(blocked.commandId, 'kluisSendSecurelyButton');
  const cached = Object.entries(outlook.storage).find(([key]) => key.startsWith('kluis.policy'));
  assert.equal(JSON.parse(cached[1]).content.mode, 'require', 'the policy is kept for when the server is away');

  const attachments = await outlook.run({ to: ['bob@client.example'], subject: 'Foto', body: 'Zie bijlage', attachments: ['foto.jpg'] });
  assert.equal(attachments.allowEvent, false, 'attachments to outsiders need securing under this policy');
  assert.match(attachments.errorMessage, /has attachments/);

  // A text attachment is read too, decoded by hand (no atob, no TextDecoder there), accents and all.
  const csv = await outlook.run({
    to: ['bob@client.example'],
    subject: 'Lijst',
    body: 'Zie bijlage',
    attachments: [{ name: 'cliënten.csv', text: `naam;burgerservicenummer\nZoë Čapek;${BSN}\n` }],
  });
  assert.equal(csv.allowEvent, false);
  assert.match(csv.errorMessage, /citizen service number/);
  assert.equal(vm.runInContext('typeof atob + typeof TextDecoder', outlook.context), 'undefinedundefined');

  const internal = await outlook.run({ to: ['carol@example.org'], subject: 'Intern', body: `BSN ${BSN}`, attachments: ['a.pdf'] });
  assert.deepEqual({ ...internal }, { allowEvent: true });

  // The server away: the cached policy still applies (and in Dutch for a Dutch Outlook).
  await server.stop();
  const offline = runtime(script, { language: 'nl-NL', storage: outlook.storage });
  const stillBlocked = await offline.run({ to: ['bob@client.example'], subject: 'x', body: `burgerservicenummer ${BSN}` });
  assert.equal(stillBlocked.allowEvent, false);
  assert.match(stillBlocked.errorMessage, /burgerservicenummer \(BSN\)/);
});

test('before Mailbox 1.14, advise mode warns without the prompt or the take-action button', { timeout: 60_000 }, async (t) => {
  const server = await KluisServer.start({ config: '[policy.content]\nmode = "advise"\n' });
  t.after(() => server.close());
  const script = await (await fetch(`${server.url}/addin/commands.js`)).text();
  // 1.13: no "send anyway" prompt, and no sessionData (1.11 is there, but this item has none): it warns each time.
  const outlook = runtime(script, { mailbox: '1.13' });
  const first = await outlook.run({ to: ['bob@client.example'], subject: 'x', body: `BSN ${BSN}` });
  assert.equal(first.allowEvent, false);
  assert.equal(first.sendModeOverride, undefined);
  assert.equal(first.commandId, undefined, 'the take-action button needs 1.14');
  assert.match(first.errorMessage, /Consider sending it securely/);
});

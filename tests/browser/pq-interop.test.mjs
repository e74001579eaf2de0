// Post-quantum (mlkem768x25519) interop with an independent implementation,
// age-encryption on npm (the TypeScript age by age's author), both ways: in
// Node against the native `kluis age`, and in Chromium against Kluis's wasm.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as age from 'age-encryption';

import { launch, openPage } from './support/browser.mjs';
import { startServer } from './support/server.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KLUIS = process.env.KLUIS_BIN ?? join(ROOT, 'target/debug/kluis');

let dir;
let server;
let browser;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kluis-pq-'));
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

// Larger than one 64 KiB chunk, not a multiple of it.
const plaintext = randomBytes(200_000);

test('kluis age encrypts to an age-encryption hybrid recipient; age-encryption decrypts', async () => {
  const identity = await age.generateHybridIdentity();
  const recipient = await age.identityToRecipient(identity);
  assert.match(recipient, /^age1pq1/);
  const input = join(dir, 'to-js.bin');
  writeFileSync(input, plaintext);
  for (const armor of [false, true]) {
    const output = join(dir, armor ? 'to-js.age.txt' : 'to-js.age');
    execFileSync(KLUIS, ['age', 'encrypt', '-r', recipient, ...(armor ? ['--armor'] : []), '-o', output, input]);
    const file = readFileSync(output);
    assert.ok(file.includes(armor ? '-----BEGIN AGE ENCRYPTED FILE-----' : '-> mlkem768x25519 '));
    const d = new age.Decrypter();
    d.addIdentity(identity);
    const opened = await d.decrypt(armor ? age.armor.decode(file.toString()) : new Uint8Array(file));
    assert.ok(Buffer.from(opened).equals(plaintext), `armor ${armor}`);
  }
});

test('age-encryption encrypts to a `kluis age keygen --pq` recipient; kluis age decrypts', async () => {
  const key = join(dir, 'pq-key.txt');
  execFileSync(KLUIS, ['age', 'keygen', '--pq', '-o', key], { stdio: ['ignore', 'ignore', 'pipe'] });
  const recipient = execFileSync(KLUIS, ['age', 'keygen', '-y', key]).toString().trim();
  assert.match(recipient, /^age1pq1/);
  assert.match(readFileSync(key, 'utf8'), /^AGE-SECRET-KEY-PQ-1/m);
  const e = new age.Encrypter();
  e.addRecipient(recipient);
  const input = join(dir, 'from-js.age');
  writeFileSync(input, await e.encrypt(plaintext));
  const opened = execFileSync(KLUIS, ['age', 'decrypt', '-i', key, input], { maxBuffer: 1 << 24 });
  assert.ok(opened.equals(plaintext));
});

test('kluis age refuses to mix post-quantum and classic recipients, as the spec asks', async () => {
  const pq = await age.identityToRecipient(await age.generateHybridIdentity());
  const classic = await age.identityToRecipient(await age.generateIdentity());
  const input = join(dir, 'mixed.bin');
  writeFileSync(input, 'x');
  assert.throws(
    () => execFileSync(KLUIS, ['age', 'encrypt', '-r', pq, '-r', classic, input], { stdio: 'pipe' }),
    (e) => /cannot share a file/.test(e.stderr.toString()),
  );
});

test('in Chromium, Kluis wasm and age-encryption read each other\'s post-quantum files', async () => {
  const page = await openPage(browser, `${server.url}/test/age-encryption.html`);
  const result = await page.evaluate(async (bytes) => {
    const age = await import('age-encryption');
    const { loadWasm } = await import('/js/shared/wasm.js');
    const wasm = await loadWasm();
    const plain = new Uint8Array(bytes);
    const join = (pieces) => {
      const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of pieces) { out.set(p, at); at += p.length; }
      return out;
    };
    const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

    // Kluis wasm → age-encryption
    const jsIdentity = await age.generateHybridIdentity();
    const encryptor = new wasm.Encryptor([await age.identityToRecipient(jsIdentity)], false);
    const sealed = join([...encryptor.push(plain), ...encryptor.finish()]);
    const d = new age.Decrypter();
    d.addIdentity(jsIdentity);
    const toJs = same(await d.decrypt(sealed), plain);

    // age-encryption → Kluis wasm
    const wasmIdentity = wasm.generateIdentity(true);
    const e = new age.Encrypter();
    e.addRecipient(wasm.identityToRecipient(wasmIdentity));
    const fromJs = await e.encrypt(plain);
    const decryptor = new wasm.Decryptor([wasmIdentity]);
    const toWasm = same(join([...decryptor.push(fromJs), ...decryptor.finish()]), plain);
    return { toJs, toWasm, stanza: new TextDecoder().decode(sealed.subarray(0, 60)) };
  }, [...plaintext.subarray(0, 100_000)]);
  assert.match(result.stanza, /-> mlkem768x25519 /);
  assert.ok(result.toJs, 'age-encryption opens what Kluis wasm encrypted');
  assert.ok(result.toWasm, 'Kluis wasm opens what age-encryption encrypted');
});

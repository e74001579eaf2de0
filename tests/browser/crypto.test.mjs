// age in a real browser: streams through Web Workers, memory, tampering,
// and interop with the native `kluis age` and the reference `age`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { launch, openPage } from './support/browser.mjs';
import { startServer } from './support/server.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KLUIS = process.env.KLUIS_BIN ?? join(ROOT, 'target/debug/kluis');

let server;
let browser;
let page;

before(async () => {
  server = await startServer();
  browser = await launch();
  page = await openPage(browser, `${server.url}/test/blank.html`);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('a 256 MiB stream survives encrypt → decrypt in Web Workers with wasm memory under 64 MiB', async () => {
  const result = await page.evaluate(async (totalMiB) => {
    const { CryptoWorker } = await import('/js/shared/crypto-client.js');
    const { loadWasm } = await import('/js/shared/wasm.js');
    const wasm = await loadWasm();
    const identity = wasm.generateIdentity();
    const recipient = wasm.identityToRecipient(identity);

    // Pseudo-random plaintext made on the fly (xorshift32), hashed as it is made.
    const plainHash = new wasm.Sha256();
    let produced = 0;
    let x = 0x9e3779b9;
    const source = new ReadableStream({
      pull(controller) {
        if (produced === totalMiB) return controller.close();
        const words = new Uint32Array(1 << 18);
        for (let i = 0; i < words.length; i++) {
          x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
          words[i] = x;
        }
        const chunk = new Uint8Array(words.buffer);
        plainHash.update(chunk);
        produced++;
        controller.enqueue(chunk);
      },
    }, { highWaterMark: 2 });

    const encryptor = new CryptoWorker();
    const decryptor = new CryptoWorker();
    const started = performance.now();
    const encrypted = encryptor.encrypt(source, [recipient]);
    // Count ciphertext bytes on their way from one worker to the other.
    let ciphertextBytes = 0;
    const counted = encrypted.stream.pipeThrough(new TransformStream({
      transform(chunk, c) { ciphertextBytes += chunk.length; c.enqueue(chunk); },
    }));
    const decrypted = decryptor.decrypt(counted, [identity]);
    const outHash = new wasm.Sha256();
    let plaintextBytes = 0;
    await decrypted.stream.pipeTo(new WritableStream({
      write(chunk) { plaintextBytes += chunk.length; outHash.update(chunk); },
    }));
    const [enc, dec] = await Promise.all([encrypted.done, decrypted.done]);
    const seconds = (performance.now() - started) / 1000;
    encryptor.terminate();
    decryptor.terminate();
    return {
      plainHash: plainHash.hexDigest(),
      outHash: outHash.hexDigest(),
      plaintextBytes,
      ciphertextBytes,
      seconds,
      memory: { encryptWorker: enc.wasmMemory, decryptWorker: dec.wasmMemory, page: wasm.memoryBytes() },
    };
  }, 256);

  const total = 256 * 1024 * 1024;
  assert.equal(result.plaintextBytes, total);
  assert.equal(result.outHash, result.plainHash, 'SHA-256 of the decrypted stream matches the original');
  const chunks = total / 65536;
  assert.ok(result.ciphertextBytes > total + chunks * 16, 'ciphertext carries header and tags');
  for (const [where, bytes] of Object.entries(result.memory)) {
    assert.ok(bytes < 64 * 1024 * 1024, `${where} wasm memory ${bytes} bytes exceeds 64 MiB`);
  }
  console.log(`256 MiB round trip in ${result.seconds.toFixed(2)} s; wasm memory (MiB):`,
    Object.fromEntries(Object.entries(result.memory).map(([k, v]) => [k, (v / 1048576).toFixed(1)])));
});

test('a tampered ciphertext makes the stream fail with a plain message', async () => {
  const message = await page.evaluate(async () => {
    const { encryptStream, decryptStream } = await import('/js/shared/age-stream.js');
    const { loadWasm } = await import('/js/shared/wasm.js');
    const wasm = await loadWasm();
    const identity = wasm.generateIdentity();
    const data = new Uint8Array(300_000).fill(7);
    const encrypted = await new Response(
      new Blob([data]).stream().pipeThrough(await encryptStream([wasm.identityToRecipient(identity)])),
    ).arrayBuffer();
    const bytes = new Uint8Array(encrypted);
    bytes[bytes.length - 5000] ^= 1;
    // Read by hand: Response.arrayBuffer() would replace the error with a generic one.
    const reader = new Blob([bytes]).stream().pipeThrough(await decryptStream([identity])).getReader();
    try {
      while (!(await reader.read()).done);
      return 'no error';
    } catch (e) {
      return e.message;
    }
  });
  assert.match(message, /chunk 4 failed authentication: the file was modified or damaged/);
});

function keygen(dir) {
  const file = join(dir, 'id.txt');
  execFileSync(KLUIS, ['age', 'keygen', '-o', file], { stdio: 'pipe' });
  const text = readFileSync(file, 'utf8');
  return { file, identity: text.match(/^AGE-SECRET-KEY-1\S+$/m)[0], recipient: text.match(/public key: (\S+)/)[1] };
}

async function browserEncrypt(data, recipients, armor) {
  const out = await page.evaluate(async ({ data, recipients, armor }) => {
    const { encryptStream } = await import('/js/shared/age-stream.js');
    const input = new Blob([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))]).stream();
    const buf = new Uint8Array(await new Response(input.pipeThrough(await encryptStream(recipients, { armor }))).arrayBuffer());
    let s = '';
    for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode(...buf.subarray(i, i + 0x8000));
    return btoa(s);
  }, { data: data.toString('base64'), recipients, armor });
  return Buffer.from(out, 'base64');
}

async function browserDecrypt(file, identities) {
  const out = await page.evaluate(async ({ file, identities }) => {
    const { decryptStream } = await import('/js/shared/age-stream.js');
    const input = new Blob([Uint8Array.from(atob(file), (c) => c.charCodeAt(0))]).stream();
    const buf = new Uint8Array(await new Response(input.pipeThrough(await decryptStream(identities))).arrayBuffer());
    let s = '';
    for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode(...buf.subarray(i, i + 0x8000));
    return btoa(s);
  }, { file: file.toString('base64'), identities });
  return Buffer.from(out, 'base64');
}

test('files made in the browser open with kluis and age, and the reverse', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kluis-browser-'));
  const key = keygen(dir);
  for (const size of [0, 1, 65536, 65537, 1_000_000]) {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >> 9)) & 0xff;
    for (const armor of [false, true]) {
      const encrypted = await browserEncrypt(data, [key.recipient], armor);
      const path = join(dir, `b-${size}-${armor}.age`);
      writeFileSync(path, encrypted);
      const viaKluis = execFileSync(KLUIS, ['age', 'decrypt', '-i', key.file, path], { maxBuffer: 1 << 26 });
      assert.ok(viaKluis.equals(data), `kluis decrypts browser output (size ${size}, armor ${armor})`);
      const viaAge = execFileSync('age', ['-d', '-i', key.file, path], { maxBuffer: 1 << 26 });
      assert.ok(viaAge.equals(data), `age decrypts browser output (size ${size}, armor ${armor})`);

      const native = join(dir, `n-${size}-${armor}.age`);
      execFileSync('age', ['-r', key.recipient, ...(armor ? ['-a'] : []), '-o', native], { input: data });
      const back = await browserDecrypt(readFileSync(native), [key.identity]);
      assert.ok(back.equals(data), `the browser decrypts age output (size ${size}, armor ${armor})`);
    }
  }
});

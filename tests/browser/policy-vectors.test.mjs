// The content check's frozen vectors (policy/tests/data/vectors.json) through
// both JavaScript builds of the same Rust: the wasm bindings (web/pkg/kluis_wasm.js)
// in Node, and the ES2016 script (web/pkg/kluis-policy.es2016.js) in a fresh
// `node:vm` context without WebAssembly, TextEncoder or console, as classic
// Outlook's event runtime has them. `cargo xtask wasm` builds both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

import * as espree from 'espree';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = join(ROOT, 'web/pkg');
const VECTORS = JSON.parse(readFileSync(join(ROOT, 'policy/tests/data/vectors.json'), 'utf8'));
const ES2016 = join(PKG, 'kluis-policy.es2016.js');
const BUNDLE = join(PKG, 'kluis-commands.js');

for (const file of ['kluis_wasm.js', 'kluis_wasm_bg.wasm', 'kluis-policy.es2016.js']) {
  if (!existsSync(join(PKG, file))) throw new Error(`web/pkg/${file} is missing: run cargo xtask wasm`);
}

const wasm = await import(join(PKG, 'kluis_wasm.js'));
wasm.initSync({ module: readFileSync(join(PKG, 'kluis_wasm_bg.wasm')) });

/** The bytes of a vector: its text as UTF-8, or its hex. */
function bytes(vector) {
  if (typeof vector.text === 'string') return new TextEncoder().encode(vector.text);
  return Uint8Array.from(vector.hex.match(/../g), (h) => parseInt(h, 16));
}

function policyOf(vector) {
  return vector.policy ?? VECTORS.scan_policy;
}

function scanWasm(policy, data, piece) {
  const scanner = new wasm.PolicyScanner(policy);
  for (let at = 0; at < data.length; at += piece) scanner.push(data.subarray(at, at + piece));
  return scanner.finish();
}

/** A context with only the language's own globals, minus WebAssembly. */
function es2016Context(file) {
  const context = vm.createContext({});
  vm.runInContext('delete globalThis.WebAssembly; delete globalThis.TextEncoder; delete globalThis.console;', context);
  vm.runInContext(readFileSync(file, 'utf8'), context, { filename: file });
  return context;
}

test('wasm bindings: scan vectors, whole and in pieces of 1 and 7 bytes', () => {
  for (const vector of VECTORS.scan) {
    const data = bytes(vector);
    for (const piece of [Math.max(data.length, 1), 1, 7]) {
      assert.deepStrictEqual(scanWasm(policyOf(vector), data, piece), vector.findings, `${vector.name} (pieces of ${piece})`);
    }
  }
});

test('wasm bindings: decide vectors, with decide() and checkMessage()', () => {
  for (const vector of VECTORS.decide) {
    const findings = scanWasm(vector.policy, bytes(vector), 7);
    assert.deepStrictEqual(wasm.decide(vector.policy, vector.facts, findings), vector.verdict, vector.name);
    assert.deepStrictEqual(wasm.checkMessage(vector.policy, vector.facts, vector.text), vector.verdict, `${vector.name} (checkMessage)`);
  }
});

test('wasm bindings: errors carry a kind', () => {
  assert.throws(() => new wasm.PolicyScanner({ mode: 'sometimes' }), { kind: 'invalid_policy' });
  assert.throws(() => wasm.decide({}, { recipients: 'a@b.nl' }, []), { kind: 'invalid_facts' });
  assert.throws(() => wasm.decide({}, {}, [{ kind: 'bsn' }]), { kind: 'invalid_findings' });
});

test('ES2016 build: parses as an ES2016 script, and so does the event handler bundle', () => {
  // Both are built by `cargo xtask wasm` (the browser stage runs it first): a missing one is a failure.
  for (const file of [ES2016, BUNDLE]) {
    assert.ok(existsSync(file), `${file} is not built`);
    assert.doesNotThrow(() => espree.parse(readFileSync(file, 'utf8'), { ecmaVersion: 2016, sourceType: 'script' }), file);
  }
  const context = es2016Context(ES2016);
  assert.equal(vm.runInContext('typeof WebAssembly + typeof TextEncoder + typeof console', context), 'undefinedundefinedundefined');
  assert.equal(vm.runInContext('Object.keys(this).join()', context), 'KluisPolicy');
  assert.match(vm.runInContext('KluisPolicy.version', context), /^\d+\.\d+\.\d+/);
});

test('ES2016 build: the same verdicts as the vectors', () => {
  const { KluisPolicy } = es2016Context(ES2016);
  const facts = JSON.stringify({ recipients: ['jan@klant.nl'] });
  for (const vector of VECTORS.scan) {
    if (typeof vector.text !== 'string') continue; // bytes that are not UTF-8 cannot be a JavaScript string
    // Findings as a verdict reports them: with min_confidence low, all of them.
    const policy = JSON.stringify({ ...policyOf(vector), min_confidence: 'low' });
    const verdict = JSON.parse(KluisPolicy.check(policy, facts, vector.text));
    assert.deepStrictEqual(verdict.findings, vector.findings, vector.name);
  }
  for (const vector of VECTORS.decide) {
    const verdict = KluisPolicy.check(JSON.stringify(vector.policy), JSON.stringify(vector.facts), vector.text);
    assert.deepStrictEqual(JSON.parse(verdict), vector.verdict, vector.name);
  }
});

test('ES2016 build: UTF-8 by hand, long texts, errors', () => {
  const { KluisPolicy } = es2016Context(ES2016);
  const facts = '{"recipients":["jan@klant.nl"]}';
  const check = (text, policy = '{"detectors":["bsn"],"keyword_lists":[],"min_confidence":"low"}') =>
    JSON.parse(KluisPolicy.check(policy, facts, text)).findings;
  const bsn = [{ kind: 'bsn', confidence: 'high', count: 1 }];
  // A surrogate pair across the wrapper's 16384-unit pieces, and proximity in characters.
  assert.deepStrictEqual(check('a'.repeat(16383) + '\u{1F600} BSN 123456782'), bsn);
  assert.deepStrictEqual(check('BSN ' + '\u{1F600}'.repeat(298) + ' 123456782'), bsn);
  // A lone surrogate is U+FFFD, as with TextEncoder.
  assert.deepStrictEqual(check('BSN\uD800123456782'), bsn);
  // Keyword list names and words outside ASCII come back intact.
  const lists = '{"detectors":[],"min_confidence":"low","keyword_lists":[{"name":"zorg \u00e9\u{1F600}","words":["pati\u00ebnt"]}]}';
  assert.deepStrictEqual(check('De PATI\u00cbNT.', lists), [{ kind: 'keywords', list: 'zorg \u00e9\u{1F600}', confidence: 'low', count: 1 }]);
  // Eight MB of text, one number at the end.
  assert.deepStrictEqual(check('tekst '.repeat(1 << 20) + 'sofinummer 123.456.782'), bsn);
  // Objects are accepted as well as JSON strings.
  assert.equal(JSON.parse(KluisPolicy.check({ mode: 'require' }, { recipients: ['a@b.nl'] }, 'BSN 123456782')).action, 'block');
  assert.throws(() => KluisPolicy.check('{"mode":"sometimes"}', facts, ''), (e) => e.kind === 'invalid_policy');
  assert.throws(() => KluisPolicy.check('{}', '[1,', ''), (e) => e.kind === 'invalid_facts');
});

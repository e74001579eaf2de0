// Benchmark: the content check's JavaScript builds in Node, over the same text as
// `cargo bench -p kluis-policy` (policy/benches/scan.rs): the wasm bindings
// (web/pkg/kluis_wasm.js, PolicyScanner in 64 KiB pieces) and the ES2016 script
// (web/pkg/kluis-policy.es2016.js, KluisPolicy.check on one string, in a vm
// context without WebAssembly). Run by `cargo xtask bench`, or after `cargo xtask wasm`:
//   node tests/bench/policy.mjs [WASM_MIB [ES2016_MIB]]     (defaults 100 and 100)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = join(ROOT, 'web/pkg');
const WASM_MIB = Number(process.argv[2] ?? 100);
const ES2016_MIB = Number(process.argv[3] ?? 100);
const { words, numbers } = JSON.parse(readFileSync(join(ROOT, 'policy/benches/words.json'), 'utf8'));

/** The same bytes as `text()` in policy/benches/scan.rs. */
function text(size) {
  const out = new Uint8Array(size + 64);
  const encoder = new TextEncoder();
  const [wordBytes, numberBytes] = [words, numbers].map((list) => list.map((w) => encoder.encode(w)));
  const ends = [encoder.encode('.\n\n'), encoder.encode(', '), encoder.encode('. ')];
  let x = 0x9e3779b9;
  const next = (n) => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x % n;
  };
  let len = 0;
  const put = (bytes) => {
    if (len < out.length) out.set(bytes.subarray(0, out.length - len), len);
    len += bytes.length;
  };
  while (len < size) {
    const sentence = 6 + next(14);
    for (let i = 0; i < sentence; i++) {
      if (i > 0) put(ends[2].subarray(1));
      put(next(40) === 0 ? numberBytes[next(numberBytes.length)] : wordBytes[next(wordBytes.length)]);
    }
    const end = next(8);
    put(ends[end === 0 ? 0 : end === 1 ? 1 : 2]);
  }
  return out.subarray(0, size);
}

const count = (findings) => findings.reduce((sum, f) => sum + f.count, 0);
const POLICIES = {
  'default policy': {},
  'all detectors and keyword lists': { detectors: ['bsn', 'iban', 'payment_card', 'nl_id_document', 'email'] },
  'number detectors only': { keyword_lists: [] },
};

function best(times, run) {
  let fastest = Infinity;
  let result;
  for (let i = 0; i < times; i++) {
    const start = process.hrtime.bigint();
    result = run();
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return [fastest, result];
}

const line = (name, bytes, seconds, findings) =>
  console.log(`${name.padEnd(34)} ${(bytes / seconds / 1e6).toFixed(0).padStart(5)} MB/s  (${findings} findings)`);

const wasm = await import(join(PKG, 'kluis_wasm.js'));
wasm.initSync({ module: readFileSync(join(PKG, 'kluis_wasm_bg.wasm')) });
const data = text(WASM_MIB << 20);
console.log(`\nkluis-policy as wasm in Node ${process.version}, ${WASM_MIB} MiB, best of 3:`);
for (const [name, policy] of Object.entries(POLICIES)) {
  const [seconds, findings] = best(3, () => {
    const scanner = new wasm.PolicyScanner(policy);
    for (let at = 0; at < data.length; at += 65536) scanner.push(data.subarray(at, at + 65536));
    return scanner.finish();
  });
  line(name, data.length, seconds, count(findings));
}

const context = vm.createContext({});
vm.runInContext('delete globalThis.WebAssembly;', context);
vm.runInContext(readFileSync(join(PKG, 'kluis-policy.es2016.js'), 'utf8'), context);
const string = new TextDecoder().decode(text(ES2016_MIB << 20));
console.log(`\nkluis-policy as ES2016 JavaScript (wasm2js) in Node ${process.version}, ${ES2016_MIB} MiB, best of 3:`);
for (const [name, policy] of Object.entries(POLICIES)) {
  const document = JSON.stringify({ ...policy, min_confidence: 'low' });
  const [seconds, verdict] = best(3, () => context.KluisPolicy.check(document, '{"recipients":["a@b.nl"]}', string));
  line(name, Buffer.byteLength(string), seconds, count(JSON.parse(verdict).findings));
}

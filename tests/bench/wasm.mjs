// Benchmark: wasm age throughput in headless Chromium, one worker and all
// workers at once (navigator.hardwareConcurrency). Run by `cargo xtask bench`.
import { launch, openPage } from '../browser/support/browser.mjs';
import { startServer } from '../browser/support/server.mjs';

const MIB = Number(process.env.BENCH_WASM_MIB ?? 512);

const server = await startServer();
const browser = await launch();
try {
  const page = await openPage(browser, `${server.url}/test/blank.html`);
  const run = (workers) =>
    page.evaluate(async ({ workers, mib }) => {
      const results = await Promise.all(
        Array.from({ length: workers }, () => new Promise((resolve, reject) => {
          const w = new Worker('/test/bench-worker.js', { type: 'module' });
          w.onmessage = ({ data }) => { w.terminate(); resolve(data); };
          w.onerror = (e) => reject(new Error(e.message));
          w.postMessage({ mib: mib / workers });
        })),
      );
      const rate = (bytes, seconds) =>
        results.reduce((a, r) => a + r[bytes], 0) / Math.max(...results.map((r) => r[seconds])) / 1e9;
      const each = (bytes, seconds) => results.map((r) => r[bytes] / r[seconds] / 1e9);
      return {
        workers,
        cores: navigator.hardwareConcurrency,
        rows: {
          'encrypt, push': [rate('encryptBytes', 'encryptSeconds'), each('encryptBytes', 'encryptSeconds')],
          'decrypt, push': [rate('decryptBytes', 'decryptSeconds'), each('decryptBytes', 'decryptSeconds')],
          'encrypt, pushInto': [rate('encryptBytes', 'encryptIntoSeconds'), each('encryptBytes', 'encryptIntoSeconds')],
          'decrypt, pushInto': [rate('decryptBytes', 'decryptIntoSeconds'), each('decryptBytes', 'decryptIntoSeconds')],
          'encrypt, Web Streams': [rate('encryptBytes', 'encryptStreamSeconds'), each('encryptBytes', 'encryptStreamSeconds')],
          'decrypt, Web Streams': [rate('decryptBytes', 'decryptStreamSeconds'), each('decryptBytes', 'decryptStreamSeconds')],
        },
        memoryMiB: Math.max(...results.map((r) => r.wasmMemory)) / 1048576,
      };
    }, { workers, mib: MIB });

  const single = await run(1);
  const all = await run(single.cores);
  console.log(`\nwasm in headless Chromium ${browser.version()}: ${MIB} MiB per measurement, ${single.cores} cores,`);
  console.log(`wasm memory at most ${Math.max(single.memoryMiB, all.memoryMiB).toFixed(1)} MiB per worker`);
  console.log(`${''.padEnd(20)} ${'1 worker GB/s'.padStart(14)} ${`${all.workers} workers, total`.padStart(18)}   per worker`);
  for (const name of Object.keys(single.rows)) {
    const [one] = single.rows[name];
    const [total, each] = all.rows[name];
    console.log(`${name.padEnd(20)} ${one.toFixed(3).padStart(14)} ${total.toFixed(3).padStart(18)}   ${each.map((x) => x.toFixed(3)).join(', ')}`);
  }
  console.log('push: a new Uint8Array per output chunk; pushInto: output into a reused buffer; Web Streams: age-stream.js, fed fresh 256 KiB arrays, output gathered into ~1 MiB arrays');
} finally {
  await browser.close();
  await server.close();
}

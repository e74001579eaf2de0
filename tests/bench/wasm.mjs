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
      const sum = (k) => results.reduce((a, r) => a + r[k], 0);
      const max = (k) => Math.max(...results.map((r) => r[k]));
      return {
        workers,
        cores: navigator.hardwareConcurrency,
        encrypt: sum('encryptBytes') / max('encryptSeconds') / 1e9,
        decrypt: sum('decryptBytes') / max('decryptSeconds') / 1e9,
        encryptPerWorker: results.map((r) => r.encryptBytes / r.encryptSeconds / 1e9),
        decryptPerWorker: results.map((r) => r.decryptBytes / r.decryptSeconds / 1e9),
        memoryMiB: max('wasmMemory') / 1048576,
      };
    }, { workers, mib: MIB });

  const single = await run(1);
  const all = await run(single.cores);
  const version = browser.version();
  console.log(`\nwasm in headless Chromium ${version}: ${MIB} MiB per measurement, ${single.cores} cores`);
  console.log('                     encrypt GB/s   decrypt GB/s   wasm memory');
  const row = (name, r) =>
    console.log(`${name.padEnd(20)} ${r.encrypt.toFixed(3).padStart(13)}  ${r.decrypt.toFixed(3).padStart(13)}   ${r.memoryMiB.toFixed(1)} MiB/worker`);
  row('1 worker', single);
  row(`${all.workers} workers (total)`, all);
  console.log(`per worker when all run: encrypt ${all.encryptPerWorker.map((x) => x.toFixed(3)).join(', ')}; decrypt ${all.decryptPerWorker.map((x) => x.toFixed(3)).join(', ')}`);
} finally {
  await browser.close();
  await server.close();
}

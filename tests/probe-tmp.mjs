import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync, readdirSync, mkdtempSync } from 'node:fs';
const N = Number(process.env.N ?? 128);
const MODE = process.env.MODE;
const page = `<script>
(async () => {
  await new Promise((r) => setTimeout(r, 2500));
  let body = new Uint8Array(8 << 20).fill(7);
  const t = performance.now();
  for (let i = 0; i < ${N}; i++) {
    if ('${MODE}' === 'fresh') { body = new Uint8Array(8 << 20); body[0] = i; }
    const data = '${MODE}' === 'blob' ? new Blob([body]) : body;
    await new Promise((res) => { const x = new XMLHttpRequest(); x.open('PATCH', '/u'); x.onload = res; x.send(data); });
  }
  const secs = (performance.now() - t) / 1000;
  await fetch('/result', { method: 'POST', body: String((${N} * 8.39 / secs).toFixed(0)) });
})();
</script>`;
let done;
const result = new Promise((r) => (done = r));
const srv = createServer((req, res) => { let n = 0; let text = ''; req.on('data', (d) => { n += d.length; if (req.url === '/result') text += d; }); req.on('end', () => { if (req.url === '/result') done(text); res.writeHead(200, {'content-type': 'text/html'}); res.end(req.method === 'GET' ? page : String(n)); }); });
await new Promise((r) => srv.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${srv.address().port}/`;
const procs = (pred) => readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((p) => { try { const c = readFileSync(`/proc/${p}/cmdline`, 'utf8'); return c.includes('chromium') && pred(c); } catch { return false; } });
const sum = (pids) => pids.reduce((s, p) => { try { return s + Number(readFileSync(`/proc/${p}/status`, 'utf8').match(/RssAnon:\s+(\d+)/)[1]) / 1024; } catch { return s; } }, 0);
const child = spawn('/usr/bin/chromium', ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${mkdtempSync('/tmp/chr-')}`, url], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 2000));
const idle = sum(procs((c) => c.includes('--type=renderer')));
const idleB = sum(procs((c) => !c.includes('--type=')));
let peak = 0, peakB = 0;
const timer = setInterval(() => { peak = Math.max(peak, sum(procs((c) => c.includes('--type=renderer')))); peakB = Math.max(peakB, sum(procs((c) => !c.includes('--type=')))); }, 100);
const mbs = await Promise.race([result, new Promise((r) => setTimeout(() => r('STALLED'), 60000))]);
clearInterval(timer);
console.log(`${MODE}, ${N} x 8 MiB:`, mbs, 'MB/s, renderers', idle.toFixed(0), '→', peak.toFixed(0), 'MiB; browser', idleB.toFixed(0), '→', peakB.toFixed(0));
child.kill();
srv.close();

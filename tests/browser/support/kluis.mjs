// A real kluis-server for end-to-end tests: its own temporary data
// directory, a free port on 127.0.0.1 (HTTP, or HTTPS with a certificate
// made for the test), mail read from the outbox, and the `kluis` command line.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SERVER_BIN = process.env.KLUIS_SERVER_BIN ?? join(ROOT, 'target/debug/kluis-server');
export const KLUIS_BIN = process.env.KLUIS_BIN ?? join(ROOT, 'target/debug/kluis');
export const LICENCE_BIN = process.env.KLUIS_LICENCE_BIN ?? join(ROOT, 'target/debug/kluis-licence');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Runs a program; resolves with {code, stdout, stderr} (never rejects on exit status). */
export function run(file, args, { timeout = 60_000, env, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout, env: { ...process.env, ...env }, maxBuffer: 1 << 26 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`${file} ${args.join(' ')}: ${error.message}\n${stderr}`));
        return;
      }
      resolve({ code: error ? error.code : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

/** Decodes a quoted-printable mail body. */
function decodeQuotedPrintable(text) {
  return text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

export function sha256(buffer) {
  return createHash('sha256').update(buffer).digest('hex');
}

/** A self-signed certificate for 127.0.0.1 (openssl) in `dir`: {certificate, key} paths and the PEM. */
function selfSignedCertificate(dir) {
  const certificate = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', certificate,
  ], { stdio: 'ignore' });
  return { certificate, key, pem: readFileSync(certificate) };
}

export class KluisServer {
  /** `ca`: the PEM certificate the server answers HTTPS with (null: plain HTTP). */
  constructor(data, port, config = null, ca = null) {
    this.data = data;
    this.config = config;
    this.port = port;
    this.ca = ca;
    this.url = `${ca ? 'https' : 'http'}://127.0.0.1:${port}`;
    this.outbox = join(data, 'outbox');
    this.seenMail = new Set();
    this.child = null;
    this.log = [];
  }

  /** Starts a server on a fresh data directory; `config` is TOML for its configuration file;
   * `tls`: serve HTTPS with a self-signed certificate (needs `openssl`), trusted by `get`. */
  static async start({ config, tls = false } = {}) {
    const data = mkdtempSync(join(tmpdir(), 'kluis-e2e-'));
    let file = null;
    let ca = null;
    if (tls) {
      const made = selfSignedCertificate(data);
      ca = made.pem;
      config = `${config ?? ''}\n[tls]\ncertificate = ${JSON.stringify(made.certificate)}\nkey = ${JSON.stringify(made.key)}\n`;
    }
    if (config) {
      file = join(data, 'kluis.toml');
      writeFileSync(file, config);
    }
    const server = new KluisServer(data, await freePort(), file, ca);
    await server.spawn();
    return server;
  }

  #args(...rest) {
    return [...(this.config ? ['--config', this.config] : []), '--data', this.data, '--listen', `127.0.0.1:${this.port}`, '--public-url', this.url, ...rest];
  }

  async spawn() {
    this.child = spawn(SERVER_BIN, this.#args(), {
      env: { ...process.env, KLUIS_WEB_DIR: join(ROOT, 'web'), RUST_LOG: process.env.RUST_LOG ?? 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr.on('data', (d) => {
      this.log.push(d.toString());
      if (process.env.KLUIS_TEST_VERBOSE) process.stderr.write(`[server] ${d}`);
    });
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.exited = exited;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`kluis-server exited: ${this.log.join('')}`);
      try {
        if ((await this.get('/healthz')).status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error('kluis-server did not start in time');
  }

  /** GET `path` (HTTPS trusting only this server's certificate): {status, headers, body: Buffer}. */
  get(path) {
    const send = this.ca ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      // A connection of its own (no keep-alive), so a stopping server is not held up by it.
      const req = send(`${this.url}${path}`, { agent: false, ...(this.ca ? { ca: this.ca } : {}) }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** Stops the server (SIGTERM, then SIGKILL after 10 s). */
  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Stops the server and removes its data. */
  async close() {
    await this.stop();
    rmSync(this.data, { recursive: true, force: true });
  }

  /** Runs an administrative `kluis-server` command on this data directory. */
  async admin(...args) {
    const result = await run(SERVER_BIN, this.#args(...args), { env: { KLUIS_WEB_DIR: join(ROOT, 'web') } });
    if (result.code !== 0) throw new Error(`kluis-server ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout.trim();
  }

  addUser(email) {
    return this.admin('user', 'add', email);
  }

  token(email) {
    return this.admin('token', 'create', email);
  }

  /** Runs the `kluis` command line. */
  kluis(args, options) {
    return run(KLUIS_BIN, args, options);
  }

  /** Waits for a new mail to `email` and returns the 6-digit code in it. */
  async code(email, { timeout = 10_000 } = {}) {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      let names = [];
      try {
        names = readdirSync(this.outbox).filter((n) => n.endsWith('.eml')).sort();
      } catch {
        // no outbox yet
      }
      for (const name of names) {
        if (this.seenMail.has(name)) continue;
        const text = decodeQuotedPrintable(readFileSync(join(this.outbox, name), 'utf8'));
        const to = text.match(/^To:\s*(.*)$/im)?.[1] ?? '';
        if (!to.toLowerCase().includes(email.toLowerCase())) continue;
        const code = text.match(/^[ \t]+(\d{6})[ \t]*\r?$/m)?.[1];
        if (!code) continue;
        this.seenMail.add(name);
        return code;
      }
      await sleep(100);
    }
    throw new Error(`no code mailed to ${email} within ${timeout} ms`);
  }

  /** Waits for a mail to `email` whose text (decoded) matches `pattern` and returns that text. */
  async mail(email, pattern, { timeout = 10_000 } = {}) {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      let names = [];
      try {
        names = readdirSync(this.outbox).filter((n) => n.endsWith('.eml')).sort();
      } catch {
        // no outbox yet
      }
      for (const name of names) {
        const text = decodeQuotedPrintable(readFileSync(join(this.outbox, name), 'utf8'));
        const to = text.match(/^To:\s*(.*)$/im)?.[1] ?? '';
        if (to.toLowerCase().includes(email.toLowerCase()) && pattern.test(text)) return text;
      }
      await sleep(100);
    }
    throw new Error(`no mail to ${email} matching ${pattern} within ${timeout} ms`);
  }

  /** How many mails to `email` are in the outbox (read or not). The queue sends them
   * in the background: a mail asked for a moment ago may not be here yet. */
  mailCount(email) {
    let names;
    try {
      names = readdirSync(this.outbox).filter((n) => n.endsWith('.eml'));
    } catch {
      return 0; // no outbox yet
    }
    return names.filter((name) => {
      const to = readFileSync(join(this.outbox, name), 'utf8').match(/^To:\s*(.*)$/im)?.[1] ?? '';
      return to.toLowerCase().includes(email.toLowerCase());
    }).length;
  }

  /** The package as its sender sees it (GET /api/v1/packages/{id}), with an API token of the sender. */
  async package(token, id) {
    const res = await fetch(`${this.url}/api/v1/packages/${id}`, { headers: { Authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`GET /api/v1/packages/${id}: ${res.status} ${await res.text()}`);
    return res.json();
  }

  /** The bytes of every file in the data directory (database and WAL, blobs, uploads, outbox): for leak scans. */
  files(dir = this.data) {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? this.files(join(dir, entry.name)) : [readFileSync(join(dir, entry.name))],
    );
  }

  /** Path of a stored blob. */
  blobPath(packageId, index) {
    return join(this.data, 'blobs', packageId, String(index));
  }
}

/** Deterministic pseudo-random bytes (xorshift32) of `size`. */
export function testBytes(size, seed = 1) {
  const out = Buffer.alloc(size);
  let x = (seed * 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  for (let i = size - (size % 4); i < size; i++) out[i] = i & 0xff;
  return out;
}

export { sleep };

// Helpers shared by the browser benchmarks: input files, hashes, and the
// memory of Chromium's processes read from /proc.
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** `dir`/input-`mib`.bin: `mib` MiB of random bytes, kept between runs. */
export async function randomFile(dir, mib) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `input-${mib}.bin`);
  if (existsSync(path) && statSync(path).size === mib * 1048576) return path;
  const out = createWriteStream(path);
  const chunk = Buffer.alloc(1048576);
  for (let i = 0; i < mib; i++) {
    randomFillSync(chunk);
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r, e) => out.end((err) => (err ? e(err) : r())));
  return path;
}

export async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Private resident memory (RssAnon, MiB) of the Chromium processes of `kind`
 * among `root` and its descendants: 'renderer' (renderers of web pages, with
 * their workers; not Chromium's own UI) or 'browser' (the browser process).
 * Shared memory (RssShmem) is left out: it holds Chromium's transfer
 * buffers, which the browser process owns and recycles.
 */
export function chromiumMemoryMiB(root, kind = 'renderer') {
  const children = new Map();
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  const isKind = (cmdline) =>
    cmdline.includes('chromium') &&
    (kind === 'renderer'
      ? cmdline.includes('--type=renderer') && !cmdline.includes('--top-chrome-webui') && !cmdline.includes('--extension-process')
      : !cmdline.includes('--type='));
  let kib = 0;
  const visit = (pid) => {
    try {
      if (isKind(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))) {
        kib += Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/RssAnon:\s+(\d+)/)?.[1] ?? 0);
      }
    } catch {
      // gone meanwhile
    }
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(root);
  return kib / 1024;
}

// Kluis service worker: streams decrypted files to the browser's own
// download manager, for browsers without the File System Access API.
//
// The recipient page (receive.js → sinks.js) posts {type: 'kluis-download',
// id, name, size} with a MessagePort, then points a hidden iframe at
// /dl/<id>/<name>. This worker answers that request with a streamed
// response marked as an attachment. Each time the stream wants more it
// sends 'pull' on the port; the page answers with one 'chunk' (so memory
// stays flat whatever the size), then 'end', or 'error' when the file
// turns out damaged: the stream is errored and the browser marks the
// download as failed, so a damaged file never looks complete.
//
// The page registers this worker for the scope /dl/ only, so it never sees
// the pages, API calls or uploads.

const PREFIX = '/dl/';
/** Offers waiting for their request: id → {port, name, size, at}. */
const offers = new Map();
const OFFER_TTL = 60_000;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const data = event.data ?? {};
  if (data.type === 'kluis-download' && event.ports[0] && typeof data.id === 'string') {
    const now = Date.now();
    for (const [id, offer] of offers) if (now - offer.at > OFFER_TTL) offers.delete(id);
    offers.set(data.id, { port: event.ports[0], name: String(data.name), size: data.size, at: now });
    event.ports[0].postMessage({ type: 'ready' });
  }
  // 'ping' messages only keep this worker alive during long downloads.
});

/** RFC 6266 / 8187 Content-Disposition for any file name. */
function disposition(name) {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

function stream(port) {
  let waiting = null; // resolves the pending pull
  const wake = () => {
    waiting?.();
    waiting = null;
  };
  return new ReadableStream(
    {
      start(controller) {
        port.onmessage = ({ data }) => {
          if (data.type === 'chunk') {
            // A copy made here, not the buffer that came in: V8 schedules this
            // worker's garbage collection by what its scripts allocate, and
            // buffers that arrive in messages do not count. Enqueued as they
            // came, they piled up: the renderer grew by +489 MiB for a 4 GiB
            // file; with the copy it stays within about +170 MiB for any
            // size (tests/bench/receive-page.mjs).
            controller.enqueue(new Uint8Array(data.buffer, data.offset ?? 0, data.length ?? data.buffer.byteLength).slice());
            wake();
          } else if (data.type === 'end') {
            controller.close();
            wake();
            port.close();
          } else if (data.type === 'error') {
            controller.error(new Error(data.message || 'download failed'));
            wake();
            port.close();
          }
        };
      },
      pull() {
        port.postMessage({ type: 'pull' });
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      cancel() {
        // The person cancelled the download in the browser.
        port.postMessage({ type: 'cancel' });
        wake();
        port.close();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 4 << 20 }),
  );
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith(PREFIX)) return;
  const id = url.pathname.slice(PREFIX.length).split('/')[0];
  const offer = offers.get(id);
  if (!offer) {
    event.respondWith(new Response('This download is no longer available. Go back to the page and download again.', {
      status: 404,
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
    }));
    return;
  }
  offers.delete(id);
  const headers = {
    // The sender chose the type; an attachment needs none, and octet-stream is never rendered.
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': disposition(offer.name),
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "default-src 'none'; sandbox",
    'Cache-Control': 'no-store',
  };
  if (Number.isSafeInteger(offer.size)) headers['Content-Length'] = String(offer.size);
  offer.port.postMessage({ type: 'started' });
  event.respondWith(new Response(stream(offer.port), { headers }));
});

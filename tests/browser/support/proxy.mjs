// An HTTP proxy on 127.0.0.1 in front of a test server that breaks
// connections on purpose: the response to a matching request is cut off
// after a number of body bytes, as a lost network connection would, so the
// client sees a body shorter than its Content-Length.
import { createServer, request } from 'node:http';

/**
 * Proxies to `target` (a base URL). `cut(req)` returns how many body bytes
 * to let through before the connection is destroyed, or null to pass the
 * response whole. Every request is recorded in `proxy.requests` as
 * {method, url, range}.
 */
export async function startCuttingProxy(target, cut) {
  const upstream = new URL(target);
  const requests = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method, url: req.url, range: req.headers.range ?? null });
    const limit = cut(req);
    const forward = request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        if (limit === null) {
          answer.pipe(res);
          return;
        }
        let sent = 0;
        answer.on('data', (chunk) => {
          if (sent + chunk.length < limit) {
            res.write(chunk);
            sent += chunk.length;
            return;
          }
          res.write(chunk.subarray(0, limit - sent), () => res.socket?.destroy());
          sent = limit;
          answer.destroy();
        });
      },
    );
    forward.on('error', () => res.socket?.destroy());
    req.pipe(forward);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

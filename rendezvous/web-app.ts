/**
 * The browser peer, served by the rendezvous (`serve --web`): the page at `/`, its
 * script, its hashing worker and its style sheet, built by `npm run build` into dist/web/. Read once at
 * start; nothing is served from the folder per request.
 *
 * Every answer carries a strict Content-Security-Policy: scripts and styles from this
 * origin only (no inline script, no eval), connections to this origin's http(s) and
 * ws(s) only, no frames, no forms, no plugins. The page shows what outsiders send
 * with textContent only; the CSP is the second wall behind that.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SealdropError } from '../shared/errors.js';

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/hash-worker.js': { file: 'hash-worker.js', type: 'text/javascript; charset=utf-8' },
};

/** Host header as a browser sends it: a name or address and a port; anything else gets no ws source of its own. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export function contentSecurityPolicy(host: string | undefined, tls: boolean): string {
  const ws = host && HOST.test(host) ? ` ${tls ? 'wss' : 'ws'}://${host}` : '';
  return [
    "default-src 'none'", "script-src 'self'", "worker-src 'self'", "style-src 'self'", "img-src 'self' data:",
    `connect-src 'self'${ws}`, "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'", "object-src 'none'",
  ].join('; ');
}

/** Answers the web app's paths (true) and leaves every other one to the caller (false). */
export type WebApp = (req: IncomingMessage, res: ServerResponse) => boolean;

export function webApp(dir: string, tls: boolean): WebApp {
  const bodies = new Map<string, { body: Buffer; type: string }>();
  for (const [path, { file, type }] of Object.entries(FILES)) {
    try {
      bodies.set(path, { body: readFileSync(join(dir, file)), type });
    } catch (err) {
      throw new SealdropError('ERR_CONFIG', `the web app is not built (${join(dir, file)} is missing): run \`npm run build\`, or serve with --no-web`, { cause: err });
    }
  }
  return (req, res) => {
    const path = (req.url ?? '').split('?', 1)[0]!;
    const entry = bodies.get(path);
    if (!entry) return false;
    const headers = {
      'content-type': entry.type,
      'content-length': entry.body.length,
      'content-security-policy': contentSecurityPolicy(req.headers.host, tls),
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'cache-control': 'no-store',
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('only GET and HEAD are served here\n');
      return true;
    }
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : entry.body);
    return true;
  };
}

/**
 * The origins the served page has: the URL the server listens on, and on loopback the
 * same port under `localhost` (where browsers give WebCrypto to plain http). A name the
 * page is reached by through DNS (behind a proxy) is the operator's `--allow-origin`:
 * taking it from the Host header would admit any page a DNS rebinding points here.
 */
export function ownOrigins(url: string, addr: AddressInfo, tls: boolean): string[] {
  const scheme = tls ? 'https' : 'http';
  const loopback = addr.address === '::1' || addr.address.startsWith('127.');
  return loopback ? [url, `${scheme}://localhost:${addr.port}`] : [url];
}

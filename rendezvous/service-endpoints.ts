/**
 * The plain HTTP paths an operator's tools ask on the rendezvous port (Socket.IO
 * takes /socket.io/ before these are asked):
 *
 *   GET /healthz  200 `ok` while the process serves at all (liveness)
 *   GET /readyz   200 `ready`, or 503 with a one-line reason (not listening yet, draining)
 *   GET /metrics  Prometheus text format, when metrics are on (else 404 like any other path)
 *
 *   GET /, /app.js, /app.css  the browser peer, with `serve --web` (web-app.ts)
 *
 * Only GET and HEAD; anything else on these paths is 405. A query string is ignored
 * (scrapers add their own); every other path is 404. Nothing here reads a body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface ServiceState {
  /** Why the server does not take logins now, or null when it does. */
  notReady(): string | null;
  /** The Prometheus exposition, when /metrics is on. */
  metrics?: { contentType: string; render(): Promise<string> };
  /** The browser peer (`serve --web`, web-app.ts): answers its own paths. */
  web?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

const PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function serviceEndpoints(state: ServiceState): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (state.web?.(req, res)) return;
    if (!PATHS.has(path) || (path === '/metrics' && !state.metrics)) return notFound(res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'only GET and HEAD are served here', { allow: 'GET, HEAD' });
    }
    const head = req.method === 'HEAD';
    if (path === '/healthz') return send(res, 200, 'ok', {}, head);
    if (path === '/readyz') {
      const why = state.notReady();
      return why === null ? send(res, 200, 'ready', {}, head) : send(res, 503, oneLine(why), {}, head);
    }
    state.metrics!.render().then(
      (text) => send(res, 200, text, { 'content-type': state.metrics!.contentType }, head, false),
      () => send(res, 500, 'metrics failed to render', {}, head),
    );
  };
}

function notFound(res: ServerResponse): void {
  send(res, 404, 'sealdrop rendezvous: connect with a sealdrop peer');
}

/** A reason on one line, whatever it holds: it ends up in probes' logs. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 200);
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}, head = false, newline = true): void {
  const text = newline ? `${body}\n` : body;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(head ? undefined : text);
}

/**
 * Who is asking, for per-address limits and logs: the socket's remote address, or,
 * with trustProxy (the server runs behind a reverse proxy that appends the client's
 * address), the last hop of X-Forwarded-For. Only the last hop is the proxy's own
 * word; anything before it the client could have written.
 *
 * IPv4-mapped IPv6 addresses are shown as IPv4; other IPv6 addresses count as their
 * /64, since one host usually has a whole /64 to rotate through.
 */
import { isIP } from 'node:net';

export interface HandshakeLike {
  address: string;
  headers: Record<string, string | string[] | undefined>;
}

export function clientAddress(handshake: HandshakeLike, trustProxy: boolean): string {
  let addr = handshake.address;
  if (trustProxy) {
    const header = handshake.headers['x-forwarded-for'];
    const value = Array.isArray(header) ? header.join(',') : header;
    const last = value?.split(',').at(-1)?.trim();
    if (last && isIP(last)) addr = last;
  }
  return addr;
}

/** The key an address is counted under. */
export function addressKey(addr: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) return mapped[1]!;
  if (isIP(addr) !== 6) return addr;
  const [head, tail = ''] = addr.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = addr.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** The same for a raw HTTP request (the WebSocket upgrade, before Socket.IO has a handshake). */
export function requestAddress(req: { socket: { remoteAddress?: string }; headers: HandshakeLike['headers'] }, trustProxy: boolean): string {
  return clientAddress({ address: req.socket.remoteAddress ?? '', headers: req.headers }, trustProxy);
}

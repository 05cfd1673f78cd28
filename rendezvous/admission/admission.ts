/**
 * What a connection may cost before it has logged in: a small fixed budget.
 *
 * Socket.IO parses packets before any namespace (and so before our auth middleware)
 * sees them, and a packet announcing binary attachments makes its decoder hold every
 * attachment until the last one arrives. So this sits on the Engine.IO connection,
 * below Socket.IO, and until the login succeeds:
 * - every WebSocket message may be at most `preAuthMessageBytes` (a CONNECT packet
 *   with its auth object is well under 1 KiB);
 * - a packet announcing binary attachments, or a binary message, closes the connection
 *   (a login has none);
 * - at most `maxConnectAttempts` CONNECT packets are taken; the next closes it;
 * - Socket.IO's `connectTimeout` closes it if no login succeeds in time (server.ts).
 * And per client address: at most `maxConnectionsPerAddress` connections open and
 * `maxPendingPerAddress` of them not logged in yet; at most `maxPending` not logged in
 * from everywhere. A refused upgrade gets HTTP 403.
 *
 * After the login: a binary packet may announce at most one attachment (a relay frame).
 */
import type { IncomingMessage } from 'node:http';
import { MAX_SOCKET_MESSAGE } from '../../shared/constants.js';
import type { Logger } from '../log.js';

export interface AdmissionLimits {
  /** Connections (logged in or not) from one client address. */
  maxConnectionsPerAddress: number;
  /** Connections from one client address that have not logged in yet. */
  maxPendingPerAddress: number;
  /** Connections from all addresses that have not logged in yet. */
  maxPending: number;
  /** CONNECT packets one connection may send before it is logged in. */
  maxConnectAttempts: number;
  /** Largest WebSocket message before the login. */
  preAuthMessageBytes: number;
  /** Deadline for a successful login, from the WebSocket upgrade (Socket.IO connectTimeout). */
  connectTimeoutMs: number;
}

export const DEFAULT_ADMISSION_LIMITS: AdmissionLimits = {
  maxConnectionsPerAddress: 64,
  maxPendingPerAddress: 8,
  maxPending: 256,
  maxConnectAttempts: 3,
  preAuthMessageBytes: 4096,
  connectTimeoutMs: 5_000,
};

/** Attachments a logged-in client's binary packet may announce: relay:frame has one. */
export const MAX_ATTACHMENTS = 1;

/** The parts of an Engine.IO socket this uses. */
export interface EngineConnection {
  request: IncomingMessage;
  readyState: string;
  transport?: { socket?: unknown };
  on(event: 'packet', listener: (packet: { type: string; data?: unknown }) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  close(): unknown;
}

interface Tracked { address: string; admitted: boolean; attempts: number }

export interface AdmissionOptions {
  limits: AdmissionLimits;
  logger: Logger;
  /** The client's address for a request (the socket's, or a trusted proxy's header). */
  addressOf: (req: IncomingMessage) => string;
}

export interface AdmissionStats { open: number; pending: number; addresses: number; refused: number }

export class Admission {
  readonly stats: AdmissionStats = { open: 0, pending: 0, addresses: 0, refused: 0 };
  /** address → [open, pending]. Entries go when their last connection closes. */
  private readonly byAddress = new Map<string, { open: number; pending: number }>();
  private readonly tracked = new WeakMap<object, Tracked>();

  constructor(private readonly opts: AdmissionOptions) {}

  /** For Engine.IO's `allowRequest`: refuses an upgrade that would pass a cap. */
  readonly allowRequest = (req: IncomingMessage, done: (err: string | null | undefined, ok: boolean) => void): void => {
    const why = this.overCap(this.opts.addressOf(req));
    if (why) {
      this.refused(why, this.opts.addressOf(req));
      return done(why, false);
    }
    done(null, true);
  };

  /** Every new Engine.IO connection, before Socket.IO reads anything from it. */
  track(conn: EngineConnection): void {
    const address = this.opts.addressOf(conn.request);
    const why = this.overCap(address); // upgrades racing past allowRequest
    const t: Tracked = { address, admitted: false, attempts: 0 };
    this.tracked.set(conn, t);
    const counts = this.byAddress.get(address) ?? { open: 0, pending: 0 };
    this.byAddress.set(address, counts);
    counts.open += 1;
    counts.pending += 1;
    this.stats.open += 1;
    this.stats.pending += 1;
    this.stats.addresses = this.byAddress.size;
    conn.once('close', () => {
      counts.open -= 1;
      this.stats.open -= 1;
      if (!t.admitted) {
        counts.pending -= 1;
        this.stats.pending -= 1;
      }
      if (counts.open === 0) this.byAddress.delete(address);
      this.stats.addresses = this.byAddress.size;
    });
    if (why) {
      this.refused(why, address);
      cut(conn);
      return;
    }
    setMaxMessage(conn, this.opts.limits.preAuthMessageBytes);
    // A graceful close (Socket.IO's connectTimeout closes so) makes `ws` wait 30 s for the
    // client's close frame, holding what it buffered: a hostile client never sends one.
    // So a connection that did not log in is terminated when it closes, however it closes.
    const deadline = setTimeout(() => {
      if (t.admitted) return;
      this.refused('no login within the connect deadline', address);
      cut(conn);
    }, this.opts.limits.connectTimeoutMs).unref();
    conn.once('close', () => {
      clearTimeout(deadline);
      if (!t.admitted) terminate(conn); // e.g. Socket.IO's own connectTimeout, which closes gracefully
    });
    conn.on('packet', (packet) => {
      if (packet.type !== 'message') return;
      const problem = this.check(t, packet.data);
      if (!problem) return;
      this.refused(problem, address);
      cut(conn);
    });
  }

  /** The connection logged in: it leaves the pending count and may send full-size messages. */
  admit(conn: EngineConnection): void {
    const t = this.tracked.get(conn);
    if (!t || t.admitted) return;
    t.admitted = true;
    const counts = this.byAddress.get(t.address);
    if (counts) counts.pending -= 1;
    this.stats.pending -= 1;
    setMaxMessage(conn, MAX_SOCKET_MESSAGE);
  }

  private overCap(address: string): string | undefined {
    const { limits } = this.opts;
    const counts = this.byAddress.get(address);
    if ((counts?.open ?? 0) >= limits.maxConnectionsPerAddress) return `more than ${limits.maxConnectionsPerAddress} connections from one address`;
    if ((counts?.pending ?? 0) >= limits.maxPendingPerAddress) return `more than ${limits.maxPendingPerAddress} logins in progress from one address`;
    if (this.stats.pending >= limits.maxPending) return `more than ${limits.maxPending} logins in progress`;
    return undefined;
  }

  /** Why a message must close the connection, or undefined. `data` is an Engine.IO message's payload. */
  private check(t: Tracked, data: unknown): string | undefined {
    if (typeof data !== 'string') return t.admitted ? undefined : 'binary data before login';
    const type = data[0];
    if (type === '5' || type === '6') {
      if (!t.admitted) return 'a binary packet before login';
      const attachments = Number(/^[56](\d{1,10})-/.exec(data)?.[1] ?? NaN);
      if (!(attachments <= MAX_ATTACHMENTS)) return `a packet with more than ${MAX_ATTACHMENTS} binary attachment`;
      return undefined;
    }
    if (type === '0' && !t.admitted && ++t.attempts > this.opts.limits.maxConnectAttempts) {
      return `more than ${this.opts.limits.maxConnectAttempts} login attempts on one connection`;
    }
    return undefined;
  }

  private refused(reason: string, address: string): void {
    this.stats.refused += 1;
    this.opts.logger.warn('admission.refused', { addr: address, reason });
  }
}

/**
 * Sets the WebSocket's largest message. `ws` takes `maxPayload` only for the whole
 * server, and the Engine.IO option is the logged-in size; its receiver reads the
 * limit on every frame, so changing it per connection is safe. If a future `ws`
 * renames the field this does nothing, and the larger server-wide limit still holds.
 */
function setMaxMessage(conn: EngineConnection, bytes: number): void {
  const receiver = (conn.transport?.socket as { _receiver?: { _maxPayload?: unknown } } | undefined)?._receiver;
  if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
}

/** Closes a connection at once: its TCP socket goes now, not after a close handshake the client may never finish. */
function cut(conn: EngineConnection): void {
  conn.close();
  terminate(conn);
}

function terminate(conn: EngineConnection): void {
  const ws = conn.transport?.socket as { terminate?: () => void } | undefined;
  if (typeof ws?.terminate === 'function') ws.terminate();
}

/** The address of the TCP peer (no proxy header is trusted). */
export function socketAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

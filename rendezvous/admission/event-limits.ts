/**
 * Rate limits on what a logged-in client sends: token buckets per socket and per
 * account for every event and, tighter, for `session:open`, `signal` and `peers`;
 * `session:open` also per (opener account, receiver account) pair.
 *
 * An event over a limit gets ERR_THROTTLED and counts as a strike, as do unknown
 * events, malformed payloads and relay frames beyond the unacked window. A socket
 * that runs out of strikes gets one last ERR_THROTTLED and is disconnected.
 * Account buckets outlive the socket (until they have refilled), so reconnecting
 * does not reset them.
 */
import type { ErrorReply } from '../../shared/schemas.js';
import { errorReply } from '../sessions/acks.js';
import { BucketTable, type Rate, TokenBucket } from './buckets.js';
import type { Logger } from '../log.js';
import { NO_TELEMETRY, type LimitScope, type Telemetry } from '../telemetry.js';
import type { PeerSocket } from '../types.js';

export const LIMITED_EVENTS = ['any', 'session:open', 'signal', 'peers'] as const;
export type LimitedEvent = (typeof LIMITED_EVENTS)[number];

export interface EventLimits {
  /** Per connection; `any` counts every event, relay frames included. */
  perSocket: Record<LimitedEvent, Rate>;
  /** Per account, over all its connections. */
  perAccount: Record<LimitedEvent, Rate>;
  /** `session:open` from one account to one other account. */
  perPair: Rate;
  /** Refused events a connection may send before it is disconnected. */
  strikes: Rate;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = {
  perSocket: {
    any: { perSec: 2000, burst: 4000 },
    'session:open': { perSec: 2, burst: 20 },
    signal: { perSec: 50, burst: 500 },
    peers: { perSec: 5, burst: 20 },
  },
  perAccount: {
    any: { perSec: 4000, burst: 8000 },
    // A script that sends file after file from one account is no attacker: it stays well under these.
    'session:open': { perSec: 10, burst: 100 },
    signal: { perSec: 100, burst: 1000 },
    peers: { perSec: 10, burst: 40 },
  },
  perPair: { perSec: 5, burst: 60 },
  strikes: { perSec: 5, burst: 50 },
};

interface SocketLimits { guard: EventGuard; buckets: Map<LimitedEvent, TokenBucket>; strikes: TokenBucket; cut: boolean }

/** Every limited socket's state; entries go with their socket. */
const limited = new WeakMap<PeerSocket, SocketLimits>();

export class EventGuard {
  private readonly accounts = new Map<LimitedEvent, BucketTable<string>>();
  private readonly pairs: BucketTable<string>;
  readonly stats = { refused: 0, disconnected: 0 };

  constructor(
    readonly limits: EventLimits,
    private readonly logger: Logger,
    private readonly monotonic: () => number = () => performance.now(),
    private readonly telemetry: Telemetry = NO_TELEMETRY,
  ) {
    const now = monotonic();
    for (const event of LIMITED_EVENTS) this.accounts.set(event, new BucketTable(limits.perAccount[event], now));
    this.pairs = new BucketTable(limits.perPair, now);
  }

  attach(socket: PeerSocket): void {
    const now = this.monotonic();
    const buckets = new Map(LIMITED_EVENTS.map((e) => [e, new TokenBucket(this.limits.perSocket[e], now)] as const));
    limited.set(socket, { guard: this, buckets, strikes: new TokenBucket(this.limits.strikes, now), cut: false });
  }

  /** Account buckets and pair buckets held now (they go once refilled). */
  get tableSize(): number {
    let n = this.pairs.size;
    for (const table of this.accounts.values()) n += table.size;
    return n;
  }

  charge(socket: PeerSocket, state: SocketLimits, event: string): ErrorReply | null {
    const now = this.monotonic();
    const kinds: LimitedEvent[] = (LIMITED_EVENTS as readonly string[]).includes(event) && event !== 'any' ? ['any', event as LimitedEvent] : ['any'];
    for (const kind of kinds) {
      if (!state.buckets.get(kind)!.take(now)) return this.over(socket, event, kind, 'connection', this.limits.perSocket[kind]);
      if (!this.accounts.get(kind)!.take(socket.data.id, now)) return this.over(socket, event, kind, 'account', this.limits.perAccount[kind]);
    }
    return null;
  }

  chargePair(socket: PeerSocket, to: string): ErrorReply | null {
    if (this.pairs.take(`${socket.data.id} ${to}`, this.monotonic())) return null;
    this.telemetry.rateLimited('pair', 'session:open');
    const { perSec, burst } = this.limits.perPair;
    return this.refuse(socket, 'session:open',
      `too many session requests from ${socket.data.id} to ${to} (at most ${burst} at once, then ${perSec} per second); wait and try again`);
  }

  /** Counts a refused event against the socket; past its strikes it is disconnected. */
  strike(socket: PeerSocket, state: SocketLimits, why: string): ErrorReply | null {
    if (state.strikes.take(this.monotonic())) return null;
    if (!state.cut) {
      state.cut = true;
      this.stats.disconnected += 1;
      this.telemetry.connectionCut();
      this.logger.warn('socket.cut', { id: socket.data.id, socket: socket.id, reason: why });
      setImmediate(() => socket.disconnect(true)); // after the reply below has been written
    }
    return errorReply('ERR_THROTTLED', `this connection sent too many refused events (last: ${why}); it is being closed`);
  }

  private over(socket: PeerSocket, event: string, kind: LimitedEvent, scope: Exclude<LimitScope, 'pair'>, rate: Rate): ErrorReply {
    this.telemetry.rateLimited(scope, kind);
    const what = kind === 'any' ? 'events' : kind;
    return this.refuse(socket, event, `too many ${what} on this ${scope} (at most ${rate.burst} at once, then ${rate.perSec} per second); slow down`);
  }

  private refuse(socket: PeerSocket, event: string, message: string): ErrorReply {
    this.stats.refused += 1;
    this.logger.warn('event.limited', { id: socket.data.id, socket: socket.id, name: event.slice(0, 64) });
    const state = limited.get(socket);
    return (state && this.strike(socket, state, message)) ?? errorReply('ERR_THROTTLED', message);
  }
}

/** Charges one inbound event: null when it may go on, else the reply that refuses it. */
export function admitEvent(socket: PeerSocket, event: string): ErrorReply | null {
  const state = limited.get(socket);
  if (!state) return null;
  if (state.cut) return errorReply('ERR_THROTTLED', 'this connection is being closed for sending too many refused events');
  return state.guard.charge(socket, state, event);
}

/** Charges a `session:open` against its (opener, receiver) pair. */
export function admitPair(socket: PeerSocket, to: string): ErrorReply | null {
  const state = limited.get(socket);
  return state ? state.guard.chargePair(socket, to) : null;
}

/** A refused event that was not over a rate (unknown, malformed, beyond the relay window): null, or the final reply. */
export function strike(socket: PeerSocket, why: string): ErrorReply | null {
  const state = limited.get(socket);
  return state ? state.guard.strike(socket, state, why) : null;
}

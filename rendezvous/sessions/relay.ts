/**
 * The relay fallback: opaque frames between the two members of an open session,
 * for peers with no direct path. Frames are AES-GCM ciphertext the server cannot
 * read; it checks only their type and size and never looks inside.
 *
 * Backpressure: the sender's ack comes back only once the receiver has acked the
 * frame, and each direction of a session may have at most `windowBytes` unacked,
 * so a fast sender cannot pile data up in this process. The optional rate limit
 * delays the sender's ack (a token bucket), which slows a sender that waits for acks.
 *
 * This is the one hot path of the server (hundreds of frames a second per
 * session): a well-formed frame is checked by hand (handle's `quick`), and one
 * watchdog per session times out frames the receiver never takes, instead of a
 * timer per frame.
 *
 * An operator limit (sessions relaying, an account's share of them, daily quota)
 * refuses the frame to its sender and tells the other peer with `relay:refused`, so
 * both learn why the transfer stops.
 *
 * Slots are shared: a session takes a relaying slot with its first frame and gives it
 * back when it ends or has sent nothing for `idleMs` (with nothing in flight); each
 * account may be in at most `maxSessionsPerAccount` relaying sessions, counted for
 * both members, so a few accounts cannot hold every slot.
 *
 * A frame the receiver never acks is failed to its sender by the watchdog, and its
 * ack entry leaves the receiving socket's table then too (acks.ts emitForgettable).
 *
 * Across nodes (cluster mode) the sender's node keeps all of the above (window, frames
 * in flight, quota, rate, slots, watchdog) and sends each message to the receiver's node
 * (a RemoteMember), which hands it to its socket and sends the ack back (relay-delivery.ts). That
 * node bounds what it holds for a session too (the same window and frame count) and
 * gives up on an ack after ackTimeoutMs.
 */
import { z } from 'zod';
import { MAX_FRAME_SIZE } from '../../shared/constants.js';
import { SealdropError } from '../../shared/errors.js';
import { MAX_BATCH_FRAMES, MAX_RELAY_BATCH, splitBatch } from '../../shared/relay-batch.js';
import { isOkReply, OkReply, SESSION_ID_PATTERN, SessionId } from '../../shared/schemas.js';
import { errorReply, type ReplyFn } from './acks.js';
import { deliver, MAX_FRAMES_IN_FLIGHT, NodeInbound, parseReply, TAKEN } from './relay-delivery.js';
import { strike } from '../admission/event-limits.js';
import type { Logger } from '../log.js';
import type { PeerSocket } from '../types.js';
import { handle } from '../admission/validate.js';

export interface RelayLimits {
  /** Unacked bytes per session and direction. */
  windowBytes: number;
  /** Sessions relaying at the same time. */
  maxSessions: number;
  /** Relaying sessions one account may be a member of (default: maxSessions / 8, at least 1). */
  maxSessionsPerAccount: number;
  /** A relaying session that sends no frame for this long (nothing in flight) gives its slot back. */
  idleMs: number;
  /** Bytes an account may send through the relay per UTC day. */
  bytesPerDay: number;
  /** Bytes per second per session (Infinity: unlimited). */
  rateBytesPerSec: number;
  /** How long the receiving peer has to ack a frame. */
  ackTimeoutMs: number;
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  windowBytes: 8 * 1024 * 1024,
  maxSessions: 64,
  maxSessionsPerAccount: 8,
  idleMs: 30_000,
  bytesPerDay: Infinity,
  rateBytesPerSec: Infinity,
  ackTimeoutMs: 30_000,
};

export interface RelayStats { frames: number; bytes: number; activeSessions: number; refused: number }

const DAY_MS = 86_400_000;
export { MAX_FRAMES_IN_FLIGHT };
const Frame = z.custom<Buffer>((v) => Buffer.isBuffer(v), 'a frame must be binary')
  .refine((b) => b.length > 0 && b.length <= MAX_FRAME_SIZE, `a frame must be 1 to ${MAX_FRAME_SIZE} bytes`);
const RelayFrameArgs = z.tuple([SessionId, Frame]);
const Batch = z.custom<Buffer>((v) => Buffer.isBuffer(v), 'a batch must be binary')
  .refine((b) => b.length > 0 && b.length <= MAX_RELAY_BATCH, `a batch must be 1 to ${MAX_RELAY_BATCH} bytes`);
const RelayBatchArgs = z.tuple([SessionId, Batch]);

/** What RelayFrameArgs (max MAX_FRAME_SIZE) or RelayBatchArgs (max MAX_RELAY_BATCH) accepts, checked by hand: this runs for every relay message. */
const isRelayMessage = (max: number) => (values: unknown[]): values is [string, Buffer] => {
  const [sid, bytes] = values;
  return values.length === 2 && typeof sid === 'string' && SESSION_ID_PATTERN.test(sid)
    && Buffer.isBuffer(bytes) && bytes.length > 0 && bytes.length <= max;
};

/** A frame waiting for the receiver's ack (`taken`: acked, its sender's answer held back by the rate limit). */
interface Pending { sentAt: number; taken?: object; settle: (res: object) => void; forget?: () => void }

/** One direction of a session: what its sender has waiting for the receiver, oldest first. */
interface Direction { bytes: number; pending: Set<Pending> }

interface RelayFlow {
  startedAt: number;
  /** When its last frame came in (monotonic ms). */
  lastFrameAt: number;
  /** The two accounts whose share of the relay this session uses. */
  accounts: [string, string];
  frames: number;
  bytes: number;
  /** socket.id of the sender → its direction. */
  directions: Map<string, Direction>;
  tokens: number;
  tokensAt: number;
  /** Fails frames the receiver has not taken within ackTimeoutMs. */
  watchdog: NodeJS.Timeout;
}

export interface RelayOptions {
  /** The other member of an open session, if `socket` is in one. */
  peerOf: (sid: string, socket: PeerSocket) => PeerSocket | undefined;
  logger: Logger;
  /** Wall clock for the daily quota. */
  now: () => number;
  limits?: Partial<RelayLimits>;
  /** Monotonic milliseconds for rate limiting. */
  monotonic?: () => number;
  /** Cluster mode: the member at this node of session `sid` whose other member is at `node`. */
  localOf?: (node: string, sid: string) => PeerSocket | undefined;
  /** Cluster mode: the daily quota counted over every node (redis-relay-usage.ts); without it, this node's count. */
  sharedUsage?: {
    used(id: string, day: number): number;
    add(id: string, day: number, bytes: number): void;
    known(id: string, day: number): boolean;
    load(id: string, day: number): Promise<void>;
  };
  /** Cluster mode: sends a relay ack back to `node`. */
  ackNode?: (node: string, ack: number, res: z.infer<typeof OkReply>) => void;
}

export class FrameRelay {
  readonly stats: RelayStats = { frames: 0, bytes: 0, activeSessions: 0, refused: 0 };
  readonly limits: RelayLimits;
  private readonly flows = new Map<string, RelayFlow>();
  /** account → relaying sessions it is a member of. */
  private readonly flowsOf = new Map<string, number>();
  /** account → bytes relayed on `day`. */
  private readonly usage = new Map<string, { day: number; bytes: number }>();
  /** Sessions whose other peer has heard `relay:refused` already: once is enough. */
  private readonly told = new Set<string>();
  private readonly monotonic: () => number;
  /** Cluster mode: what other nodes sent for the members here. */
  private readonly fromNodes: NodeInbound;

  constructor(private readonly opts: RelayOptions) {
    const given = Object.fromEntries(Object.entries(opts.limits ?? {}).filter(([, v]) => v !== undefined)) as Partial<RelayLimits>;
    const perAccount = Math.max(1, Math.floor((given.maxSessions ?? DEFAULT_RELAY_LIMITS.maxSessions) / 8));
    this.limits = { ...DEFAULT_RELAY_LIMITS, maxSessionsPerAccount: perAccount, ...given };
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.fromNodes = new NodeInbound({ limits: this.limits, localOf: opts.localOf, ackNode: opts.ackNode });
  }

  attach(socket: PeerSocket): void {
    const { logger } = this.opts;
    handle(socket, 'relay:frame', RelayFrameArgs, ([sid, frame], reply) => this.forward(socket, sid, frame, [frame], reply), logger, isRelayMessage(MAX_FRAME_SIZE));
    handle(socket, 'relay:frames', RelayBatchArgs, ([sid, batch], reply) => {
      let frames: Buffer[];
      try {
        frames = splitBatch(batch, socket.data.batchFrames ?? MAX_BATCH_FRAMES);
      } catch (err) {
        const message = (err as SealdropError).message;
        return reply(strike(socket, message) ?? errorReply('ERR_BAD_INPUT', message));
      }
      this.forward(socket, sid, batch, frames, reply);
    }, logger, isRelayMessage(MAX_RELAY_BATCH));
  }

  /** The session ended: settle its frames in flight and report what went through. */
  end(sid: string): void {
    this.told.delete(sid);
    this.fromNodes.end(sid);
    const flow = this.flows.get(sid);
    if (!flow) return;
    this.flows.delete(sid);
    clearInterval(flow.watchdog);
    for (const id of flow.accounts) {
      const n = (this.flowsOf.get(id) ?? 1) - 1;
      if (n > 0) this.flowsOf.set(id, n);
      else this.flowsOf.delete(id);
    }
    this.stats.activeSessions = this.flows.size;
    const gone = errorReply('ERR_PEER_GONE', 'the session closed before the other peer took the frame');
    for (const direction of flow.directions.values()) {
      for (const frame of [...direction.pending]) frame.settle(frame.taken ?? gone);
    }
    this.opts.logger.info('relay.end', { sid, frames: flow.frames, bytes: flow.bytes, ms: Math.round(this.monotonic() - flow.startedAt) });
  }

  /** Refuses one frame; `notify`: the other peer hears why too (an operator limit, not a misbehaving sender). */
  private refuse(sid: string, from: PeerSocket, reply: ReplyFn, message: string, notify?: PeerSocket): void {
    this.stats.refused += 1;
    this.opts.logger.warn('relay.refused', { sid, id: from.data.id, reason: message });
    reply(errorReply('ERR_RELAY_LIMIT', message));
    if (notify && !this.told.has(sid)) {
      this.told.add(sid);
      notify.emit('relay:refused', { sid, code: 'ERR_RELAY_LIMIT', message });
    }
  }

  /** Refuses one frame with a reply made elsewhere (the last strike before a disconnect). */
  private refuseWith(sid: string, from: PeerSocket, reply: ReplyFn, res: object): void {
    this.stats.refused += 1;
    this.opts.logger.warn('relay.refused', { sid, id: from.data.id, reason: 'too many refused frames' });
    reply(res);
  }

  /** One relay message: a frame (`message` is `frames[0]`) or a batch of them; the window, quota and rate count frame bytes. */
  private forward(from: PeerSocket, sid: string, message: Buffer, frames: Buffer[], reply: ReplyFn): void {
    const to = this.opts.peerOf(sid, from);
    if (!to) return reply(errorReply('ERR_BAD_INPUT', 'no open session with that ID that you belong to'));
    const { limits } = this;
    let flow = this.flows.get(sid);
    if (!flow) {
      if (this.flows.size >= limits.maxSessions) {
        return this.refuse(sid, from, reply, `the rendezvous is already relaying ${limits.maxSessions} sessions, its limit; try again later or connect directly`, to);
      }
      const cap = limits.maxSessionsPerAccount;
      const full = [from.data.id, to.data.id].find((id) => (this.flowsOf.get(id) ?? 0) >= cap);
      if (full !== undefined) {
        return this.refuse(sid, from, reply, `${full} is already in ${cap} relaying sessions, its share of the relay; wait for one to end, or connect directly`, to);
      }
      flow = this.openFlow(sid, [from.data.id, to.data.id]);
      this.flows.set(sid, flow);
      for (const id of flow.accounts) this.flowsOf.set(id, (this.flowsOf.get(id) ?? 0) + 1);
      this.stats.activeSessions = this.flows.size;
      this.opts.logger.info('relay.start', { sid, from: from.data.id, to: to.data.id });
    }
    const len = frames.reduce((n, f) => n + f.length, 0);
    const day = Math.floor(this.opts.now() / DAY_MS);
    let used = this.usage.get(from.data.id);
    if (used?.day !== day) this.usage.set(from.data.id, used = { day, bytes: 0 });
    const shared = Number.isFinite(limits.bytesPerDay) ? this.opts.sharedUsage : undefined;
    // The first frame of an account today at this node waits for its count in Redis (and the ones behind it, in order).
    if (shared && !shared.known(from.data.id, day)) {
      void shared.load(from.data.id, day).then(() => this.forward(from, sid, message, frames, reply));
      return;
    }
    if ((shared ? shared.used(from.data.id, day) : used.bytes) + len > limits.bytesPerDay) {
      return this.refuse(sid, from, reply, `${from.data.id} has used its relay quota of ${limits.bytesPerDay} bytes for today (resets at 00:00 UTC)`, to);
    }
    let direction = flow.directions.get(from.id);
    if (!direction) flow.directions.set(from.id, direction = { bytes: 0, pending: new Set() });
    if (direction.bytes + len > limits.windowBytes || direction.pending.size >= MAX_FRAMES_IN_FLIGHT) {
      // The reference peer never does this (it keeps less in flight): count it against the sender.
      const message = `more than ${limits.windowBytes} relayed bytes (or ${MAX_FRAMES_IN_FLIGHT} frames) would be waiting for the other peer; wait for acks before sending more`;
      const last = strike(from, message);
      return last ? this.refuseWith(sid, from, reply, last) : this.refuse(sid, from, reply, message);
    }
    flow.lastFrameAt = this.monotonic();
    used.bytes += len;
    shared?.add(from.data.id, day, len);
    direction.bytes += len;
    const sentAt = this.monotonic();
    const readyAt = sentAt + this.delayFor(flow, len);
    const dir = direction;
    const pending: Pending = {
      sentAt,
      settle: (res) => {
        if (!dir.pending.delete(pending)) return;
        dir.bytes -= len;
        pending.forget?.(); // an unanswered ack must not stay in the receiver's table
        reply(res);
      },
    };
    dir.pending.add(pending);
    pending.forget = deliver(to, sid, message, frames, (res: unknown) => {
      if (!dir.pending.has(pending)) return;
      const result = isOkReply(res) ? TAKEN : parseReply(res);
      pending.taken = result;
      if (result.ok) {
        flow.frames += frames.length;
        flow.bytes += len;
        this.stats.frames += frames.length;
        this.stats.bytes += len;
      }
      const wait = readyAt - this.monotonic();
      if (wait <= 0) pending.settle(result);
      else setTimeout(() => pending.settle(result), wait).unref();
    });
  }

  /** Relay bytes another node sent for the member here of session `sid` (cluster mode; relay-delivery.ts). */
  fromNode(node: string, sid: string, ack: number, batch: boolean, bytes: Buffer): void {
    this.fromNodes.take(node, sid, ack, batch, bytes);
  }

  /** Relaying sessions one account is a member of now (for tests and stats). */
  sessionsOf(id: string): number {
    return this.flowsOf.get(id) ?? 0;
  }

  private openFlow(sid: string, accounts: [string, string]): RelayFlow {
    const { ackTimeoutMs, idleMs } = this.limits;
    const directions = new Map<string, Direction>();
    const timedOut = errorReply('ERR_TIMEOUT', `the other peer did not take the frame within ${ackTimeoutMs / 1000} s`);
    const watchdog = setInterval(() => {
      const late = this.monotonic() - ackTimeoutMs;
      for (const direction of directions.values()) {
        for (const frame of direction.pending) {
          if (frame.sentAt > late) break; // oldest first: the rest are younger
          if (!frame.taken) frame.settle(timedOut);
        }
      }
      const flow = this.flows.get(sid);
      const busy = [...directions.values()].some((d) => d.pending.size > 0);
      if (flow && !busy && this.monotonic() - flow.lastFrameAt >= idleMs) {
        this.opts.logger.info('relay.idle', { sid, ms: Math.round(idleMs) });
        this.end(sid);
      }
    }, Math.max(10, Math.min(1_000, ackTimeoutMs / 4, idleMs / 4))).unref();
    const at = this.monotonic();
    return { startedAt: at, lastFrameAt: at, accounts, frames: 0, bytes: 0, directions, tokens: this.burst(), tokensAt: at, watchdog };
  }

  private burst(): number {
    return Math.max(this.limits.rateBytesPerSec, MAX_FRAME_SIZE);
  }

  /** Token bucket: milliseconds the sender's ack waits so the session keeps to its rate. */
  private delayFor(flow: RelayFlow, len: number): number {
    const rate = this.limits.rateBytesPerSec;
    if (!Number.isFinite(rate)) return 0;
    const t = this.monotonic();
    flow.tokens = Math.min(this.burst(), flow.tokens + ((t - flow.tokensAt) / 1000) * rate) - len;
    flow.tokensAt = t;
    return flow.tokens >= 0 ? 0 : (-flow.tokens / rate) * 1000;
  }
}

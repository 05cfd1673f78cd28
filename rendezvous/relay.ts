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
 * An operator limit (sessions relaying, daily quota) refuses the frame to its sender
 * and tells the other peer with `relay:refused`, so both learn why the transfer stops.
 */
import { z } from 'zod';
import { MAX_FRAME_SIZE } from '../shared/constants.js';
import { OkReply, SessionId } from '../shared/schemas.js';
import { awaitAnswer, errorReply, type ReplyFn } from './acks.js';
import type { Logger } from './log.js';
import type { PeerSocket } from './types.js';
import { handle } from './validate.js';

export interface RelayLimits {
  /** Unacked bytes per session and direction. */
  windowBytes: number;
  /** Sessions relaying at the same time. */
  maxSessions: number;
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
  bytesPerDay: Infinity,
  rateBytesPerSec: Infinity,
  ackTimeoutMs: 30_000,
};

export interface RelayStats { frames: number; bytes: number; activeSessions: number; refused: number }

const DAY_MS = 86_400_000;
/** Frames per session and direction waiting for the receiver, so tiny frames cannot pile up acks and timers. */
export const MAX_FRAMES_IN_FLIGHT = 1024;
const Frame = z.custom<Buffer>((v) => Buffer.isBuffer(v), 'a frame must be binary')
  .refine((b) => b.length > 0 && b.length <= MAX_FRAME_SIZE, `a frame must be 1 to ${MAX_FRAME_SIZE} bytes`);

interface RelayFlow {
  startedAt: number;
  frames: number;
  bytes: number;
  /** socket.id of the sender → what it has waiting for the receiver. */
  unacked: Map<string, { bytes: number; frames: number }>;
  /** Settles every frame still in flight (when the session ends). */
  inFlight: Set<() => void>;
  tokens: number;
  tokensAt: number;
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
}

export class FrameRelay {
  readonly stats: RelayStats = { frames: 0, bytes: 0, activeSessions: 0, refused: 0 };
  readonly limits: RelayLimits;
  private readonly flows = new Map<string, RelayFlow>();
  /** account → bytes relayed on `day`. */
  private readonly usage = new Map<string, { day: number; bytes: number }>();
  /** Sessions whose other peer has heard `relay:refused` already: once is enough. */
  private readonly told = new Set<string>();
  private readonly monotonic: () => number;

  constructor(private readonly opts: RelayOptions) {
    this.limits = { ...DEFAULT_RELAY_LIMITS, ...opts.limits };
    this.monotonic = opts.monotonic ?? (() => performance.now());
  }

  attach(socket: PeerSocket): void {
    handle(socket, 'relay:frame', z.tuple([SessionId, Frame]), ([sid, frame], reply) => this.forward(socket, sid, frame, reply), this.opts.logger);
  }

  /** The session ended: settle its frames in flight and report what went through. */
  end(sid: string): void {
    this.told.delete(sid);
    const flow = this.flows.get(sid);
    if (!flow) return;
    this.flows.delete(sid);
    this.stats.activeSessions = this.flows.size;
    for (const settle of [...flow.inFlight]) settle();
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

  private forward(from: PeerSocket, sid: string, frame: Buffer, reply: ReplyFn): void {
    const to = this.opts.peerOf(sid, from);
    if (!to) return reply(errorReply('ERR_BAD_INPUT', 'no open session with that ID that you belong to'));
    const { limits } = this;
    let flow = this.flows.get(sid);
    if (!flow) {
      if (this.flows.size >= limits.maxSessions) {
        return this.refuse(sid, from, reply, `the rendezvous is already relaying ${limits.maxSessions} sessions, its limit; try again later or connect directly`, to);
      }
      flow = { startedAt: this.monotonic(), frames: 0, bytes: 0, unacked: new Map(), inFlight: new Set(), tokens: this.burst(), tokensAt: this.monotonic() };
      this.flows.set(sid, flow);
      this.stats.activeSessions = this.flows.size;
      this.opts.logger.info('relay.start', { sid, from: from.data.id, to: to.data.id });
    }
    const len = frame.length;
    const day = Math.floor(this.opts.now() / DAY_MS);
    const used = this.usage.get(from.data.id);
    const usedToday = used?.day === day ? used.bytes : 0;
    if (usedToday + len > limits.bytesPerDay) {
      return this.refuse(sid, from, reply, `${from.data.id} has used its relay quota of ${limits.bytesPerDay} bytes for today (resets at 00:00 UTC)`, to);
    }
    const unacked = flow.unacked.get(from.id) ?? { bytes: 0, frames: 0 };
    if (unacked.bytes + len > limits.windowBytes || unacked.frames >= MAX_FRAMES_IN_FLIGHT) {
      return this.refuse(sid, from, reply, `more than ${limits.windowBytes} relayed bytes (or ${MAX_FRAMES_IN_FLIGHT} frames) would be waiting for the other peer; wait for acks before sending more`);
    }
    this.usage.set(from.data.id, { day, bytes: usedToday + len });
    unacked.bytes += len;
    unacked.frames += 1;
    flow.unacked.set(from.id, unacked);
    const readyAt = this.monotonic() + this.delayFor(flow, len);

    let done = false;
    let held: NodeJS.Timeout | undefined;
    let taken: object | undefined;
    const settle = (res: object) => {
      if (done) return;
      done = true;
      answer.cancel();
      if (held) clearTimeout(held);
      flow.inFlight.delete(gone);
      unacked.bytes -= len;
      unacked.frames -= 1;
      reply(res);
    };
    const gone = () => settle(taken ?? errorReply('ERR_PEER_GONE', 'the session closed before the other peer took the frame'));
    const answer = awaitAnswer(limits.ackTimeoutMs, (res: unknown) => {
      const parsed = OkReply.safeParse(res);
      const result = parsed.success ? parsed.data : errorReply('ERR_PROTOCOL', 'the other peer acknowledged the frame with a malformed reply');
      if (result.ok) {
        flow.frames += 1;
        flow.bytes += len;
        this.stats.frames += 1;
        this.stats.bytes += len;
      }
      taken = result;
      const wait = readyAt - this.monotonic();
      if (wait <= 0) settle(result);
      else held = setTimeout(() => settle(result), wait).unref();
    }, () => settle(errorReply('ERR_TIMEOUT', `the other peer did not take the frame within ${limits.ackTimeoutMs / 1000} s`)));
    flow.inFlight.add(gone);
    to.emit('relay:frame', sid, frame, answer.ack);
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

/**
 * Transfer sessions: the rendezvous introduces two sockets and then carries
 * signaling (and relay frames) between exactly those two.
 *
 *   session:open {to} ──► pending ── receiver accepts ──► open ── close / disconnect ──► gone
 *                            └──── declines / times out / either side leaves ──► gone
 *
 * The server stamps `from` on everything it forwards: a client can only ever speak
 * as the account it authenticated as, and only into sessions it is a member of.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { CloseRequest, type ErrorReply, OpenRequest, SessionAnswer, SignalRequest } from '../shared/schemas.js';
import { errorReply, type ReplyFn, requestAnswer } from './acks.js';
import { admitPair } from './event-limits.js';
import type { Logger } from './log.js';
import type { Presence } from './presence.js';
import type { PeerSocket } from './types.js';
import { handle } from './validate.js';

export const SESSION_REQUEST_TIMEOUT_MS = 30_000;
export const MAX_SESSIONS_PER_SOCKET = 16;
/** Unanswered requests a receiving connection may have, so open sessions keep room. */
export const MAX_PENDING_PER_RECEIVER = 8;
/** Unanswered requests from one account to one receiving connection: one opener cannot fill the above. */
export const MAX_PENDING_PER_PAIR = 2;

interface TransferSession {
  sid: string;
  opener: PeerSocket;
  receiver: PeerSocket;
  open: boolean;
  /** While pending: answers the opener's session:open. */
  settle?: ReplyFn;
  /** While pending: stops waiting for the receiver's answer. */
  cancel?: () => void;
}

export interface SessionOptions {
  presence: Presence;
  logger: Logger;
  requestTimeoutMs?: number;
  maxPerSocket?: number;
  maxPendingPerReceiver?: number;
  maxPendingPerPair?: number;
  /** Called once for every session that ends, open or not. */
  onEnd?: (sid: string) => void;
  /** Why new sessions are refused now (the server is draining), or null. */
  refusing?: () => string | null;
}

export class TransferSessions {
  private readonly sessions = new Map<string, TransferSession>();
  /** socket.id → IDs of the sessions it belongs to. */
  private readonly bySocket = new Map<string, Set<string>>();
  private readonly timeoutMs: number;
  private readonly maxPerSocket: number;
  private readonly maxPendingPerReceiver: number;
  private readonly maxPendingPerPair: number;

  constructor(private readonly opts: SessionOptions) {
    this.timeoutMs = opts.requestTimeoutMs ?? SESSION_REQUEST_TIMEOUT_MS;
    this.maxPerSocket = opts.maxPerSocket ?? MAX_SESSIONS_PER_SOCKET;
    this.maxPendingPerReceiver = opts.maxPendingPerReceiver ?? MAX_PENDING_PER_RECEIVER;
    this.maxPendingPerPair = opts.maxPendingPerPair ?? MAX_PENDING_PER_PAIR;
  }

  attach(socket: PeerSocket): void {
    const { logger } = this.opts;
    handle(socket, 'session:open', z.tuple([OpenRequest]), ([req], reply) => this.open(socket, req.to, reply), logger);
    handle(socket, 'signal', z.tuple([SignalRequest]), ([req], reply) => {
      const other = this.peerOf(req.sid, socket);
      if (!other) return reply(errorReply('ERR_BAD_INPUT', 'no open session with that ID that you belong to'));
      other.emit('signal', { sid: req.sid, from: socket.data.id, data: req.data });
      reply({ ok: true });
    }, logger);
    handle(socket, 'session:close', z.tuple([CloseRequest]), ([req], reply) => {
      if (!this.isMember(req.sid, socket)) return reply(errorReply('ERR_BAD_INPUT', 'no session with that ID that you belong to'));
      this.close(req.sid, req.reason ?? 'closed by peer', socket);
      reply({ ok: true });
    }, logger);
  }

  /** The other member of an open session, or undefined when `socket` is not in one with that ID. */
  peerOf(sid: string, socket: PeerSocket): PeerSocket | undefined {
    const s = this.sessions.get(sid);
    if (!s?.open) return undefined;
    if (s.opener === socket) return s.receiver;
    if (s.receiver === socket) return s.opener;
    return undefined;
  }

  /** Ends every session of a socket that went away. */
  closeAllOf(socket: PeerSocket, reason: string): void {
    for (const sid of [...(this.bySocket.get(socket.id) ?? [])]) this.close(sid, reason, socket);
  }

  /**
   * Ends a session. The members other than `by` hear `session:closed` (only the
   * receiver while pending: the opener has not learned the ID yet and gets its ack,
   * `refusal` or a default).
   */
  close(sid: string, reason: string, by?: PeerSocket, refusal?: ErrorReply): void {
    const s = this.sessions.get(sid);
    if (!s) return;
    this.forget(s);
    s.cancel?.();
    if (!s.open) {
      s.settle?.(refusal ?? (by === s.receiver
        ? errorReply('ERR_REJECTED', 'the peer declined the session')
        : errorReply('ERR_PEER_GONE', 'the session ended before the peer answered')));
    }
    for (const member of s.open ? [s.opener, s.receiver] : [s.receiver]) {
      if (member !== by && member.connected) member.emit('session:closed', { sid, reason });
    }
    this.opts.logger.info('session.closed', { sid, from: s.opener.data.id, to: s.receiver.data.id, by: by?.data.id, wasOpen: s.open });
    this.opts.onEnd?.(sid);
  }

  get size(): number {
    return this.sessions.size;
  }

  private open(socket: PeerSocket, to: string, reply: ReplyFn): void {
    const from = socket.data.id;
    if (to === from) return reply(errorReply('ERR_BAD_INPUT', 'cannot open a session with your own account'));
    const closed = this.opts.refusing?.();
    if (closed) return reply(errorReply('ERR_BUSY', closed));
    const receiver = this.opts.presence.receiverOf(to);
    if (!receiver) return reply(errorReply('ERR_PEER_OFFLINE', `${to} is not online and receiving`));
    if (this.countOf(socket) >= this.maxPerSocket) {
      return reply(errorReply('ERR_BAD_INPUT', `this connection already has ${this.maxPerSocket} sessions; close one first`));
    }
    if (this.countOf(receiver) >= this.maxPerSocket) return reply(errorReply('ERR_REJECTED', `${to} is busy with too many sessions; try again later`));
    const pending = this.pendingAt(receiver);
    if (pending.filter((p) => p.opener.data.id === from).length >= this.maxPendingPerPair) {
      return reply(errorReply('ERR_THROTTLED', `you already have ${this.maxPendingPerPair} requests waiting for ${to}'s answer; wait for them`));
    }
    if (pending.length >= this.maxPendingPerReceiver) {
      return reply(errorReply('ERR_BUSY', `${to} has ${this.maxPendingPerReceiver} requests waiting for an answer; try again shortly`));
    }
    const limited = admitPair(socket, to);
    if (limited) return reply(limited);

    const s: TransferSession = { sid: randomBytes(16).toString('hex'), opener: socket, receiver, open: false, settle: reply };
    this.remember(s);
    this.opts.logger.info('session.requested', { sid: s.sid, from, to });
    // The receiver's ack leaves its socket's table when we stop waiting (timeout, close).
    const answer = requestAnswer(receiver, this.timeoutMs, (ack) => receiver.emit('session:request', { sid: s.sid, from }, ack),
      (res: unknown) => this.answered(s, res), () => {
        const waited = Math.round(this.timeoutMs / 1000);
        this.close(s.sid, 'the session request timed out', undefined, errorReply('ERR_TIMEOUT', `${to} did not answer within ${waited} s`));
      });
    s.cancel = answer.cancel;
    s.settle = (res) => {
      answer.cancel();
      reply(res);
    };
  }

  /** Sessions waiting for this receiving socket's answer. */
  private pendingAt(receiver: PeerSocket): TransferSession[] {
    const found: TransferSession[] = [];
    for (const sid of this.bySocket.get(receiver.id) ?? []) {
      const s = this.sessions.get(sid);
      if (s && !s.open && s.receiver === receiver) found.push(s);
    }
    return found;
  }

  /** Sessions not yet answered, on every socket (for tests and stats). */
  get pendingCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (!s.open) n += 1;
    return n;
  }

  private answered(s: TransferSession, res: unknown): void {
    if (this.sessions.get(s.sid) !== s) return;
    const answer = SessionAnswer.safeParse(res);
    if (!answer.success || !answer.data.accept) {
      const busy = answer.success && answer.data.busy === true;
      const why = busy ? `${s.receiver.data.id} is busy with another transfer; try again shortly`
        : answer.success ? 'the peer declined the session' : 'the peer sent a malformed answer';
      this.forget(s);
      s.settle?.(errorReply(busy ? 'ERR_BUSY' : 'ERR_REJECTED', why));
      this.opts.logger.info('session.refused', { sid: s.sid, from: s.opener.data.id, to: s.receiver.data.id, malformed: !answer.success });
      this.opts.onEnd?.(s.sid);
      return;
    }
    s.open = true;
    const settle = s.settle;
    s.settle = s.cancel = undefined;
    this.opts.logger.info('session.opened', { sid: s.sid, from: s.opener.data.id, to: s.receiver.data.id });
    settle?.({ ok: true, sid: s.sid });
  }

  private isMember(sid: string, socket: PeerSocket): boolean {
    const s = this.sessions.get(sid);
    return s !== undefined && (s.opener === socket || s.receiver === socket);
  }

  private countOf(socket: PeerSocket): number {
    return this.bySocket.get(socket.id)?.size ?? 0;
  }

  private remember(s: TransferSession): void {
    this.sessions.set(s.sid, s);
    for (const member of [s.opener, s.receiver]) {
      const set = this.bySocket.get(member.id) ?? new Set<string>();
      this.bySocket.set(member.id, set.add(s.sid));
    }
  }

  private forget(s: TransferSession): void {
    this.sessions.delete(s.sid);
    for (const member of [s.opener, s.receiver]) {
      const set = this.bySocket.get(member.id);
      set?.delete(s.sid);
      if (set?.size === 0) this.bySocket.delete(member.id);
    }
  }
}

/**
 * Transfer sessions: the rendezvous introduces two sockets and then carries
 * signaling (and relay frames) between exactly those two.
 *
 *   session:open {to} ──► pending ── receiver accepts ──► open ── close / disconnect ──► gone
 *                            └──── declines / times out / either side leaves ──► gone
 *
 * The server stamps `from` on everything it forwards: a client can only ever speak
 * as the account it authenticated as, and only into sessions it is a member of.
 *
 * In a cluster the two members may be on different nodes. Each node then holds the
 * session too, with the member it does not hold as a RemoteMember (remote-member.ts):
 * the opener's node checks the opener's limits and asks the receiver's node (`open`);
 * that node checks the receiver's limits, asks the receiver, and answers (`answer`).
 * From then on signals, closes and relay frames go node to node (node-routes.ts). A
 * node that stops beating (cluster-presence.ts) ends its sessions with this node.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { CloseRequest, type ErrorReply, OpenRequest, SessionAnswer, SignalRequest } from '../../shared/schemas.js';
import { errorReply, type ReplyFn, requestAnswer } from './acks.js';
import type { ClusterPresence } from '../cluster/cluster-presence.js';
import { admitPair } from '../admission/event-limits.js';
import type { Logger } from '../log.js';
import type { NodeBus } from '../cluster/node-bus.js';
import type { NodeMessage } from '../cluster/node-messages.js';
import type { Presence } from './presence.js';
import { RemoteMember, remoteOf } from '../cluster/remote-member.js';
import type { PeerSocket } from '../types.js';
import { handle } from '../admission/validate.js';

export const SESSION_REQUEST_TIMEOUT_MS = 30_000;
export const MAX_SESSIONS_PER_SOCKET = 16;
/** Unanswered requests a receiving connection may have, so open sessions keep room. */
export const MAX_PENDING_PER_RECEIVER = 8;
/** Unanswered requests from one account to one receiving connection: one opener cannot fill the above. */
export const MAX_PENDING_PER_PAIR = 2;
/** How long the receiver's node has to say it took a session request (a node that died within its beat's TTL says nothing). */
export const NODE_ANSWER_MS = 3_000;

interface TransferSession {
  sid: string;
  opener: PeerSocket;
  receiver: PeerSocket;
  open: boolean;
  /** While pending: answers the opener's session:open. */
  settle?: ReplyFn;
  /** While pending: stops waiting for the receiver's answer. */
  cancel?: () => void;
  /** While pending at the opener's node: the receiver's node took the request. */
  heard?: () => void;
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
  /** Cluster mode: where other nodes' receivers are, and the way to their nodes. */
  cluster?: { presence: ClusterPresence; bus: NodeBus };
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

  private open(socket: PeerSocket, to: string, reply: ReplyFn): void | Promise<void> {
    const from = socket.data.id;
    if (to === from) return reply(errorReply('ERR_BAD_INPUT', 'cannot open a session with your own account'));
    const closed = this.opts.refusing?.();
    if (closed) return reply(errorReply('ERR_BUSY', closed));
    const receiver = this.opts.presence.receiverOf(to);
    if (!receiver) {
      if (this.opts.cluster) return this.openAcross(socket, to, reply);
      return reply(errorReply('ERR_PEER_OFFLINE', `${to} is not online and receiving`));
    }
    if (this.countOf(socket) >= this.maxPerSocket) return reply(this.tooMany());
    this.offer(socket, receiver, reply);
  }

  private tooMany(): ErrorReply {
    return errorReply('ERR_BAD_INPUT', `this connection already has ${this.maxPerSocket} sessions; close one first`);
  }

  /**
   * Asks the receiving socket `receiver` (at this node) for a session with `opener` (here,
   * or a RemoteMember), after the receiver's limits; `reply` gets the answer. `sid`: the
   * ID the opener's node chose.
   */
  private offer(opener: PeerSocket, receiver: PeerSocket, reply: ReplyFn, sid = randomBytes(16).toString('hex')): void {
    const from = opener.data.id;
    const to = receiver.data.id;
    if (this.countOf(receiver) >= this.maxPerSocket) return reply(errorReply('ERR_REJECTED', `${to} is busy with too many sessions; try again later`));
    const pending = this.pendingAt(receiver);
    if (pending.filter((p) => p.opener.data.id === from).length >= this.maxPendingPerPair) {
      return reply(errorReply('ERR_THROTTLED', `you already have ${this.maxPendingPerPair} requests waiting for ${to}'s answer; wait for them`));
    }
    if (pending.length >= this.maxPendingPerReceiver) {
      return reply(errorReply('ERR_BUSY', `${to} has ${this.maxPendingPerReceiver} requests waiting for an answer; try again shortly`));
    }
    if (!remoteOf(opener)) { // a remote opener's node charged its pair already
      const limited = admitPair(opener, to);
      if (limited) return reply(limited);
    }

    const s: TransferSession = { sid, opener, receiver, open: false, settle: reply };
    this.remember(s);
    this.opts.logger.info('session.requested', { sid: s.sid, from, to, ...(remoteOf(opener) && { node: remoteOf(opener)!.node }) });
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

  /** `to` receives at no socket here: ask the node where it does (cluster mode). */
  private async openAcross(socket: PeerSocket, to: string, reply: ReplyFn): Promise<void> {
    const { presence, bus } = this.opts.cluster!;
    let nodes: string[];
    try {
      nodes = await presence.receiversOf(to);
    } catch (err) {
      return reply(errorReply('ERR_STORE', (err as { peerMessage?: string }).peerMessage ?? (err as Error).message));
    }
    if (nodes.length === 0) return reply(errorReply('ERR_PEER_OFFLINE', `${to} is not online and receiving`));
    if (!socket.connected) return reply(errorReply('ERR_PEER_GONE', 'this connection closed'));
    if (this.countOf(socket) >= this.maxPerSocket) return reply(this.tooMany());
    const limited = admitPair(socket, to);
    if (limited) return reply(limited);
    const node = nodes[0]!;
    const sid = randomBytes(16).toString('hex');
    const s: TransferSession = { sid, opener: socket, receiver: new RemoteMember(bus, node, sid, to, true).asSocket(), open: false, settle: reply };
    this.remember(s);
    this.opts.logger.info('session.requested', { sid, from: socket.data.id, to, node });
    const unheard = setTimeout(() => this.close(sid, 'the other node did not answer', undefined,
      errorReply('ERR_PEER_GONE', `the rendezvous node where ${to} is online did not answer; try again`)), NODE_ANSWER_MS).unref();
    const waited = Math.round(this.timeoutMs / 1000);
    const late = setTimeout(() => this.close(sid, 'the session request timed out', undefined,
      errorReply('ERR_TIMEOUT', `${to} did not answer within ${waited} s`)), this.timeoutMs + NODE_ANSWER_MS).unref();
    s.heard = () => clearTimeout(unheard);
    s.cancel = () => { clearTimeout(unheard); clearTimeout(late); };
    bus.send(node, { t: 'open', sid, from: socket.data.id, to }).catch((err: Error) => this.close(sid, 'the other node is out of reach', undefined,
      errorReply('ERR_STORE', `the rendezvous cannot reach the node where ${to} is online: ${err.message}`)));
  }

  /** A node message about a session one of whose members is at `node` (node-routes.ts). */
  fromNode(node: string, msg: NodeMessage): void {
    if (msg.t === 'open') return this.openFromNode(node, msg.sid, msg.from, msg.to);
    if (!('sid' in msg)) return;
    const across = this.across(node, msg.sid);
    if (!across) return;
    const { s, remote, local } = across;
    switch (msg.t) {
      case 'heard':
        s.heard?.();
        break;
      case 'answer':
        if (s.open || remote !== s.receiver) return;
        if (msg.res.ok) {
          s.cancel?.();
          this.answered(s, { accept: true });
        } else {
          s.cancel?.();
          this.forget(s);
          s.settle?.(msg.res);
          this.opts.logger.info('session.refused', { sid: s.sid, from: s.opener.data.id, to: s.receiver.data.id, node });
          this.opts.onEnd?.(s.sid);
        }
        break;
      case 'closed':
        this.close(s.sid, msg.reason, remote);
        break;
      case 'signal':
        if (s.open && local.connected) local.emit('signal', { sid: s.sid, from: remote.data.id, data: msg.data });
        break;
      case 'refused':
        if (s.open && local.connected) local.emit('relay:refused', { sid: s.sid, code: msg.code, message: msg.message });
        break;
    }
  }

  /** The member at this node of the open session `sid` whose other member is at `node`. */
  localOf(node: string, sid: string): PeerSocket | undefined {
    const across = this.across(node, sid);
    return across?.s.open ? across.local : undefined;
  }

  /** `node` stopped beating: its members are gone, and so are their sessions. */
  closeNode(node: string): void {
    for (const s of [...this.sessions.values()]) {
      const remote = [s.opener, s.receiver].find((m) => remoteOf(m)?.node === node);
      if (!remote) continue;
      remoteOf(remote)!.connected = false;
      this.close(s.sid, 'the other peer\'s rendezvous node went away', remote, errorReply('ERR_PEER_GONE', 'the rendezvous node of the other peer went away'));
    }
  }

  private across(node: string, sid: string): { s: TransferSession; remote: PeerSocket; local: PeerSocket } | undefined {
    const s = this.sessions.get(sid);
    if (!s) return undefined;
    if (remoteOf(s.receiver)?.node === node) return { s, remote: s.receiver, local: s.opener };
    if (remoteOf(s.opener)?.node === node) return { s, remote: s.opener, local: s.receiver };
    return undefined;
  }

  /** The opener's node asks for a session with `to`'s receiving socket here. */
  private openFromNode(node: string, sid: string, from: string, to: string): void {
    const { bus } = this.opts.cluster!;
    const answer: ReplyFn = (res) => bus.tell(node, { t: 'answer', sid, res: (res as { ok: boolean }).ok ? { ok: true } : res as ErrorReply });
    if (this.sessions.has(sid)) return answer(errorReply('ERR_BAD_INPUT', 'that session ID is taken'));
    const closed = this.opts.refusing?.();
    if (closed) return answer(errorReply('ERR_BUSY', closed));
    const receiver = this.opts.presence.receiverOf(to);
    if (!receiver) return answer(errorReply('ERR_PEER_OFFLINE', `${to} is not online and receiving`));
    bus.tell(node, { t: 'heard', sid });
    this.offer(new RemoteMember(bus, node, sid, from, false).asSocket(), receiver, answer, sid);
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

/**
 * PathMover: moves one secure channel between the direct and the relay path in the
 * middle of a transfer, continuing the same encrypted streams (docs/PROTOCOL.md "Path
 * moves"). The opener decides: it moves to the relay when the data channel closes or
 * stalls, and to the direct path when one opens (trying again now and then while on the
 * relay). The accepter only follows a `move` sealed under the session keys, arriving as
 * the next frame of the move stream on the path it names; anything else on a path that
 * does not carry the transfer is dropped, so a rendezvous can stall a move, never steer one.
 *
 *   opener:   [old path: stop reading] ─ move {transport, data, control} ─► new path
 *   accepter: ◄─ moved {transport, data, control} ─ [then the frames the opener lacks]
 *   opener:   [the frames the accepter lacks] ─► … and the transfer goes on
 */
import { FLOW_WINDOW } from '../../shared/constants.js';
import type { Role } from '../../shared/crypto-suite.js';
import { SealdropError, toSealdropError } from '../../shared/errors.js';
import { decodeHeader, FrameType, MOVE_STREAM } from '../../shared/frame-layout.js';
import type { MoveMessage } from './control-messages.js';
import { DirectTransport, type DirectOptions } from './direct-transport.js';
import { RelayTransport } from './relay-transport.js';
import type { RendezvousSession } from '../session/rendezvous-session.js';
import type { SecureChannel } from './secure-channel.js';
import type { SignalInbox } from '../session/signal-inbox.js';
import type { Transport, TransportKind } from './transport.js';

/** No byte leaves the data channel (or none arrives while data is awaited) for this long: the path stalled. */
export const STALL_MS = 3_000;
const WATCH_MS = 500;
/** The opener's wait for `moved` on the new path. */
const MOVED_TIMEOUT_MS = 15_000;
/** The accepter's wait for a `move` once its path ended under it. */
const MOVE_WAIT_MS = 15_000;
/** While on the relay, the opener starts a new direct attempt this long after the last one ended. */
const DIRECT_RETRY_MS = 5_000;
const MAX_DIRECT_ATTEMPTS = 8;
/** Opener: how long a transfer whose relay ended waits for a direct attempt still under way. */
const DIRECT_WAIT_MS = 10_000;

type Detached = ReturnType<SecureChannel['detach']>;

export interface PathMove { transport: TransportKind; why: string }

export interface MoverOptions {
  channel: SecureChannel;
  role: Role;
  session: RendezvousSession;
  sid: string;
  inbox: SignalInbox;
  /** The direct transport made at the start, if any (carrying the channel, or still trying). */
  direct?: DirectTransport;
  /** How a new direct attempt is made (the opener's retries; the accepter's answer to a new offer). */
  directOptions: () => DirectOptions;
  /** Test seam: wraps every path the channel moves to, as it wrapped the first. */
  wrap?: (t: Transport) => Transport;
  /** Accepter: the path it was told is unused, watched by establishLink, which hands its move frames to candidateFrame. */
  watched?: Transport;
  onMove?: (m: PathMove) => void;
}

export class PathMover {
  private readonly channel: SecureChannel;
  private direct?: DirectTransport;
  private relayCandidate?: RelayTransport;
  private busy = false;
  private closed = false;
  private attempts = 0;
  private retry?: NodeJS.Timeout;
  private readonly watchdog?: NodeJS.Timeout;
  /** Opener: the `moved` it waits for. */
  private awaitingMoved?: (m: MoveMessage) => void;
  /** Accepter: the path ended and the sends are held, until a move comes or time is up. */
  private held?: { position: { data: number; control: number }; settle: (err?: SealdropError) => void; timer: NodeJS.Timeout };
  /** Stall watch: bytes that had left the data channel, and when some last did. */
  private drained = 0;
  private drainedAt = performance.now();

  constructor(private readonly o: MoverOptions) {
    this.channel = o.channel;
    this.direct = o.direct;
    this.channel.movesWith({ lost: (t, err) => this.lost(t, err), moveFrame: (f, t) => this.moveFrameOnPath(f, t) });
    if (o.role === 'sender') {
      this.watchdog = setInterval(() => this.watch(), WATCH_MS);
      this.watchdog.unref?.(); // (a number in the page)
      if (this.direct && this.current !== 'direct') this.tryDirect(this.direct);
    } else {
      if (o.watched?.kind === 'relay') this.relayCandidate = o.watched as RelayTransport;
      if (this.direct && this.current !== 'direct' && o.watched !== this.direct) this.listenOn(this.direct);
      if (this.current !== 'relay' && !this.relayCandidate) this.listenOnRelay();
    }
    o.inbox.onClose(() => {
      // Without the rendezvous no relay, and no signaling for a direct attempt still under way.
      if (this.current !== 'direct') this.direct?.close();
      this.relayCandidate = undefined;
      if (this.held) this.giveUp();
    });
  }

  private get current(): TransportKind {
    return this.channel.transport.kind;
  }

  /** A WebRTC signal from the other peer, for whichever direct attempt is under way. */
  webrtc(data: Record<string, unknown>): void {
    if (this.closed) return;
    // The opener starts every attempt with a new offer: the accepter answers it with a new connection.
    if (this.o.role === 'receiver' && data.type === 'offer') {
      if (this.current === 'direct') return;
      if (!this.direct || this.direct.ended || this.direct.offered) {
        this.direct?.close();
        this.direct = new DirectTransport(this.o.directOptions());
        this.listenOn(this.direct);
      }
    }
    this.direct?.signal(data);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.watchdog);
    clearTimeout(this.retry);
    if (this.held) clearTimeout(this.held.timer);
    if (this.current !== 'direct') this.direct?.close();
    this.relayCandidate?.close();
  }

  // ── the opener ────────────────────────────────────────────────────────────

  /** Every half second: a data channel that carries the transfer and stopped moving bytes is left for the relay. */
  private watch(): void {
    // Without the rendezvous there is no relay to move to: a stalled data channel may yet recover.
    if (this.busy || this.closed || this.channel.failed || this.current !== 'direct' || !this.direct || this.o.inbox.closed) return;
    const now = performance.now();
    const drained = this.direct.drained;
    const waiting = this.direct.waiting;
    if (drained > this.drained || !waiting) this.drainedAt = now;
    this.drained = drained;
    // Bytes wait in the channel and none leaves; or nothing comes while this side waits for data, or
    // for credit with most of the window out (not the quiet while the receiver verifies at the end).
    const stuck = waiting && now - this.drainedAt > STALL_MS;
    const quiet = now - this.channel.lastInbound > STALL_MS && (this.channel.awaitingData || this.channel.unacknowledged > FLOW_WINDOW / 2);
    if (stuck || quiet) void this.moveTo('relay', 'the direct path stalled');
  }

  /** A direct attempt: once it opens, the transfer moves there; if it fails, another one later. */
  private tryDirect(d: DirectTransport): void {
    this.attempts++;
    d.connected.then(() => {
      if (this.closed || d !== this.direct) return;
      if (this.current === 'relay') void this.moveTo('direct', 'the direct path opened');
    }, () => this.retryDirect(d));
    d.onClose(() => this.retryDirect(d));
  }

  private retryDirect(d: DirectTransport): void {
    if (this.closed || d !== this.direct || this.retry || this.attempts >= MAX_DIRECT_ATTEMPTS || this.o.inbox.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.closed || this.current === 'direct' || this.o.inbox.closed) return;
      d.close();
      this.direct = new DirectTransport(this.o.directOptions());
      this.tryDirect(this.direct);
    }, DIRECT_RETRY_MS);
    this.retry.unref?.();
  }

  /**
   * Moves the channel: stop reading the old path (the positions read are final), say
   * `move` with them as the first frame on the new one, wait for `moved` with the other
   * side's, send again what it lacks, and let the held sends go.
   */
  private async moveTo(kind: TransportKind, why: string, detached?: Detached): Promise<void> {
    if (this.busy || this.closed || this.channel.failed) return detached?.settle(this.channel.failed);
    this.busy = true;
    const old = this.channel.transport;
    const { position, settle } = detached ?? this.channel.detach();
    try {
      let next: Transport;
      if (kind === 'relay') next = new RelayTransport(this.o.session, this.o.sid, this.o.inbox);
      else next = this.direct!;
      if (this.o.wrap) next = this.o.wrap(next);
      old.close();
      const moved = new Promise<MoveMessage>((resolve, reject) => {
        const timer = setTimeout(() => reject(new SealdropError('ERR_TIMEOUT', `the other peer did not follow to the ${kind} path within ${MOVED_TIMEOUT_MS / 1000} s`)), MOVED_TIMEOUT_MS);
        this.awaitingMoved = (m) => { clearTimeout(timer); resolve(m); };
      });
      this.channel.attach(next);
      const sealed = this.channel.sealMove({ t: 'move', transport: kind, ...position });
      await next.send(sealed instanceof Promise ? await sealed : sealed);
      const answer = await moved;
      if (answer.t !== 'moved' || answer.transport !== kind) throw new SealdropError('ERR_PROTOCOL', 'the other peer answered a move with something else');
      await this.channel.resend(answer);
      settle();
      this.drainedAt = performance.now();
      this.o.onMove?.({ transport: kind, why });
      if (kind === 'relay') this.retryDirect(this.direct!);
    } catch (err) {
      settle(toSealdropError(err));
    } finally {
      this.awaitingMoved = undefined;
      this.busy = false;
    }
  }

  // ── both ──────────────────────────────────────────────────────────────────

  /** The path carrying the channel ended, or a send on it failed. */
  private lost(t: Transport, err?: SealdropError): void {
    const why = err ?? new SealdropError('ERR_PEER_GONE', 'the other peer closed the connection before the transfer finished');
    if (this.o.role === 'sender') {
      if (t.kind === 'direct' && !this.o.inbox.closed) return void this.moveTo('relay', 'the direct path closed');
      if (t.kind === 'relay' && this.directOpen) return void this.moveTo('direct', 'the relay path closed');
      // The relay refused or ended while the direct attempt is still under way (relay start): wait for it a while.
      if (t.kind === 'relay' && this.direct && !this.direct.ended) return this.awaitDirect(this.direct, why);
      return this.channel.detach().settle(why);
    }
    // The accepter holds its sends and waits for the opener to say where the transfer goes on.
    if (this.held) return;
    if (this.o.inbox.closed && (t.kind === 'direct' || !this.directOpen)) return this.channel.detach().settle(why);
    const { position, settle } = this.channel.detach();
    const timer = setTimeout(() => this.giveUp(), MOVE_WAIT_MS);
    timer.unref?.();
    this.held = { position, settle: (e) => { clearTimeout(timer); this.held = undefined; settle(e); }, timer };
    this.heldWhy = why;
  }
  private heldWhy?: SealdropError;

  /** Opener: holds the sends until the direct attempt opens (then moves there) or fails, at most DIRECT_WAIT_MS. */
  private awaitDirect(d: DirectTransport, why: SealdropError): void {
    const detached = this.channel.detach();
    const timer = setTimeout(() => detached.settle(why), DIRECT_WAIT_MS);
    timer.unref?.();
    d.connected.then(() => {
      clearTimeout(timer);
      void this.moveTo('direct', `the relay path ended (${why.message})`, detached);
    }, () => { clearTimeout(timer); detached.settle(why); });
  }

  private get directOpen(): boolean {
    return !!this.direct && this.direct.open;
  }

  private giveUp(): void {
    this.held?.settle(this.heldWhy ?? new SealdropError('ERR_PEER_GONE', 'the path to the other peer ended'));
  }

  /** A move-stream frame on the path that carries the channel: for the opener, the `moved` it waits for. */
  private moveFrameOnPath(frame: Buffer, t: Transport): void {
    if (this.o.role === 'receiver') return this.candidateFrame(frame, t);
    const failed = (err: unknown) => this.channel.detach().settle(toSealdropError(err, 'ERR_PROTOCOL'));
    const take = (msg: MoveMessage) => {
      if (!this.awaitingMoved || msg.t !== 'moved') throw new SealdropError('ERR_PROTOCOL', `the other peer sent ${msg.t} when no move was under way`);
      this.awaitingMoved(msg);
    };
    try {
      const msg = this.channel.openMove(frame);
      // The page's cipher answers with a promise; Node's at once.
      if (msg instanceof Promise) msg.then(take).catch(failed);
      else take(msg);
    } catch (err) {
      failed(err);
    }
  }

  // ── the accepter ──────────────────────────────────────────────────────────

  private listenOnRelay(): void {
    if (this.o.inbox.closed) return;
    const relay = new RelayTransport(this.o.session, this.o.sid, this.o.inbox);
    this.relayCandidate = relay;
    this.listenOn(relay);
  }

  /** A path that does not carry the channel: only a `move` onto it counts. */
  private listenOn(t: Transport): void {
    t.onFrame((frame) => this.candidateFrame(frame, t));
    t.onClose(() => { if (t === this.relayCandidate) this.relayCandidate = undefined; });
  }

  /**
   * A frame on a path the accepter may be moved to. Only the next `move` of the move
   * stream, sealed under the session keys and naming this path, moves the channel;
   * anything else (a replay, a frame of another stream, a forgery) is dropped.
   */
  candidateFrame(frame: Buffer, t: Transport): void {
    if (this.closed || this.channel.failed || t === this.channel.transport) return;
    let msg: MoveMessage | Promise<MoveMessage>;
    try {
      const h = decodeHeader(frame);
      if (h.type !== FrameType.Control || h.stream !== MOVE_STREAM) return;
      msg = this.channel.openMove(frame);
    } catch {
      return;
    }
    // The page's cipher answers with a promise (a frame that does not open is dropped all the same); Node's at once.
    if (msg instanceof Promise) msg.then((m) => this.candidateMove(m, t), () => {});
    else this.candidateMove(msg, t);
  }

  private candidateMove(msg: MoveMessage, t: Transport): void {
    if (this.closed || this.channel.failed || t === this.channel.transport) return;
    if (msg.t !== 'move' || msg.transport !== t.kind) {
      this.channel.detach().settle(new SealdropError('ERR_PROTOCOL', `the other peer's move to the ${msg.t === 'move' ? msg.transport : '?'} path arrived over the ${t.kind} path: someone changed it on the way; stopped`));
      return;
    }
    void this.follow(msg, t);
  }

  private async follow(msg: Extract<MoveMessage, { t: 'move' }>, t: Transport): Promise<void> {
    const old = this.channel.transport;
    const { position, settle } = this.held ?? this.channel.detach();
    if (this.held) clearTimeout(this.held.timer);
    this.held = undefined;
    try {
      const next = this.o.wrap ? this.o.wrap(t) : t;
      if (t === this.relayCandidate) this.relayCandidate = undefined;
      old.close();
      this.channel.attach(next);
      const sealed = this.channel.sealMove({ t: 'moved', transport: msg.transport, ...position });
      await next.send(sealed instanceof Promise ? await sealed : sealed);
      await this.channel.resend(msg);
      settle();
      this.o.onMove?.({ transport: msg.transport, why: msg.transport === 'relay' ? 'the other peer lost the direct path' : 'the direct path opened' });
      if (msg.transport === 'direct') this.listenOnRelay();
    } catch (err) {
      settle(toSealdropError(err));
    }
  }
}

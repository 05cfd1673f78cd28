/**
 * RendezvousSession: the peer's authenticated Socket.IO connection to the
 * rendezvous. Every inbound payload is schema-checked before anyone sees it.
 */
import { EventEmitter } from 'node:events';
import { io, type Socket } from 'socket.io-client';
import type { z } from 'zod';
import { SealdropError, isErrorCode } from '../../shared/errors.js';
import { LARGE_BATCH_FRAMES, MAX_BATCH_FRAMES } from '../../shared/relay-batch.js';
import { connectFailure } from './connect-failure.js';
import {
  ClosedEvent, OkReply, OpenReply, PeersReply, RelayRefusedEvent, SessionRequest, SignalEvent, Welcome,
  describeIssues, isOkReply, type ClientToServer, type HandshakeAuth, type PeerInfo, type ServerToClient, type SignalData,
} from '../../shared/schemas.js';

const REQUEST_TIMEOUT_MS = 15_000;
const OPEN_TIMEOUT_MS = 45_000;

export interface SessionRequestEvent {
  sid: string; from: string;
  accept: (yes: boolean) => void;
  /** Declines because another transfer is running: the opener hears "busy, try again shortly". */
  busy: () => void;
}

export interface RendezvousSessionEvents {
  request: [SessionRequestEvent];
  /** Every signal, for observers; transfers take theirs through claimSignals. */
  signal: [z.infer<typeof SignalEvent>];
  closed: [z.infer<typeof ClosedEvent>];
  'relay-frame': [sid: string, frame: Buffer, ack: (res: z.infer<typeof OkReply>) => void];
  /** A batch of frames (shared/relay-batch.ts), not yet split: acked as one. */
  'relay-frames': [sid: string, batch: Buffer, ack: (res: z.infer<typeof OkReply>) => void];
  'relay-refused': [z.infer<typeof RelayRefusedEvent>];
  /** Another receiving connection of this account took over (`receive --replace`). */
  replaced: [];
  disconnect: [reason: string];
}

/** Signals held for a session nobody has claimed yet: at most this many, for at most this long. */
const MAX_UNCLAIMED = 64;
const UNCLAIMED_TTL_MS = 60_000;

/** Next steps for login refusals whose code means something narrower here than in general (peer/terminal/error-words.ts). */
const REFUSAL_HINTS: Partial<Record<string, string>> = {
  // The only ERR_EXISTS a login hears: another `receive` holds this account's receiving slot.
  ERR_EXISTS: 'stop the other `sealdrop receive` for this ID first, or start this one with --replace to take over from it',
};

export class RendezvousSession extends EventEmitter<RendezvousSessionEvents> {
  private readonly claims = new Map<string, (ev: z.infer<typeof SignalEvent>) => void>();
  private readonly unclaimed = new Map<string, { since: number; events: Array<z.infer<typeof SignalEvent>> }>();

  private constructor(private readonly socket: Socket<ServerToClient, ClientToServer>, readonly welcome: Welcome) {
    super();
    socket.on('session:request', (req, ack) => {
      const parsed = SessionRequest.safeParse(req);
      if (!parsed.success || typeof ack !== 'function') return;
      this.emit('request', { ...parsed.data, accept: (yes) => ack({ accept: yes }), busy: () => ack({ accept: false, busy: true }) });
    });
    socket.on('signal', (ev) => {
      const parsed = SignalEvent.safeParse(ev);
      if (parsed.success) this.route(parsed.data);
    });
    socket.on('session:closed', (ev) => {
      const parsed = ClosedEvent.safeParse(ev);
      if (parsed.success) this.emit('closed', parsed.data);
    });
    socket.on('relay:frame', (sid, frame, ack) => {
      const bytes = asBuffer(frame);
      if (typeof sid !== 'string' || !bytes || typeof ack !== 'function') return;
      this.emit('relay-frame', sid, bytes, ack);
    });
    socket.on('relay:frames', (sid, batch, ack) => {
      const bytes = asBuffer(batch);
      if (typeof sid !== 'string' || !bytes || typeof ack !== 'function') return;
      this.emit('relay-frames', sid, bytes, ack);
    });
    socket.on('relay:refused', (ev) => {
      const parsed = RelayRefusedEvent.safeParse(ev);
      if (parsed.success) this.emit('relay-refused', parsed.data);
    });
    socket.on('receiving:replaced', () => this.emit('replaced'));
    socket.on('rendezvous:restarting', () => { this.restarting = true; });
    socket.on('disconnect', (reason) => this.emit('disconnect', reason));
  }

  /** The rendezvous said it is draining to restart (`rendezvous:restarting`): its coming disconnect is no failure. */
  restarting = false;

  get id(): string { return this.welcome.id; }

  /**
   * Takes the signals of one session. The other peer may signal before we know
   * the session ID (the opener learns it only from the open reply), so signals
   * for unclaimed sessions wait here, a few and not for long.
   */
  claimSignals(sid: string, handler: (ev: z.infer<typeof SignalEvent>) => void): () => void {
    this.claims.set(sid, handler);
    const waiting = this.unclaimed.get(sid);
    this.unclaimed.delete(sid);
    if (waiting && Date.now() - waiting.since <= UNCLAIMED_TTL_MS) for (const ev of waiting.events) handler(ev);
    return () => { if (this.claims.get(sid) === handler) this.claims.delete(sid); };
  }

  private route(ev: z.infer<typeof SignalEvent>): void {
    this.emit('signal', ev);
    const handler = this.claims.get(ev.sid);
    if (handler) return handler(ev);
    const now = Date.now();
    for (const [sid, w] of this.unclaimed) if (now - w.since > UNCLAIMED_TTL_MS) this.unclaimed.delete(sid);
    const waiting = this.unclaimed.get(ev.sid) ?? { since: now, events: [] };
    if (waiting.events.length >= MAX_UNCLAIMED || (!this.unclaimed.has(ev.sid) && this.unclaimed.size >= MAX_UNCLAIMED)) return;
    waiting.events.push(ev);
    this.unclaimed.set(ev.sid, waiting);
  }

  /** Connects and authenticates; resolves once the rendezvous has welcomed us. */
  static connect(url: string, auth: HandshakeAuth, timeoutMs = REQUEST_TIMEOUT_MS, tls: { ca?: string } = {}): Promise<RendezvousSession> {
    const socket: Socket<ServerToClient, ClientToServer> = io(url, {
      // relayBatch: we take relay frames in batches (`relay:frames`) too; batchFrames: large ones,
      // in the query, which a server that predates them ignores (it refuses unknown auth keys).
      auth: { ...auth, relayBatch: true }, query: { batchFrames: String(LARGE_BATCH_FRAMES) }, transports: ['websocket'], reconnection: false, timeout: timeoutMs, ...(tls.ca ? { ca: tls.ca } : {}),
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(connectFailure(url, new Error('timeout'), timeoutMs)), timeoutMs);
      const fail = (err: SealdropError) => { clearTimeout(timer); socket.close(); reject(err); };
      socket.once('connect_error', (err: Error & { data?: { code?: unknown } }) => {
        const code = err.data?.code;
        if (isErrorCode(code)) fail(new SealdropError(code, err.message, code in REFUSAL_HINTS ? { hint: REFUSAL_HINTS[code] } : {}));
        else fail(connectFailure(url, err, timeoutMs)); // DNS, refused, timeout and certificate told apart
      });
      socket.once('welcome', (w) => {
        const parsed = Welcome.safeParse(w);
        if (!parsed.success) return fail(new SealdropError('ERR_PROTOCOL', `bad welcome from the rendezvous: ${describeIssues(parsed.error)}`));
        clearTimeout(timer);
        resolve(new RendezvousSession(socket, parsed.data));
      });
    });
  }

  async peers(): Promise<PeerInfo[]> {
    const res = await this.request(PeersReply, (ack) => this.socket.timeout(REQUEST_TIMEOUT_MS).emit('peers', {}, ack));
    return res.peers;
  }

  /** Asks the rendezvous for a transfer session with `to`; resolves with its ID once `to` joined. */
  async open(to: string): Promise<string> {
    const res = await this.request(OpenReply, (ack) => this.socket.timeout(OPEN_TIMEOUT_MS).emit('session:open', { to }, ack));
    return res.sid;
  }

  async signal(sid: string, data: SignalData): Promise<void> {
    await this.request(OkReply, (ack) => this.socket.timeout(REQUEST_TIMEOUT_MS).emit('signal', { sid, data }, ack));
  }

  close(sid: string, reason: string): void {
    this.socket.emit('session:close', { sid, reason });
  }

  /**
   * One relay frame; `done` runs once the other peer has taken it (end-to-end ack), or with why not.
   * A callback, not a promise: it runs straight from the ack, in wire order with `closed` and the
   * other events, so a refusal that arrived before the session closed is seen before the close.
   * No timer per frame: the relay transport watches for answers that stop coming.
   */
  relayFrame(sid: string, frame: Buffer, done: (err?: SealdropError) => void): void {
    this.relaySend('relay:frame', sid, frame, done);
  }

  /** Whether this rendezvous takes `relay:frames` (it said so in `welcome`). */
  get relayBatches(): boolean {
    return this.welcome.relayBatch === true;
  }

  /** Frames one batch may hold each way: 16 where the rendezvous agreed to large batches, else 4. */
  get relayBatchFrames(): number {
    return this.welcome.relayBatchFrames ?? MAX_BATCH_FRAMES;
  }

  /** Several frames in one batch (shared/relay-batch.ts), answered as one; only when `relayBatches`. */
  relayFrames(sid: string, batch: Buffer, done: (err?: SealdropError) => void): void {
    this.relaySend('relay:frames', sid, batch, done);
  }

  private relaySend(event: 'relay:frame' | 'relay:frames', sid: string, bytes: Buffer, done: (err?: SealdropError) => void): void {
    if (!this.socket.connected) return done(new SealdropError('ERR_CONNECT', 'not connected to the rendezvous'));
    this.socket.emit(event, sid, bytes, (res: unknown) => {
      if (isOkReply(res)) return done();
      const parsed = OkReply.safeParse(res);
      if (!parsed.success) return done(new SealdropError('ERR_PROTOCOL', `bad reply from the rendezvous: ${describeIssues(parsed.error)}`));
      done(parsed.data.ok ? undefined : new SealdropError(parsed.data.code, parsed.data.message));
    });
  }

  disconnect(): void {
    this.socket.close();
  }

  private request<T extends z.ZodTypeAny>(
    schema: T,
    send: (ack: (err: Error | null, res: unknown) => void) => void,
  ): Promise<Extract<z.infer<T>, { ok: true }>> {
    return new Promise((resolve, reject) => {
      if (!this.socket.connected) return reject(new SealdropError('ERR_CONNECT', 'not connected to the rendezvous'));
      send((err, res) => {
        if (err) return reject(new SealdropError('ERR_TIMEOUT', 'the rendezvous did not answer in time'));
        const parsed = schema.safeParse(res);
        if (!parsed.success) return reject(new SealdropError('ERR_PROTOCOL', `bad reply from the rendezvous: ${describeIssues(parsed.error)}`));
        const reply = parsed.data as { ok: boolean; code?: string; message?: string };
        if (!reply.ok) return reject(new SealdropError(isErrorCode(reply.code) ? reply.code : 'ERR_PROTOCOL', reply.message ?? 'refused'));
        resolve(parsed.data);
      });
    });
  }
}

/** Binary arrives as a Buffer on Node and as an ArrayBuffer in the page (the same class runs in both); a view, no copy. */
function asBuffer(x: unknown): Buffer | undefined {
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof ArrayBuffer) return Buffer.from(x);
  return undefined;
}

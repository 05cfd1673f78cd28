/**
 * SignalInbox: the signals of one transfer session, from the one peer in it.
 * Commitment, hello and transport choice are each taken once (a second one is
 * ignored) and awaited; WebRTC signals are streamed.
 */
import { isErrorCode, messageForPeer, SealdropError } from '../../shared/errors.js';
import type { CommitSignal, HelloSignal, SignalData } from '../../shared/schemas.js';
import type { RendezvousSession } from './rendezvous-session.js';

type Waiter<T> = { resolve: (v: T) => void; reject: (e: Error) => void };

/** What the opener sends first: its commitment (version 2), or a hello (another version, or a peer out of order). */
export type Opening = CommitSignal | HelloSignal;

export class SignalInbox {
  private hello?: HelloSignal;
  private commit?: CommitSignal;
  private mode?: 'direct' | 'relay';
  /** The other peer said it can move a transfer between paths (a `moves` signal of version 1 or later). */
  peerMoves = false;
  private helloWaiter?: Waiter<HelloSignal>;
  private openingWaiter?: Waiter<Opening>;
  private modeWaiter?: Waiter<'direct' | 'relay'>;
  private webrtcQueue: Record<string, unknown>[] = [];
  private webrtcHandler?: (data: Record<string, unknown>) => void;
  private closedError?: SealdropError;
  private readonly releaseSignals: () => void;
  private readonly onClosed: (ev: { sid: string; reason: string }) => void;
  private readonly onDisconnect: () => void;
  private closeListeners: Array<(err: SealdropError) => void> = [];

  constructor(private readonly session: RendezvousSession, readonly sid: string, readonly peerId: string) {
    this.releaseSignals = session.claimSignals(sid, (ev) => { if (ev.from === peerId) this.take(ev.data); });
    this.onClosed = (ev) => { if (ev.sid === sid) this.fail(closedBy(peerId, ev.reason)); };
    this.onDisconnect = () => this.fail(new SealdropError('ERR_CONNECT', 'lost the connection to the rendezvous'));
    session.on('closed', this.onClosed);
    session.on('disconnect', this.onDisconnect);
  }

  private take(data: SignalData): void {
    if (data.type === 'hello') {
      if (this.hello) return; // one hello per session; a second one is ignored
      this.hello = data;
      this.helloWaiter?.resolve(data);
      this.openingWaiter?.resolve(data);
    } else if (data.type === 'commit') {
      if (this.commit || this.hello) return; // one commitment, and only before a hello
      this.commit = data;
      this.openingWaiter?.resolve(data);
    } else if (data.type === 'moves') {
      if (data.v >= 1) this.peerMoves = true;
    } else if (data.type === 'transport') {
      if (this.mode) return;
      this.mode = data.mode;
      this.modeWaiter?.resolve(data.mode);
    } else if (this.webrtcHandler) {
      this.webrtcHandler(data.data);
    } else {
      this.webrtcQueue.push(data.data);
    }
  }

  nextHello(timeoutMs: number): Promise<HelloSignal> {
    if (this.hello) return Promise.resolve(this.hello);
    return this.wait((w) => { this.helloWaiter = w; }, timeoutMs, `${this.peerId} did not send its keys`);
  }

  /** The first of the other side's commitment or hello, whichever came first. */
  nextOpening(timeoutMs: number): Promise<Opening> {
    const first = this.commit ?? this.hello;
    if (first) return Promise.resolve(first);
    return this.wait((w) => { this.openingWaiter = w; }, timeoutMs, `${this.peerId} did not send its keys`);
  }

  nextTransport(timeoutMs: number): Promise<'direct' | 'relay'> {
    if (this.mode) return Promise.resolve(this.mode);
    return this.wait((w) => { this.modeWaiter = w; }, timeoutMs, `${this.peerId} did not choose a transport`);
  }

  onWebrtc(handler: (data: Record<string, unknown>) => void): void {
    this.webrtcHandler = handler;
    for (const d of this.webrtcQueue.splice(0)) handler(d);
  }

  /** Why the session ended underneath us, if it did: the cause behind whatever failed next. */
  get closed(): SealdropError | undefined { return this.closedError; }

  /** Called once if the session ends underneath us (peer left, rendezvous lost). */
  onClose(listener: (err: SealdropError) => void): void {
    if (this.closedError) listener(this.closedError);
    else this.closeListeners.push(listener);
  }

  dispose(): void {
    this.releaseSignals();
    this.session.off('closed', this.onClosed);
    this.session.off('disconnect', this.onDisconnect);
  }

  private wait<T>(set: (w: Waiter<T>) => void, timeoutMs: number, what: string): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SealdropError('ERR_TIMEOUT', `${what} within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      set({ resolve: (v) => { clearTimeout(timer); resolve(v); }, reject: (e) => { clearTimeout(timer); reject(e); } });
    });
  }

  private fail(err: SealdropError): void {
    if (this.closedError) return;
    this.closedError = err;
    this.helloWaiter?.reject(err);
    this.openingWaiter?.reject(err);
    this.modeWaiter?.reject(err);
    for (const l of this.closeListeners.splice(0)) l(err);
  }
}

/**
 * A session the other peer closed, in words. Its reason is the peer's own text: a
 * `failed: ERR_…` of ours becomes the words for that code (a refused key says what
 * to do); anything else is quoted (escaped where it is shown).
 */
function closedBy(peerId: string, reason: string): SealdropError {
  const code = /^failed: (ERR_[A-Z_]+)$/.exec(reason)?.[1];
  if (code === 'ERR_KEY_CHANGED' || code === 'ERR_UNTRUSTED') {
    return new SealdropError(code, `${peerId} refused the session: it does not trust your key (it has another key pinned for your ID${code === 'ERR_UNTRUSTED' ? ', or it accepts only keys it pinned before' : ''})`, {
      hint: `if you use a new device or home folder, read your \`sealdrop fingerprint\` to ${peerId} over another channel; ${peerId} then runs \`sealdrop trust YOUR_ID FINGERPRINT\``,
    });
  }
  if (code && isErrorCode(code)) return new SealdropError('ERR_PEER_GONE', `${peerId} ended the session (${messageForPeer(new SealdropError(code, reason))})`);
  return new SealdropError('ERR_PEER_GONE', `${peerId} left the transfer (${reason})`);
}

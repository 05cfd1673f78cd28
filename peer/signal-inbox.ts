/**
 * SignalInbox: the signals of one transfer session, from the one peer in it.
 * Hello and transport choice are awaited once; WebRTC signals are streamed.
 */
import { SealdropError } from '../shared/errors.js';
import type { HelloSignal, SignalData } from '../shared/schemas.js';
import type { RendezvousSession } from './rendezvous-session.js';

type Waiter<T> = { resolve: (v: T) => void; reject: (e: Error) => void };

export class SignalInbox {
  private hello?: HelloSignal;
  private mode?: 'direct' | 'relay';
  private helloWaiter?: Waiter<HelloSignal>;
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
    this.onClosed = (ev) => { if (ev.sid === sid) this.fail(new SealdropError('ERR_PEER_GONE', `${peerId} left the transfer (${ev.reason})`)); };
    this.onDisconnect = () => this.fail(new SealdropError('ERR_CONNECT', 'lost the connection to the rendezvous'));
    session.on('closed', this.onClosed);
    session.on('disconnect', this.onDisconnect);
  }

  private take(data: SignalData): void {
    if (data.type === 'hello') {
      if (this.hello) return; // one hello per session; a second one is ignored
      this.hello = data;
      this.helloWaiter?.resolve(data);
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

  nextTransport(timeoutMs: number): Promise<'direct' | 'relay'> {
    if (this.mode) return Promise.resolve(this.mode);
    return this.wait((w) => { this.modeWaiter = w; }, timeoutMs, `${this.peerId} did not choose a transport`);
  }

  onWebrtc(handler: (data: Record<string, unknown>) => void): void {
    this.webrtcHandler = handler;
    for (const d of this.webrtcQueue.splice(0)) handler(d);
  }

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
    this.modeWaiter?.reject(err);
    for (const l of this.closeListeners.splice(0)) l(err);
  }
}

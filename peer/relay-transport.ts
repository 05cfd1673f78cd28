/**
 * RelayTransport: the same frames, through the rendezvous, when no direct path
 * exists. The rendezvous acks a frame only once the other peer has taken it, and
 * we keep at most RELAY_WINDOW bytes unacknowledged, so no hop buffers more.
 */
import { SealdropError, toSealdropError } from '../shared/errors.js';
import type { RendezvousSession } from './rendezvous-session.js';
import type { SignalInbox } from './signal-inbox.js';
import type { Transport } from './transport.js';

const RELAY_WINDOW = 2 * 1024 * 1024;

export class RelayTransport implements Transport {
  readonly kind = 'relay' as const;
  private inFlight = 0;
  private wake?: () => void;
  private early: Buffer[] = [];
  private frameHandler: (frame: Buffer) => void = (frame) => this.early.push(frame);
  private closeHandler: (err?: SealdropError) => void = () => {};
  private closed = false;
  private error?: SealdropError;
  private readonly onRelayFrame: (sid: string, frame: Buffer, ack: (res: { ok: true }) => void) => void;

  constructor(private readonly session: RendezvousSession, private readonly sid: string, inbox: SignalInbox) {
    this.onRelayFrame = (frameSid, frame, ack) => {
      if (frameSid !== sid || this.closed) return;
      this.frameHandler(frame);
      ack({ ok: true });
    };
    session.on('relay-frame', this.onRelayFrame);
    inbox.onClose((err) => this.finish(err));
  }

  async send(frame: Buffer): Promise<void> {
    while (this.inFlight + frame.length > RELAY_WINDOW && this.inFlight > 0) {
      if (this.error) throw this.error;
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
    if (this.error || this.closed) throw this.error ?? new SealdropError('ERR_PEER_GONE', 'the relay closed');
    this.inFlight += frame.length;
    this.session.relayFrame(this.sid, frame).then(
      () => { this.inFlight -= frame.length; this.wake?.(); },
      (err) => this.finish(toSealdropError(err, 'ERR_PEER_GONE')),
    );
  }

  onFrame(handler: (frame: Buffer) => void): void {
    this.frameHandler = handler;
    for (const frame of this.early.splice(0)) handler(frame);
  }

  onClose(handler: (err?: SealdropError) => void): void { this.closeHandler = handler; }

  /** Waits (briefly) until every frame we sent was taken, then ends. */
  close(): void {
    if (this.closed) return;
    const deadline = Date.now() + 5_000;
    const drain = () => {
      if (this.inFlight > 0 && !this.error && Date.now() < deadline) { setTimeout(drain, 10); return; }
      this.finish();
    };
    drain();
  }

  private finish(err?: SealdropError): void {
    if (this.closed) return;
    this.closed = true;
    this.error = err ?? new SealdropError('ERR_PEER_GONE', 'the relay closed');
    this.session.off('relay-frame', this.onRelayFrame);
    this.wake?.();
    this.closeHandler(err);
  }
}

/**
 * RelayTransport: the same frames, through the rendezvous, when no direct path
 * exists. The rendezvous acks a frame only once the other peer has taken it, and
 * we keep at most RELAY_WINDOW bytes unacknowledged, so no hop buffers more.
 *
 * Where the rendezvous takes batches (its `welcome` says `relayBatch`), data chunks
 * go G to a `relay:frames` message (shared/relay-batch.ts; G is 16 where `welcome` says
 * `relayBatchFrames`, else 4), grouped by position: chunks Gk…Gk+G−1 of the data
 * stream share a batch, which goes once its last member
 * (or the stream's LAST chunk) is in. Not by timing: the reader pausing at a file
 * boundary must not show in how frames are grouped. A group starts only with room
 * in the window for all of it, so no wait splits one. A control frame goes alone, as
 * `relay:frame`, after the data before it. A group whose members stop coming (they
 * follow within microseconds) goes after GROUP_WAIT_MS anyway.
 *
 * It ends once, with the first reason to reach it, in the order the rendezvous
 * sent them: a frame of either peer refused (an operator limit), a frame not
 * taken in time, the session closed, or the rendezvous connection lost.
 */
import { SealdropError } from '../../shared/errors.js';
import { decodeHeader, FrameType } from '../../shared/frame-layout.js';
import { batchBytes, putFrame, splitBatch } from '../../shared/relay-batch.js';
import { EarlyFrames } from './early-frames.js';
import type { RendezvousSession, RendezvousSessionEvents } from '../session/rendezvous-session.js';
import type { SignalInbox } from '../session/signal-inbox.js';
import type { Transport } from './transport.js';

/** Unacked bytes we allow; well under the rendezvous' own per-session window (8 MiB by default). */
const RELAY_WINDOW = 6 * 1024 * 1024;
/** The longest a partly filled group of chunks waits for the rest (a safety valve; they follow at once). */
const GROUP_WAIT_MS = 20;
/** How long close() waits for frames still in flight before it ends anyway. */
const DRAIN_MS = 5_000;
/** Frames in flight with no answer from the rendezvous for this long end the transfer. */
export const RELAY_ANSWER_TIMEOUT_MS = 60_000;

type Listener<E extends keyof RendezvousSessionEvents> = (...args: RendezvousSessionEvents[E]) => void;

export class RelayTransport implements Transport {
  readonly kind = 'relay' as const;
  /** A frame is copied into a batch, or into a buffer of its own (Socket.IO holds what it sends until written). */
  readonly copiesOnSend = true;
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  /** Frames that arrive before the engine attached, held within a bound. */
  private readonly early = new EarlyFrames((err) => this.finish(err));
  private closeHandler: (err?: SealdropError) => void = () => {};
  private closed = false;
  /** Why it ended: given to send() callers, and to a close handler attached after the end. */
  private error?: SealdropError;
  private abnormal = false;
  private readonly onRelayFrame: Listener<'relay-frame'>;
  private readonly onRelayFrames: Listener<'relay-frames'>;
  /** The batch being filled: frames written straight into it, `batchEnd` bytes so far. */
  private batch?: Buffer;
  private batchEnd = 0;
  private batchFrames = 0;
  private batchFrameBytes = 0;
  private groupTimer?: NodeJS.Timeout;
  private readonly onRefused: Listener<'relay-refused'>;
  /** When the rendezvous last answered a frame (or the first frame of a quiet spell went out). */
  private answeredAt = 0;
  private watchdog?: NodeJS.Timeout;

  constructor(private readonly session: RendezvousSession, private readonly sid: string, inbox: SignalInbox) {
    this.onRelayFrame = (frameSid, frame, ack) => {
      if (frameSid !== sid) return;
      this.early.take(frame);
      ack({ ok: true });
    };
    this.onRelayFrames = (frameSid, batch, ack) => {
      if (frameSid !== sid) return;
      let frames: Buffer[];
      try {
        frames = splitBatch(batch, this.session.relayBatchFrames);
      } catch (err) {
        return this.finish(new SealdropError('ERR_PROTOCOL', `the rendezvous relayed a malformed batch: ${(err as Error).message}`));
      }
      for (const frame of frames) this.early.take(frame);
      ack({ ok: true });
    };
    this.onRefused = (ev) => {
      if (ev.sid === sid) this.finish(new SealdropError(ev.code, `the rendezvous stopped relaying this transfer: ${ev.message}`));
    };
    session.on('relay-frame', this.onRelayFrame);
    session.on('relay-frames', this.onRelayFrames);
    session.on('relay-refused', this.onRefused);
    inbox.onClose((err) => this.finish(err));
  }

  async send(frame: Buffer): Promise<void> {
    const batching = this.session.relayBatches;
    const chunk = batching && frame[0] === FrameType.Chunk;
    if (!chunk) this.flush(); // a control frame goes after the data before it
    if (!chunk || this.batchFrames === 0) {
      // A group starts only with room for all of it, so no wait splits it.
      const room = chunk ? batchBytes(this.session.relayBatchFrames) : frame.length;
      while (!this.closed && this.inFlight > 0 && this.inFlight + room > RELAY_WINDOW) {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    }
    if (this.closed) throw this.error ?? new SealdropError('ERR_PEER_GONE', 'the relay closed');
    if (this.inFlight === 0) this.answeredAt = performance.now();
    this.inFlight += frame.length;
    this.watch();
    if (!chunk) {
      this.session.relayFrame(this.sid, Buffer.from(frame), this.answered(frame.length));
      return;
    }
    this.batch ??= Buffer.allocUnsafe(batchBytes(this.session.relayBatchFrames));
    this.batchEnd = putFrame(this.batch, this.batchEnd, frame);
    this.batchFrames += 1;
    this.batchFrameBytes += frame.length;
    const { index, last } = decodeHeader(frame);
    const group = this.session.relayBatchFrames;
    if (last || index % group === group - 1 || this.batchFrames === group) this.flush();
    else this.groupTimer ??= unref(setTimeout(() => this.flush(), GROUP_WAIT_MS));
  }

  /** Sends the batch being filled, if any: a lone frame as `relay:frame`, more as `relay:frames`. */
  private flush(): void {
    clearTimeout(this.groupTimer);
    this.groupTimer = undefined;
    if (this.batchFrames === 0 || this.closed) return;
    const batch = this.batch!.subarray(0, this.batchEnd);
    const [frames, bytes] = [this.batchFrames, this.batchFrameBytes];
    this.batch = undefined; // Socket.IO holds it until written: the next batch gets a buffer of its own
    this.batchEnd = this.batchFrames = this.batchFrameBytes = 0;
    if (frames === 1) this.session.relayFrame(this.sid, splitBatch(batch)[0]!, this.answered(bytes));
    else this.session.relayFrames(this.sid, batch, this.answered(bytes));
  }

  /**
   * The callback for one frame's answer. It holds the frame's length, never the frame:
   * a frame kept alive until its ack would outlive young-generation GC and pile up.
   * The ack is handled in wire order with the session's events (see relayFrame), so the first
   * reason to arrive wins: a relay refusal before the close, the session's own reason after it.
   */
  private answered(length: number): (err?: SealdropError) => void {
    return (err) => {
      if (err) return this.finish(err);
      this.answeredAt = performance.now();
      this.inFlight -= length;
      this.wakeAll();
    };
  }

  /** One timer for the whole transfer, not one per frame: frames waiting too long for an answer end it. */
  private watch(): void {
    this.watchdog ??= unref(setInterval(() => {
      if (this.inFlight > 0 && performance.now() - this.answeredAt > RELAY_ANSWER_TIMEOUT_MS) {
        this.finish(new SealdropError('ERR_TIMEOUT', `the rendezvous answered no relayed frame for ${RELAY_ANSWER_TIMEOUT_MS / 1000} s`));
      }
    }, 1_000));
  }

  onFrame(handler: (frame: Buffer) => void): void {
    this.early.attach(handler);
  }

  /** Called once when the transport ends; at once if it already has (it may end before the engine attaches). */
  onClose(handler: (err?: SealdropError) => void): void {
    this.closeHandler = handler;
    if (this.closed) handler(this.abnormal ? this.error : undefined);
  }

  /** Waits (briefly) until every frame we sent was taken, then ends. */
  close(): void {
    if (this.closed) return;
    this.flush();
    const deadline = Date.now() + DRAIN_MS;
    const drain = () => {
      if (this.closed) return;
      if (this.inFlight > 0 && Date.now() < deadline) { setTimeout(drain, 10); return; }
      this.finish();
    };
    drain();
  }

  private wakeAll(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  private finish(err?: SealdropError): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.groupTimer);
    this.batch = undefined;
    this.batchEnd = this.batchFrames = this.batchFrameBytes = 0;
    this.error = err ?? new SealdropError('ERR_PEER_GONE', 'the relay closed');
    this.abnormal = err !== undefined;
    clearInterval(this.watchdog);
    this.session.off('relay-frame', this.onRelayFrame);
    this.session.off('relay-frames', this.onRelayFrames);
    this.session.off('relay-refused', this.onRefused);
    this.wakeAll();
    this.closeHandler(err);
  }
}

/** Timers keep no Node process alive; in the page (the same module runs there) a timer is a number. */
function unref<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

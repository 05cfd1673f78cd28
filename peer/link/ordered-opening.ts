/**
 * Inbound frames opened strictly in arrival order, also when the cipher answers with a promise
 * (WebCrypto, in the page). While one frame is being opened, later ones wait their turn; they
 * count against the bound on what a peer may have us hold, and as read for a path move's
 * position (they came in on the path being left: PROTOCOL.md "Path moves").
 */
import { CONTROL_STREAM, FrameType, decodeHeader, type FrameHeader } from '../../shared/frame-layout.js';
import { FRAME_HEADER_SIZE } from '../../shared/constants.js';

export type Counted = 'data' | 'control' | undefined;

/** `V`: where a frame came from, handed through to `open` (the path it arrived on). */
export interface OpeningSteps<V> {
  /** Opens and delivers one frame: a promise (that never rejects) while an asynchronous cipher works. */
  open(frame: Buffer, via: V, counted: Counted): Promise<void> | undefined;
  /** Whether `waiting` more bytes of frames are more than this side holds for a peer: then `overflow` and nothing more. */
  tooMuch(waiting: number): boolean;
  overflow(): void;
}

export class OrderedOpening<V> {
  private opening?: Promise<void>;
  private openingBytes = 0;
  /** Data and control frames that arrived and are still being opened. */
  private inflight = { data: 0, control: 0 };

  constructor(private readonly steps: OpeningSteps<V>) {}

  /** Frames read from the path but not opened yet, by stream. */
  get unopened(): { data: number; control: number } {
    return { ...this.inflight };
  }

  accept(frame: Buffer, via: V): void {
    if (this.opening) {
      this.openingBytes += frame.length;
      if (this.steps.tooMuch(this.openingBytes)) return this.steps.overflow();
      const counted = this.count(frame);
      const after = this.opening.then(() => { this.openingBytes -= frame.length; return this.steps.open(frame, via, counted); });
      this.track(after);
      return;
    }
    const pending = this.steps.open(frame, via, undefined);
    if (pending) this.track(pending);
  }

  /** Counts a frame waiting to be opened as read; its count goes (uncount) when it is opened, in the same step. */
  count(frame: Buffer): Counted {
    if (frame.length < FRAME_HEADER_SIZE) return undefined;
    let h: FrameHeader;
    try { h = decodeHeader(frame); } catch { return undefined; }
    if (h.type === FrameType.Chunk) { this.inflight.data++; return 'data'; }
    if (h.type === FrameType.Control && h.stream === CONTROL_STREAM) { this.inflight.control++; return 'control'; }
    return undefined;
  }

  uncount(counted: Counted): void {
    if (counted) this.inflight[counted]--;
  }

  private track(p: Promise<void>): void {
    this.opening = p;
    void p.then(() => { if (this.opening === p) this.opening = undefined; });
  }
}

/**
 * ResendBuffer: the sealed frames this side sent that the other side may not have,
 * kept byte for byte so a path move can send them again on the new path (docs/PROTOCOL.md
 * "Path moves"). A frame is only ever sent again as the same bytes at the same position:
 * sealing other plaintext under a used nonce would break AES-GCM, so nothing is re-read
 * or re-sealed.
 *
 * Bounds: data chunks are kept until the other side's credit covers them, and the credit
 * window keeps at most FLOW_WINDOW bytes uncredited; control frames are kept newest
 * first, at most MAX_HELD_CONTROL frames and MAX_HELD_CONTROL_BYTES. A move that asks
 * for an older frame than is kept cannot continue, and the transfer fails as it would
 * without moves (what arrived is kept for a resend to resume from).
 */
import { FLOW_WINDOW, MAX_FRAME_SIZE } from '../../shared/constants.js';
import { SealdropError } from '../../shared/errors.js';
import type { TransportKind } from './transport.js';

const MAX_HELD_CONTROL = 64;
const MAX_HELD_CONTROL_BYTES = 1024 * 1024;
/** Held data beyond the window and two frames means the window was not kept: a bug, not a peer. */
const MAX_HELD_DATA_BYTES = FLOW_WINDOW + 2 * MAX_FRAME_SIZE;

export interface HeldFrame { data: boolean; index: number; frame: Buffer; via: TransportKind; released?: boolean }
export interface Position { data: number; control: number }

export class ResendBuffer {
  /** In the order sent: the other side must see control and data interleaved as before. */
  private held: HeldFrame[] = [];
  private spare: Buffer[] = [];
  private dataBytes = 0;
  private controlFrames = 0;
  private controlBytes = 0;
  /** Positions sent so far, and the oldest ones still held. */
  private sent: Position = { data: 0, control: 0 };
  private oldest: Position = { data: 0, control: 0 };

  /** A buffer to seal the next data chunk into: one released earlier, or a new one. */
  chunkBuffer(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafe(MAX_FRAME_SIZE);
  }

  /** Data chunks held, in bytes: a window that stays full says the other side stopped answering. */
  get heldDataBytes(): number {
    return this.dataBytes;
  }

  keep(f: HeldFrame): void {
    this.held.push(f);
    if (f.data) {
      this.sent.data = f.index + 1;
      this.dataBytes += f.frame.length;
      if (this.dataBytes > MAX_HELD_DATA_BYTES) throw new SealdropError('ERR_INTERNAL', 'more data held for resending than the credit window allows');
      return;
    }
    this.sent.control = f.index + 1;
    this.controlFrames++;
    this.controlBytes += f.frame.length;
    while (this.controlFrames > MAX_HELD_CONTROL || this.controlBytes > MAX_HELD_CONTROL_BYTES) {
      const i = this.held.findIndex((h) => !h.data);
      const [old] = this.held.splice(i, 1);
      this.controlFrames--;
      this.controlBytes -= old!.frame.length;
      this.oldest.control = old!.index + 1;
    }
  }

  /** The other side credited every chunk below `chunks`: those are no longer needed. */
  releaseData(chunks: number): void {
    // The newest chunk stays: its send may still be waiting for the path, and its buffer with it.
    chunks = Math.min(chunks, this.sent.data - 1);
    if (chunks <= this.oldest.data) return;
    this.oldest.data = chunks;
    this.held = this.held.filter((h) => {
      if (!h.data || h.index >= this.oldest.data) return true;
      this.dataBytes -= h.frame.length;
      h.released = true;
      if (h.frame.buffer.byteLength === MAX_FRAME_SIZE && this.spare.length < 4) this.spare.push(Buffer.from(h.frame.buffer, h.frame.byteOffset, MAX_FRAME_SIZE));
      return false;
    });
  }

  /**
   * The frames to send again for a peer that expects `from` next, in the order first sent.
   * A position beyond what was sent is a lie (ERR_PROTOCOL); one older than what is held
   * cannot be served (ERR_PEER_GONE, as a broken path was before moves).
   */
  from(from: Position): HeldFrame[] {
    if (from.data > this.sent.data || from.control > this.sent.control) {
      throw new SealdropError('ERR_PROTOCOL', `the other peer asks to go on from a position this side never reached (data ${from.data} of ${this.sent.data}, control ${from.control} of ${this.sent.control})`);
    }
    if (from.data < this.oldest.data || from.control < this.oldest.control) {
      throw new SealdropError('ERR_PEER_GONE', 'the path broke with more in flight than this side keeps to send again; send again to resume');
    }
    return this.held.filter((h) => h.index >= (h.data ? from.data : from.control));
  }
}

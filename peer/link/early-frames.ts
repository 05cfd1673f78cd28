/**
 * EarlyFrames: the frames a transport receives before the secure channel attaches
 * (the other side may start as soon as its own channel exists). They are held in
 * order and handed over at attach, within MAX_EARLY_BYTES: more than that is a
 * flood, which ends the transport instead of filling memory. Both transports use it.
 */
import { MAX_EARLY_BYTES } from '../../shared/constants.js';
import { SealdropError } from '../../shared/errors.js';

export class EarlyFrames {
  private held: Buffer[] = [];
  private bytes = 0;
  private handler?: (frame: Buffer) => void;
  private flooded = false;

  /**
   * `onFlood` ends the transport. `cost` is what a held frame keeps alive (by default its
   * length; a view keeps its whole buffer alive).
   */
  constructor(private readonly onFlood: (err: SealdropError) => void, private readonly cost: (frame: Buffer) => number = (f) => f.length) {}

  /** One frame from the wire: to the channel once it is attached, held until then. */
  take(frame: Buffer): void {
    if (this.handler) return this.handler(frame);
    if (this.flooded) return;
    this.bytes += this.cost(frame);
    if (this.bytes > MAX_EARLY_BYTES) {
      this.flooded = true;
      this.held = [];
      this.onFlood(new SealdropError('ERR_PROTOCOL', 'the other peer sent more before the transfer began than any honest peer would'));
      return;
    }
    this.held.push(frame);
  }

  /** The channel attaches: it gets what was held, in order, then every frame as it comes. */
  attach(handler: (frame: Buffer) => void): void {
    this.handler = handler;
    for (const frame of this.held.splice(0)) handler(frame);
  }
}

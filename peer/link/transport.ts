/**
 * One interface, two implementations (DirectTransport, RelayTransport). A
 * transport carries opaque frames in order; the transfer engine above it never
 * knows which one it has. `send` resolves once the frame is accepted into a
 * bounded buffer, which is the backpressure every hop relies on.
 */
import type { SealdropError } from '../../shared/errors.js';

export type TransportKind = 'direct' | 'relay';

export interface Transport {
  readonly kind: TransportKind;
  /**
   * True when send() has copied the frame by the time its promise resolves, so the
   * caller may seal the next frame into the same buffer (no allocation per frame).
   */
  readonly copiesOnSend: boolean;
  send(frame: Buffer): Promise<void>;
  /** Frames arrive in order, one call each; set once. */
  onFrame(handler: (frame: Buffer) => void): void;
  /** Called once when the transport ends; an error when it ended abnormally. */
  onClose(handler: (err?: SealdropError) => void): void;
  close(): void;
}

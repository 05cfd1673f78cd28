/**
 * The move stream (PROTOCOL.md "Path moves"): `move` and `moved` messages, sealed as control
 * frames of their own stream with their own counters, so they neither take nor shift a
 * position of the control or data streams they describe.
 */
import { SealdropError } from '../../shared/errors.js';
import { FrameType, MOVE_STREAM, decodeHeader, type FrameCipher, type OpenedFrame } from '../../shared/frame-layout.js';
import { MoveMessage } from './control-messages.js';

export class MoveStream {
  private sent = 0;
  private received = 0;

  constructor(private readonly cipher: FrameCipher) {}

  /** Seals a move-stream message; a promise with an asynchronous cipher (the page's). */
  seal(msg: MoveMessage): Buffer | Promise<Buffer> {
    return this.cipher.seal({ type: FrameType.Control, stream: MOVE_STREAM, index: this.sent++, last: true }, Buffer.from(JSON.stringify(msg), 'utf8'));
  }

  /**
   * Opens a move-stream frame, which must be the next one expected: a replayed or forged
   * move fails here (and the caller drops it). Only a frame that opens moves the counter.
   */
  open(frame: Buffer): MoveMessage | Promise<MoveMessage> {
    const h = decodeHeader(frame);
    if (h.type !== FrameType.Control || h.stream !== MOVE_STREAM) throw new SealdropError('ERR_PROTOCOL', 'not a move frame');
    const index = this.received;
    const opened = this.cipher.open(frame, { type: FrameType.Control, stream: MOVE_STREAM, index });
    if (!(opened instanceof Promise)) return this.take(opened);
    return opened.then((o) => {
      // Another copy of the same move opened meanwhile: this one is a replay.
      if (this.received !== index) throw new SealdropError('ERR_INTEGRITY', 'a move message that was already read (duplicated in transit)');
      return this.take(o);
    });
  }

  private take({ plaintext, last }: OpenedFrame): MoveMessage {
    let json: unknown;
    try { json = JSON.parse(plaintext.toString('utf8')); } catch { throw new SealdropError('ERR_PROTOCOL', 'a move message is not JSON'); }
    const parsed = MoveMessage.safeParse(json);
    if (!last || !parsed.success) throw new SealdropError('ERR_PROTOCOL', 'a bad move message');
    this.received++;
    return parsed.data;
  }
}

/**
 * What the secure channel has opened and the engine has not read yet: a queue with a bound on
 * each thing an outsider can fill it with, and the reassembly of control messages that span
 * frames. Both are plain state, no waiting: the channel's order of events stays its own.
 */
import { FLOW_WINDOW, MAX_CONTROL_SIZE, MAX_QUEUED_CONTROL } from '../../shared/constants.js';
import { SealdropError } from '../../shared/errors.js';
import { describeIssues } from '../../shared/schemas.js';
import { ControlMessage } from './control-messages.js';

export type Inbound =
  | { kind: 'control'; msg: ControlMessage; size: number }
  | { kind: 'chunk'; index: number; last: boolean; data: Buffer };

/** Decrypted data waiting for the engine may not exceed this: the peer ignored flow control. */
export const MAX_QUEUED = 2 * FLOW_WINDOW;

/** Opened and unread: chunks up to MAX_QUEUED bytes; control messages up to MAX_QUEUED_CONTROL and MAX_CONTROL_SIZE bytes in all. */
export class InboundQueue {
  private readonly items: Inbound[] = [];
  private chunkBytes = 0;
  private controls = 0;
  private controlBytes = 0;

  /** Bytes of chunks waiting. */
  get bytes(): number {
    return this.chunkBytes;
  }

  push(item: Inbound): void {
    if (item.kind === 'chunk') {
      this.chunkBytes += item.data.length;
      if (this.chunkBytes > MAX_QUEUED) throw new SealdropError('ERR_PROTOCOL', 'the peer sent past the flow-control window');
    } else {
      this.controls++;
      this.controlBytes += item.size;
      if (this.controls > MAX_QUEUED_CONTROL || this.controlBytes > MAX_CONTROL_SIZE) {
        throw new SealdropError('ERR_PROTOCOL', 'the peer sent messages nobody asked for, more than a receiver holds');
      }
    }
    this.items.push(item);
  }

  shift(): Inbound | undefined {
    const item = this.items.shift();
    if (item?.kind === 'chunk') this.chunkBytes -= item.data.length;
    else if (item) { this.controls--; this.controlBytes -= item.size; }
    return item;
  }
}

/** A control message's frames joined until the LAST one, at most MAX_CONTROL_SIZE bytes, then parsed against the schema. */
export class ControlReassembly {
  private pieces: Buffer[] = [];
  private size = 0;

  /** The message once `last` completes it; undefined while more frames are to come. */
  take(plaintext: Buffer, last: boolean): Inbound | undefined {
    this.pieces.push(plaintext);
    this.size += plaintext.length;
    if (this.size > MAX_CONTROL_SIZE) throw new SealdropError('ERR_PROTOCOL', `a control message from the peer exceeds ${MAX_CONTROL_SIZE} bytes`);
    if (!last) return undefined;
    const text = Buffer.concat(this.pieces).toString('utf8');
    this.pieces = [];
    this.size = 0;
    let json: unknown;
    try { json = JSON.parse(text); } catch { throw new SealdropError('ERR_PROTOCOL', 'a control message is not JSON'); }
    const parsed = ControlMessage.safeParse(json);
    if (!parsed.success) throw new SealdropError('ERR_PROTOCOL', `bad control message from peer: ${describeIssues(parsed.error)}`);
    return { kind: 'control', msg: parsed.data, size: text.length };
  }
}

/**
 * The receiving half of the relay: handing one relay message to the member it is for, and,
 * in cluster mode, taking what another node's relay sent for a member here (`NodeInbound`).
 *
 * A batch goes as it is to a peer that logged in with `relayBatch`, and frame by frame to one
 * that did not. What another node sent is bounded per session as the sending node bounds it
 * (the same window and frame count), and an ack that never comes is given up on after
 * ackTimeoutMs: the sending node's watchdog and window stay the authority (relay.ts).
 */
import type { z } from 'zod';
import { MAX_FRAME_SIZE } from '../../shared/constants.js';
import type { SealdropError } from '../../shared/errors.js';
import { MAX_BATCH_FRAMES, splitBatch } from '../../shared/relay-batch.js';
import { isOkReply, OkReply } from '../../shared/schemas.js';
import { awaitAnswer, emitForgettable, errorReply } from './acks.js';
import { remoteOf } from '../cluster/remote-member.js';
import type { PeerSocket } from '../types.js';

/** Frames per session and direction waiting for the receiver, so tiny frames cannot pile up acks and timers. */
export const MAX_FRAMES_IN_FLIGHT = 1024;

export const TAKEN = { ok: true } as const;

export function parseReply(res: unknown): z.infer<typeof OkReply> {
  const parsed = OkReply.safeParse(res);
  return parsed.success ? parsed.data : errorReply('ERR_PROTOCOL', 'the other peer acknowledged the frame with a malformed reply');
}

/**
 * Hands one relay message (a frame, `message === frames[0]`, or a batch) to `to`; `onAnswer`
 * runs once with its answer (for frame by frame: the first refusal, or ok once every frame was
 * taken). Returns what removes the unanswered acks from `to`'s table.
 */
export function deliver(to: PeerSocket, sid: string, message: Buffer, frames: Buffer[], onAnswer: (res: unknown) => void): () => void {
  const remote = remoteOf(to);
  if (remote) return remote.relay(message, message !== frames[0], onAnswer);
  if (message === frames[0]) return emitForgettable(to, onAnswer, (ack) => to.emit('relay:frame', sid, message, ack));
  // As it is to a peer that takes batches that large; frame by frame to any other.
  if (to.data.relayBatch && frames.length <= (to.data.batchFrames ?? MAX_BATCH_FRAMES)) return emitForgettable(to, onAnswer, (ack) => to.emit('relay:frames', sid, message, ack));
  let left = frames.length;
  let answered = false;
  const forgets = frames.map((frame) => emitForgettable(to, (res: unknown) => {
    if (answered) return;
    if (isOkReply(res) && --left > 0) return;
    answered = true;
    onAnswer(res);
  }, (ack) => to.emit('relay:frame', sid, frame, ack)));
  return () => { for (const forget of forgets) forget(); };
}

export interface NodeInboundOptions {
  limits: { windowBytes: number; ackTimeoutMs: number };
  /** The member at this node of session `sid` whose other member is at `node`. */
  localOf?: (node: string, sid: string) => PeerSocket | undefined;
  /** Sends a relay ack back to `node`. */
  ackNode?: (node: string, ack: number, res: z.infer<typeof OkReply>) => void;
}

/** Relay bytes from another node, waiting for the member here to take them. */
interface Held { bytes: number; frames: number; waiting: Set<() => void> }

const GONE = 'the session closed before the other peer took the frame';

export class NodeInbound {
  /** sid → what other nodes sent for the member here and it has not acked yet. */
  private readonly held = new Map<string, Held>();

  constructor(private readonly opts: NodeInboundOptions) {}

  /** Hands relay bytes from `node` to the member here of session `sid`, and sends its ack (or why not) back as `ack`. */
  take(node: string, sid: string, ack: number, batch: boolean, bytes: Buffer): void {
    const answer = (res: z.infer<typeof OkReply>) => this.opts.ackNode?.(node, ack, res);
    const to = this.opts.localOf?.(node, sid);
    if (!to) return answer(errorReply('ERR_PEER_GONE', GONE));
    let frames: Buffer[];
    if (batch) {
      try {
        frames = splitBatch(bytes);
      } catch (err) {
        return answer(errorReply('ERR_BAD_INPUT', (err as SealdropError).message));
      }
    } else {
      if (bytes.length > MAX_FRAME_SIZE) return answer(errorReply('ERR_BAD_INPUT', `a frame must be 1 to ${MAX_FRAME_SIZE} bytes`));
      frames = [bytes];
    }
    const { windowBytes, ackTimeoutMs } = this.opts.limits;
    let held = this.held.get(sid);
    if (!held) this.held.set(sid, held = { bytes: 0, frames: 0, waiting: new Set() });
    const len = frames.reduce((n, f) => n + f.length, 0);
    if (held.bytes + len > windowBytes || held.frames + frames.length > MAX_FRAMES_IN_FLIGHT) {
      return answer(errorReply('ERR_RELAY_LIMIT', `more than ${windowBytes} relayed bytes would be waiting for the other peer`));
    }
    held.bytes += len;
    held.frames += frames.length;
    const mine = held;
    let forget = () => {};
    const settle = (res: z.infer<typeof OkReply>) => {
      if (!mine.waiting.delete(give)) return;
      mine.bytes -= len;
      mine.frames -= frames.length;
      if (mine.waiting.size === 0 && this.held.get(sid) === mine) this.held.delete(sid);
      forget();
      answer(res);
    };
    const give = () => { pending.cancel(); settle(errorReply('ERR_PEER_GONE', GONE)); };
    mine.waiting.add(give);
    const pending = awaitAnswer<[unknown]>(ackTimeoutMs, (res) => settle(isOkReply(res) ? TAKEN : parseReply(res)),
      () => settle(errorReply('ERR_TIMEOUT', `the other peer did not take the frame within ${ackTimeoutMs / 1000} s`)));
    forget = deliver(to, sid, batch ? bytes : frames[0]!, frames, pending.ack);
  }

  /** The session ended: what is still held for it is answered "gone". */
  end(sid: string): void {
    const held = this.held.get(sid);
    if (held) for (const give of [...held.waiting]) give();
  }
}

/**
 * Direct path, protocol version 2: frames travel as pieces, each data-channel
 * message a 1-byte piece header and up to (limit - 1) bytes of one frame, where
 * the limit is the largest message the two sides' SDP allow (docs/PROTOCOL.md,
 * "Direct path"). libwebrtc closes the channel on a larger message instead of
 * refusing it, so the limit is a rule for the sender, never a hope.
 */
import { MAX_FRAME_SIZE } from '../../shared/constants.js';
import { SealdropError } from '../../shared/errors.js';

/** Piece header bit 0: this piece ends its frame. Every other bit is 0. */
export const PIECE_END = 1;
export const PIECE_HEADER_SIZE = 1;
/** The ceiling whatever the SDP says: the data channel's 256 KiB, which every implementation accepts. */
export const MAX_MESSAGE_CAP = 256 * 1024;
/** RFC 8841 §6: an SDP without a=max-message-size means 64 KiB. */
export const DEFAULT_MAX_MESSAGE = 64 * 1024;
/** A frame and its piece header fit in one message of this size: the common case, no splitting. */
export const WHOLE_FRAME_MESSAGE = MAX_FRAME_SIZE + PIECE_HEADER_SIZE;

/** The a=max-message-size of one SDP, capped: absent is 65536, 0 (no limit of its own) is the cap. */
export function advertisedLimit(sdp: string): number {
  const m = /^a=max-message-size:(\d+)\s*$/m.exec(sdp);
  if (!m) return DEFAULT_MAX_MESSAGE;
  const n = Number(m[1]);
  return n === 0 ? MAX_MESSAGE_CAP : Math.min(n, MAX_MESSAGE_CAP);
}

/**
 * The largest message this side may send. RFC 8841 asks only for the remote's
 * limit; libwebrtc applies the smaller of both sides' limits in both directions,
 * so ours counts too. RTCSctpTransport.maxMessageSize (when wrtc gives a positive
 * number) is what libwebrtc enforces and only ever lowers the figure.
 */
export function messageLimit(localSdp: string | undefined, remoteSdp: string | undefined, sctpMax?: number): number {
  let limit = Math.min(advertisedLimit(localSdp ?? ''), advertisedLimit(remoteSdp ?? ''));
  if (typeof sctpMax === 'number' && sctpMax > 0) limit = Math.min(limit, sctpMax);
  // A piece carries at least one byte of frame.
  return Math.max(limit, PIECE_HEADER_SIZE + 1);
}

/**
 * Reassembles frames from pieces, one message at a time. A frame that fits in one
 * message is handed on as a view of it (no copy); a split one is copied into a
 * buffer of MAX_FRAME_SIZE, and a frame that would outgrow it fails before any copy.
 */
export class FrameAssembler {
  private parts?: Buffer;
  private filled = 0;

  /** One data-channel message; returns the frame it completes, if any. Throws ERR_PROTOCOL on anything else. */
  push(message: Buffer): Buffer | undefined {
    if (message.length <= PIECE_HEADER_SIZE) throw new SealdropError('ERR_PROTOCOL', 'the other peer sent an empty frame piece on the direct path');
    const header = message[0]!;
    if (header & ~PIECE_END) throw new SealdropError('ERR_PROTOCOL', `the other peer sent a frame piece with unknown header bits (0x${header.toString(16)})`);
    const body = message.subarray(PIECE_HEADER_SIZE);
    const end = header === PIECE_END;
    if (this.filled + body.length > MAX_FRAME_SIZE) {
      throw new SealdropError('ERR_PROTOCOL', `the other peer sent frame pieces adding up to more than the ${MAX_FRAME_SIZE}-byte frame limit`);
    }
    if (end && this.filled === 0) return body;
    const parts = (this.parts ??= Buffer.allocUnsafe(MAX_FRAME_SIZE));
    body.copy(parts, this.filled);
    this.filled += body.length;
    if (!end) return undefined;
    // Each split frame gets its own buffer: the engine may hold a frame (early frames) past this call.
    const frame = parts.subarray(0, this.filled);
    this.parts = undefined;
    this.filled = 0;
    return frame;
  }

  /** True while a frame has begun and not ended. */
  get partial(): boolean {
    return this.filled > 0;
  }
}

/**
 * Cuts frames into pieces for a message limit, in one buffer reused for every
 * message: the caller's send must have copied a message before it returns (wrtc does).
 */
export class FrameSplitter {
  private readonly out: Buffer;

  constructor(readonly limit: number) {
    this.out = Buffer.allocUnsafe(Math.min(limit, WHOLE_FRAME_MESSAGE));
  }

  /** Sends `frame` as pieces through `send`, in order; returns the bytes handed to send. */
  split(frame: Buffer, send: (message: Buffer) => void): number {
    const room = this.out.length - PIECE_HEADER_SIZE;
    let sent = 0;
    for (let off = 0; ;) {
      const n = Math.min(room, frame.length - off);
      const end = off + n >= frame.length;
      this.out[0] = end ? PIECE_END : 0;
      frame.copy(this.out, PIECE_HEADER_SIZE, off, off + n);
      send(this.out.subarray(0, PIECE_HEADER_SIZE + n));
      sent += PIECE_HEADER_SIZE + n;
      off += n;
      if (end) return sent;
    }
  }
}

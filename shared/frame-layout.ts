/**
 * Frames: the unit every transport carries, byte for byte the same on the direct
 * and the relay path. A frame is a 14-byte header and an AES-256-GCM ciphertext:
 *
 *   type u8 | stream u32 | index u64 | flags u8 | ciphertext ‖ tag(16)
 *
 * The nonce is stream ‖ index, and the associated data is a context string, the
 * transfer ID and the header, so a frame cannot move to another transfer, file or
 * position, and the LAST flag cannot be added or removed.
 *
 * This module is the layout only (no cipher), shared by the Node peer and the page:
 * shared/framing.ts seals with Node's crypto, web/web-crypto.ts with WebCrypto, both
 * through the FrameCipher interface and the header, nonce and AAD built here.
 */
import { CHUNK_SIZE, FRAME_HEADER_SIZE, GCM_TAG_SIZE, MAX_FRAME_SIZE } from './constants.js';
import { SealdropError } from './errors.js';

export const FrameType = { Control: 1, Chunk: 2 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];
/** Control messages and file data travel on two streams, each numbered from 0. */
export const CONTROL_STREAM = 0xffffffff;
export const DATA_STREAM = 0;
/**
 * Path moves (docs/PROTOCOL.md "Path moves"): `move` and `moved`, control frames on a
 * stream of their own, numbered from 0, so they can be read before both sides agree
 * where the control and data streams go on.
 */
export const MOVE_STREAM = 0xfffffffe;
export const FLAG_LAST = 1;

const AAD_CONTEXT = Buffer.from('sealdrop/1 frame', 'utf8');

export interface FrameHeader { type: FrameType; stream: number; index: number; last: boolean }
export type FramePosition = Omit<FrameHeader, 'last'>;
export interface OpenedFrame { last: boolean; plaintext: Buffer }

/**
 * Seals and opens the frames of one session in one direction each. Node's cipher answers at
 * once; WebCrypto's with a promise. The secure channel keeps the order either way.
 */
export interface FrameCipher {
  /** With `into` (at least MAX_FRAME_SIZE bytes) the frame may be built there. */
  seal(h: FrameHeader, plaintext: Uint8Array, into?: Buffer): Buffer | Promise<Buffer>;
  /** Opens a frame expected at exactly `expect`; ERR_INTEGRITY out of place, ERR_DECRYPT on a bad tag. */
  open(frame: Buffer, expect: FramePosition): OpenedFrame | Promise<OpenedFrame>;
}

export function encodeHeader(h: FrameHeader, out: Buffer): void {
  out.writeUInt8(h.type, 0);
  out.writeUInt32BE(h.stream, 1);
  out.writeUInt32BE(Math.floor(h.index / 2 ** 32), 5);
  out.writeUInt32BE(h.index >>> 0, 9);
  out.writeUInt8(h.last ? FLAG_LAST : 0, 13);
}

/** Parses and checks a frame header; never trusts a length or type from the wire. */
export function decodeHeader(frame: Uint8Array): FrameHeader {
  if (frame.length > MAX_FRAME_SIZE) throw new SealdropError('ERR_PROTOCOL', `frame of ${frame.length} bytes exceeds the ${MAX_FRAME_SIZE}-byte limit`);
  if (frame.length < FRAME_HEADER_SIZE + GCM_TAG_SIZE) throw new SealdropError('ERR_PROTOCOL', `frame of ${frame.length} bytes is shorter than a header and tag`);
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.length);
  const type = buf.readUInt8(0);
  if (type !== FrameType.Control && type !== FrameType.Chunk) throw new SealdropError('ERR_PROTOCOL', `unknown frame type ${type}`);
  const flags = buf.readUInt8(13);
  if (flags & ~FLAG_LAST) throw new SealdropError('ERR_PROTOCOL', `unknown frame flags ${flags}`);
  const hi = buf.readUInt32BE(5);
  if (hi >= 2 ** 21) throw new SealdropError('ERR_PROTOCOL', 'frame index out of range');
  return { type: type as FrameType, stream: buf.readUInt32BE(1), index: hi * 2 ** 32 + buf.readUInt32BE(9), last: (flags & FLAG_LAST) !== 0 };
}

/** Checks the position before anything is decrypted: reordered, duplicated or dropped frames fail here. */
export function checkPosition(frame: Uint8Array, expect: FramePosition): FrameHeader {
  const h = decodeHeader(frame);
  if (h.type !== expect.type || h.stream !== expect.stream || h.index !== expect.index) {
    throw new SealdropError('ERR_INTEGRITY',
      `out-of-order frame: expected ${describe(expect)}, got ${describe(h)} (dropped, duplicated or reordered in transit)`);
  }
  return h;
}

export function nonceOf(frame: Buffer): Buffer {
  return frame.subarray(1, 13); // stream ‖ index: unique per key because the sender never repeats a position
}

export function aadOf(transferId: Uint8Array, header: Uint8Array): Buffer {
  return Buffer.concat([AAD_CONTEXT, transferId, header]);
}

export const DECRYPT_FAILED = 'a frame failed authentication: it was altered, reordered or forged in transit, or the two sides do not share a key (someone in the middle? compare the verification codes)';

function describe(h: FramePosition): string {
  return h.type === FrameType.Control ? `control #${h.index}` : `data chunk ${h.index}`;
}

/** Whole chunks a file of `size` bytes spans (at least 1): the unit in which resume offsets are counted. */
export function chunkCount(size: number): number {
  return Math.max(1, Math.ceil(size / CHUNK_SIZE));
}

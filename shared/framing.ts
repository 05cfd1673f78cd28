/**
 * Frames: the unit every transport carries, byte for byte the same on the direct
 * and the relay path. A frame is a 14-byte header and an AES-256-GCM ciphertext:
 *
 *   type u8 | stream u32 | index u64 | flags u8 | ciphertext ‖ tag(16)
 *
 * The nonce is stream ‖ index, and the associated data is a context string, the
 * transfer ID and the header, so a frame cannot move to another transfer, file or
 * position, and the LAST flag cannot be added or removed.
 */
import { CHUNK_SIZE, FRAME_HEADER_SIZE, GCM_TAG_SIZE, MAX_FRAME_SIZE } from './constants.js';
import { aeadOpen, aeadSeal } from './crypto.js';
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

function nonceOf(frame: Buffer): Buffer {
  return frame.subarray(1, 13); // stream ‖ index: unique per key because the sender never repeats a position
}

function aadOf(transferId: Buffer, header: Buffer): Buffer {
  return Buffer.concat([AAD_CONTEXT, transferId, header]);
}

/**
 * Builds one sealed frame. transferId is the 16-byte session ID. With `into` (at
 * least MAX_FRAME_SIZE bytes) the frame is built there, and the result is a view of it.
 */
export function sealFrame(key: Uint8Array, transferId: Buffer, h: FrameHeader, plaintext: Uint8Array, into?: Buffer): Buffer {
  const size = FRAME_HEADER_SIZE + plaintext.length + GCM_TAG_SIZE;
  const frame = into ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  encodeHeader(h, frame);
  const header = frame.subarray(0, FRAME_HEADER_SIZE);
  aeadSeal(key, nonceOf(frame), aadOf(transferId, header), plaintext, frame.subarray(FRAME_HEADER_SIZE));
  return frame;
}

/**
 * Opens a frame the receiver expects at exactly (type, stream, index): anything
 * else (reordered, duplicated, dropped before it) fails before decryption.
 */
export function openFrame(key: Uint8Array, transferId: Buffer, frame: Uint8Array, expect: Omit<FrameHeader, 'last'>): { last: boolean; plaintext: Buffer } {
  const h = decodeHeader(frame);
  if (h.type !== expect.type || h.stream !== expect.stream || h.index !== expect.index) {
    throw new SealdropError('ERR_INTEGRITY',
      `out-of-order frame: expected ${describe(expect)}, got ${describe(h)} (dropped, duplicated or reordered in transit)`);
  }
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.length);
  const plaintext = aeadOpen(key, nonceOf(buf), aadOf(transferId, buf.subarray(0, FRAME_HEADER_SIZE)), buf.subarray(FRAME_HEADER_SIZE));
  return { last: h.last, plaintext };
}

function describe(h: Omit<FrameHeader, 'last'>): string {
  return h.type === FrameType.Control ? `control #${h.index}` : `data chunk ${h.index}`;
}

/** Whole chunks a file of `size` bytes spans (at least 1): the unit in which resume offsets are counted. */
export function chunkCount(size: number): number {
  return Math.max(1, Math.ceil(size / CHUNK_SIZE));
}

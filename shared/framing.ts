/**
 * Frames sealed with Node's crypto (OpenSSL). The layout, nonce and AAD are
 * shared/frame-layout.ts, which the page uses too; see there for the format.
 */
import { FRAME_HEADER_SIZE, GCM_TAG_SIZE } from './constants.js';
import { aeadOpen, aeadSeal } from './crypto.js';
import { aadOf, checkPosition, encodeHeader, nonceOf, type FrameCipher, type FrameHeader } from './frame-layout.js';

export * from './frame-layout.js';

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
  const h = checkPosition(frame, expect);
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.length);
  const plaintext = aeadOpen(key, nonceOf(buf), aadOf(transferId, buf.subarray(0, FRAME_HEADER_SIZE)), buf.subarray(FRAME_HEADER_SIZE));
  return { last: h.last, plaintext };
}

/** The secure channel's cipher on Node: one key each way, answers at once. */
export function nodeFrameCipher(keys: { sendKey: Uint8Array; receiveKey: Uint8Array }, transferId: Buffer): FrameCipher {
  return {
    seal: (h, plaintext, into) => sealFrame(keys.sendKey, transferId, h, plaintext, into),
    open: (frame, expect) => openFrame(keys.receiveKey, transferId, frame, expect),
  };
}

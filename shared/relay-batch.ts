/**
 * Relay batches: several frames in one relay message (`relay:frames`), so the relay
 * pays its per-message cost (Socket.IO packets, WebSocket frames, acks) once per
 * batch instead of once per 128 KiB frame. Measured on loopback, a raw Socket.IO
 * relay moves 250–490 MB/s in 128 KiB messages and 700–840 MB/s in 512 KiB ones.
 *
 *   batch = ( length u32 BE ‖ frame ){1..4}, or {1..16} where both ends said so
 *
 * Each frame is exactly what `relay:frame` carries (shared/framing.ts): a batch adds
 * no meaning, only grouping, so every frame check (order, position, LAST, tag) is
 * the receiver's as before. The rendezvous checks the grouping and nothing inside.
 */
import { MAX_FRAME_SIZE } from './constants.js';
import { SealdropError } from './errors.js';

/** Frames one batch may hold for a peer that said only `relayBatch: true` at login. */
export const MAX_BATCH_FRAMES = 4;
/**
 * Frames one batch may hold where the peer also asked for large batches (`batchFrames=16` in
 * the login's query) and the rendezvous agreed (`welcome.relayBatchFrames`): a quarter of the
 * relay messages, acks included, for the same bytes.
 */
export const LARGE_BATCH_FRAMES = 16;
const LENGTH_BYTES = 4;
/** Bytes of the largest batch of `frames` full frames and their lengths (4: 524,424; 16: 2,097,696). */
export const batchBytes = (frames: number): number => frames * (LENGTH_BYTES + MAX_FRAME_SIZE);
/** Bytes of the largest batch anyone may send: sixteen full frames and their lengths (2,097,696). */
export const MAX_RELAY_BATCH = batchBytes(LARGE_BATCH_FRAMES);

/** The bytes a frame takes inside a batch. */
export const batchedSize = (frameLength: number): number => LENGTH_BYTES + frameLength;

/** Writes `frame` with its length at `offset` of `batch`; returns the offset after it. */
export function putFrame(batch: Buffer, offset: number, frame: Uint8Array): number {
  batch.writeUInt32BE(frame.length, offset);
  batch.set(frame, offset + LENGTH_BYTES);
  return offset + LENGTH_BYTES + frame.length;
}

/**
 * The frames of a batch, as views into it. Throws ERR_PROTOCOL unless the batch is
 * 1..maxFrames frames of 1..MAX_FRAME_SIZE bytes each, with nothing after them.
 */
export function splitBatch(batch: Uint8Array, maxFrames = LARGE_BATCH_FRAMES): Buffer[] {
  const buf = Buffer.from(batch.buffer, batch.byteOffset, batch.length);
  if (buf.length > batchBytes(maxFrames)) throw bad(`a relay batch of ${buf.length} bytes exceeds ${batchBytes(maxFrames)}`);
  const frames: Buffer[] = [];
  for (let at = 0; at < buf.length;) {
    if (frames.length === maxFrames) throw bad(`a relay batch holds more than ${maxFrames} frames`);
    if (at + LENGTH_BYTES > buf.length) throw bad('a relay batch ends inside a frame length');
    const length = buf.readUInt32BE(at);
    if (length < 1 || length > MAX_FRAME_SIZE) throw bad(`a relay batch names a frame of ${length} bytes (1 to ${MAX_FRAME_SIZE})`);
    const end = at + LENGTH_BYTES + length;
    if (end > buf.length) throw bad('a relay batch ends inside a frame');
    frames.push(buf.subarray(at + LENGTH_BYTES, end));
    at = end;
  }
  if (frames.length === 0) throw bad('a relay batch holds no frame');
  return frames;
}

const bad = (message: string) => new SealdropError('ERR_PROTOCOL', message);

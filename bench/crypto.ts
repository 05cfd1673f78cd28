/**
 * Crypto ceiling: what one core does with Node's OpenSSL, over 128 KiB chunks.
 *   aes_gcm_chunk   one createCipheriv per chunk (as sealdrop does), AAD, tag
 *   aes_gcm_stream  one cipher for the whole stream (the upper bound of AES-GCM)
 *   seal_frame      sealdrop's own sealFrame() (shared/framing.ts)
 *   open_frame      sealdrop's own openFrame(), decrypt and verify
 *   sha256          the whole-file hash both sides compute
 * Runs in a child process so nothing else shares its core or heap.
 */
import { fork } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { CHUNK_SIZE } from '../shared/constants.js';
import { FrameType, openFrame, sealFrame } from '../shared/framing.js';
import { track } from './measure.js';
import { mbps } from './stats.js';

export const CRYPTO_TESTS = ['aes_gcm_chunk', 'aes_gcm_stream', 'seal_frame', 'open_frame', 'sha256'] as const;
export type CryptoTest = (typeof CRYPTO_TESTS)[number];
export type CryptoRun = Record<CryptoTest, number>;

function measure(bytes: number): CryptoRun {
  const key = randomBytes(32);
  const transferId = randomBytes(16);
  const chunk = randomBytes(CHUNK_SIZE);
  const out = Buffer.allocUnsafe(CHUNK_SIZE + 16);
  const aad = randomBytes(46);
  const chunks = Math.ceil(bytes / CHUNK_SIZE);
  const timed = (fn: (i: number) => void) => {
    const t0 = performance.now();
    for (let i = 0; i < chunks; i++) fn(i);
    return mbps(chunks * CHUNK_SIZE, performance.now() - t0);
  };
  const nonce = Buffer.alloc(12);
  const result = {} as CryptoRun;
  result.aes_gcm_chunk = timed((i) => {
    nonce.writeUInt32BE(i, 8);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(aad);
    c.update(chunk).copy(out);
    c.final();
    c.getAuthTag().copy(out, CHUNK_SIZE);
  });
  const stream = createCipheriv('aes-256-gcm', key, randomBytes(12));
  result.aes_gcm_stream = timed(() => { stream.update(chunk); });
  stream.final();
  const frames: Buffer[] = [];
  result.seal_frame = timed((i) => {
    const f = sealFrame(key, transferId, { type: FrameType.Chunk, stream: 0, index: i, last: false }, chunk);
    if (i < 64) frames.push(f);
  });
  result.open_frame = timed((i) => {
    openFrame(key, transferId, frames[i % 64]!, { type: FrameType.Chunk, stream: 0, index: i % 64 });
  });
  const hash = createHash('sha256');
  result.sha256 = timed(() => { hash.update(chunk); });
  hash.digest();
  return result;
}

/** Forks this file and measures `runs` times over `bytes` each. */
export function cryptoCeiling(bytes: number, runs: number): Promise<CryptoRun[]> {
  return new Promise((resolve, reject) => {
    const child = track(fork(fileURLToPath(import.meta.url), ['--child', String(bytes), String(runs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    child.once('message', (m) => resolve(m as CryptoRun[]));
    child.once('exit', (code) => { if (code !== 0) reject(new Error(`crypto child exited ${code}`)); });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--child') {
  const bytes = Number(process.argv[3]);
  const runs = Number(process.argv[4]);
  measure(Math.min(bytes, 16 * 1024 * 1024)); // warm up
  const results: CryptoRun[] = [];
  for (let r = 0; r < runs; r++) results.push(measure(bytes));
  process.send!(results, () => process.exit(0));
}

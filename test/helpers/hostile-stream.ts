/** Small steps a hostile sender takes after the handshake: offer files, stream bytes, read the victim's replies. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CHUNK_SIZE } from '../../shared/constants.js';
import type { SealdropError } from '../../shared/errors.js';
import type { HostileLink } from './hostile-peer.js';

export interface OfferedFile { name: string; size: number; mtime?: number }

/**
 * The victim's next reply that is not a credit (accept, reject, complete…). An
 * abort, which the channel raises as an error, comes back as the message it was.
 */
export async function reply(h: HostileLink): Promise<Record<string, any>> {
  for (;;) {
    const msg = await h.next().then((m) => m as Record<string, any>, (err: SealdropError) => {
      const stopped = /^the other peer stopped: ([^]*)$/.exec(err.message);
      if (!stopped) throw err;
      return { t: 'abort', code: err.code, message: stopped[1] };
    });
    if (msg.t !== 'credit') return msg;
  }
}

/** Sends the manifest and returns the answer (accept or reject). */
export async function offer(h: HostileLink, files: OfferedFile[], dirs: string[] = []): Promise<Record<string, any>> {
  await h.send({ t: 'manifest', files, dirs });
  return reply(h);
}

/**
 * Streams `data` as chunks starting at chunk `first` of the one data stream;
 * `last` marks the final chunk sent as LAST. Returns the next chunk index.
 */
export async function stream(h: HostileLink, data: Buffer, first = 0, last = true): Promise<number> {
  let index = first;
  if (data.length === 0 && last) { await h.chunk(index, true, data); return index + 1; }
  for (let at = 0; at < data.length; at += CHUNK_SIZE) {
    const piece = data.subarray(at, at + CHUNK_SIZE);
    await h.chunk(index++, last && at + CHUNK_SIZE >= data.length, piece);
  }
  return index;
}

/** Waits (polling, bounded) until `check` holds. */
export async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The partial files directly in `dir`. */
export async function partialsIn(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(':sealdrop-part')).map((n) => path.join(dir, n));
}

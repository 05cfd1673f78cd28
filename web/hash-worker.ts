/**
 * The page's SHA-256 of whole files, off the main thread (WebCrypto has no incremental
 * digest): one running hash per id, fed in order; each message is answered with how many
 * bytes it took (the sender's backpressure) and, at the end of a file, the digest.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

interface Feed { id: number; bytes?: ArrayBuffer; done?: boolean }

const open = new Map<number, ReturnType<typeof sha256.create>>();
const scope = self as unknown as { onmessage: (e: MessageEvent<Feed>) => void; postMessage(m: unknown): void };

scope.onmessage = (e) => {
  const { id, bytes, done } = e.data;
  let h = open.get(id);
  if (!h) { h = sha256.create(); open.set(id, h); }
  if (bytes) h.update(new Uint8Array(bytes));
  scope.postMessage({ id, taken: bytes?.byteLength ?? 0, ...(done ? { hex: bytesToHex(h.digest()) } : {}) });
  if (done) open.delete(id);
};

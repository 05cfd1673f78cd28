/**
 * The page's SHA-256 of whole files, off the main thread (WebCrypto has no incremental
 * digest): one running hash per id, fed in order. Each piece comes in a buffer of the page's
 * pool (stream-hash.ts) and is answered with that same buffer, transferred back to be filled
 * again (the sender's backpressure); at the end of a file, with the digest.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

interface Feed { id: number; bytes?: ArrayBuffer; length?: number; done?: boolean }

const open = new Map<number, ReturnType<typeof sha256.create>>();
const scope = self as unknown as { onmessage: (e: MessageEvent<Feed>) => void; postMessage(m: unknown, transfer?: Transferable[]): void };

scope.onmessage = (e) => {
  const { id, bytes, length, done } = e.data;
  let h = open.get(id);
  if (!h) { h = sha256.create(); open.set(id, h); }
  if (bytes) {
    h.update(new Uint8Array(bytes, 0, length ?? bytes.byteLength));
    scope.postMessage({ id, bytes }, [bytes]);
  }
  if (done) {
    scope.postMessage({ id, hex: bytesToHex(h.digest()) });
    open.delete(id);
  }
};

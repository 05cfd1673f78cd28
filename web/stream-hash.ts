/**
 * Streaming SHA-256 for the page's files. In a Worker (web/hash-worker.ts), so hashing runs
 * beside the transfer instead of in turn with it; at most IN_FLIGHT × PIECE bytes wait for the
 * worker (a slow device slows the transfer, it does not fill memory). Without Workers, on the main thread.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { SealdropError } from '../shared/errors.js';

/** Bytes go to the worker in pieces of PIECE, at most IN_FLIGHT pieces at a time, in buffers it hands back. */
const PIECE = 1024 * 1024;
const IN_FLIGHT = 8;

export interface StreamHash {
  update(bytes: Uint8Array): Promise<void>;
  /** The hex digest of everything given; no update after it. */
  digest(): Promise<string>;
}

/** `bytes`: the buffer a piece came in, handed back to be filled again. */
interface Answer { id: number; bytes?: ArrayBuffer; hex?: string }

/**
 * One worker for all the page's hashes. The pieces travel in a small pool of buffers that are
 * transferred to the worker and back (never copied, never garbage): a 2 GiB file costs the
 * same few MiB as a small one. A hash that is dropped unfinished drops at most its one
 * part-filled buffer, which the collector takes; the pool makes a new one when it runs dry.
 */
class HashWorker {
  private readonly worker = new Worker('/hash-worker.js');
  private readonly free: ArrayBuffer[] = [];
  private inFlight = 0;
  private wake: Array<() => void> = [];
  private readonly digests = new Map<number, { resolve: (hex: string) => void; reject: (e: Error) => void }>();
  private failure?: SealdropError;
  private nextId = 0;

  constructor() {
    this.worker.onmessage = (e: MessageEvent<Answer>) => {
      const { id, bytes, hex } = e.data;
      if (bytes) {
        this.inFlight--;
        if (this.free.length < IN_FLIGHT) this.free.push(bytes);
        this.wake.shift()?.();
      }
      if (hex !== undefined) { this.digests.get(id)?.resolve(hex); this.digests.delete(id); }
    };
    this.worker.onerror = (e) => {
      this.failure = new SealdropError('ERR_INTERNAL', `the page's hashing worker failed: ${e.message}`);
      for (const w of this.wake.splice(0)) w();
      for (const d of this.digests.values()) d.reject(this.failure);
      this.digests.clear();
    };
  }

  private buffer(): ArrayBuffer {
    return this.free.pop() ?? new ArrayBuffer(PIECE);
  }

  /** Hands `length` bytes of `buffer` to the worker once fewer than IN_FLIGHT pieces are there (the sender's backpressure). */
  private async post(id: number, buffer: ArrayBuffer, length: number): Promise<void> {
    while (this.inFlight >= IN_FLIGHT && !this.failure) await new Promise<void>((r) => this.wake.push(r));
    if (this.failure) throw this.failure;
    this.inFlight++;
    this.worker.postMessage({ id, bytes: buffer, length }, [buffer]);
  }

  hash(): StreamHash {
    const id = this.nextId++;
    let piece: Uint8Array | undefined;
    let filled = 0;
    return {
      update: async (bytes) => {
        // Copied into the piece being filled (a Buffer's slice is a view of its pool; the caller reuses its buffers).
        for (let off = 0; off < bytes.length;) {
          piece ??= new Uint8Array(this.buffer());
          const n = Math.min(bytes.length - off, PIECE - filled);
          piece.set(bytes.subarray(off, off + n), filled);
          filled += n; off += n;
          if (filled === PIECE) {
            const full = piece.buffer as ArrayBuffer;
            piece = undefined; filled = 0;
            await this.post(id, full, PIECE);
          }
        }
      },
      digest: async () => {
        if (piece) {
          const last = piece.buffer as ArrayBuffer;
          const n = filled;
          piece = undefined; filled = 0;
          await this.post(id, last, n);
        }
        if (this.failure) throw this.failure;
        const hex = new Promise<string>((resolve, reject) => this.digests.set(id, { resolve, reject }));
        this.worker.postMessage({ id, done: true });
        return hex;
      },
    };
  }
}

let shared: HashWorker | undefined;

export function streamHash(): StreamHash {
  if (typeof Worker === 'function') return (shared ??= new HashWorker()).hash();
  const h = sha256.create();
  return { update: async (bytes) => { h.update(bytes); }, digest: async () => bytesToHex(h.digest()) };
}

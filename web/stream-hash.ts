/**
 * Streaming SHA-256 for the page's files. In a Worker (web/hash-worker.ts), so hashing runs
 * beside the transfer instead of in turn with it; at most MAX_QUEUED bytes wait for the worker
 * (a slow device slows the transfer, it does not fill memory). Without Workers, on the main thread.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { SealdropError } from '../shared/errors.js';

const MAX_QUEUED = 8 * 1024 * 1024;

export interface StreamHash {
  update(bytes: Uint8Array): Promise<void>;
  /** The hex digest of everything given; no update after it. */
  digest(): Promise<string>;
}

interface Answer { id: number; taken: number; hex?: string }

class HashWorker {
  private readonly worker = new Worker('/hash-worker.js');
  private queued = 0;
  private wake: Array<() => void> = [];
  private readonly digests = new Map<number, { resolve: (hex: string) => void; reject: (e: Error) => void }>();
  private failure?: SealdropError;
  private nextId = 0;

  constructor() {
    this.worker.onmessage = (e: MessageEvent<Answer>) => {
      this.queued -= e.data.taken;
      if (this.queued <= MAX_QUEUED) for (const w of this.wake.splice(0)) w();
      if (e.data.hex !== undefined) { this.digests.get(e.data.id)?.resolve(e.data.hex); this.digests.delete(e.data.id); }
    };
    this.worker.onerror = (e) => {
      this.failure = new SealdropError('ERR_INTERNAL', `the page's hashing worker failed: ${e.message}`);
      for (const w of this.wake.splice(0)) w();
      for (const d of this.digests.values()) d.reject(this.failure);
      this.digests.clear();
    };
  }

  hash(): StreamHash {
    const id = this.nextId++;
    return {
      update: async (bytes) => {
        while (this.queued > MAX_QUEUED && !this.failure) await new Promise<void>((r) => this.wake.push(r));
        if (this.failure) throw this.failure;
        // A copy of exactly these bytes (a Buffer's slice is a view of its pool), handed over to the worker.
        const copy = new Uint8Array(bytes).buffer;
        this.queued += copy.byteLength;
        this.worker.postMessage({ id, bytes: copy }, [copy]);
      },
      digest: () => {
        if (this.failure) return Promise.reject(this.failure);
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

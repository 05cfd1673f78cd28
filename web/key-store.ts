/**
 * What the page keeps between visits: its identity (a non-extractable Ed25519 key pair in
 * IndexedDB, so the private key can sign but no script can read it out) and the pinned
 * fingerprints of its peers (localStorage), checked as the CLI's known_peers.json.
 */
import { SealdropError } from '../shared/errors.js';
import type { PinResult } from '../shared/key-exchange.js';
import { newIdentityPair } from './web-crypto.js';

const DB = 'sealdrop';
const STORE = 'keys';

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new SealdropError('ERR_IO', `the browser's key store (IndexedDB) cannot be opened: ${req.error?.message ?? 'unknown error'}`));
  });
}

function run<T>(db: IDBDatabase, mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = op(db.transaction(STORE, mode).objectStore(STORE));
    req.onsuccess = () => resolve(req.result as T);
    req.onerror = () => reject(new SealdropError('ERR_IO', `the browser's key store failed: ${req.error?.message ?? 'unknown error'}`));
  });
}

/** This browser's identity for `id`: made once, kept in IndexedDB. */
export async function loadIdentity(id: string): Promise<CryptoKeyPair> {
  const db = await openDb();
  try {
    const kept = await run<CryptoKeyPair | undefined>(db, 'readonly', (s) => s.get(`identity:${id}`));
    if (kept) return kept;
    const pair = await newIdentityPair();
    await run(db, 'readwrite', (s) => s.put(pair, `identity:${id}`));
    return pair;
  } finally {
    db.close();
  }
}

/** Pinned fingerprints, per own ID; the first contact pins, a changed key is refused (ERR_KEY_CHANGED). */
export class PagePins {
  constructor(private readonly self: string) {}

  private key(): string { return `sealdrop.pins.${this.self}`; }

  private all(): Record<string, string> {
    try {
      const v: unknown = JSON.parse(localStorage.getItem(this.key()) ?? '{}');
      return v && typeof v === 'object' ? v as Record<string, string> : {};
    } catch {
      return {};
    }
  }

  async check(id: string, fingerprint: string, o: { strict: boolean }): Promise<PinResult> {
    const pins = this.all();
    const pinned = pins[id];
    if (pinned === fingerprint) return 'matched';
    if (pinned) {
      throw new SealdropError('ERR_KEY_CHANGED',
        `the key of ${id} changed: pinned ${pinned}, now ${fingerprint}. If ${id} really has a new key, check the new fingerprint with them; this page cannot trust a new key yet (clearing this site's data in the browser starts over, with a new key of its own). Otherwise someone may be in the middle`);
    }
    if (o.strict) throw new SealdropError('ERR_UNTRUSTED', `${id} is not trusted yet`);
    pins[id] = fingerprint;
    localStorage.setItem(this.key(), JSON.stringify(pins));
    return 'pinned-now';
  }

  forget(id: string): void {
    const pins = this.all();
    delete pins[id];
    localStorage.setItem(this.key(), JSON.stringify(pins));
  }
}

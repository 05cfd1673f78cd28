/**
 * PinnedKeys: each peer's identity fingerprint, pinned on first contact
 * (like SSH's known_hosts). A changed key is refused until re-trusted.
 */
import { z } from 'zod';
import { normalizeFingerprint } from '../../shared/crypto.js';
import { SealdropError } from '../../shared/errors.js';
import { AccountId } from '../../shared/schemas.js';
import type { Home } from './home.js';

/** A hand-edited pin (lowercase, spaces) still matches; a malformed one is a config error, never a silent mismatch. */
const PinnedFingerprint = z.string().transform((text, ctx) => {
  try {
    return normalizeFingerprint(text);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
    return z.NEVER;
  }
});
const KnownPeers = z.object({ version: z.literal(1), peers: z.record(AccountId, PinnedFingerprint) }).strict();
const FILE = 'known_peers.json';

export type PinResult = 'pinned-now' | 'matched';

export class PinnedKeys {
  constructor(private readonly home: Home) {}

  async all(): Promise<Record<string, string>> {
    return (await this.home.readJson(FILE, KnownPeers))?.peers ?? {};
  }

  /** Checks a peer's fingerprint against its pin; pins it if new (unless strict). */
  async check(id: string, fingerprint: string, opts: { strict: boolean }): Promise<PinResult> {
    const pinned = (await this.all())[id];
    if (pinned === fingerprint) return 'matched';
    if (pinned) throw keyChanged(id, pinned, fingerprint);
    if (opts.strict) {
      throw new SealdropError('ERR_UNTRUSTED',
        `${id} is not pinned yet (fingerprint ${fingerprint}) and --strict is on. ` +
        `Check it with ${id} out of band, then run: sealdrop trust ${id} ${fingerprint}`);
    }
    // First contact: pinned under the file's lock, from a fresh read. Another process (a
    // `receive` beside this `send`) may have pinned this peer meanwhile: its pin stands.
    const now = this.change((peers) => (peers[id] ??= fingerprint));
    if (now !== fingerprint) throw keyChanged(id, now, fingerprint);
    return 'pinned-now';
  }

  /** Pins (or re-pins) a peer's key; the fingerprint is checked and normalized first. */
  async pin(id: string, fingerprint: string): Promise<void> {
    const normalized = normalizeFingerprint(fingerprint);
    this.change((peers) => { peers[id] = normalized; });
  }

  private change<R>(fn: (peers: Record<string, string>) => R): R {
    return this.home.changeJson(FILE, KnownPeers, (current) => {
      const peers = { ...current?.peers };
      const result = fn(peers);
      return { next: { version: 1 as const, peers }, result };
    });
  }
}

function keyChanged(id: string, pinned: string, now: string): SealdropError {
  return new SealdropError('ERR_KEY_CHANGED',
    `the identity key of ${id} has CHANGED. pinned: ${pinned}  now: ${now}. ` +
    `Someone may be in the middle, or ${id} uses a new device. Check the new fingerprint with ${id} ` +
    `out of band, then run: sealdrop trust ${id} ${now}`);
}

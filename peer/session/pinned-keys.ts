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
    const peers = await this.all();
    const pinned = peers[id];
    if (pinned === fingerprint) return 'matched';
    if (pinned) {
      throw new SealdropError('ERR_KEY_CHANGED',
        `the identity key of ${id} has CHANGED. pinned: ${pinned}  now: ${fingerprint}. ` +
        `Someone may be in the middle, or ${id} uses a new device. Check the new fingerprint with ${id} ` +
        `out of band, then run: sealdrop trust ${id} ${fingerprint}`);
    }
    if (opts.strict) {
      throw new SealdropError('ERR_UNTRUSTED',
        `${id} is not pinned yet (fingerprint ${fingerprint}) and --strict is on. ` +
        `Check it with ${id} out of band, then run: sealdrop trust ${id} ${fingerprint}`);
    }
    await this.pin(id, fingerprint);
    return 'pinned-now';
  }

  /** Pins (or re-pins) a peer's key; the fingerprint is checked and normalized first. */
  async pin(id: string, fingerprint: string): Promise<void> {
    const normalized = normalizeFingerprint(fingerprint);
    const peers = await this.all();
    peers[id] = normalized;
    await this.home.writeAtomic(FILE, JSON.stringify({ version: 1, peers }, null, 2));
  }
}

/**
 * PinnedKeys: each peer's identity fingerprint, pinned on first contact
 * (like SSH's known_hosts). A changed key is refused until re-trusted.
 */
import { z } from 'zod';
import { SealdropError } from '../shared/errors.js';
import { AccountId } from '../shared/schemas.js';
import type { Home } from './home.js';

const KnownPeers = z.object({ version: z.literal(1), peers: z.record(AccountId, z.string()) }).strict();
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

  async pin(id: string, fingerprint: string): Promise<void> {
    const peers = await this.all();
    peers[id] = fingerprint;
    await this.home.writeAtomic(FILE, JSON.stringify({ version: 1, peers }, null, 2));
  }
}

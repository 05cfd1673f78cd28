/**
 * The CLI's link setup: secure-link.ts with Node's crypto (the key exchange with this
 * home's identity and pins, frames sealed by OpenSSL), and `useLink`, which runs a
 * transfer over the link and always tears it down.
 */
import type { KeyPair } from '../../shared/crypto.js';
import { messageForPeer, toSealdropError } from '../../shared/errors.js';
import { nodeFrameCipher } from '../../shared/framing.js';
import { handshake } from './handshake.js';
import type { PinnedKeys } from '../session/pinned-keys.js';
import { secureLink, type Link, type SecureLinkOptions } from './secure-link.js';

export { DEFAULT_DIRECT_TIMEOUT_MS, type Link, type Secured, type TransportMode } from './secure-link.js';

export interface LinkOptions extends Omit<SecureLinkOptions, 'crypto'> {
  identity: KeyPair;
  pins: PinnedKeys;
  strict: boolean;
}

export function establishLink(o: LinkOptions): Promise<Link> {
  return secureLink({
    ...o,
    crypto: {
      handshake: ({ session, inbox, role }) => handshake({ session, inbox, role, identity: o.identity, pins: o.pins, strict: o.strict }),
      cipher: nodeFrameCipher,
    },
  });
}

/**
 * Runs `use` over an established link and always tears it down. On failure the
 * peer is told why (abort) and given a moment to read it before the session
 * closes underneath it: the channel and the rendezvous are two paths with no
 * order between them.
 */
export async function useLink<T>(link: Link, use: (link: Link) => Promise<T>): Promise<T> {
  try {
    return await use(link);
  } catch (err) {
    const e = toSealdropError(err);
    await link.channel.sendControl({ t: 'abort', code: e.code, message: messageForPeer(e) }).catch(() => {}); // never a local path
    await link.channel.ended(1_000);
    throw e;
  } finally {
    link.mover?.close();
    link.channel.close();
    link.inbox.dispose();
  }
}

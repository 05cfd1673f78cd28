/**
 * One session of the page with a CLI peer, up to a secure channel: the CLI's own link
 * setup (peer/link/secure-link.ts: the same SignalInbox, key exchange, DirectTransport on
 * the browser's WebRTC, RelayTransport, SecureChannel, PathMover, the accepter's watch of
 * the unused path, `path` agreement and `--verify` confirmation), with WebCrypto for the
 * key exchange and the frames. Like the CLI, the page says it moves (`moves`): as opener
 * it starts on the relay at once and moves to the direct path when it opens, and back to
 * the relay if the direct path stalls; as accepter it follows the opener's moves.
 */
import type { Role } from '../shared/crypto-suite.js';
import { SealdropError, toSealdropError } from '../shared/errors.js';
import { exchangeKeys, type KeyExchangeResult } from '../shared/key-exchange.js';
import type { PathMove } from '../peer/link/path-mover.js';
import { secureLink, type LinkCrypto, type TransportMode } from '../peer/link/secure-link.js';
import type { TransportKind } from '../peer/link/transport.js';
import type { SecureChannel } from '../peer/link/secure-channel.js';
import type { ConfirmCode } from '../peer/link/verification.js';
import type { RendezvousSession } from '../peer/session/rendezvous-session.js';
import type { PagePins } from './key-store.js';
import { identityKey, webFrameCipher, webSuite } from './web-crypto.js';

export interface PageLink extends Omit<KeyExchangeResult, 'keys' | 'peerIdentity'> {
  sid: string;
  peer: string;
  /** The path the session started on; `channel.transport.kind` is the one it is on now. */
  transport: TransportKind;
  channel: SecureChannel;
  /** Closes the channel and the session (reason "done", or "failed: CODE"). */
  close(err?: SealdropError): Promise<void>;
}

export interface LinkOptions {
  session: RendezvousSession;
  identity: CryptoKeyPair;
  pins: PagePins;
  /** Opener: 'auto' (default: the relay at once, the direct path when it opens), 'relay' (`send --relay`), 'direct-only' (`send --direct-only`). */
  mode?: TransportMode;
  /** Told as soon as the keys are agreed, before anything is sent on the channel. */
  onKeys?: (k: { sas: string; peerFingerprint: string; transport: TransportKind }) => void;
  /** A move between the paths in the middle of the transfer. */
  onMove?: (m: PathMove) => void;
  /** `--verify`: this side's person confirms the code before anything moves (it is asked too when the peer verifies). */
  verify?: boolean;
  confirmCode?: ConfirmCode;
}

/** Opener: asks the rendezvous for a session with `to` and secures it. */
export async function openLink(o: LinkOptions, to: string): Promise<PageLink> {
  const sid = await o.session.open(to);
  return establish(o, 'sender', sid, to);
}

/** Accepter: the rendezvous offered a session from `from`, already accepted. */
export function acceptLink(o: LinkOptions, sid: string, from: string): Promise<PageLink> {
  return establish(o, 'receiver', sid, from);
}

/** WebCrypto's key exchange and frame cipher: the two things the page does differently from the CLI. */
function webLinkCrypto(o: LinkOptions): LinkCrypto {
  return {
    handshake: async ({ session, inbox, role }) => {
      const r = await exchangeKeys({ session, inbox, pins: o.pins, role, identity: await identityKey(o.identity), suite: webSuite, strict: false });
      return { keys: r.keys, sas: r.sas, peerFingerprint: r.peerFingerprint, pin: r.pin };
    },
    cipher: (keys, transferId) => webFrameCipher(keys, transferId),
  };
}

async function establish(o: LinkOptions, role: Role, sid: string, peer: string): Promise<PageLink> {
  try {
    const link = await secureLink({
      crypto: webLinkCrypto(o), session: o.session, sid, peerId: peer, role,
      mode: o.mode ?? 'auto',
      onSecured: (s) => o.onKeys?.({ sas: s.sas, peerFingerprint: s.peerFingerprint, transport: s.transport }),
      onMove: o.onMove, verify: o.verify, confirmCode: o.confirmCode, alsoWhenTheyVerify: true,
    });
    const close = async (err?: SealdropError) => {
      link.mover?.close();
      link.channel.close();
      link.inbox.dispose();
      o.session.close(sid, err ? `failed: ${err.code}` : 'done');
    };
    return { sid, peer, transport: link.transport, channel: link.channel, sas: link.sas, peerFingerprint: link.peerFingerprint, pin: link.pin, close };
  } catch (err) {
    const e = toSealdropError(err);
    o.session.close(sid, `failed: ${e.code}`);
    throw e;
  }
}

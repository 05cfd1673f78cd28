/**
 * One session of the page with a CLI peer, up to a secure channel over the relay: the
 * same SignalInbox, key exchange (shared/key-exchange.ts), RelayTransport and
 * SecureChannel as the CLI, with WebCrypto. The page offers no direct path yet and says
 * it moves nothing, so a CLI opener ends up on the relay (after its --timeout for the
 * direct path), and the page as opener chooses the relay at once, like `send --relay`.
 */
import type { Role } from '../shared/crypto-suite.js';
import { SealdropError } from '../shared/errors.js';
import { exchangeKeys, type KeyExchangeResult } from '../shared/key-exchange.js';
import { RelayTransport } from '../peer/link/relay-transport.js';
import { SecureChannel } from '../peer/link/secure-channel.js';
import type { RendezvousSession } from '../peer/session/rendezvous-session.js';
import { SignalInbox } from '../peer/session/signal-inbox.js';
import { MAX_DIRECT_TIMEOUT_MS } from '../shared/constants.js';
import type { PagePins } from './key-store.js';
import { identityKey, webFrameCipher, webSuite } from './web-crypto.js';

export interface PageLink extends Omit<KeyExchangeResult, 'keys'> {
  sid: string;
  peer: string;
  channel: SecureChannel;
  /** Closes the channel and the session (reason "done", or "failed: CODE"). */
  close(err?: SealdropError): Promise<void>;
}

export interface LinkOptions {
  session: RendezvousSession;
  identity: CryptoKeyPair;
  pins: PagePins;
  /** Told as soon as the keys are agreed, before anything is sent on the channel. */
  onKeys?: (k: { sas: string; peerFingerprint: string; pin: string }) => void;
}

/** Opener: asks the rendezvous for a session with `to` and secures it over the relay. */
export async function openLink(o: LinkOptions, to: string): Promise<PageLink> {
  const sid = await o.session.open(to);
  return establish(o, 'sender', sid, to);
}

/** Accepter: the rendezvous offered a session from `from`, already accepted. */
export function acceptLink(o: LinkOptions, sid: string, from: string): Promise<PageLink> {
  return establish(o, 'receiver', sid, from);
}

async function establish(o: LinkOptions, role: Role, sid: string, peer: string): Promise<PageLink> {
  const inbox = new SignalInbox(o.session, sid, peer);
  // The accepter takes relay frames from the moment it accepted (the opener's first one can follow its transport signal at once).
  let relay: RelayTransport | undefined = role === 'receiver' ? new RelayTransport(o.session, sid, inbox) : undefined;
  const close = async (err?: SealdropError) => {
    relay?.close();
    inbox.dispose();
    o.session.close(sid, err ? `failed: ${err.code}` : 'done');
  };
  try {
    const r = await exchangeKeys({ session: o.session, inbox, pins: o.pins, role, identity: await identityKey(o.identity), suite: webSuite, strict: false });
    o.onKeys?.({ sas: r.sas, peerFingerprint: r.peerFingerprint, pin: r.pin });
    if (role === 'sender') {
      relay = new RelayTransport(o.session, sid, inbox); // before the signal: the accepter's `path` follows it at once
      await o.session.signal(sid, { type: 'transport', mode: 'relay' });
    } else {
      const mode = await inbox.nextTransport(MAX_DIRECT_TIMEOUT_MS + 10_000);
      if (mode !== 'relay') throw new SealdropError('ERR_NO_DIRECT', `${peer} chose the direct path, which this page does not offer yet; ask them to send with --relay`);
    }
    const channel = new SecureChannel(relay!, webFrameCipher(r.keys, Buffer.from(sid, 'hex')));
    await channel.agree(false);
    return { sid, peer, channel, sas: r.sas, peerFingerprint: r.peerFingerprint, peerIdentity: r.peerIdentity, pin: r.pin, close };
  } catch (err) {
    const e = err instanceof SealdropError ? err : new SealdropError('ERR_INTERNAL', String((err as Error)?.message ?? err));
    await close(e);
    throw e;
  }
}

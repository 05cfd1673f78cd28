/**
 * One session of the page with a CLI peer, up to a secure channel: the same SignalInbox,
 * key exchange (shared/key-exchange.ts), DirectTransport (simple-peer on the browser's
 * WebRTC), RelayTransport and SecureChannel as the CLI, with WebCrypto. The page says it
 * moves nothing (no `moves` signal), so the opener picks one path for the whole session
 * as a CLI without moves does: direct if the data channel opens within DIRECT_WAIT_MS of
 * the handshake, else the relay.
 */
import type { Role } from '../shared/crypto-suite.js';
import { messageForPeer, SealdropError, toSealdropError } from '../shared/errors.js';
import { exchangeKeys, type KeyExchangeResult } from '../shared/key-exchange.js';
import { DirectTransport } from '../peer/link/direct-transport.js';
import { RelayTransport } from '../peer/link/relay-transport.js';
import type { Transport, TransportKind } from '../peer/link/transport.js';
import { SecureChannel } from '../peer/link/secure-channel.js';
import { verifyCodes, type ConfirmCode } from '../peer/link/verification.js';
import type { RendezvousSession } from '../peer/session/rendezvous-session.js';
import { SignalInbox } from '../peer/session/signal-inbox.js';
import { MAX_DIRECT_TIMEOUT_MS } from '../shared/constants.js';
import type { PagePins } from './key-store.js';
import { identityKey, webFrameCipher, webSuite } from './web-crypto.js';

/** How long the page as opener waits for the data channel after the handshake (the CLI's default --timeout). */
const DIRECT_WAIT_MS = 5_000;
/** How long the accepter waits for the data channel once told `direct`. */
const DIRECT_OPEN_MS = 15_000;

export interface PageLink extends Omit<KeyExchangeResult, 'keys'> {
  sid: string;
  peer: string;
  transport: TransportKind;
  channel: SecureChannel;
  /** Closes the channel and the session (reason "done", or "failed: CODE"). */
  close(err?: SealdropError): Promise<void>;
}

export interface LinkOptions {
  session: RendezvousSession;
  identity: CryptoKeyPair;
  pins: PagePins;
  /** Try the direct path (default true); false: relay only, like `send --relay`. */
  direct?: boolean;
  /** Told as soon as the keys are agreed, before anything is sent on the channel. */
  onKeys?: (k: { sas: string; peerFingerprint: string; pin: string }) => void;
  /** `--verify`: this side's person confirms the code before anything moves (it is asked too when the peer verifies). */
  verify?: boolean;
  confirmCode?: ConfirmCode;
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
  // As the CLI: the opener starts the WebRTC initiator with the session, so ICE runs beside the hellos.
  const direct = o.direct === false ? undefined : new DirectTransport({
    initiator: role === 'sender',
    iceServers: o.session.welcome.iceServers,
    signalOut: (data) => { o.session.signal(sid, { type: 'webrtc', data }).catch(() => {}); },
  });
  if (direct) inbox.onWebrtc((data) => direct.signal(data));
  let chosen: Transport | undefined;
  const close = async (err?: SealdropError) => {
    if (chosen !== relay) relay?.close();
    if (chosen !== direct) direct?.close();
    chosen?.close();
    inbox.dispose();
    o.session.close(sid, err ? `failed: ${err.code}` : 'done');
  };
  try {
    const r = await exchangeKeys({ session: o.session, inbox, pins: o.pins, role, identity: await identityKey(o.identity), suite: webSuite, strict: false });
    o.onKeys?.({ sas: r.sas, peerFingerprint: r.peerFingerprint, pin: r.pin });
    let mode: TransportKind;
    if (role === 'sender') {
      mode = direct && await opens(direct, DIRECT_WAIT_MS) ? 'direct' : 'relay';
      if (mode === 'relay') relay = new RelayTransport(o.session, sid, inbox); // before the signal: the accepter's `path` follows it at once
      await o.session.signal(sid, { type: 'transport', mode });
    } else {
      mode = await inbox.nextTransport(MAX_DIRECT_TIMEOUT_MS + 10_000);
      if (mode === 'direct' && !(direct && await opens(direct, DIRECT_OPEN_MS))) {
        throw new SealdropError('ERR_NO_DIRECT', `${peer} chose the direct path, and its data channel did not open here`);
      }
    }
    chosen = mode === 'direct' ? direct! : relay!;
    if (chosen !== relay) relay?.close();
    if (chosen !== direct) direct?.close();
    const channel = new SecureChannel(chosen, webFrameCipher(r.keys, Buffer.from(sid, 'hex')));
    try {
      const theirs = await channel.agree(o.verify ?? false);
      await verifyCodes(channel, { sas: r.sas, peer, mine: o.verify ?? false, theirs: theirs.verify, confirm: o.confirmCode, alsoWhenTheyVerify: true });
    } catch (err) {
      // As the CLI (transfer-link.ts): the other side is told why (it may be waiting for our answer), then the channel goes.
      const e = toSealdropError(err);
      await channel.sendControl({ t: 'abort', code: e.code, message: messageForPeer(e) }).catch(() => {});
      await channel.ended(1_000);
      channel.close();
      throw e;
    }
    return { sid, peer, transport: mode, channel, sas: r.sas, peerFingerprint: r.peerFingerprint, peerIdentity: r.peerIdentity, pin: r.pin, close };
  } catch (err) {
    const e = err instanceof SealdropError ? err : new SealdropError('ERR_INTERNAL', String((err as Error)?.message ?? err));
    await close(e);
    throw e;
  }
}

function opens(direct: DirectTransport, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    direct.connected.then(() => true, () => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); }),
  ]).finally(() => clearTimeout(timer));
}

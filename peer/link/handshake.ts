/**
 * The key exchange of one transfer on Node: shared/key-exchange.ts (the one
 * implementation, also run by the page) with Node's crypto and this home's pins.
 * See docs/PROTOCOL.md "Hello".
 */
import { nodeIdentity, nodeSuite, type KeyPair, type Role } from '../../shared/crypto.js';
import { exchangeKeys } from '../../shared/key-exchange.js';
import type { PinnedKeys, PinResult } from '../session/pinned-keys.js';
import type { RendezvousSession } from '../session/rendezvous-session.js';
import type { ChannelKeys } from './secure-channel.js';
import type { SignalInbox } from '../session/signal-inbox.js';

export interface HandshakeResult {
  keys: ChannelKeys;
  sas: string;
  peerFingerprint: string;
  pin: PinResult;
}

export interface HandshakeOptions {
  session: RendezvousSession;
  inbox: SignalInbox;
  role: Role;
  identity: KeyPair;
  pins: PinnedKeys;
  strict: boolean;
}

export async function handshake(o: HandshakeOptions): Promise<HandshakeResult> {
  const r = await exchangeKeys({ session: o.session, inbox: o.inbox, pins: o.pins, role: o.role, identity: nodeIdentity(o.identity), suite: nodeSuite, strict: o.strict });
  return { keys: r.keys, sas: r.sas, peerFingerprint: r.peerFingerprint, pin: r.pin };
}

/**
 * The key exchange of one transfer: each side sends a hello (identity key,
 * fresh X25519 key, signature) through the rendezvous, checks the other's
 * signature and pinned identity, and derives the session keys and SAS.
 */
import { randomBytes } from 'node:crypto';
import {
  deriveTransferKeys, ephemeralFromSeed, fingerprint, signHello, verifyHello, type KeyPair, type Role,
} from '../shared/crypto.js';
import { SealdropError } from '../shared/errors.js';
import type { PinnedKeys, PinResult } from './pinned-keys.js';
import type { RendezvousSession } from './rendezvous-session.js';
import type { ChannelKeys } from './secure-channel.js';
import type { SignalInbox } from './signal-inbox.js';

const HELLO_TIMEOUT_MS = 30_000;

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
  const { sid, peerId } = o.inbox;
  const selfId = o.session.id;
  const ephemeral = ephemeralFromSeed(randomBytes(32));
  const signature = signHello(o.identity.privateKey, { sid, role: o.role, from: selfId, to: peerId, ephemeralKey: ephemeral.publicKey });
  await o.session.signal(sid, {
    type: 'hello', v: 1,
    identityKey: o.identity.publicKey.toString('base64'),
    ephemeralKey: ephemeral.publicKey.toString('base64'),
    signature: signature.toString('base64'),
  });

  const hello = await o.inbox.nextHello(HELLO_TIMEOUT_MS);
  const peerRole: Role = o.role === 'sender' ? 'receiver' : 'sender';
  const peerIdentity = Buffer.from(hello.identityKey, 'base64');
  const peerEphemeral = Buffer.from(hello.ephemeralKey, 'base64');
  // The signature binds the peer's identity to this session, its role, both IDs and its
  // ephemeral key: a relayed, reflected or altered hello fails here.
  const signed = verifyHello(peerIdentity, { sid, role: peerRole, from: peerId, to: selfId, ephemeralKey: peerEphemeral }, Buffer.from(hello.signature, 'base64'));
  if (!signed) {
    throw new SealdropError('ERR_PROTOCOL',
      `the keys from ${peerId} carry a bad signature; refusing. Someone (the rendezvous or the network) may be tampering with the connection`);
  }
  const isSender = o.role === 'sender';
  let derived: ReturnType<typeof deriveTransferKeys>;
  try {
    derived = deriveTransferKeys(ephemeral, peerEphemeral, {
      sid,
      senderId: isSender ? selfId : peerId,
      receiverId: isSender ? peerId : selfId,
      senderIdentity: isSender ? o.identity.publicKey : peerIdentity,
      receiverIdentity: isSender ? peerIdentity : o.identity.publicKey,
      senderEphemeral: isSender ? ephemeral.publicKey : peerEphemeral,
      receiverEphemeral: isSender ? peerEphemeral : ephemeral.publicKey,
    });
  } catch (err) {
    throw new SealdropError('ERR_PROTOCOL',
      `refusing the keys from ${peerId}: ${(err as Error).message}. Someone (the rendezvous or the network) may be tampering with the connection`, { cause: err });
  }
  // Pin only once the exchange is known to be usable, so a failed handshake never pins a key.
  const peerFingerprint = fingerprint(peerIdentity);
  const pin = await o.pins.check(peerId, peerFingerprint, { strict: o.strict });
  const keys = isSender
    ? { sendKey: derived.senderKey, receiveKey: derived.receiverKey }
    : { sendKey: derived.receiverKey, receiveKey: derived.senderKey };
  return { keys, sas: derived.sas, peerFingerprint, pin };
}

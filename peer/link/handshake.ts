/**
 * The key exchange of one transfer (protocol version 2, docs/PROTOCOL.md "Hello"):
 * each side sends a hello (identity key, fresh X25519 key, signature) through the
 * rendezvous, checks the other's signature and pinned identity, and derives the
 * session keys and the verification code (SAS).
 *
 * Commit, then reveal: the opener first sends only a commitment to its hello; the
 * accepter answers with its own hello; only then does the opener reveal its hello,
 * which the accepter checks against the commitment. A rendezvous in the middle must
 * therefore fix the keys it shows each side before it learns the key that decides
 * the other side's code: it gets one guess per session at a 6-digit match (1 in 10⁶).
 *
 *   opener:   commit ──────────────►           ◄────────── hello (accepter) ; hello (reveal) ──►
 */
import { randomBytes } from 'node:crypto';
import { PROTOCOL_VERSION } from '../../shared/constants.js';
import {
  deriveTransferKeys, ephemeralFromSeed, fingerprint, helloCommitment, signHello, verifyHello, type KeyPair, type Role,
} from '../../shared/crypto.js';
import { SealdropError } from '../../shared/errors.js';
import type { HelloSignal } from '../../shared/schemas.js';
import type { PinnedKeys, PinResult } from '../session/pinned-keys.js';
import type { RendezvousSession } from '../session/rendezvous-session.js';
import type { ChannelKeys } from './secure-channel.js';
import type { SignalInbox } from '../session/signal-inbox.js';

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
  const isOpener = o.role === 'sender';
  const ephemeral = ephemeralFromSeed(randomBytes(32));
  const signature = signHello(o.identity.privateKey, { sid, role: o.role, from: selfId, to: peerId, ephemeralKey: ephemeral.publicKey });
  const hello: HelloSignal = {
    type: 'hello', v: PROTOCOL_VERSION,
    identityKey: o.identity.publicKey.toString('base64'),
    ephemeralKey: ephemeral.publicKey.toString('base64'),
    signature: signature.toString('base64'),
  };
  const commitment = helloCommitment(sid, o.identity.publicKey, ephemeral.publicKey, signature);

  let peerHello: HelloSignal;
  let peerCommitment: Buffer;
  if (isOpener) {
    await o.session.signal(sid, { type: 'commit', v: PROTOCOL_VERSION, commit: commitment.toString('base64') });
    peerHello = await o.inbox.nextHello(HELLO_TIMEOUT_MS);
    checkVersion(o, peerHello.v);
    await o.session.signal(sid, hello); // the reveal: only now can anyone see our ephemeral key
    peerCommitment = commitment;
  } else {
    const opening = await o.inbox.nextOpening(HELLO_TIMEOUT_MS);
    checkVersion(o, opening.v);
    if (opening.type !== 'commit') throw tampering(peerId, 'sent its keys before committing to them');
    peerCommitment = Buffer.from(opening.commit, 'base64');
    await o.session.signal(sid, hello);
    peerHello = await o.inbox.nextHello(HELLO_TIMEOUT_MS);
    checkVersion(o, peerHello.v);
  }

  const peerRole: Role = isOpener ? 'receiver' : 'sender';
  const peerIdentity = Buffer.from(peerHello.identityKey, 'base64');
  const peerEphemeral = Buffer.from(peerHello.ephemeralKey, 'base64');
  const peerSignature = Buffer.from(peerHello.signature, 'base64');
  if (!isOpener && !helloCommitment(sid, peerIdentity, peerEphemeral, peerSignature).equals(peerCommitment)) {
    throw tampering(peerId, 'revealed keys that differ from the ones it committed to');
  }
  // The signature binds the peer's identity to this session, its role, both IDs and its
  // ephemeral key: a relayed, reflected or altered hello fails here.
  if (!verifyHello(peerIdentity, { sid, role: peerRole, from: peerId, to: selfId, ephemeralKey: peerEphemeral }, peerSignature)) {
    throw tampering(peerId, 'carries a bad signature');
  }
  let derived: ReturnType<typeof deriveTransferKeys>;
  try {
    derived = deriveTransferKeys(ephemeral, peerEphemeral, {
      sid,
      commitment: peerCommitment,
      senderId: isOpener ? selfId : peerId,
      receiverId: isOpener ? peerId : selfId,
      senderIdentity: isOpener ? o.identity.publicKey : peerIdentity,
      receiverIdentity: isOpener ? peerIdentity : o.identity.publicKey,
      senderEphemeral: isOpener ? ephemeral.publicKey : peerEphemeral,
      receiverEphemeral: isOpener ? peerEphemeral : ephemeral.publicKey,
    });
  } catch (err) {
    throw new SealdropError('ERR_PROTOCOL',
      `refusing the keys from ${peerId}: ${(err as Error).message}. Someone (the rendezvous or the network) may be tampering with the connection`, { cause: err });
  }
  // Pin only once the exchange is known to be usable, so a failed handshake never pins a key.
  const peerFingerprint = fingerprint(peerIdentity);
  const pin = await o.pins.check(peerId, peerFingerprint, { strict: o.strict });
  const keys = isOpener
    ? { sendKey: derived.senderKey, receiveKey: derived.receiverKey }
    : { sendKey: derived.receiverKey, receiveKey: derived.senderKey };
  return { keys, sas: derived.sas, peerFingerprint, pin };
}

/**
 * Peers of different protocol versions cannot talk: say so, naming both, and tell the
 * other side too through the session's close reason (a peer of another version reads
 * no message of ours, but every version shows why a session closed).
 */
function checkVersion(o: HandshakeOptions, theirs: number): void {
  if (theirs === PROTOCOL_VERSION) return;
  const { sid, peerId } = o.inbox;
  const older = theirs < PROTOCOL_VERSION ? peerId : 'this side';
  o.session.close(sid, `protocol version mismatch: ${o.session.id} speaks sealdrop protocol ${PROTOCOL_VERSION}, the other peer ${theirs}; upgrade the older sealdrop`);
  throw new SealdropError('ERR_PROTOCOL',
    `${peerId} speaks sealdrop protocol version ${theirs} and this sealdrop speaks version ${PROTOCOL_VERSION}; the two cannot talk until ${older === 'this side' ? 'this sealdrop is upgraded' : `${peerId} upgrades sealdrop`}`,
    { peerMessage: `this peer speaks sealdrop protocol version ${PROTOCOL_VERSION}, not ${theirs}` });
}

function tampering(peerId: string, what: string): SealdropError {
  return new SealdropError('ERR_PROTOCOL',
    `the keys from ${peerId} ${what}; refusing. Someone (the rendezvous or the network) may be tampering with the connection`);
}

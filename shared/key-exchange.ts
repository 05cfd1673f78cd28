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
 *
 * One implementation for the CLI and the page: it sees the rendezvous, the signals and
 * the pins only through the small interfaces below, and crypto through CryptoSuite.
 */
import { PROTOCOL_VERSION } from './constants.js';
import type { CryptoSuite, IdentityKey, Role } from './crypto-suite.js';
import { SealdropError } from './errors.js';
import {
  commitmentInput, fingerprintInput, fingerprintText, helloMessage, isLowOrderKey, KEYS_INFO, OKM_LENGTH, splitKeyMaterial, transcriptInput,
} from './key-schedule.js';
import type { CommitSignal, HelloSignal, SignalData } from './schemas.js';

const HELLO_TIMEOUT_MS = 30_000;

export type PinResult = 'pinned-now' | 'matched';

export interface KeyExchangeResult {
  keys: { sendKey: Buffer; receiveKey: Buffer };
  sas: string;
  peerFingerprint: string;
  /** The peer's raw identity key (the page shows its fingerprint). */
  peerIdentity: Buffer;
  pin: PinResult;
}

export interface KeyExchangeOptions {
  session: { readonly id: string; signal(sid: string, data: SignalData): Promise<void>; close(sid: string, reason: string): void };
  inbox: { readonly sid: string; readonly peerId: string; nextHello(ms: number): Promise<HelloSignal>; nextOpening(ms: number): Promise<CommitSignal | HelloSignal> };
  pins: { check(id: string, fingerprint: string, o: { strict: boolean }): Promise<PinResult> };
  role: Role;
  identity: IdentityKey;
  suite: CryptoSuite;
  strict: boolean;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

export async function exchangeKeys(o: KeyExchangeOptions): Promise<KeyExchangeResult> {
  const { sid, peerId } = o.inbox;
  const selfId = o.session.id;
  const isOpener = o.role === 'sender';
  const ephemeral = await o.suite.newEphemeral();
  const signature = await o.identity.sign(helloMessage({ sid, role: o.role, from: selfId, to: peerId, ephemeralKey: ephemeral.publicKey }));
  const hello: HelloSignal = {
    type: 'hello', v: PROTOCOL_VERSION, identityKey: b64(o.identity.publicKey), ephemeralKey: b64(ephemeral.publicKey), signature: b64(signature),
  };
  const commitment = Buffer.from(await o.suite.sha256(commitmentInput(sid, o.identity.publicKey, ephemeral.publicKey, signature)));

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
  if (!isOpener && !Buffer.from(await o.suite.sha256(commitmentInput(sid, peerIdentity, peerEphemeral, peerSignature))).equals(peerCommitment)) {
    throw tampering(peerId, 'revealed keys that differ from the ones it committed to');
  }
  // The signature binds the peer's identity to this session, its role, both IDs and its
  // ephemeral key: a relayed, reflected or altered hello fails here.
  if (!await verifyHello(o.suite, peerIdentity, helloMessage({ sid, role: peerRole, from: peerId, to: selfId, ephemeralKey: peerEphemeral }), peerSignature)) {
    throw tampering(peerId, 'carries a bad signature');
  }
  let derived: ReturnType<typeof splitKeyMaterial>;
  try {
    derived = await deriveKeys(o.suite, ephemeral.agree.bind(ephemeral), peerEphemeral, transcriptInput({
      sid,
      commitment: peerCommitment,
      senderId: isOpener ? selfId : peerId,
      receiverId: isOpener ? peerId : selfId,
      senderIdentity: isOpener ? o.identity.publicKey : peerIdentity,
      receiverIdentity: isOpener ? peerIdentity : o.identity.publicKey,
      senderEphemeral: isOpener ? ephemeral.publicKey : peerEphemeral,
      receiverEphemeral: isOpener ? peerEphemeral : ephemeral.publicKey,
    }));
  } catch (err) {
    throw new SealdropError('ERR_PROTOCOL',
      `refusing the keys from ${peerId}: ${(err as Error).message}. Someone (the rendezvous or the network) may be tampering with the connection`, { cause: err });
  }
  // Pin only once the exchange is known to be usable, so a failed handshake never pins a key.
  const peerFingerprint = await fingerprintOf(o.suite, peerIdentity);
  const pin = await o.pins.check(peerId, peerFingerprint, { strict: o.strict });
  const keys = isOpener
    ? { sendKey: derived.senderKey, receiveKey: derived.receiverKey }
    : { sendKey: derived.receiverKey, receiveKey: derived.senderKey };
  return { keys, sas: derived.sas, peerFingerprint, peerIdentity, pin };
}

/** Ed25519 with the small-order keys refused first: OpenSSL and WebCrypto accept signatures nobody made for them. */
export async function verifyHello(suite: CryptoSuite, identityPublic: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (signature.length !== 64 || identityPublic.length !== 32) return false;
  if (isLowOrderKey('Ed25519', identityPublic)) return false;
  try {
    return await suite.verify(identityPublic, message, signature);
  } catch {
    return false;
  }
}

/**
 * X25519 + HKDF-SHA-256 over the whole transcript. Small-order keys are refused by value, before
 * any arithmetic, rather than relying on how the library reacts to the all-zero secret they produce.
 */
export async function deriveKeys(suite: CryptoSuite, agree: (peer: Uint8Array) => Uint8Array | Promise<Uint8Array>, peerEphemeral: Uint8Array, transcript: Uint8Array) {
  if (peerEphemeral.length !== 32) throw new SealdropError('ERR_PROTOCOL', 'X25519 public key must be 32 bytes');
  if (isLowOrderKey('X25519', peerEphemeral)) throw lowOrder();
  let shared: Uint8Array;
  try {
    shared = await agree(peerEphemeral);
  } catch (err) {
    throw lowOrder(err);
  }
  if (shared.length !== 32 || shared.every((b) => b === 0)) throw lowOrder();
  const salt = await suite.sha256(transcript);
  return splitKeyMaterial(await suite.hkdfSha256(shared, salt, KEYS_INFO, OKM_LENGTH));
}

export async function fingerprintOf(suite: CryptoSuite, identityPublic: Uint8Array): Promise<string> {
  return fingerprintText(await suite.sha256(fingerprintInput(identityPublic)));
}

function lowOrder(cause?: unknown): SealdropError {
  return new SealdropError('ERR_PROTOCOL', 'the peer sent an invalid (low-order) X25519 key', { cause });
}

/**
 * Peers of different protocol versions cannot talk: say so, naming both, and tell the
 * other side too through the session's close reason (a peer of another version reads
 * no message of ours, but every version shows why a session closed).
 */
function checkVersion(o: KeyExchangeOptions, theirs: number): void {
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

/**
 * sealdrop's cryptography, as pure functions over Node's crypto (OpenSSL): no I/O,
 * no clocks, no globals. Key material comes in as bytes so tests can use fixed vectors.
 * See docs/PROTOCOL.md "Keys" for the why of each step.
 */
import {
  createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman,
  hkdfSync, sign, verify, type KeyObject,
} from 'node:crypto';
import { SealdropError } from './errors.js';

// Protocol version 2 contexts (docs/PROTOCOL.md "Context strings"); fingerprints keep theirs, so pins survive.
const HELLO_CONTEXT = 'sealdrop/2 hello';
const COMMIT_CONTEXT = 'sealdrop/2 commit';
const TRANSCRIPT_CONTEXT = 'sealdrop/2 transcript';
const KEYS_INFO = 'sealdrop/2 keys';
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export type Role = 'sender' | 'receiver';

export interface KeyPair { publicKey: Buffer; privateKey: KeyObject }

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** An Ed25519 identity key from its 32-byte seed. */
export function identityFromSeed(seed: Uint8Array): KeyPair {
  return okpFromSeed('Ed25519', seed);
}

/** An X25519 ephemeral key from 32 random bytes. */
export function ephemeralFromSeed(seed: Uint8Array): KeyPair {
  return okpFromSeed('X25519', seed);
}

function okpFromSeed(crv: 'Ed25519' | 'X25519', seed: Uint8Array): KeyPair {
  if (seed.length !== 32) throw new SealdropError('ERR_BAD_INPUT', `${crv} seed must be 32 bytes`);
  // PKCS#8 wrapping of a raw 32-byte private key (RFC 8410); Node derives the public half.
  const prefix = Buffer.from(crv === 'Ed25519' ? '302e020100300506032b657004220420' : '302e020100300506032b656e04220420', 'hex');
  const privateKey = createPrivateKey({ key: Buffer.concat([prefix, seed]), format: 'der', type: 'pkcs8' });
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x as string;
  return { publicKey: Buffer.from(x, 'base64url'), privateKey };
}

/**
 * Encodings of the points of small order, on Curve25519 (X25519 u-coordinates) and on
 * edwards25519 (Ed25519 y-coordinates): 0, 1, the two order-8 points, p-1, p and p+1.
 * Both curves ignore the top bit of the last byte, so it is masked before comparing
 * (the same list and rule as libsodium). A small-order X25519 key forces a known shared
 * secret; a small-order Ed25519 key lets anyone forge signatures (OpenSSL accepts them).
 */
const LOW_ORDER: Record<'X25519' | 'Ed25519', Buffer[]> = {
  X25519: [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  ].map((h) => Buffer.from(h, 'hex')),
  Ed25519: [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  ].map((h) => Buffer.from(h, 'hex')),
};

/** True for a 32-byte public key that encodes a point of small order (see LOW_ORDER). */
export function isLowOrderKey(crv: 'X25519' | 'Ed25519', raw: Uint8Array): boolean {
  if (raw.length !== 32) return false;
  const masked = Buffer.from(raw);
  masked[31] &= 0x7f;
  return LOW_ORDER[crv].some((bad) => bad.equals(masked));
}

function okpPublic(crv: 'Ed25519' | 'X25519', raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new SealdropError('ERR_PROTOCOL', `${crv} public key must be 32 bytes`);
  return createPublicKey({ key: { kty: 'OKP', crv, x: b64u(raw) }, format: 'jwk' });
}

/** Human-comparable fingerprint of an identity key: 160 bits of SHA-256 in base32, 8 groups of 4. */
export function fingerprint(identityPublic: Uint8Array): string {
  const digest = createHash('sha256').update('sealdrop/1 fingerprint').update(identityPublic).digest().subarray(0, 20);
  let bits = 0, value = 0, out = '';
  for (const byte of digest) {
    value = (value << 8) | byte; bits += 8;
    while (bits >= 5) { out += B32[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  return out.match(/.{4}/g)!.join('-');
}

/**
 * A fingerprint as typed by a person: any case, groups separated by dashes or spaces (or
 * not at all). Anything else, such as 0, 1, 8 or 9 (not base32), is refused, never dropped.
 */
export function normalizeFingerprint(text: string): string {
  const clean = text.toUpperCase().replace(/[\s-]/g, '');
  const stray = /[^A-Z2-7]/.exec(clean);
  if (stray) {
    throw new SealdropError('ERR_BAD_INPUT', `"${stray[0]}" cannot be part of a fingerprint: it uses only the letters A-Z and the digits 2-7 (groups of 4, dashes optional)`);
  }
  if (clean.length !== 32) throw new SealdropError('ERR_BAD_INPUT', `a fingerprint is 32 base32 characters (groups of 4, dashes optional), not ${clean.length}`);
  return clean.match(/.{4}/g)!.join('-');
}

export interface HelloContext { sid: string; role: Role; from: string; to: string; ephemeralKey: Uint8Array }

/** The exact bytes an identity key signs: binds session, role, both IDs and the ephemeral key. */
export function helloMessage(c: HelloContext): Buffer {
  return Buffer.concat([lp(HELLO_CONTEXT), lp(c.sid), lp(c.role), lp(c.from), lp(c.to), lp(c.ephemeralKey)]);
}

export function signHello(identity: KeyObject, c: HelloContext): Buffer {
  return sign(null, helloMessage(c), identity);
}

export function verifyHello(identityPublic: Uint8Array, c: HelloContext, signature: Uint8Array): boolean {
  if (signature.length !== 64 || identityPublic.length !== 32) return false;
  // With a small-order identity key, OpenSSL accepts signatures nobody made (e.g. R = identity, S = 0).
  if (isLowOrderKey('Ed25519', identityPublic)) return false;
  try {
    return verify(null, helloMessage(c), okpPublic('Ed25519', identityPublic), signature);
  } catch {
    return false;
  }
}

/**
 * The opener's commitment to its hello, sent before it sees the accepter's: SHA-256 over the
 * session and every field of the hello it will reveal. Its ephemeral key is 32 fresh random
 * bytes, so the commitment shows nothing of it, and the opener cannot change it afterwards.
 */
export function helloCommitment(sid: string, identityKey: Uint8Array, ephemeralKey: Uint8Array, signature: Uint8Array): Buffer {
  return createHash('sha256').update(Buffer.concat([lp(COMMIT_CONTEXT), lp(sid), lp(identityKey), lp(ephemeralKey), lp(signature)])).digest();
}

export interface TranscriptInput {
  sid: string;
  /** The opener's commitment, as the accepter received it. */
  commitment: Uint8Array;
  senderId: string; receiverId: string;
  senderIdentity: Uint8Array; receiverIdentity: Uint8Array;
  senderEphemeral: Uint8Array; receiverEphemeral: Uint8Array;
}

export interface TransferKeys {
  /** Seals everything the sender sends. */
  senderKey: Buffer;
  /** Seals everything the receiver sends. */
  receiverKey: Buffer;
  /** Short authentication string both people can compare, e.g. "402 911". */
  sas: string;
}

/** X25519 + HKDF-SHA-256 over the whole transcript: one key per direction, and the SAS. */
export function deriveTransferKeys(own: KeyPair, peerEphemeral: Uint8Array, t: TranscriptInput): TransferKeys {
  // Refuse small-order keys by value, before any arithmetic, rather than relying on how the
  // library reacts to the all-zero secret they produce (OpenSSL 3 fails the derivation; others return zeros).
  const peerKey = okpPublic('X25519', peerEphemeral);
  if (isLowOrderKey('X25519', peerEphemeral)) throw lowOrder();
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: own.privateKey, publicKey: peerKey });
  } catch (err) {
    throw lowOrder(err);
  }
  if (shared.length !== 32 || shared.every((b) => b === 0)) throw lowOrder();
  const transcript = createHash('sha256').update(Buffer.concat([
    lp(TRANSCRIPT_CONTEXT), lp(t.sid), lp(t.commitment), lp(t.senderId), lp(t.receiverId),
    lp(t.senderIdentity), lp(t.receiverIdentity), lp(t.senderEphemeral), lp(t.receiverEphemeral),
  ])).digest();
  const okm = Buffer.from(hkdfSync('sha256', shared, transcript, KEYS_INFO, 68));
  const sasNumber = okm.readUInt32BE(64) % 1_000_000;
  const sas = String(sasNumber).padStart(6, '0').replace(/^(\d{3})(\d{3})$/, '$1 $2');
  return { senderKey: okm.subarray(0, 32), receiverKey: okm.subarray(32, 64), sas };
}

function lowOrder(cause?: unknown): SealdropError {
  return new SealdropError('ERR_PROTOCOL', 'the peer sent an invalid (low-order) X25519 key', { cause });
}

/** Length-prefixed field, so no two different field lists hash or sign the same. */
function lp(value: string | Uint8Array): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

/** AES-256-GCM with the caller's 12-byte nonce and associated data; returns ciphertext ‖ tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Buffer): number {
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  let n = cipher.update(plaintext).copy(out, 0);
  n += cipher.final().copy(out, n);
  n += cipher.getAuthTag().copy(out, n);
  return n;
}

/** Opens ciphertext ‖ tag; throws ERR_DECRYPT on any mismatch. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer {
  if (sealed.length < 16) throw new SealdropError('ERR_DECRYPT', 'sealed message shorter than its tag');
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    const plaintext = decipher.update(sealed.subarray(0, sealed.length - 16));
    decipher.final(); // GCM yields nothing here; it checks the tag
    return plaintext;
  } catch (err) {
    throw new SealdropError('ERR_DECRYPT', 'a frame failed authentication: it was altered, reordered or forged in transit, or the two sides do not share a key (someone in the middle? compare the verification codes)', { cause: err });
  }
}

/**
 * sealdrop's cryptography, as pure functions over Node's crypto (OpenSSL): no I/O,
 * no clocks, no globals. Key material comes in as bytes so tests can use fixed vectors.
 * See docs/PROTOCOL.md "Keys" for the why of each step.
 */
import {
  createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman,
  hkdfSync, randomBytes, sign, verify, type KeyObject,
} from 'node:crypto';
import type { CryptoSuite, IdentityKey } from './crypto-suite.js';
import { SealdropError } from './errors.js';
import {
  commitmentInput, fingerprintInput, fingerprintText, helloMessage, isLowOrderKey, KEYS_INFO, OKM_LENGTH, splitKeyMaterial,
  transcriptInput, type HelloContext, type TranscriptInput, type TransferKeys,
} from './key-schedule.js';

export type { Role } from './crypto-suite.js';
export { helloMessage, isLowOrderKey, type HelloContext, type TranscriptInput, type TransferKeys } from './key-schedule.js';

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

function okpPublic(crv: 'Ed25519' | 'X25519', raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new SealdropError('ERR_PROTOCOL', `${crv} public key must be 32 bytes`);
  return createPublicKey({ key: { kty: 'OKP', crv, x: b64u(raw) }, format: 'jwk' });
}

/** Human-comparable fingerprint of an identity key: 160 bits of SHA-256 in base32, 8 groups of 4. */
export function fingerprint(identityPublic: Uint8Array): string {
  return fingerprintText(createHash('sha256').update(fingerprintInput(identityPublic)).digest());
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
  return createHash('sha256').update(commitmentInput(sid, identityKey, ephemeralKey, signature)).digest();
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
  const transcript = createHash('sha256').update(transcriptInput(t)).digest();
  return splitKeyMaterial(Buffer.from(hkdfSync('sha256', shared, transcript, KEYS_INFO, OKM_LENGTH)));
}

function lowOrder(cause?: unknown): SealdropError {
  return new SealdropError('ERR_PROTOCOL', 'the peer sent an invalid (low-order) X25519 key', { cause });
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

/** The shared handshake's primitives on Node (peer/link/key-exchange.ts); they answer at once. */
export const nodeSuite: CryptoSuite = {
  newEphemeral() {
    const pair = ephemeralFromSeed(randomBytes(32));
    return { publicKey: pair.publicKey, agree: (peer) => diffieHellman({ privateKey: pair.privateKey, publicKey: okpPublic('X25519', peer) }) };
  },
  verify: (publicKey, message, signature) => verify(null, message, okpPublic('Ed25519', publicKey), signature),
  sha256: (bytes) => createHash('sha256').update(bytes).digest(),
  hkdfSha256: (ikm, salt, info, length) => Buffer.from(hkdfSync('sha256', ikm, salt, info, length)),
};

/** A Node identity key as the shared handshake takes it. */
export function nodeIdentity(identity: KeyPair): IdentityKey {
  return { publicKey: identity.publicKey, sign: (message) => sign(null, message, identity.privateKey) };
}

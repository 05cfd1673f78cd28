/**
 * The bytes the handshake signs, commits to and hashes, and how the key material is
 * cut: pure functions with no cipher, shared by the Node peer (shared/crypto.ts) and
 * the page (web/web-crypto.ts), so both build exactly the same bytes. See
 * docs/PROTOCOL.md "Keys" for the why of each step.
 */
import type { Role } from './crypto-suite.js';

// Protocol version 2 contexts (docs/PROTOCOL.md "Context strings"); fingerprints keep theirs, so pins survive.
const HELLO_CONTEXT = 'sealdrop/2 hello';
const COMMIT_CONTEXT = 'sealdrop/2 commit';
const TRANSCRIPT_CONTEXT = 'sealdrop/2 transcript';
export const KEYS_INFO = 'sealdrop/2 keys';
/** Key material: two AES-256 keys and 4 bytes for the SAS. */
export const OKM_LENGTH = 68;
export const FINGERPRINT_CONTEXT = 'sealdrop/1 fingerprint';
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export interface HelloContext { sid: string; role: Role; from: string; to: string; ephemeralKey: Uint8Array }

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

/** Length-prefixed field, so no two different field lists hash or sign the same. */
export function lp(value: string | Uint8Array): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

/** The exact bytes an identity key signs: binds session, role, both IDs and the ephemeral key. */
export function helloMessage(c: HelloContext): Buffer {
  return Buffer.concat([lp(HELLO_CONTEXT), lp(c.sid), lp(c.role), lp(c.from), lp(c.to), lp(c.ephemeralKey)]);
}

/** What the opener's commitment hashes: the session and every field of the hello it will reveal. */
export function commitmentInput(sid: string, identityKey: Uint8Array, ephemeralKey: Uint8Array, signature: Uint8Array): Buffer {
  return Buffer.concat([lp(COMMIT_CONTEXT), lp(sid), lp(identityKey), lp(ephemeralKey), lp(signature)]);
}

/** What the transcript hash covers: the HKDF salt, so the keys and the SAS depend on all of it. */
export function transcriptInput(t: TranscriptInput): Buffer {
  return Buffer.concat([
    lp(TRANSCRIPT_CONTEXT), lp(t.sid), lp(t.commitment), lp(t.senderId), lp(t.receiverId),
    lp(t.senderIdentity), lp(t.receiverIdentity), lp(t.senderEphemeral), lp(t.receiverEphemeral),
  ]);
}

/** Cuts the 68 bytes of HKDF output into the two keys and the 6-digit SAS ("DDD DDD"). */
export function splitKeyMaterial(okmBytes: Uint8Array): TransferKeys {
  const okm = Buffer.from(okmBytes);
  const sasNumber = okm.readUInt32BE(64) % 1_000_000;
  const sas = String(sasNumber).padStart(6, '0').replace(/^(\d{3})(\d{3})$/, '$1 $2');
  return { senderKey: okm.subarray(0, 32), receiverKey: okm.subarray(32, 64), sas };
}

/** The fingerprint text from the SHA-256 of FINGERPRINT_CONTEXT ‖ identity key: 160 bits, base32, 8 groups of 4. */
export function fingerprintText(digest: Uint8Array): string {
  let bits = 0, value = 0, out = '';
  for (const byte of digest.subarray(0, 20)) {
    value = (value << 8) | byte; bits += 8;
    while (bits >= 5) { out += B32[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  return out.match(/.{4}/g)!.join('-');
}

export function fingerprintInput(identityPublic: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(FINGERPRINT_CONTEXT, 'utf8'), identityPublic]);
}

/**
 * Encodings of the points of small order, on Curve25519 (X25519 u-coordinates) and on
 * edwards25519 (Ed25519 y-coordinates): 0, 1, the two order-8 points, p-1, p and p+1.
 * Both curves ignore the top bit of the last byte, so it is masked before comparing
 * (the same list and rule as libsodium). A small-order X25519 key forces a known shared
 * secret; a small-order Ed25519 key lets anyone forge signatures (OpenSSL and WebCrypto
 * both accept them).
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

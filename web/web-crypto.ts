/**
 * WebCrypto behind the shared interfaces (shared/crypto-suite.ts, FrameCipher in
 * shared/frame-layout.ts): X25519, Ed25519, HKDF-SHA-256, AES-256-GCM and SHA-256 from
 * the browser, nothing written by hand. The byte layouts, the small-order checks and
 * the key schedule are the shared ones, so the page builds the CLI's bytes exactly.
 * WebCrypto exists only in a secure context: https, or http on localhost.
 */
import type { CryptoSuite, EphemeralKey, IdentityKey } from '../shared/crypto-suite.js';
import { SealdropError } from '../shared/errors.js';
import { aadOf, checkPosition, DECRYPT_FAILED, encodeHeader, nonceOf, type FrameCipher } from '../shared/frame-layout.js';
import { FRAME_HEADER_SIZE } from '../shared/constants.js';

const subtle = (): SubtleCrypto => {
  if (!globalThis.crypto?.subtle) throw new SealdropError('ERR_CONFIG', 'this page needs WebCrypto, which the browser gives only to https pages (or http on localhost)');
  return globalThis.crypto.subtle;
};

/**
 * WebCrypto wants ArrayBuffer-backed views (a view of a Buffer pool is one: WebCrypto reads just
 * its bytes). It copies what it is given before it returns its promise, so no copy of our own:
 * that was one more allocation per 128 KiB chunk. Only a SharedArrayBuffer view is copied.
 */
const own = (b: Uint8Array): Uint8Array<ArrayBuffer> => (b.buffer instanceof ArrayBuffer ? b as Uint8Array<ArrayBuffer> : new Uint8Array(b));

export const webSuite: CryptoSuite = {
  async newEphemeral(): Promise<EphemeralKey> {
    const pair = await subtle().generateKey({ name: 'X25519' }, false, ['deriveBits']) as CryptoKeyPair;
    const publicKey = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
    return {
      publicKey,
      async agree(peer) {
        const peerKey = await subtle().importKey('raw', own(peer), { name: 'X25519' }, false, []);
        return new Uint8Array(await subtle().deriveBits({ name: 'X25519', public: peerKey }, pair.privateKey, 256));
      },
    };
  },
  async verify(publicKey, message, signature) {
    const key = await subtle().importKey('raw', own(publicKey), { name: 'Ed25519' }, false, ['verify']);
    return subtle().verify({ name: 'Ed25519' }, key, own(signature), own(message));
  },
  async sha256(bytes) {
    return new Uint8Array(await subtle().digest('SHA-256', own(bytes)));
  },
  async hkdfSha256(ikm, salt, info, length) {
    const key = await subtle().importKey('raw', own(ikm), 'HKDF', false, ['deriveBits']);
    const bits = await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: own(salt), info: new TextEncoder().encode(info) }, key, length * 8);
    return new Uint8Array(bits);
  },
};

/** A fresh identity: the private half is non-extractable (it can sign, never leave); the public half is raw bytes. */
export async function newIdentityPair(): Promise<CryptoKeyPair> {
  return await subtle().generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']) as CryptoKeyPair;
}

export async function identityKey(pair: CryptoKeyPair): Promise<IdentityKey> {
  const publicKey = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
  return { publicKey, sign: async (message) => new Uint8Array(await subtle().sign({ name: 'Ed25519' }, pair.privateKey, own(message))) };
}

/** The secure channel's cipher in the page: AES-256-GCM, nonce and AAD as in shared/frame-layout.ts. */
export function webFrameCipher(keys: { sendKey: Uint8Array; receiveKey: Uint8Array }, transferId: Uint8Array): FrameCipher {
  const sealKey = subtle().importKey('raw', own(keys.sendKey), 'AES-GCM', false, ['encrypt']);
  const openKey = subtle().importKey('raw', own(keys.receiveKey), 'AES-GCM', false, ['decrypt']);
  return {
    async seal(h, plaintext) {
      const header = Buffer.alloc(FRAME_HEADER_SIZE);
      encodeHeader(h, header);
      const sealed = await subtle().encrypt({ name: 'AES-GCM', iv: own(nonceOf(header)), additionalData: own(aadOf(transferId, header)), tagLength: 128 }, await sealKey, own(plaintext));
      return Buffer.concat([header, new Uint8Array(sealed)]);
    },
    async open(frame, expect) {
      const h = checkPosition(frame, expect);
      const header = frame.subarray(0, FRAME_HEADER_SIZE);
      let plain: ArrayBuffer;
      try {
        plain = await subtle().decrypt({ name: 'AES-GCM', iv: own(nonceOf(frame)), additionalData: own(aadOf(transferId, header)), tagLength: 128 }, await openKey, own(frame.subarray(FRAME_HEADER_SIZE)));
      } catch (err) {
        throw new SealdropError('ERR_DECRYPT', DECRYPT_FAILED, { cause: err });
      }
      return { last: h.last, plaintext: Buffer.from(plain) };
    },
  };
}

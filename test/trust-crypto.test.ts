/**
 * Unit tests of shared/crypto.ts on hostile input: low-order X25519 keys, bad
 * hello signatures, forged signatures under small-order Ed25519 keys, and the
 * fingerprint text people type.
 */
import { expect } from 'chai';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import {
  deriveTransferKeys, ephemeralFromSeed, fingerprint, helloMessage, identityFromSeed, isLowOrderKey,
  normalizeFingerprint, signHello, verifyHello, type HelloContext, type KeyPair, type TranscriptInput,
} from '../shared/crypto.js';
import { SealdropError } from '../shared/errors.js';

const hex = (h: string) => Buffer.from(h, 'hex');
const withTopBit = (b: Buffer) => { const c = Buffer.from(b); c[31]! |= 0x80; return c; };

/** Curve25519 u-coordinates of small order (as listed by libsodium and cr.yp.to/ecdh.html). */
const X25519_LOW_ORDER: Array<[string, Buffer]> = [
  ['0 (order 4)', hex('0000000000000000000000000000000000000000000000000000000000000000')],
  ['1 (order 1)', hex('0100000000000000000000000000000000000000000000000000000000000000')],
  ['order-8 point A', hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800')],
  ['order-8 point B', hex('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157')],
  ['p-1 (order 2)', hex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
  ['p (= 0)', hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
  ['p+1 (= 1)', hex('eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
];

/** edwards25519 y-coordinates of small order. */
const ED25519_LOW_ORDER: Array<[string, Buffer]> = [
  ['0 (order 4)', hex('0000000000000000000000000000000000000000000000000000000000000000')],
  ['1 (the identity)', hex('0100000000000000000000000000000000000000000000000000000000000000')],
  ['order-8 point A', hex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05')],
  ['order-8 point B', hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a')],
  ['p-1 (order 2)', hex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
  ['p (= 0)', hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
  ['p+1 (= 1)', hex('eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
];

const SID = '0123456789abcdef0123456789abcdef';

function transcript(sender: { id: KeyPair; eph: KeyPair }, receiver: { id: KeyPair; eph: KeyPair }): TranscriptInput {
  return {
    sid: SID, commitment: Buffer.alloc(32, 9), senderId: 'alice', receiverId: 'bob',
    senderIdentity: sender.id.publicKey, receiverIdentity: receiver.id.publicKey,
    senderEphemeral: sender.eph.publicKey, receiverEphemeral: receiver.eph.publicKey,
  };
}

function party() {
  return { id: identityFromSeed(randomBytes(32)), eph: ephemeralFromSeed(randomBytes(32)) };
}

function expectRefused(fn: () => unknown, code: string, pattern: RegExp): void {
  let thrown: unknown;
  try { fn(); } catch (err) { thrown = err; }
  expect(thrown, 'should have thrown').to.be.instanceOf(SealdropError);
  expect((thrown as SealdropError).code).to.equal(code);
  expect((thrown as SealdropError).message).to.match(pattern);
}

describe('trust: key exchange and signatures (shared/crypto.ts)', () => {
  describe('X25519 keys of low order', () => {
    const alice = party();
    const bob = party();

    it('derives matching keys (and SAS) from valid keys, with a different key per direction', () => {
      const t = transcript(alice, bob);
      const a = deriveTransferKeys(alice.eph, bob.eph.publicKey, t);
      const b = deriveTransferKeys(bob.eph, alice.eph.publicKey, t);
      expect(a.senderKey.equals(b.senderKey)).to.equal(true);
      expect(a.receiverKey.equals(b.receiverKey)).to.equal(true);
      expect(a.senderKey.equals(a.receiverKey)).to.equal(false);
      expect(a.sas).to.equal(b.sas).and.match(/^\d{3} \d{3}$/);
      expect(isLowOrderKey('X25519', bob.eph.publicKey)).to.equal(false);
    });

    for (const [name, point] of X25519_LOW_ORDER) {
      for (const [variant, key] of [['', point], [' with the top bit set', withTopBit(point)]] as const) {
        it(`refuses ${name}${variant}`, () => {
          expect(isLowOrderKey('X25519', key)).to.equal(true);
          // Both ways round: whoever receives the bad key refuses it with a clear error.
          expectRefused(() => deriveTransferKeys(alice.eph, key, { ...transcript(alice, bob), receiverEphemeral: key }), 'ERR_PROTOCOL', /low-order/);
          expectRefused(() => deriveTransferKeys(bob.eph, key, { ...transcript(alice, bob), senderEphemeral: key }), 'ERR_PROTOCOL', /low-order/);
        });
      }
    }

    it('refuses an ephemeral key of the wrong length', () => {
      expectRefused(() => deriveTransferKeys(alice.eph, randomBytes(31), transcript(alice, bob)), 'ERR_PROTOCOL', /32 bytes/);
      expectRefused(() => deriveTransferKeys(alice.eph, randomBytes(33), transcript(alice, bob)), 'ERR_PROTOCOL', /32 bytes/);
    });

    it('gives a different SAS to each side when a key in the middle was swapped', () => {
      const mallory = party();
      // alice thinks she talks to bob but holds mallory's keys, and vice versa.
      const aliceView = deriveTransferKeys(alice.eph, mallory.eph.publicKey, transcript(alice, mallory));
      const bobView = deriveTransferKeys(bob.eph, mallory.eph.publicKey, transcript(mallory, bob));
      expect(aliceView.sas).to.not.equal(bobView.sas);
      expect(aliceView.senderKey.equals(bobView.senderKey)).to.equal(false);
    });
  });

  describe('hello signatures', () => {
    const alice = party();
    const context: HelloContext = { sid: SID, role: 'sender', from: 'alice', to: 'bob', ephemeralKey: alice.eph.publicKey };
    const signature = signHello(alice.id.privateKey, context);

    it('accepts the genuine hello', () => {
      expect(signature).to.have.length(64);
      expect(verifyHello(alice.id.publicKey, context, signature)).to.equal(true);
    });

    const altered: Array<[string, Partial<HelloContext>]> = [
      ['another session', { sid: 'fedcba9876543210fedcba9876543210' }],
      ['the other role', { role: 'receiver' }],
      ['another ephemeral key', { ephemeralKey: ephemeralFromSeed(randomBytes(32)).publicKey }],
      ['another sender ID', { from: 'mallory' }],
      ['another receiver ID', { to: 'mallory' }],
      ['IDs shifted across fields', { from: 'alic', to: 'ebob' }],
    ];
    for (const [what, change] of altered) {
      it(`refuses a hello signed for ${what}`, () => {
        expect(verifyHello(alice.id.publicKey, { ...context, ...change }, signature)).to.equal(false);
      });
    }

    it('refuses its own hello reflected back (the role and direction are signed)', () => {
      expect(verifyHello(alice.id.publicKey, { sid: SID, role: 'receiver', from: 'bob', to: 'alice', ephemeralKey: alice.eph.publicKey }, signature)).to.equal(false);
    });

    it('refuses truncated, extended, empty and zero signatures', () => {
      expect(verifyHello(alice.id.publicKey, context, signature.subarray(0, 63))).to.equal(false);
      expect(verifyHello(alice.id.publicKey, context, signature.subarray(0, 32))).to.equal(false);
      expect(verifyHello(alice.id.publicKey, context, Buffer.concat([signature, Buffer.from([0])]))).to.equal(false);
      expect(verifyHello(alice.id.publicKey, context, Buffer.alloc(0))).to.equal(false);
      expect(verifyHello(alice.id.publicKey, context, Buffer.alloc(64))).to.equal(false);
    });

    it('refuses a signature with any one bit flipped', () => {
      for (const bit of [0, 7, 255, 256, 300, 511]) {
        const bad = Buffer.from(signature);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(verifyHello(alice.id.publicKey, context, bad), `bit ${bit}`).to.equal(false);
      }
    });

    it('refuses a signature made by a different identity key', () => {
      const mallory = party();
      const forged = signHello(mallory.id.privateKey, context);
      expect(verifyHello(alice.id.publicKey, context, forged)).to.equal(false);
      expect(verifyHello(mallory.id.publicKey, context, forged)).to.equal(true); // but mallory's own key verifies: pinning catches that
    });

    it('refuses identity keys of the wrong length', () => {
      expect(verifyHello(alice.id.publicKey.subarray(0, 31), context, signature)).to.equal(false);
      expect(verifyHello(Buffer.concat([alice.id.publicKey, Buffer.from([0])]), context, signature)).to.equal(false);
    });

    it('refuses small-order Ed25519 identity keys, under which OpenSSL accepts a signature nobody made', () => {
      // R = the identity point, S = 0 satisfies [S]B = R + [k]A whenever [k]A is the identity:
      // always for A = the identity, for 1 message in 8 for an order-8 A.
      const forged = Buffer.concat([hex('01' + '00'.repeat(31)), Buffer.alloc(32)]);
      const identityPoint = ED25519_LOW_ORDER[1]![1];
      const raw = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: identityPoint.toString('base64url') }, format: 'jwk' });
      expect(verify(null, helloMessage(context), raw, forged), 'OpenSSL alone accepts the forgery').to.equal(true);
      for (const [name, point] of ED25519_LOW_ORDER) {
        for (const key of [point, withTopBit(point)]) {
          expect(isLowOrderKey('Ed25519', key), name).to.equal(true);
          expect(verifyHello(key, context, forged), name).to.equal(false);
        }
      }
      expect(isLowOrderKey('Ed25519', alice.id.publicKey)).to.equal(false);
    });
  });

  describe('fingerprints', () => {
    it('are 8 groups of 4 base32 characters, stable, and differ between keys', () => {
      const a = identityFromSeed(Buffer.alloc(32, 1));
      const b = identityFromSeed(Buffer.alloc(32, 2));
      expect(fingerprint(a.publicKey)).to.match(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){7}$/);
      expect(fingerprint(a.publicKey)).to.equal(fingerprint(identityFromSeed(Buffer.alloc(32, 1)).publicKey));
      expect(fingerprint(a.publicKey)).to.not.equal(fingerprint(b.publicKey));
    });

    it('are read back in any case, with spaces, dashes or neither', () => {
      const fp = fingerprint(identityFromSeed(randomBytes(32)).publicKey);
      const plain = fp.replace(/-/g, '');
      for (const typed of [fp, fp.toLowerCase(), fp.replace(/-/g, ' '), plain, plain.toLowerCase(), ` ${fp.toLowerCase().replace(/-/g, '  ')}\n`, plain.match(/.{2}/g)!.join('-')]) {
        expect(normalizeFingerprint(typed), JSON.stringify(typed)).to.equal(fp);
      }
    });

    it('refuses malformed text instead of guessing', () => {
      const fp = fingerprint(identityFromSeed(randomBytes(32)).publicKey);
      expectRefused(() => normalizeFingerprint(''), 'ERR_BAD_INPUT', /32 base32 characters/);
      expectRefused(() => normalizeFingerprint(fp.slice(0, -1)), 'ERR_BAD_INPUT', /not 31/);
      expectRefused(() => normalizeFingerprint(fp + 'A'), 'ERR_BAD_INPUT', /not 33/);
      for (const stray of ['0', '1', '8', '9', '.', ':', '_', 'é']) {
        // The stray character replaces one, so only its presence is wrong, not the length.
        expectRefused(() => normalizeFingerprint(stray + fp.slice(1)), 'ERR_BAD_INPUT', /cannot be part of a fingerprint/);
      }
    });
  });
});

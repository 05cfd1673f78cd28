/**
 * Why version 2 commits before it reveals. A rendezvous in the middle agrees one key
 * with each side; it wins if both sides then show the same 6-digit code.
 *
 * Version 1 order: both honest ephemeral keys were on the wire before the MITM had to
 * answer either side, so it could compute both codes for keys of its choosing and search
 * until they matched: with k candidate keys per side, a match among the k² pairs is
 * likely once k² ≈ 10⁶ (a birthday search), i.e. around a thousand tries per side.
 *
 * Version 2 order: the MITM must send its key to the accepter (inside the commitment it
 * forwards) before it sees the accepter's key, and its key to the opener before the
 * opener reveals its own. When it fixes the opener-side key it knows the accepter's code
 * but not the opener's, which depends on the unrevealed key: every choice is one guess.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { deriveTransferKeys, ephemeralFromSeed, helloCommitment, identityFromSeed, signHello, type KeyPair } from '../shared/crypto.js';

const SID = '00112233445566778899aabbccddeeff';
const mitm = identityFromSeed(randomBytes(32));
const alice = identityFromSeed(randomBytes(32)); // the opener
const bob = identityFromSeed(randomBytes(32)); // the accepter

/** The code alice (opener) sees when she agrees a key with the MITM posing as bob. */
function aliceCode(aliceEph: KeyPair, mitmEph: KeyPair, commitment: Buffer): string {
  return deriveTransferKeys(aliceEph, mitmEph.publicKey, {
    sid: SID, commitment, senderId: 'alice', receiverId: 'bob',
    senderIdentity: alice.publicKey, receiverIdentity: mitm.publicKey,
    senderEphemeral: aliceEph.publicKey, receiverEphemeral: mitmEph.publicKey,
  }).sas;
}

/** The code bob (accepter) sees when he agrees a key with the MITM posing as alice. */
function bobCode(bobEph: KeyPair, mitmEph: KeyPair, commitment: Buffer): string {
  return deriveTransferKeys(bobEph, mitmEph.publicKey, {
    sid: SID, commitment, senderId: 'alice', receiverId: 'bob',
    senderIdentity: mitm.publicKey, receiverIdentity: bob.publicKey,
    senderEphemeral: mitmEph.publicKey, receiverEphemeral: bobEph.publicKey,
  }).sas;
}

const mitmCommitment = (eph: KeyPair) =>
  helloCommitment(SID, mitm.publicKey, eph.publicKey, signHello(mitm.privateKey, { sid: SID, role: 'sender', from: 'alice', to: 'bob', ephemeralKey: eph.publicKey }));

describe('trust: commit, then reveal', function () {
  this.timeout(60_000);

  it('without the commitment (both honest keys known first), a MITM finds keys giving both sides the same code', () => {
    const aliceEph = ephemeralFromSeed(randomBytes(32));
    const bobEph = ephemeralFromSeed(randomBytes(32));
    const aliceCommit = randomBytes(32); // stands in for version 1: nothing hidden, alice's key is known
    // Candidates for the key shown to bob, by the code bob would see; then keys shown to alice until one collides.
    const bobSide = new Map<string, KeyPair>();
    let tries = 0;
    let found: { forAlice: KeyPair; forBob: KeyPair } | undefined;
    while (!found && tries < 20_000) {
      tries++;
      const forBob = ephemeralFromSeed(randomBytes(32));
      bobSide.set(bobCode(bobEph, forBob, mitmCommitment(forBob)), forBob);
      const forAlice = ephemeralFromSeed(randomBytes(32));
      const match = bobSide.get(aliceCode(aliceEph, forAlice, aliceCommit));
      if (match) found = { forAlice, forBob: match };
    }
    console.log(`      version 1 order: a matching pair of codes after ${tries} keys per side`);
    expect(found, `no match in ${tries} tries per side`).to.not.equal(undefined);
    expect(aliceCode(aliceEph, found!.forAlice, aliceCommit)).to.equal(bobCode(bobEph, found!.forBob, mitmCommitment(found!.forBob)));
    // A birthday search over 10⁶ codes: about a thousand tries per side (an independent
    // implementation saw 114–1,391), far inside the 30 s hello timeout.
    expect(tries).to.be.below(20_000);
  });

  it('with the commitment, the MITM must fix both of its keys before it learns what decides alice\'s code: one guess per session', () => {
    // The MITM's whole freedom is the two keys it picks. It picks the key shown to bob
    // before bob's key is known, and the key shown to alice before alice's key is revealed.
    // Whatever search it runs over its own keys, alice's code is a fresh draw once alice
    // reveals. Play 500 sessions with the MITM grinding as hard as it can on what it knows:
    // bob's code is known to it, so it picks a key for alice that would match bob's code
    // under a *guessed* alice key. Matches stay at the 1-in-10⁶ rate: none in 500.
    let matches = 0;
    for (let session = 0; session < 500; session++) {
      const forBob = ephemeralFromSeed(randomBytes(32));
      const bobEph = ephemeralFromSeed(randomBytes(32));
      const target = bobCode(bobEph, forBob, mitmCommitment(forBob));
      // Grind against its best stand-in for alice's unrevealed key (it has none better than a guess).
      const guess = ephemeralFromSeed(randomBytes(32));
      const aliceEph = ephemeralFromSeed(randomBytes(32)); // what alice really committed to
      const aliceCommit = helloCommitment(SID, alice.publicKey, aliceEph.publicKey, randomBytes(64));
      let forAlice = ephemeralFromSeed(randomBytes(32));
      for (let t = 0; t < 20 && aliceCode(guess, forAlice, aliceCommit) !== target; t++) forAlice = ephemeralFromSeed(randomBytes(32));
      if (aliceCode(aliceEph, forAlice, aliceCommit) === target) matches++;
    }
    expect(matches).to.equal(0); // P(any) ≈ 500 / 10⁶ = 0.05 %: an honest, not a flaky, bound
  });

  it('the commitment hides the key and binds every field of the hello', () => {
    const eph = ephemeralFromSeed(randomBytes(32));
    const sig = signHello(alice.privateKey, { sid: SID, role: 'sender', from: 'alice', to: 'bob', ephemeralKey: eph.publicKey });
    const c = helloCommitment(SID, alice.publicKey, eph.publicKey, sig);
    expect(c.length).to.equal(32);
    expect(c.includes(eph.publicKey.subarray(0, 8))).to.equal(false);
    const other = ephemeralFromSeed(randomBytes(32));
    expect(helloCommitment(SID, alice.publicKey, other.publicKey, sig).equals(c)).to.equal(false);
    expect(helloCommitment(SID, mitm.publicKey, eph.publicKey, sig).equals(c)).to.equal(false);
    expect(helloCommitment('ffeeddccbbaa99887766554433221100', alice.publicKey, eph.publicKey, sig).equals(c)).to.equal(false);
    const flipped = Buffer.from(sig); flipped[0] ^= 1;
    expect(helloCommitment(SID, alice.publicKey, eph.publicKey, flipped).equals(c)).to.equal(false);
  });
});

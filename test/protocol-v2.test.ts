/**
 * Protocol version 2 against what a rendezvous or an old peer can do: a transport choice
 * changed on its way ends the session on both sides; a version-1 peer gets one clear
 * message naming both versions, whichever side it is on. Real CLIs, a real rendezvous,
 * the MITM of test/helpers/mitm-rendezvous.ts, and raw signals for the old peer.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ephemeralFromSeed, signHello } from '../shared/crypto.js';
import { totpCode } from '../shared/totp.js';
import { errorOf, listTree, randomFile, type Run, tempDir } from './helpers/cli.js';
import { sessionOf } from './helpers/hostile-peer.js';
import { startMitmRendezvous, type MitmRendezvous } from './helpers/mitm-rendezvous.js';
import { startWorld, type World } from './helpers/world.js';


describe('protocol version 2', function () {
  this.timeout(60_000);
  let world: World;
  let mitm: MitmRendezvous;
  let file: string;
  const viaMitm = new Set<string>();

  before(async () => {
    // alice and bob go through the MITM, carol and olde straight to the rendezvous (a home caches one token).
    world = await startWorld(['alice', 'bob', 'carol', 'olde']);
    mitm = await startMitmRendezvous(world.url, 'flip-transport');
    file = path.join(await tempDir(), 'plans.pdf');
    await randomFile(file, 200 * 1024);
  });
  beforeEach(() => mitm.reset());
  after(async () => {
    await mitm?.close();
    await world?.stop();
  });

  /** `--server MITM`, with a fresh code the first time (the login's token is for the real URL). */
  function throughMitm(id: string): string[] {
    if (viaMitm.has(id)) return ['--server', mitm.url];
    viaMitm.add(id);
    return ['--server', mitm.url, '--code', totpCode(world.secrets[id]!, Date.now() + 30_000)];
  }

  // Each sender names its path: by default it would start on the relay and move (PROTOCOL.md "Path moves").
  for (const [told, sendArgs] of [['relay', ['--direct-only']], ['direct', ['--relay']]] as const) {
    it(`a transport choice changed on its way (the accepter told "${told}") ends the session on both sides, with words`, async () => {
      const inbox = await tempDir();
      const bob = world.peer('bob', [...throughMitm('bob'), 'receive', '--dir', inbox, '--yes', '--once']);
      await bob.waitFor('ready');
      const started = Date.now();
      const alice = world.peer('alice', [...throughMitm('alice'), 'send', file, '--to', 'bob', ...sendArgs]);
      const [sent, got] = await Promise.all([alice.exit, bob.exit]);
      expect(mitm.tampered, 'the transport signal was flipped').to.equal(1);
      expect(got, bob.stderr() + bob.stdout()).to.equal(5);
      expect(errorOf(bob)?.code).to.equal('ERR_PROTOCOL');
      expect(errorOf(bob)?.message).to.match(new RegExp(`said the other peer sends over the ${told} path.*changed the agreed transport`));
      expect(sent, alice.stderr() + alice.stdout()).to.equal(5);
      expect(errorOf(alice)?.code).to.equal('ERR_PROTOCOL');
      expect(errorOf(alice)?.message).to.match(/transport choice was changed/);
      expect(Date.now() - started, 'caught at once, not by a timeout').to.be.below(15_000);
      for (const run of [alice, bob]) expect(run.events.map((e) => e.type)).to.not.include.members(['offer', 'progress', 'done']);
      expect(await listTree(inbox)).to.deep.equal([]);
    });
  }

  /** A version-1 hello as a version-1 peer sent it: keys and a valid signature, `v: 1`, no commitment. */
  async function oldHello(home: { identity: () => Promise<{ publicKey: Buffer; privateKey: import('node:crypto').KeyObject }> }, sid: string, role: 'sender' | 'receiver', from: string, to: string) {
    const identity = await home.identity();
    const eph = ephemeralFromSeed(randomBytes(32));
    const signature = signHello(identity.privateKey, { sid, role, from, to, ephemeralKey: eph.publicKey });
    return { type: 'hello' as const, v: 1, identityKey: identity.publicKey.toString('base64'), ephemeralKey: eph.publicKey.toString('base64'), signature: signature.toString('base64') };
  }

  it('a version-1 opener gets a message naming both versions, and so does the receiver', async () => {
    const inbox = await tempDir();
    const carol = world.peer('carol', ['receive', '--dir', inbox, '--yes', '--once']);
    await carol.waitFor('ready');
    const { home, session } = await sessionOf(world, 'olde', false);
    try {
      const sid = await session.open('carol');
      const closed = new Promise<string>((resolve) => session.on('closed', (ev) => { if (ev.sid === sid) resolve(ev.reason); }));
      await session.signal(sid, await oldHello(home, sid, 'sender', 'olde', 'carol'));
      expect(await carol.exit).to.equal(5);
      expect(errorOf(carol)?.message).to.match(/olde speaks sealdrop protocol version 1 and this sealdrop speaks version 2/);
      // What an old peer shows: why the session closed.
      expect(await closed).to.match(/protocol version mismatch.*speaks sealdrop protocol 2, the other peer 1/);
      expect(await listTree(inbox)).to.deep.equal([]);
    } finally {
      session.disconnect();
    }
  });

  it('a version-1 receiver: the sender is told both versions', async () => {
    const { home, session } = await sessionOf(world, 'olde', true);
    try {
      // A version-1 accepter sends its hello as soon as it accepts.
      session.on('request', (req) => {
        req.accept(true);
        oldHello(home, req.sid, 'receiver', 'olde', req.from).then((h) => session.signal(req.sid, h)).catch(() => {});
      });
      const carol = world.peer('carol', ['send', file, '--to', 'olde']);
      expect(await carol.exit).to.equal(5);
      expect(errorOf(carol)?.code).to.equal('ERR_PROTOCOL');
      expect(errorOf(carol)?.message).to.match(/olde speaks sealdrop protocol version 1 and this sealdrop speaks version 2; the two cannot talk until olde upgrades sealdrop/);
    } finally {
      session.disconnect();
    }
  });
});

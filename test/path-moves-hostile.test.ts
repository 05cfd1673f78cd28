/**
 * A hostile rendezvous against path moves, the MITM of test/helpers/mitm-rendezvous.ts in
 * front of a real rendezvous, real CLIs:
 * - after the transfer moved from the relay start to the direct path (`replay-moves`), it
 *   sends the receiver every relay frame it had delivered again, and forged `move` frames
 *   (genuine frames re-labelled as move #0…#3, random ones). None is a sealed move at the
 *   next position of the move stream, so none moves anything or is taken as data;
 * - a direct transfer that stalls (the receiver is stopped) moves to the relay: delivered
 *   twice, the genuine `move` changes nothing (`duplicate-move`); two data chunks swapped on
 *   the relay once it carries the transfer (after the receiver's `moved`: `reorder-after-move`)
 *   fail the receiver's order check, naming the first, and no file takes its name.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { MOVE_STREAM } from '../shared/framing.js';
import { totpCode } from '../shared/totp.js';
import { errorOf, listTree, randomFile, sha256File, tempDir, type Run } from './helpers/cli.js';
import { startMitmRendezvous, type MitmRendezvous } from './helpers/mitm-rendezvous.js';
import { startWorld, type World } from './helpers/world.js';

describe('path moves against a hostile rendezvous', function () {
  this.timeout(60_000);
  /** The world the tests use now: `relayFirst`, then `moving`. */
  let world: World;
  let relayFirst: World;
  /** A rendezvous whose transfers start direct: the move under attack is to the relay. */
  let moving: World;
  let mitm: MitmRendezvous;
  let file: string;
  let sha: string;

  before(async () => {
    world = relayFirst = await startWorld(['alice', 'bob']);
    moving = await startWorld(['alice', 'bob'], ['--no-relay-start']);
    mitm = await startMitmRendezvous(world.url, 'replay-moves');
    file = path.join(await tempDir(), 'ledger.bin');
    sha = await randomFile(file, 64 * 1024 * 1024 + 7);
  });
  after(async () => {
    await mitm?.close();
    await relayFirst?.stop();
    await moving?.stop();
  });

  /** `--server MITM`, with a fresh code the first time (later the token cached for the MITM's URL). */
  const viaMitm = new Set<string>();
  function throughMitm(id: string): string[] {
    if (viaMitm.has(id)) return ['--server', mitm.url];
    viaMitm.add(id);
    return ['--server', mitm.url, '--code', totpCode(world.secrets[id]!, Date.now() + 30_000)];
  }

  /** Sends the file from alice on the direct path; stops bob at his first bytes until alice's move to the relay went by. */
  async function stallThenMove(inbox: string): Promise<{ alice: Run; bob: Run }> {
    // What an earlier test left in the log (its own move) must not be taken for this transfer's move.
    mitm.reset();
    const bob = world.peer('bob', [...throughMitm('bob'), 'receive', '--dir', inbox, '--yes', '--once']);
    await bob.waitFor('ready');
    const alice = world.peer('alice', [...throughMitm('alice'), 'send', file, '--to', 'bob', '--timeout', '10']);
    expect((await alice.waitFor('secured')).transport, '--no-relay-start: direct first').to.equal('direct');
    for (const until = Date.now() + 20_000; !bob.events.some((e) => e.type === 'progress' && e.bytes > 0);) {
      if (Date.now() > until) throw new Error(`bob never progressed: ${bob.stdout()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    bob.child.kill('SIGSTOP');
    // A move-stream frame (its header is in clear) sent down to bob over the relay.
    const isMove = (f: unknown) => Buffer.isBuffer(f) && f.length >= 14 && f[0] === 1 && f.readUInt32BE(1) === MOVE_STREAM;
    const moveSent = () => mitm.log.some((e) => e.direction === 'down' && e.account === 'bob' && e.event === 'relay:frame' && isMove(e.args[1]));
    for (const until = Date.now() + 20_000; !moveSent();) {
      if (Date.now() > until) { bob.child.kill('SIGCONT'); throw new Error(`alice never moved: ${alice.stdout()}`); }
      await new Promise((r) => setTimeout(r, 20));
    }
    bob.child.kill('SIGCONT');
    return { alice, bob };
  }

  it('replayed relay frames and forged moves after a move change nothing: the verified file, and only it', async () => {
    const inbox = await tempDir();
    const bob = world.peer('bob', [...throughMitm('bob'), 'receive', '--dir', inbox, '--yes', '--once']);
    await bob.waitFor('ready');
    const alice = world.peer('alice', [...throughMitm('alice'), 'send', file, '--to', 'bob']);
    expect((await alice.waitFor('secured')).transport, 'relay start').to.equal('relay');
    expect((await bob.waitFor('path')).transport).to.equal('direct');
    // Bob is held while the replay queues up, so it lands among the direct path's frames.
    bob.child.kill('SIGSTOP');
    const replaying = mitm.replay('bob');
    await new Promise((r) => setTimeout(r, 200)); // the replay is written to bob's socket, not yet read
    bob.child.kill('SIGCONT');
    const injected = await replaying;
    expect(injected, `the MITM replayed frames and forged moves: ${mitm.log.filter((e) => e.account === 'bob' && e.direction === 'down').map((e) => e.event).join(',')} ${bob.stdout().slice(0, 800)}`).to.be.above(8);
    expect(await alice.exit, alice.stderr() + alice.stdout()).to.equal(0);
    expect(await bob.exit, bob.stderr() + bob.stdout()).to.equal(0);
    const done = bob.events.find((e) => e.type === 'done')!;
    expect(done.transport).to.equal('direct');
    expect(bob.events.filter((e) => e.type === 'path').map((e) => e.transport), 'no move but the real one').to.deep.equal(['direct']);
    expect(await listTree(inbox)).to.deep.equal(['ledger.bin']);
    expect(await sha256File(path.join(inbox, 'ledger.bin'))).to.equal(sha);
    await fs.rm(inbox, { recursive: true });
  });

  describe('when a stalled direct transfer moves to the relay', () => {
    before(async () => {
      await mitm.close();
      world = moving;
      viaMitm.clear();
      mitm = await startMitmRendezvous(moving.url, 'duplicate-move');
      mitm.victim = 'bob';
    });

    it('a genuine move delivered twice moves once; the transfer finishes verified', async () => {
      mitm.mode = 'duplicate-move';
      const inbox = await tempDir();
      const { alice, bob } = await stallThenMove(inbox);
      expect(await alice.exit, alice.stderr() + alice.stdout()).to.equal(0);
      expect(await bob.exit, bob.stderr() + bob.stdout()).to.equal(0);
      expect(mitm.tampered, 'the move was delivered twice').to.be.at.least(1);
      // Once, then never twice in a row: on a slow machine the transfer may outlast the mover's
      // retry of the direct path (which recovered once bob ran again) and rightly move back.
      const moves = bob.events.filter((e) => e.type === 'path').map((e) => e.transport);
      expect(moves[0], moves.join(',')).to.equal('relay');
      for (let i = 1; i < moves.length; i++) expect(moves[i], `no move to the path it is on: ${moves.join(',')}`).to.not.equal(moves[i - 1]);
      const done = bob.events.find((e) => e.type === 'done')!;
      expect(done.paths.direct).to.be.above(0);
      expect(done.paths.relay).to.be.above(0);
      expect(await listTree(inbox)).to.deep.equal(['ledger.bin']);
      expect(await sha256File(path.join(inbox, 'ledger.bin'))).to.equal(sha);
      await fs.rm(inbox, { recursive: true });
    });

    it('two data chunks swapped right after the move, on the path that carries it, fail the order check: no file under its name', async () => {
      mitm.mode = 'reorder-after-move';
      const inbox = await tempDir();
      const { alice, bob } = await stallThenMove(inbox);
      const bobCode = await bob.exit;
      const aliceCode = await alice.exit;
      // Swapped on the path that carries the transfer (after bob's `moved` went up over it), two data chunks
      // at his next positions: bob must refuse the first of them, by name, and nothing takes its name.
      expect(mitm.swapped, `two consecutive data chunks were swapped on the carrying path: ${bob.stdout().slice(-600)}`).to.have.length(1);
      const [first, second] = mitm.swapped[0]!;
      expect(bobCode, bob.stdout()).to.not.equal(0);
      expect(errorOf(bob)?.code, bob.stdout()).to.equal('ERR_INTEGRITY');
      expect(errorOf(bob)?.message).to.include(`expected data chunk ${first}, got data chunk ${second}`);
      expect(aliceCode).to.not.equal(0);
      expect(bob.events.filter((e) => e.type === 'path').map((e) => e.transport), 'bob followed the move first').to.deep.equal(['relay']);
      expect(bob.events.find((e) => e.type === 'done')).to.equal(undefined);
      // Only the hidden partial file, kept to resume from, may remain.
      for (const name of await listTree(inbox)) expect(name).to.match(/^\..*:sealdrop-part$/);
      await fs.rm(inbox, { recursive: true });
    });
  });
});

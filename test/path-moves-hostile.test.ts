/**
 * A hostile rendezvous against path moves: after the transfer moved from the relay start
 * to the direct path, the MITM of test/helpers/mitm-rendezvous.ts (`replay-moves`) sends
 * the receiver every relay frame it had delivered again, and forged `move` frames
 * (genuine frames re-labelled as move #0…#3, random ones). None is a sealed move at the
 * next position of the move stream, so none moves anything or is taken as data: the
 * transfer finishes on the direct path with the verified file and nothing else.
 * Real CLIs, a real rendezvous behind the MITM.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { totpCode } from '../shared/totp.js';
import { listTree, randomFile, sha256File, tempDir } from './helpers/cli.js';
import { startMitmRendezvous, type MitmRendezvous } from './helpers/mitm-rendezvous.js';
import { startWorld, type World } from './helpers/world.js';

describe('path moves against a hostile rendezvous', function () {
  this.timeout(60_000);
  let world: World;
  let mitm: MitmRendezvous;
  let file: string;
  let sha: string;

  before(async () => {
    world = await startWorld(['alice', 'bob']);
    mitm = await startMitmRendezvous(world.url, 'replay-moves');
    file = path.join(await tempDir(), 'ledger.bin');
    sha = await randomFile(file, 64 * 1024 * 1024 + 7);
  });
  after(async () => {
    await mitm?.close();
    await world?.stop();
  });

  /** `--server MITM` with a fresh code (the login's token is for the real URL). */
  const throughMitm = (id: string) => ['--server', mitm.url, '--code', totpCode(world.secrets[id]!, Date.now() + 30_000)];

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
    expect(injected, 'the MITM replayed frames and forged moves').to.be.above(8);
    expect(await alice.exit, alice.stderr() + alice.stdout()).to.equal(0);
    expect(await bob.exit, bob.stderr() + bob.stdout()).to.equal(0);
    const done = bob.events.find((e) => e.type === 'done')!;
    expect(done.transport).to.equal('direct');
    expect(bob.events.filter((e) => e.type === 'path').map((e) => e.transport), 'no move but the real one').to.deep.equal(['direct']);
    expect(await listTree(inbox)).to.deep.equal(['ledger.bin']);
    expect(await sha256File(path.join(inbox, 'ledger.bin'))).to.equal(sha);
    await fs.rm(inbox, { recursive: true });
  });
});

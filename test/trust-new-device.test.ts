/**
 * An account used from a new device has a new identity key: the peer that pinned
 * the old one refuses it until the user re-trusts it with the fingerprint read
 * from the new device, then accepts it. Real spawned CLIs and rendezvous.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { totpCode } from '../shared/totp.js';
import { errorOf, listTree, PEER_CLI, randomFile, type Run, sha256File, spawnCli, tempDir } from './helpers/cli.js';
import { startWorld, type World } from './helpers/world.js';

describe('trust: an account on a new device', function () {
  this.timeout(60_000);
  let world: World;
  let work: string;
  let newHome: string;

  before(async () => {
    world = await startWorld(['alice', 'bob']);
    work = await tempDir();
    newHome = path.join(work, 'bob-laptop');
  });
  after(async () => {
    await world?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** `sealdrop` run in bob's new home folder. */
  const newDevice = (args: string[]): Run => spawnCli(PEER_CLI, ['--home', newHome, '--json', ...args]);
  const fingerprintIn = async (run: Run) => { expect(await run.exit, run.stderr()).to.equal(0); return run.events[0]!.fingerprint as string; };

  async function transfer(receiver: Run, name: string) {
    const src = path.join(work, name);
    const sha = await randomFile(src, 20_000);
    await receiver.waitFor('ready');
    const sender = world.peer('alice', ['send', src, '--to', 'bob']);
    const [sent, got] = await Promise.all([sender.exit, receiver.exit]);
    return { sender, receiver, sent, got, sha };
  }

  it('is refused until re-trusted with `sealdrop trust`, then accepted', async () => {
    // Alice pins bob's first device on a first transfer.
    const oldFp = await fingerprintIn(world.peer('bob', ['fingerprint']));
    const inbox0 = await tempDir();
    const first = await transfer(world.peer('bob', ['receive', '--dir', inbox0, '--yes', '--once']), 'first.bin');
    expect(first.sent, first.sender.stderr()).to.equal(0);
    expect(first.sender.events.find((e) => e.type === 'secured')!.peerFingerprint).to.equal(oldFp);

    // Bob sets up a new device: same account and TOTP secret, a new home, so a new identity key.
    // (The next step's code: this step's was spent by the first device's login.)
    const login = newDevice(['login', '--server', world.url, '--id', 'bob', '--secret', world.secrets.bob!, '--code', totpCode(world.secrets.bob!, Date.now() + 30_000)]);
    expect(await login.exit, login.stderr()).to.equal(0);
    const newFp = await fingerprintIn(newDevice(['fingerprint']));
    expect(newFp).to.not.equal(oldFp);

    // Refused: alice sees the old and new fingerprints and the command to re-trust.
    const inbox1 = await tempDir();
    const refused = await transfer(newDevice(['receive', '--dir', inbox1, '--yes', '--once']), 'refused.bin');
    expect(refused.sent).to.equal(5);
    const err = errorOf(refused.sender)!;
    expect(err.code).to.equal('ERR_KEY_CHANGED');
    expect(err.message).to.include(`pinned: ${oldFp}`).and.include(`now: ${newFp}`).and.include(`sealdrop trust bob ${newFp}`);
    expect(refused.sender.events.map((e) => e.type)).to.not.include('secured');
    expect(refused.got, 'the new device got nothing').to.not.equal(0);
    expect(await listTree(inbox1)).to.deep.equal([]);

    // Alice checks the new fingerprint with bob out of band and types it as read aloud.
    const trust = world.peer('alice', ['trust', 'bob', newFp.toLowerCase().replace(/-/g, ' ')]);
    expect(await trust.exit, trust.stderr()).to.equal(0);
    expect(trust.events[0]).to.deep.equal({ type: 'trusted', id: 'bob', fingerprint: newFp });

    // Accepted now, and the file arrives.
    const inbox2 = await tempDir();
    const accepted = await transfer(newDevice(['receive', '--dir', inbox2, '--yes', '--once']), 'accepted.bin');
    expect(accepted.sent, accepted.sender.stderr()).to.equal(0);
    expect(accepted.got, accepted.receiver.stderr()).to.equal(0);
    expect(accepted.sender.events.find((e) => e.type === 'secured')!.peerFingerprint).to.equal(newFp);
    expect(await sha256File(path.join(inbox2, 'accepted.bin'))).to.equal(accepted.sha);
    const pins = JSON.parse(await fs.readFile(path.join(world.homes.alice!, 'known_peers.json'), 'utf8'));
    expect(pins.peers.bob).to.equal(newFp);
    for (const dir of [inbox0, inbox1, inbox2]) await fs.rm(dir, { recursive: true, force: true });
  });
});

/** End to end through the spawned CLIs: files of edge sizes arrive bit-identical over the direct path. */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { listTree, randomFile, sha256File, tempDir } from './helpers/cli.js';
import { startWorld, type World } from './helpers/world.js';

const CHUNK = 128 * 1024;

describe('direct transfer through the CLI', function () {
  this.timeout(120_000);
  let world: World;
  let work: string;

  before(async () => {
    world = await startWorld(['alice', 'bob'], ['--no-relay-start']); // direct from the first byte, whatever the timing
    work = await tempDir();
  });
  after(async () => {
    await world?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  for (const [label, size] of [['0-byte', 0], ['1-byte', 1], ['chunk-size', CHUNK], ['chunk-size+1', CHUNK + 1], ['64 MiB', 64 * 1024 * 1024]] as const) {
    it(`sends a ${label} file bit-identical`, async () => {
      const src = path.join(work, `${label.replace(/\W/g, '_')}.bin`);
      const sha = await randomFile(src, size);
      const inbox = await tempDir();
      const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      // --direct-only: on a loaded machine an auto transfer may rightly move to the relay when the
      // channel stalls for seconds (test/path-moves.test.ts); this one is about the direct path alone.
      const sender = world.peer('alice', ['send', src, '--to', 'bob', '--direct-only']);
      const [sent, got] = await Promise.all([sender.exit, receiver.exit]);
      expect(sent, sender.stderr()).to.equal(0);
      expect(got, receiver.stderr()).to.equal(0);
      const done = sender.events.find((e) => e.type === 'done')!;
      expect(done.transport).to.equal('direct');
      expect(done.resumed).to.equal(0);
      expect(done.files).to.deep.equal([{ name: path.basename(src), bytes: size, sha256: sha }]);
      const rdone = receiver.events.find((e) => e.type === 'done')!;
      expect(rdone.files[0].sha256).to.equal(sha);
      expect(await listTree(inbox)).to.deep.equal([path.basename(src)]);
      expect(await sha256File(path.join(inbox, path.basename(src)))).to.equal(sha);
      await fs.rm(inbox, { recursive: true });
    });
  }

  it('never overwrites: a second copy gets a new name', async () => {
    const src = path.join(work, 'report.txt');
    await fs.writeFile(src, 'new content');
    const inbox = await tempDir();
    await fs.writeFile(path.join(inbox, 'report.txt'), 'precious');
    const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    const sender = world.peer('alice', ['send', src, '--to', 'bob']);
    expect(await sender.exit, sender.stderr()).to.equal(0);
    expect(await receiver.exit).to.equal(0);
    expect(await fs.readFile(path.join(inbox, 'report.txt'), 'utf8')).to.equal('precious');
    expect(await fs.readFile(path.join(inbox, 'report (1).txt'), 'utf8')).to.equal('new content');
  });

  it('fails clearly when the peer is offline', async () => {
    const src = path.join(work, 'x.txt');
    await fs.writeFile(src, 'x');
    const sender = world.peer('alice', ['send', src, '--to', 'bob']);
    expect(await sender.exit).to.not.equal(0);
    const err = sender.events.find((e) => e.type === 'error')!;
    expect(err.code).to.equal('ERR_PEER_OFFLINE');
  });

  it('shows the same verification code on both sides and pins keys', async () => {
    const src = path.join(work, 'sas.txt');
    await fs.writeFile(src, 'sas');
    const inbox = await tempDir();
    const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    const sender = world.peer('alice', ['send', src, '--to', 'bob']);
    expect(await sender.exit).to.equal(0);
    expect(await receiver.exit).to.equal(0);
    const a = sender.events.find((e) => e.type === 'secured')!;
    const b = receiver.events.find((e) => e.type === 'secured')!;
    expect(a.sas).to.match(/^\d{3} \d{3}$/);
    expect(a.sas).to.equal(b.sas);
    const bobFp = world.peer('bob', ['fingerprint']);
    expect(await bobFp.exit).to.equal(0);
    expect(a.peerFingerprint).to.equal(bobFp.events[0]!.fingerprint);
    const pins = JSON.parse(await fs.readFile(path.join(world.homes.alice!, 'known_peers.json'), 'utf8'));
    expect(pins.peers.bob).to.equal(a.peerFingerprint);
  });
});

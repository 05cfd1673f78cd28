/**
 * Resume under attack and under pressure: a peer cannot plant a file where
 * another sender's partial file lives, and a transfer that ran out of space
 * resumes once there is room for what is still to come.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CHUNK_SIZE } from '../shared/constants.js';
import { errorOf, listTree, PEER_CLI, randomFile, type Run, sha256File, spawnCli, tempDir } from './helpers/cli.js';
import { hostileOpen } from './helpers/hostile-peer.js';
import { offer, partialsIn, reply, stream, until } from './helpers/hostile-stream.js';
import { startWorld, type World } from './helpers/world.js';

const MiB = 1024 * 1024;

describe('hostile peer: resume', function () {
  this.timeout(120_000);
  let world: World;
  let work: string;

  before(async () => {
    world = await startWorld(['alice', 'bob', 'mallory']);
    work = await tempDir();
  });
  after(async () => {
    await world?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });


  it('a file named like another sender\'s partial file cannot spoil that sender\'s resume', async () => {
    const inbox = await tempDir();
    const src = path.join(work, 'movie.bin');
    const sha = await randomFile(src, 4 * CHUNK_SIZE + 100);
    const data = await fs.readFile(src);
    const mtime = Math.floor((await fs.stat(src)).mtimeMs);

    // Alice's first attempt stops after two chunks (the sender goes away): a partial file stays.
    let bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await bob.waitFor('ready');
    const cut = await hostileOpen(world, 'alice', 'bob');
    expect(await offer(cut, [{ name: 'movie.bin', size: data.length, mtime }])).to.deep.include({ t: 'accept', from: [0] });
    await stream(cut, data.subarray(0, 2 * CHUNK_SIZE), 0, false);
    await until(async () => (await partialsIn(inbox)).length === 1, 'alice\'s partial file');
    cut.close();
    expect(await bob.exit).to.not.equal(0);
    const [partial] = await partialsIn(inbox);
    const partialName = path.basename(partial!);
    expect(partialName).to.match(/^\.[0-9a-f]{32}:sealdrop-part$/);
    const before = await fs.readFile(partial!);
    expect(before.length).to.equal(2 * CHUNK_SIZE);

    // Mallory offers a file under exactly that name: refused (':' is never in a received name).
    bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await bob.waitFor('ready');
    const m = await hostileOpen(world, 'mallory', 'bob');
    try {
      const answer = await offer(m, [{ name: partialName, size: 5 }]);
      expect(answer).to.include({ t: 'reject', code: 'ERR_BAD_INPUT' });
      expect(answer.message).to.match(/not allowed in file names/);
    } finally {
      m.close();
    }
    expect(await bob.exit).to.not.equal(0);

    // And under the old partial-name shape, it is just a file like any other.
    const oldShape = partialName.replace(':', '.');
    bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await bob.waitFor('ready');
    const m2 = await hostileOpen(world, 'mallory', 'bob');
    const junk = Buffer.from('junk!');
    try {
      expect((await offer(m2, [{ name: oldShape, size: junk.length }])).t).to.equal('accept');
      await stream(m2, junk);
      await m2.send({ t: 'hashes', sha256: [(await import('node:crypto')).createHash('sha256').update(junk).digest('hex')] });
      expect((await reply(m2)).t).to.equal('complete');
    } finally {
      m2.close();
    }
    expect(await bob.exit).to.equal(0);
    expect((await fs.readFile(partial!)).equals(before), 'alice\'s partial is untouched').to.equal(true);

    // Alice sends again with the real CLI: it resumes from her two chunks and completes.
    bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await bob.waitFor('ready');
    const alice = world.peer('alice', ['send', src, '--to', 'bob']);
    expect(await alice.exit, alice.stderr()).to.equal(0);
    expect(await bob.exit, bob.stderr()).to.equal(0);
    expect(alice.events.find((e) => e.type === 'done')!.resumed).to.equal(2 * CHUNK_SIZE);
    expect(await sha256File(path.join(inbox, 'movie.bin'))).to.equal(sha);
    expect(await listTree(inbox)).to.deep.equal(['movie.bin', oldShape].sort());
    await fs.rm(inbox, { recursive: true });
  });

  it('after ENOSPC the resend asks only for the space still needed, and completes', async function () {
    // The receiver runs in a mount namespace where its target folder is a 4 MiB tmpfs; this
    // process reaches that folder through /proc/<pid>/root. Needs root (CI runs the suite as root).
    const mount = await tempDir();
    const holder: ChildProcess = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=4m none ${mount} && echo mounted && exec sleep 600`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const mounted = await new Promise<boolean>((resolve) => {
      holder.stdout!.on('data', (d: Buffer) => { if (String(d).includes('mounted')) resolve(true); });
      holder.on('exit', () => resolve(false));
      holder.on('error', () => resolve(false));
    });
    if (!mounted) {
      console.log('SKIP ENOSPC then resume: cannot mount a tmpfs in a private mount namespace here (needs root)');
      this.skip();
    }
    const view = `/proc/${holder.pid}/root${mount}`;
    const inNamespace = (args: string[]) => spawnCli('nsenter', ['-t', String(holder.pid), '-m', PEER_CLI, '--home', world.homes.bob!, '--json', ...args]);
    try {
      const src = path.join(work, 'big.bin');
      const sha = await randomFile(src, 3 * MiB);
      const data = await fs.readFile(src);
      const mtime = Math.floor((await fs.stat(src)).mtimeMs);

      // First attempt: the offer fits when checked, then a local file takes the room mid-transfer.
      let bob = inNamespace(['receive', '--dir', mount, '--yes', '--once']);
      await bob.waitFor('ready');
      const first = await hostileOpen(world, 'alice', 'bob');
      try {
        expect(await offer(first, [{ name: 'big.bin', size: data.length, mtime }])).to.deep.include({ t: 'accept', from: [0] });
        await fs.writeFile(path.join(view, 'filler'), Buffer.alloc(2.5 * MiB));
        await stream(first, data).catch(() => {});
        const answer = await reply(first);
        expect(answer).to.include({ t: 'abort', code: 'ERR_SPACE' });
        expect(answer.message).to.not.include(mount);
      } finally {
        first.close();
      }
      expect(await bob.exit).to.not.equal(0);
      expect(errorOf(bob)?.code, bob.stdout()).to.equal('ERR_SPACE');
      const [partial] = await partialsIn(view);
      const kept = (await fs.stat(partial!)).size;
      expect(kept, 'a partial file holds what fitted').to.be.greaterThan(CHUNK_SIZE);

      // Room again, though not for the whole file: 3 MiB declared, about 4 − 1.5 MiB free.
      await fs.rm(path.join(view, 'filler'));
      const free = (await fs.statfs(view)).bavail * (await fs.statfs(view)).bsize;
      expect(free, 'the whole file would not fit: only the rest does').to.be.below(data.length);

      bob = inNamespace(['receive', '--dir', mount, '--yes', '--once']);
      await bob.waitFor('ready');
      const alice = world.peer('alice', ['send', src, '--to', 'bob']);
      expect(await alice.exit, alice.stdout() + alice.stderr()).to.equal(0);
      expect(await bob.exit, bob.stdout()).to.equal(0);
      const resumed = alice.events.find((e) => e.type === 'done')!.resumed;
      expect(resumed).to.be.greaterThan(0);
      expect(resumed).to.equal(Math.floor(kept / CHUNK_SIZE) * CHUNK_SIZE);
      expect(await sha256File(path.join(view, 'big.bin'))).to.equal(sha);
      expect(await partialsIn(view)).to.deep.equal([]);
    } finally {
      holder.kill('SIGKILL');
      await fs.rm(mount, { recursive: true, force: true }).catch(() => {});
    }
  });
});

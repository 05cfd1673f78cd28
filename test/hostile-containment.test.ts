/**
 * A hostile peer, helped by a local process that changes the target folder
 * while the files arrive, cannot make the receiver write, create or rename
 * anything outside that folder. The receiver is the real CLI; the sender is a
 * real account running the real handshake and then streaming what the test
 * says, so it can pause between two files exactly while the folder changes.
 */
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CHUNK_SIZE } from '../shared/constants.js';
import { errorOf, listTree, type Run, tempDir } from './helpers/cli.js';
import { hostileOpen, type HostileLink } from './helpers/hostile-peer.js';
import { offer, partialsIn, reply, stream, until } from './helpers/hostile-stream.js';
import { startWorld, type World } from './helpers/world.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** The partial-file key of docs/PROTOCOL.md (receiver file handling, step 5). */
const partialKey = (from: string, name: string, size: number, mtime?: number) =>
  createHash('sha256').update(JSON.stringify(['sealdrop/1 partial', from, name, size, mtime ?? null])).digest('hex').slice(0, 32);

describe('hostile peer: containment while the folder changes', function () {
  this.timeout(120_000);
  let world: World;
  let parent: string;
  let inbox: string;
  let outside: string;
  let h: HostileLink | undefined;

  before(async () => { world = await startWorld(['mallory', 'bob', 'alice']); });
  after(async () => { await world?.stop(); });
  beforeEach(async () => {
    parent = await tempDir();
    inbox = path.join(parent, 'inbox');
    outside = path.join(parent, 'outside');
    await fs.mkdir(inbox);
    await fs.mkdir(outside);
  });
  afterEach(async () => {
    h?.close();
    h = undefined;
    await fs.rm(parent, { recursive: true, force: true });
  });

  const receiver = async (): Promise<Run> => {
    const run = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await run.waitFor('ready');
    return run;
  };
  /** What the peer was told carries no path of the receiver's. */
  const namesNoPath = (msg: Record<string, any>) => {
    expect(msg.message, JSON.stringify(msg)).to.be.a('string');
    for (const local of [parent, inbox, outside, '/tmp', world.homes.bob!]) expect(msg.message).to.not.include(local);
  };

  const first = Buffer.alloc(CHUNK_SIZE, 1); // exactly one chunk: the second file starts with the next one
  const second = Buffer.from('the second file');
  const twoFiles = [{ name: 'one.bin', size: first.length }, { name: 'two.txt', size: second.length }];

  /** Mallory offers two files, streams the first, and calls `change` once the receiver has opened it. */
  const betweenTwoFiles = async (change: () => Promise<void>) => {
    const bob = await receiver();
    h = await hostileOpen(world, 'mallory', 'bob');
    expect((await offer(h, twoFiles)).t).to.equal('accept');
    await stream(h, first, 0, false);
    await until(async () => (await partialsIn(inbox)).length === 1, 'the first partial file');
    await change();
    await stream(h, second, 1, true).catch(() => {});
    await h.send({ t: 'hashes', sha256: [sha(first), sha(second)] }).catch(() => {});
    const answer = await reply(h);
    return { bob, answer, code: await bob.exit };
  };

  it('--dir swapped for a symlink to an outside folder between two files: nothing lands outside, ERR_IO in words', async () => {
    const { bob, answer, code } = await betweenTwoFiles(async () => {
      await fs.rename(inbox, `${inbox}.orig`);
      await fs.symlink(outside, inbox);
    });
    expect(await listTree(outside), 'nothing outside').to.deep.equal([]);
    expect(code).to.not.equal(0);
    const err = errorOf(bob)!;
    expect(err.code, bob.stdout()).to.equal('ERR_IO');
    expect(err.message).to.match(/moved, removed or replaced while receiving/);
    expect(answer).to.include({ t: 'abort', code: 'ERR_IO' });
    namesNoPath(answer);
    // What did arrive stayed in the original folder, and only as a partial file.
    const kept = await listTree(`${inbox}.orig`);
    expect(kept).to.have.length(1);
    expect(kept[0]).to.match(/^\.[0-9a-f]{32}:sealdrop-part$/);
  });

  it('the target folder deleted mid-transfer and a symlink put in its place: nothing outside, ERR_IO', async () => {
    const { bob, code } = await betweenTwoFiles(async () => {
      await fs.rm(inbox, { recursive: true });
      await fs.symlink(outside, inbox);
    });
    expect(await listTree(outside)).to.deep.equal([]);
    expect(code).to.not.equal(0);
    expect(errorOf(bob)?.code, bob.stdout()).to.equal('ERR_IO');
  });

  it('a subfolder swapped for a symlink after the first file: the second file is not written through it', async () => {
    const nested = [{ name: 'sub/one.bin', size: first.length }, { name: 'sub/two.txt', size: second.length }];
    const bob = await receiver();
    h = await hostileOpen(world, 'mallory', 'bob');
    expect((await offer(h, nested)).t).to.equal('accept');
    await stream(h, first, 0, false);
    await until(async () => (await partialsIn(path.join(inbox, 'sub'))).length === 1, 'the first partial file');
    await fs.rename(path.join(inbox, 'sub'), path.join(inbox, 'sub.aside'));
    await fs.symlink(outside, path.join(inbox, 'sub'));
    await stream(h, second, 1, true).catch(() => {});
    await h.send({ t: 'hashes', sha256: [sha(first), sha(second)] }).catch(() => {});
    const answer = await reply(h);
    expect(await bob.exit).to.not.equal(0);
    expect(await listTree(outside)).to.deep.equal([]);
    expect(errorOf(bob)?.code, bob.stdout()).to.equal('ERR_IO');
    expect(errorOf(bob)?.message).to.match(/moved, removed or replaced|not a folder/);
    namesNoPath(answer);
  });

  it('a local process flipping a subfolder between a folder and a symlink: never outside, never ERR_INTERNAL (20 attempts)', async function () {
    this.timeout(180_000);
    const src = path.join(parent, 'src', 'sub');
    await fs.mkdir(path.join(src, 'deep'), { recursive: true });
    for (const n of ['a', 'b', 'c', 'd']) await fs.writeFile(path.join(src, `${n}.txt`), `file ${n}`);
    await fs.writeFile(path.join(src, 'deep', 'e.bin'), Buffer.alloc(3 * CHUNK_SIZE + 5, 7));
    // The flipper: `inbox/sub` is a folder, then a symlink to `outside`, then gone, over and over.
    // What it moves aside stays inside the target folder; it never touches `outside`.
    const flipper: ChildProcess = spawn(process.execPath, ['-e', `
      const fs = require('fs'), path = require('path');
      const [inbox, out] = process.argv.slice(1), sub = path.join(inbox, 'sub'), pause = new Int32Array(new SharedArrayBuffer(4));
      for (let i = 0; ; i++) {
        try { fs.rmdirSync(sub); } catch { try { fs.renameSync(sub, path.join(inbox, '.aside-' + i)); } catch {} }
        try { fs.symlinkSync(out, sub); } catch {}
        if (i % 4 === 0) Atomics.wait(pause, 0, 0, 1);
        try { fs.unlinkSync(sub); } catch {}
        try { fs.mkdirSync(sub); } catch {}
        if (i % 4 === 2) Atomics.wait(pause, 0, 0, 1);
      }`, inbox, outside], { stdio: 'ignore' });
    const outcomes: Record<string, number> = {};
    try {
      for (let attempt = 0; attempt < 20; attempt++) {
        const bob = await receiver();
        const alice = world.peer('alice', ['send', src, '--to', 'bob', '--relay']);
        const [sent, got] = await Promise.all([alice.exit, bob.exit]);
        const codes = [errorOf(alice)?.code, errorOf(bob)?.code];
        const key = got === 0 ? 'received' : `failed ${codes[1]}`;
        outcomes[key] = (outcomes[key] ?? 0) + 1;
        expect(codes, `attempt ${attempt}: ${bob.stdout()}`).to.not.include('ERR_INTERNAL');
        expect(await listTree(outside), `attempt ${attempt}: nothing outside`).to.deep.equal([]);
        if (got !== 0) expect(codes[1], bob.stdout()).to.be.oneOf(['ERR_IO', 'ERR_INTEGRITY', 'ERR_PEER_GONE']);
        if (sent === 0) expect(got).to.equal(0);
      }
    } finally {
      flipper.kill('SIGKILL');
    }
    console.log(`      flip race outcomes: ${JSON.stringify(outcomes)}`);
    expect(await listTree(outside)).to.deep.equal([]);
  });

  it('a symlink planted at a file\'s final name is left alone: the file takes a numbered name', async () => {
    const target = path.join(outside, 'target.txt');
    await fs.writeFile(target, 'keep me');
    await fs.symlink(target, path.join(inbox, 'report.txt'));
    const body = Buffer.from('from mallory');
    const bob = await receiver();
    h = await hostileOpen(world, 'mallory', 'bob');
    expect((await offer(h, [{ name: 'report.txt', size: body.length }])).t).to.equal('accept');
    await stream(h, body);
    await h.send({ t: 'hashes', sha256: [sha(body)] });
    expect((await reply(h)).t).to.equal('complete');
    h.close(); // the receiver waits for the sender to close after complete
    expect(await bob.exit).to.equal(0);
    expect(await fs.readFile(target, 'utf8')).to.equal('keep me');
    expect(await fs.readlink(path.join(inbox, 'report.txt'))).to.equal(target);
    expect(await fs.readFile(path.join(inbox, 'report (1).txt'), 'utf8')).to.equal('from mallory');
    expect(await listTree(outside)).to.deep.equal(['target.txt']);
  });

  it('a symlink planted at a folder of the manifest refuses the offer before anything is written', async () => {
    await fs.symlink(outside, path.join(inbox, 'docs'));
    const bob = await receiver();
    h = await hostileOpen(world, 'mallory', 'bob');
    const answer = await offer(h, [{ name: 'docs/a.txt', size: 3 }], ['docs', 'docs/inner']);
    expect(answer).to.include({ t: 'reject', code: 'ERR_IO' });
    namesNoPath(answer);
    expect(await bob.exit).to.not.equal(0);
    expect(errorOf(bob)?.code).to.equal('ERR_IO');
    expect(await listTree(outside)).to.deep.equal([]);
  });

  it('a FIFO at a partial file\'s name neither hangs the receiver nor is written to', async () => {
    const body = Buffer.from('fifo food');
    const mtime = 1_700_000_000_000;
    const fifo = path.join(inbox, `.${partialKey('mallory', 'f.bin', body.length, mtime)}:sealdrop-part`);
    expect(spawnSync('mkfifo', [fifo]).status).to.equal(0);
    const bob = await receiver();
    h = await hostileOpen(world, 'mallory', 'bob');
    const answer = await offer(h, [{ name: 'f.bin', size: body.length, mtime }]);
    expect(answer).to.deep.include({ t: 'accept', from: [0] });
    await stream(h, body).catch(() => {});
    namesNoPath(await reply(h));
    expect(await bob.exit).to.not.equal(0);
    expect(errorOf(bob)?.code).to.equal('ERR_IO');
    expect(errorOf(bob)?.message).to.match(/not a plain file/);
    expect((await fs.lstat(fifo)).isFIFO()).to.equal(true);
    expect(await listTree(inbox)).to.deep.equal([path.basename(fifo)]);
  });

  it('a hard link to an outside file planted at a partial file\'s name is never truncated or written', async () => {
    const victim = path.join(outside, 'precious.txt');
    await fs.writeFile(victim, 'precious bytes, twenty-five');
    const body = Buffer.from('overwrite attempt');
    const mtime = 1_700_000_000_000;
    await fs.link(victim, path.join(inbox, `.${partialKey('mallory', 'g.bin', body.length, mtime)}:sealdrop-part`));
    const bob = await receiver();
    h = await hostileOpen(world, 'mallory', 'bob');
    expect(await offer(h, [{ name: 'g.bin', size: body.length, mtime }])).to.deep.include({ t: 'accept', from: [0] });
    await stream(h, body).catch(() => {});
    await reply(h);
    expect(await bob.exit).to.not.equal(0);
    expect(errorOf(bob)?.code).to.equal('ERR_IO');
    expect(await fs.readFile(victim, 'utf8')).to.equal('precious bytes, twenty-five');
  });

  it('a reject for lack of space names no receiver path', async () => {
    const bob = await receiver();
    h = await hostileOpen(world, 'mallory', 'bob');
    const answer = await offer(h, [{ name: 'huge.bin', size: 2 ** 50 }]);
    expect(answer).to.include({ t: 'reject', code: 'ERR_SPACE' });
    namesNoPath(answer);
    expect(await bob.exit).to.not.equal(0);
    expect(errorOf(bob)?.message, 'the local message may say where').to.include(inbox);
  });

  it('a shared folder\'s refusals name no path of the sharer', async () => {
    const share = path.join(parent, 'share');
    await fs.mkdir(share);
    await fs.symlink(outside, path.join(share, 'sneaky'));
    const bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--share', share]);
    await bob.waitFor('ready');
    try {
      for (const name of ['missing.txt', 'sneaky', '../x']) {
        const g = await hostileOpen(world, 'mallory', 'bob');
        try {
          await g.send({ t: 'get', name });
          const answer = await reply(g);
          expect(answer.t, name).to.equal('reject');
          namesNoPath(answer);
          expect(answer.message).to.not.include(share);
        } finally {
          g.close();
        }
      }
    } finally {
      bob.child.kill('SIGTERM');
      await bob.exit;
    }
  });
});

describe('hostile local process: the receive folder swapped between two transfers', function () {
  this.timeout(60_000);
  let world: World;
  before(async () => { world = await startWorld(['alice', 'bob']); });
  after(async () => { await world?.stop(); });

  it('a receive that stays online never follows a link swapped in at its --dir path', async () => {
    const parent = await tempDir();
    const inbox = path.join(parent, 'inbox');
    const outside = path.join(parent, 'outside');
    await fs.mkdir(inbox);
    await fs.mkdir(outside);
    const file = path.join(await tempDir(), 'note.txt');
    await fs.writeFile(file, 'one\n');
    const bob = world.peer('bob', ['receive', '--dir', inbox, '--yes']);
    await bob.waitFor('ready');
    try {
      const one = world.peer('alice', ['send', file, '--to', 'bob', '--relay']);
      expect(await one.exit, one.stderr()).to.equal(0);
      // Between transfers a local process moves the folder away and puts a link to another one in its place.
      await fs.rename(inbox, path.join(parent, 'moved'));
      await fs.symlink(outside, inbox);
      const two = world.peer('alice', ['send', file, '--to', 'bob', '--relay']);
      expect(await two.exit).to.not.equal(0);
      expect(await listTree(outside)).to.deep.equal([]);
      expect(await listTree(path.join(parent, 'moved'))).to.deep.equal(['note.txt']);
      const failed = await bob.waitFor('error');
      expect(failed.code).to.equal('ERR_IO');
    } finally {
      bob.child.kill('SIGINT');
      await bob.exit;
      await fs.rm(parent, { recursive: true, force: true });
    }
  });
});

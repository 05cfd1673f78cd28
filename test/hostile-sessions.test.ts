/**
 * A hostile peer that passes every key check and then lies about the session
 * itself: a get answered with other files, an empty LAST chunk, a stalled opener,
 * a flood of messages while a person is being asked. The victim is always the
 * real, unmodified CLI; the liar is test/helpers/hostile-peer.ts.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CHUNK_SIZE } from '../shared/constants.js';
import { errorOf, listTree, type Run, tempDir } from './helpers/cli.js';
import { hostileOpen, hostileServe, stalledOpen } from './helpers/hostile-peer.js';
import { startWorld, type World } from './helpers/world.js';


describe('hostile peer: sessions', function () {
  this.timeout(90_000);
  let world: World;

  before(async () => { world = await startWorld(['alice', 'bob', 'mallory']); });
  after(async () => { await world?.stop(); });

  describe('a get answered with files that were not asked for', () => {
    const answers: Array<{ what: string; asked: string; files: Array<{ name: string; size: number; text?: boolean }>; dirs?: string[] }> = [
      { what: 'other files instead', asked: 'holiday.jpg', files: [{ name: '.bash_login', size: 20 }, { name: '.ssh/authorized_keys', size: 40 }] },
      { what: 'the file and an extra one', asked: 'holiday.jpg', files: [{ name: 'holiday.jpg', size: 10 }, { name: '.profile', size: 10 }] },
      { what: 'a sibling folder with the same prefix', asked: 'photos', files: [{ name: 'photos/a.jpg', size: 5 }, { name: 'photos2/evil', size: 5 }] },
      { what: 'an extra empty folder outside the one asked', asked: 'photos', files: [{ name: 'photos/a.jpg', size: 5 }], dirs: ['.ssh'] },
      { what: 'a text message instead of the file', asked: 'notes.txt', files: [{ name: 'notes.txt', size: 5, text: true }] },
      { what: 'nothing at all', asked: 'photos', files: [] },
    ];
    for (const a of answers) {
      it(`refuses the whole answer before writing a byte: ${a.what}`, async () => {
        const dest = await tempDir();
        let reply: unknown;
        const sharer = await hostileServe(world, 'mallory', async (h) => {
          const ask = await h.next();
          expect(ask).to.deep.equal({ t: 'get', name: a.asked });
          await h.send({ t: 'manifest', files: a.files, dirs: a.dirs ?? [] });
          reply = await h.next().catch((err: Error) => err.message);
        });
        try {
          const get = world.peer('alice', ['get', 'mallory', a.asked, '--dir', dest, '--relay']);
          expect(await get.exit, get.stderr()).to.equal(5);
          expect(errorOf(get)?.code).to.equal('ERR_PROTOCOL');
          expect(errorOf(get)?.message).to.match(/not asked for.*nothing was saved/);
          expect(await listTree(dest)).to.deep.equal([]);
          expect(String(reply)).to.match(/stopped/); // the sharer was told, and no accept came
        } finally {
          await sharer.close();
        }
      });
    }
  });

  it('refuses an empty LAST chunk after full chunks, and a full last chunk not marked LAST', async () => {
    for (const variant of ['empty-last', 'unmarked-last'] as const) {
      const inbox = await tempDir();
      const bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await bob.waitFor('ready');
      const h = await hostileOpen(world, 'mallory', 'bob');
      const data = Buffer.alloc(2 * CHUNK_SIZE, 7);
      try {
        await h.send({ t: 'manifest', files: [{ name: 'two-chunks.bin', size: data.length }], dirs: [] });
        expect((await h.next()).t).to.equal('accept');
        await h.chunk(0, false, data.subarray(0, CHUNK_SIZE));
        await h.chunk(1, false, data.subarray(CHUNK_SIZE));
        if (variant === 'empty-last') await h.chunk(2, true, Buffer.alloc(0));
        await h.send({ t: 'hashes', sha256: [createHash('sha256').update(data).digest('hex')] });
      } catch { /* the receiver may already have hung up */ }
      expect(await bob.exit, variant).to.equal(5);
      expect(errorOf(bob)?.code, variant).to.equal('ERR_INTEGRITY');
      expect((await listTree(inbox)).filter((f) => !f.startsWith('.')), variant).to.deep.equal([]);
      h.close();
    }
  });

  it('a stalled opener holds receive for seconds only, and others hear "busy", not "declined"', async function () {
    this.timeout(120_000);
    const inbox = await tempDir();
    const bob = world.peer('bob', ['receive', '--dir', inbox, '--yes']);
    await bob.waitFor('ready');
    // Keys exchanged, then no transport choice, ever.
    const stalled = await stalledOpen(world, 'mallory', 'bob', { hello: true });
    const started = Date.now();
    const file = path.join(await tempDir(), 'note.txt');
    await fs.writeFile(file, 'hello bob\n');
    // Two senders from each of two accounts at once: the rendezvous lets a pair have two requests
    // waiting (ERR_THROTTLED beyond), so every one of them reaches bob and hears bob's own answer.
    const senders = await Promise.all(['alice', 'alice', 'mallory', 'mallory'].map((id) => world.peer(id, ['send', file, '--to', 'bob', '--relay'])).map(async (run) => {
      await run.exit;
      return run;
    }));
    for (const s of senders) {
      expect(errorOf(s)?.code, s.stderr()).to.equal('ERR_BUSY');
      expect(errorOf(s)?.message).to.match(/busy.*try again shortly/);
      expect(await s.exit).to.equal(4);
    }
    // receive gives up on the stalled session by itself (the bound is documented in PROTOCOL.md) …
    const failure = await bob.waitFor('error', 60_000);
    expect(failure.code).to.equal('ERR_TIMEOUT');
    expect(Date.now() - started).to.be.below(50_000);
    // … and takes the next honest sender.
    const honest = world.peer('alice', ['send', file, '--to', 'bob', '--relay']);
    expect(await honest.exit, honest.stderr()).to.equal(0);
    expect(await fs.readFile(path.join(inbox, 'note.txt'), 'utf8')).to.equal('hello bob\n');
    stalled.close();
    bob.child.kill('SIGINT');
    await bob.exit;
  });
});

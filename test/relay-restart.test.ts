/**
 * A relay transfer cut by a rendezvous restart continues by itself: both peers say
 * "reconnecting…", come back with their session tokens, the opener opens a new session
 * to the same verified identity, and the file resumes from what the receiver verified.
 * A rendezvous that never comes back ends both within the bound, with words, the partial
 * kept. Real spawned rendezvous (restarted on the same port and data folder), real CLIs.
 * The side that sends is held with SIGSTOP across the restart, so the restart is known to
 * fall in the middle of the transfer.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errorOf, listTree, randomFile, sha256File, tempDir, type Run } from './helpers/cli.js';
import { startServer, startWorld, type World } from './helpers/world.js';

const SIZE = 48 << 20;
/** The rendezvous gives relays this long to finish on SIGTERM: the held sender's relay is cut after it. */
const DRAIN = ['--drain-timeout', '1'];

/** Resolves once `run` reported at least `bytes` of progress. */
function progressPast(run: Run, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const p = run.events.filter((e) => e.type === 'progress').at(-1);
      if (p && p.bytes >= bytes) { clearInterval(timer); resolve(p.bytes); }
    }, 5);
    run.exit.then(() => { clearInterval(timer); reject(new Error(`exited before ${bytes} bytes: ${run.stderr()}`)); });
  });
}

describe('relay transfers continue after a rendezvous restart', function () {
  this.timeout(90_000);
  let world: World;
  let file: string;
  let sha: string;
  const held = new Set<Run>();

  before(async () => {
    world = await startWorld(['alice', 'bob'], DRAIN);
    file = path.join(await tempDir(), 'film.bin');
    sha = await randomFile(file, SIZE);
  });
  afterEach(() => {
    for (const run of held) run.child.kill('SIGCONT'); // a failed test must not leave a stopped process to world.stop
    held.clear();
  });
  after(async () => { await world?.stop(); });

  const port = () => new URL(world.url).port;

  /** Waits until the session tokens issued since `since` are on disk (a SIGKILL loses what is not written yet). */
  async function tokensWritten(since: number): Promise<void> {
    const tokens = path.join(world.dataDir, 'session-tokens.json');
    const until = Date.now() + 5_000;
    while (((await fs.stat(tokens).catch(() => undefined))?.mtimeMs ?? 0) <= since && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  }

  /** Stops the rendezvous with `signal`; with `again`, starts it on the same port and data folder. */
  async function stopServer(signal: NodeJS.Signals, again: boolean): Promise<void> {
    world.server.child.kill(signal);
    await world.server.exit;
    if (again) world.server = (await startServer(world.dataDir, ['--port', port(), ...DRAIN])).server;
  }

  const hold = (run: Run) => { run.child.kill('SIGSTOP'); held.add(run); };
  const release = (run: Run) => { run.child.kill('SIGCONT'); held.delete(run); };

  /**
   * `sender` pushes (or serves) the file to `receiver`. At `receiver`'s first bytes both are held: the
   * receiver first, so the sender stalls within its credit window (8 MiB) of what the receiver took and
   * cannot finish; then the receiver takes what was in flight, the rendezvous is stopped (and started
   * again) while the sender is held, and the sender is let go. Returns what `receiver` had then.
   */
  async function cutMidway(sender: Run, receiver: Run, signal: NodeJS.Signals, again: boolean, since: number): Promise<number> {
    await progressPast(receiver, 1);
    hold(receiver);
    hold(sender);
    release(receiver);
    if (signal === 'SIGKILL') await tokensWritten(since);
    await stopServer(signal, again);
    const had = receiver.events.filter((e) => e.type === 'progress').at(-1)!.bytes as number;
    expect(had, 'the restart falls in the middle of the transfer').to.be.below(SIZE);
    expect(receiver.events.some((e) => e.type === 'done')).to.equal(false);
    release(sender);
    return had;
  }

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`send → receive over the relay: ${signal} of the rendezvous mid-transfer, restarted, the file resumes and verifies`, async () => {
      const inbox = await tempDir();
      const since = Date.now();
      const bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await bob.waitFor('ready');
      const alice = world.peer('alice', ['send', file, '--to', 'bob', '--relay']);
      const secured = await alice.waitFor('secured');
      await cutMidway(alice, bob, signal, true, since);

      expect(await alice.exit, alice.stderr()).to.equal(0);
      expect(await bob.exit, bob.stderr()).to.equal(0);
      expect(await sha256File(path.join(inbox, 'film.bin'))).to.equal(sha);
      expect(await listTree(inbox), 'no partial left').to.deep.equal(['film.bin']);
      // Both saw the rendezvous go and came back; bob took the continuation without a new question.
      for (const run of [alice, bob]) {
        expect(run.events.some((e) => e.type === 'reconnecting'), `${run === alice ? 'alice' : 'bob'} said reconnecting`).to.equal(true);
      }
      expect(alice.events.some((e) => e.type === 'online')).to.equal(true);
      expect(bob.events.find((e) => e.type === 'interrupted')?.from).to.equal('alice');
      expect(bob.events.find((e) => e.type === 'continuing')?.from).to.equal('alice');
      // Resumed from what bob had verified, not from zero; the same verified identity both times.
      const done = bob.events.find((e) => e.type === 'done')!;
      expect(done.transport).to.equal('relay');
      expect(done.resumed).to.be.above(0).and.below(SIZE);
      expect(alice.events.find((e) => e.type === 'done')!.resumed).to.equal(done.resumed);
      const accepts = alice.events.filter((e) => e.type === 'accepted');
      expect(accepts.map((e) => e.resumed > 0)).to.deep.equal([false, true]);
      const keys = alice.events.filter((e) => e.type === 'secured').map((e) => e.peerFingerprint);
      expect(keys).to.have.length(2);
      expect(keys[1]).to.equal(secured.peerFingerprint);
    });
  }

  it('get over the relay: the sharer\'s rendezvous restarts mid-transfer, the get resumes and verifies', async () => {
    const share = path.dirname(file);
    const since = Date.now();
    const bob = world.peer('bob', ['receive', '--dir', await tempDir(), '--yes', '--share', share]);
    try {
      await bob.waitFor('ready');
      const into = await tempDir();
      const alice = world.peer('alice', ['get', 'bob', 'film.bin', '--dir', into, '--relay']);
      await cutMidway(bob, alice, 'SIGKILL', true, since);
      expect(await alice.exit, alice.stderr()).to.equal(0);
      expect(await sha256File(path.join(into, 'film.bin'))).to.equal(sha);
      expect(await listTree(into)).to.deep.equal(['film.bin']);
      expect(alice.events.some((e) => e.type === 'reconnecting')).to.equal(true);
      expect(alice.events.find((e) => e.type === 'done')!.resumed).to.be.above(0);
    } finally {
      bob.child.kill('SIGINT');
      await bob.exit;
    }
  });

  it('a rendezvous that never comes back: both give up within the bound, with words, the partial kept', async () => {
    const inbox = await tempDir();
    const bound = { SEALDROP_CONTINUE_WITHIN: '5' };
    const bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once'], bound);
    await bob.waitFor('ready');
    const alice = world.peer('alice', ['send', file, '--to', 'bob', '--relay'], bound);
    await cutMidway(alice, bob, 'SIGKILL', false, Date.now());
    const gone = Date.now();
    const [a, b] = await Promise.all([alice.exit, bob.exit]);
    const took = Date.now() - gone;
    try {
      expect(a, alice.stderr()).to.not.equal(0);
      expect(b, bob.stderr()).to.not.equal(0);
      expect(took, 'both ended within the bound (and a margin)').to.be.below(15_000);
      expect(errorOf(alice)?.code).to.equal('ERR_CONNECT');
      expect(errorOf(alice)?.message).to.match(/did not come back within 5 s/);
      expect(errorOf(bob)?.code).to.equal('ERR_CONNECT');
      expect(errorOf(bob)?.message).to.match(/did not continue within 5 s/);
      expect(alice.events.some((e) => e.type === 'reconnecting')).to.equal(true);
      const left = await listTree(inbox);
      expect(left, 'the partial is kept for a later resume, nothing under the final name').to.have.length(1);
      expect(left[0]).to.match(/^\.[0-9a-f]{32}:sealdrop-part$/);
    } finally {
      world.server = (await startServer(world.dataDir, ['--port', port(), ...DRAIN])).server;
    }
  });
});

/**
 * A relay transfer cut by a rendezvous restart continues by itself: both peers say
 * "reconnecting…", come back with their session tokens, the opener opens a new session
 * to the same verified identity, and the file resumes from what the receiver verified.
 * A rendezvous that never comes back ends both within the bound, with words, the partial
 * kept. Real spawned rendezvous (restarted on the same port and data folder), real CLIs.
 * The side that sends is held with SIGSTOP across the restart, so the restart is known to
 * fall in the middle of the transfer. On a terminal (tmux), the receiver's person is asked once
 * for a push that continues, and asked again for other files after the cut.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errorOf, listTree, PEER_CLI, randomFile, sha256File, tempDir, type Run } from './helpers/cli.js';
import { hasTmux, Pane, TmuxServer } from './helpers/tmux.js';
import { startServer, startWorld, type World } from './helpers/world.js';

const SIZE = 32 << 20;
/**
 * The rendezvous gives relays 1 s to finish on SIGTERM (the held sender's relay is cut after it), and paces
 * each relay to 8 MiB/s: a transfer takes seconds, so a busy machine cannot let it finish before the test
 * holds the sender (and the test checks that it did not).
 */
const DRAIN = ['--drain-timeout', '1', '--relay-rate', String(8 << 20)];

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

  /**
   * Waits until the rendezvous wrote its session tokens after `since`, a moment after both peers logged in
   * (the table is written whole, within a second of a login; a SIGKILL loses what is not written yet), or 5 s:
   * a write between the logins and `since` has them too.
   */
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
  async function cutMidway(sender: Run, receiver: Run, signal: NodeJS.Signals, again: boolean, since: number, keepHeld = false): Promise<number> {
    await progressPast(receiver, 1);
    hold(receiver);
    hold(sender);
    release(receiver);
    if (signal === 'SIGKILL') await tokensWritten(since);
    await stopServer(signal, again);
    const had = receiver.events.filter((e) => e.type === 'progress').at(-1)!.bytes as number;
    expect(had, 'the restart falls in the middle of the transfer').to.be.below(SIZE);
    expect(receiver.events.some((e) => e.type === 'done')).to.equal(false);
    if (!keepHeld) release(sender);
    return had;
  }

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`send → receive over the relay: ${signal} of the rendezvous mid-transfer, restarted, the file resumes and verifies`, async () => {
      const inbox = await tempDir();
      const bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await bob.waitFor('ready');
      const alice = world.peer('alice', ['send', file, '--to', 'bob', '--relay']);
      const secured = await alice.waitFor('secured');
      await cutMidway(alice, bob, signal, true, Date.now());

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
    const bob = world.peer('bob', ['receive', '--dir', await tempDir(), '--yes', '--share', share]);
    try {
      await bob.waitFor('ready');
      const into = await tempDir();
      const alice = world.peer('alice', ['get', 'bob', 'film.bin', '--dir', into, '--relay']);
      await alice.waitFor('secured');
      await cutMidway(bob, alice, 'SIGKILL', true, Date.now());
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

  it('a continuation that meets another identity key for the same account is refused, nothing written', async () => {
    const inbox = await tempDir();
    const keyFile = path.join(world.homes.bob!, 'identity.key');
    const first = world.peer('bob', ['receive', '--dir', inbox, '--yes']);
    await first.waitFor('ready');
    const bobKey = await fs.readFile(keyFile); // created on first use
    const alice = world.peer('alice', ['send', file, '--to', 'bob', '--relay']);
    await alice.waitFor('secured');
    let other: Run | undefined;
    try {
      // Alice stays held while "bob" comes back with another key (as a rendezvous that swaps it would show).
      await cutMidway(alice, first, 'SIGKILL', true, Date.now(), true);
      first.child.kill('SIGKILL');
      await first.exit;
      await fs.rm(keyFile);
      other = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await other.waitFor('ready');
      release(alice);
      expect(await alice.exit, alice.stderr()).to.not.equal(0);
      expect(alice.events.some((e) => e.type === 'reconnecting')).to.equal(true);
      expect(errorOf(alice)?.code, alice.stdout()).to.equal('ERR_KEY_CHANGED');
      expect(other.events.some((e) => e.type === 'offer' || e.type === 'continuing'), 'nothing was offered to the other key').to.equal(false);
      const left = await listTree(inbox);
      expect(left, 'only the partial of the first session, nothing under the final name').to.have.length(1);
      expect(left[0]).to.match(/^\.[0-9a-f]{32}:sealdrop-part$/);
    } finally {
      other?.child.kill('SIGINT');
      await other?.exit;
      await fs.writeFile(keyFile, bobKey, { mode: 0o600 });
    }
  });

  describe('a receiver that asks its person (a terminal)', () => {
    let tmux: TmuxServer;
    let panes = 0;
    before(function () {
      if (!hasTmux()) {
        console.log('SKIP consent across a continuation: tmux is not installed (apt-get install tmux)');
        this.skip();
      }
      tmux = new TmuxServer();
    });
    after(() => tmux?.kill());

    /** `sealdrop --home HOME receive …` for bob on a terminal; the pane stays after it exits (EXIT=status). */
    function receiveOnTerminal(args: string[]): Pane {
      const name = `r${++panes}`;
      // The shell survives the Ctrl-C meant for sealdrop (a trap with a command; sealdrop still gets the default).
      const script = `trap 'true' INT; NO_COLOR=1 SEALDROP_LOG=silent "$0" "$1" --home "$2" receive ${args.map((a) => `'${a}'`).join(' ')}; echo EXIT=$?; sleep 600`;
      tmux.tmux(['new-session', '-d', '-x', '200', '-y', '50', '-s', name, '--', 'sh', '-c', script, process.execPath, PEER_CLI, world.homes.bob!]);
      return new Pane(tmux, name);
    }
    const asked = (screen: string) => screen.match(/wants to send .*Accept\?/g)?.length ?? 0;

    /** Alice sends `src` on the relay; bob's person says yes; alice is held once accepted and the rendezvous SIGKILLed and restarted. */
    async function acceptedThenCut(pane: Pane, src: string): Promise<Run> {
      const alice = world.peer('alice', ['send', src, '--to', 'bob', '--relay']);
      await pane.waitFor(/wants to send .*Accept\?/);
      pane.type('y');
      pane.keys('Enter');
      await alice.waitFor('accepted');
      hold(alice); // within its credit window of what bob took: it cannot finish while held
      await tokensWritten(Date.now());
      await stopServer('SIGKILL', true);
      await pane.waitFor(/the transfer from alice was cut/, 20_000);
      return alice;
    }

    it('the same files from the same identity continue without a second question, and verify', async () => {
      const inbox = await tempDir();
      const pane = receiveOnTerminal(['--dir', inbox, '--once']);
      await pane.waitFor(/online as bob/);
      const alice = await acceptedThenCut(pane, file);
      release(alice);
      expect(await alice.exit, alice.stderr()).to.equal(0);
      const screen = await pane.waitFor(/EXIT=\d+/, 30_000);
      expect(screen).to.match(/EXIT=0/);
      expect(screen).to.match(/alice is back: continuing the transfer of .* you accepted .* without asking again/);
      expect(asked(screen), 'asked once, for the first offer only').to.equal(1);
      expect(await sha256File(path.join(inbox, 'film.bin'))).to.equal(sha);
    });

    it('other files after the cut are a new offer, and asked as one', async () => {
      const inbox = await tempDir();
      const pane = receiveOnTerminal(['--dir', inbox]);
      await pane.waitFor(/online as bob/);
      const first = await acceptedThenCut(pane, file);
      first.child.kill('SIGKILL'); // this sender never comes back with film.bin
      release(first);
      await pane.waitFor(/back online as bob/, 30_000);
      const other = path.join(await tempDir(), 'other.txt');
      await fs.writeFile(other, 'not what bob accepted\n');
      const alice = world.peer('alice', ['send', other, '--to', 'bob']);
      // Asked again: the waiting continuation was for film.bin, not for this.
      for (const until = Date.now() + 30_000; asked(pane.screen()) < 2;) {
        if (Date.now() > until || alice.child.exitCode !== null) throw new Error(`not asked again: ${pane.screen().trim()} ${alice.stderr()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(pane.screen()).to.not.match(/is back: continuing/);
      pane.type('y');
      pane.keys('Enter');
      expect(await alice.exit, alice.stderr()).to.equal(0);
      expect(await fs.readFile(path.join(inbox, 'other.txt'), 'utf8')).to.equal('not what bob accepted\n');
      pane.keys('C-c');
      await pane.waitFor(/EXIT=\d+/);
    });
  });
});

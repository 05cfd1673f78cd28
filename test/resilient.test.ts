/**
 * Transfers and receivers that survive the rendezvous: a direct transfer goes on
 * when the rendezvous is SIGKILLed (its data never touches it), and `receive` comes
 * back by itself after restarts and still receives. Real spawned rendezvous, real CLIs.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomFile, sha256File, tempDir, type Run } from './helpers/cli.js';
import { startServer, startWorld, type World } from './helpers/world.js';

describe('resilience: the rendezvous goes, transfers and receivers stay', function () {
  this.timeout(120_000);
  let world: World;
  let file: string;
  let sha: string;

  before(async () => {
    world = await startWorld(['alice', 'bob']);
    file = path.join(await tempDir(), 'film.bin');
    sha = await randomFile(file, 48 << 20);
  });
  after(async () => { await world?.stop(); });

  /** Restarts the world's rendezvous on the same port and data folder. */
  async function restart(signal: NodeJS.Signals): Promise<void> {
    const port = new URL(world.url).port;
    world.server.child.kill(signal);
    await world.server.exit;
    const { server } = await startServer(world.dataDir, ['--port', port]);
    world.server = server;
  }

  it('a direct transfer completes when the rendezvous is SIGKILLed in the middle of it', async () => {
    const inbox = await tempDir();
    const bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await bob.waitFor('ready');
    const alice = world.peer('alice', ['send', file, '--to', 'bob', '--direct-only']);
    // Stopped at its first bytes, bob cannot have the file before the rendezvous is gone.
    await bob.waitFor('progress');
    bob.child.kill('SIGSTOP');
    world.server.child.kill('SIGKILL');
    await world.server.exit;
    bob.child.kill('SIGCONT');
    expect(await alice.exit, alice.stderr()).to.equal(0);
    expect(await bob.exit, bob.stderr()).to.equal(0);
    expect(alice.events.find((e) => e.type === 'done')?.transport).to.equal('direct');
    expect(await sha256File(path.join(inbox, 'film.bin'))).to.equal(sha);
    const { server } = await startServer(world.dataDir, ['--port', new URL(world.url).port]);
    world.server = server;
  });

  it('receive survives three rendezvous restarts and still receives, saying so', async () => {
    const onlineEvents = (run: Run) => run.events.filter((e) => e.type === 'online').length;
    /** The last TOTP step the rendezvous accepted from bob (spent-steps.json, version 2). */
    const lastStep = async (): Promise<number | undefined> => JSON.parse(await fs.readFile(path.join(world.dataDir, 'spent-steps.json'), 'utf8').catch(() => '{"last":{}}')).last?.bob;
    const earlier = (await lastStep()) ?? -1;
    // Bob starts by code (his cached token from the first test may or may not have reached the server's disk
    // before its SIGKILL), so the step his login spends is known to be after `earlier`.
    await fs.rm(path.join(world.homes.bob!, 'session.json'), { force: true });
    const inbox = await tempDir();
    const bob = world.peer('bob', ['receive', '--dir', inbox, '--yes']);
    // By code, bob waits for the next TOTP step when this one is spent already (up to 30 s).
    await bob.waitFor('ready', 45_000);
    // The step bob's login spends is after any earlier one, and reaches the file within a second.
    for (const until = Date.now() + 5_000; ((await lastStep()) ?? -1) <= earlier && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
    const stepBefore = await lastStep();
    expect(stepBefore, 'the login step bob spent is on disk').to.be.above(earlier);
    try {
      let onlineAt = Date.now();
      for (let n = 1; n <= 3; n++) {
        const signal = n % 2 ? 'SIGTERM' : 'SIGKILL';
        if (signal === 'SIGKILL') {
          // The rendezvous writes new tokens within a second (a SIGTERM writes them at once): kill it only once
          // the token it gave bob on his way back is on disk, as it would be a second after any login.
          const tokens = path.join(world.dataDir, 'session-tokens.json');
          const until = Date.now() + 5_000;
          while (((await fs.stat(tokens).catch(() => undefined))?.mtimeMs ?? 0) <= onlineAt && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
        }
        await restart(signal);
        const restarted = Date.now();
        const until = restarted + 40_000;
        while (onlineEvents(bob) < n && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
        expect(onlineEvents(bob), `back online after restart ${n}: ${bob.stderr()}`).to.equal(n);
        onlineAt = Date.now();
        // Its session token survived the restart: no wait for a fresh TOTP step (that would be up to 30 s).
        expect(Date.now() - restarted, `seconds back online after restart ${n}`).to.be.below(20_000);
      }
      expect(await lastStep(), 'no TOTP code was spent to come back').to.equal(stepBefore);
      expect(bob.events.filter((e) => e.type === 'reconnecting').length).to.be.at.least(3);
      const note = path.join(await tempDir(), 'after-restarts.txt');
      await fs.writeFile(note, 'still here\n');
      const alice = world.peer('alice', ['send', note, '--to', 'bob']);
      expect(await alice.exit, alice.stderr()).to.equal(0);
      expect(await fs.readFile(path.join(inbox, 'after-restarts.txt'), 'utf8')).to.equal('still here\n');
    } finally {
      bob.child.kill('SIGINT');
      await bob.exit;
    }
  });
});

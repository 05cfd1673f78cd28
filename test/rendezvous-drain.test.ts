/**
 * Graceful drain on SIGTERM, against a spawned `serve` and real CLI peers: /readyz turns
 * 503, new logins and sessions are refused, peers hear `rendezvous:restarting`, a relayed
 * transfer in progress completes before the server exits 0, --drain-timeout bounds the
 * wait, and a second signal exits at once.
 */
import { expect } from 'chai';
import path from 'node:path';
import { totpCode } from '../shared/totp.js';
import { randomFile, sha256File, tempDir, type Run } from './helpers/cli.js';
import { ask, connect, next, refusal } from './helpers/rendezvous.js';
import { startServer, startWorld, type World } from './helpers/world.js';

/** Polls until `check` returns true, or fails after `ms`. */
async function until(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline;) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const readyz = async (url: string) => {
  const res = await fetch(`${url}/readyz`).catch(() => undefined);
  return res && { status: res.status, text: await res.text() };
};

const metric = async (url: string, line: RegExp) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${line.source} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

describe('rendezvous drain on SIGTERM', function () {
  this.timeout(120_000);
  let world: World | undefined;
  let file: string;
  let sha: string;
  const stopped: Run[] = [];

  before(async () => {
    file = path.join(await tempDir(), 'big.bin');
    sha = await randomFile(file, 64 << 20); // large enough that the sender is stopped well before its end
  });
  afterEach(async () => {
    for (const run of stopped.splice(0)) run.child.kill('SIGCONT');
    await world?.stop();
    world = undefined;
  });

  /** bob receives, alice sends `file` by relay; resolves once bytes flow and alice is stopped (SIGSTOP). */
  async function relayInProgress(w: World): Promise<{ alice: Run; bob: Run; inbox: string }> {
    const inbox = await tempDir();
    const bob = w.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await bob.waitFor('ready');
    const alice = w.peer('alice', ['send', file, '--to', 'bob', '--relay']);
    await bob.waitFor('progress');
    alice.child.kill('SIGSTOP');
    stopped.push(alice);
    await until('the relay to be active', async () => (await metric(w.url, /sealdrop_relay_sessions_active/)) === 1);
    return { alice, bob, inbox };
  }

  it('stops taking logins and sessions, tells peers, lets a relay in progress finish, then exits 0', async () => {
    world = await startWorld(['alice', 'bob', 'carol'], ['--drain-timeout', '60']);
    const w = world;
    // The world's login spent carol's current step: the next one is within the ±1 step of skew.
    const carol = await connect(w.url, { id: 'carol', code: totpCode(w.secrets.carol!, Date.now() + 30_000) });
    try {
      const { alice, bob, inbox } = await relayInProgress(w);
      const told = next(carol.socket, 'rendezvous:restarting', 10_000);
      w.server.child.kill('SIGTERM');
      await until('/readyz to turn 503', async () => (await readyz(w.url))?.status === 503);
      expect((await readyz(w.url))!.text).to.match(/^draining: .*\n$/);
      expect((await fetch(`${w.url}/healthz`)).status, 'alive while draining').to.equal(200);
      await told;
      expect(await metric(w.url, /sealdrop_server_state\{state="draining"\}/)).to.equal(1);

      // A new login and a new session are refused with words; the relay's session goes on.
      const refused = await refusal(w.url, { id: 'carol', token: carol.welcome.token });
      expect(refused.code).to.equal('ERR_BUSY');
      expect(refused.message).to.match(/restarting/);
      const open = await ask(carol.socket, 'session:open', { to: 'bob' });
      expect(open).to.deep.include({ ok: false, code: 'ERR_BUSY' });
      expect(await metric(w.url, /sealdrop_auth_attempts_total\{result="draining"\}/)).to.equal(1);
      expect(w.server.child.exitCode, 'still serving the relay').to.equal(null);

      alice.child.kill('SIGCONT');
      stopped.length = 0;
      expect(await alice.exit, alice.stderr()).to.equal(0);
      expect(await bob.exit, bob.stderr()).to.equal(0);
      expect(alice.events.find((e) => e.type === 'done')?.transport).to.equal('relay');
      expect(await sha256File(path.join(inbox, 'big.bin'))).to.equal(sha);
      expect(await w.server.exit, w.server.stderr()).to.equal(0);
    } finally {
      carol.socket.close();
    }
  });

  it('--drain-timeout bounds the wait for relays, and a second SIGTERM exits at once', async () => {
    world = await startWorld(['alice', 'bob'], ['--drain-timeout', '1']);
    const first = await relayInProgress(world);
    const started = Date.now();
    world.server.child.kill('SIGTERM');
    expect(await world.server.exit, world.server.stderr()).to.equal(0);
    expect(Date.now() - started, 'about --drain-timeout 1').to.be.within(900, 8_000);
    // The cut relay would continue by itself once the server is back (test/relay-restart.test.ts), and its
    // receiver, waiting for that, would come back as bob and take over from the next one: both go here.
    for (const run of [first.alice, first.bob]) run.child.kill('SIGKILL');
    await Promise.all([first.alice.exit, first.bob.exit]);

    // Same port and data: the peers' session tokens (written on the way out) log them in again without a code.
    const second = await startServer(world.dataDir, ['--port', new URL(world.url).port, '--drain-timeout', '600']);
    world.server = second.server;
    await relayInProgress(world);
    second.server.child.kill('SIGTERM');
    await until('/readyz to turn 503', async () => (await readyz(second.url))?.status === 503);
    const again = Date.now();
    second.server.child.kill('SIGTERM');
    expect(await second.server.exit).to.equal(1);
    expect(Date.now() - again, 'at once').to.be.below(2_000);
    expect(second.server.stderr()).to.match(/second signal/);
  });

  it('receive says the rendezvous is restarting, and comes back', async () => {
    world = await startWorld(['bob']);
    const bob = world.peer('bob', ['receive', '--dir', await tempDir(), '--yes']);
    try {
      await bob.waitFor('ready');
      const port = new URL(world.url).port;
      world.server.child.kill('SIGTERM');
      expect(await world.server.exit).to.equal(0);
      const reconnecting = await bob.waitFor('reconnecting');
      expect(reconnecting.reason).to.equal('the rendezvous is restarting');
      world.server = (await startServer(world.dataDir, ['--port', port])).server;
      await bob.waitFor('online', 30_000);
    } finally {
      bob.child.kill('SIGINT');
      await bob.exit;
    }
  });
});

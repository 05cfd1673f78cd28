/**
 * While `sealdrop receive` asks its person whether to take an offer, the sender
 * owes it nothing: a flood of messages ends the session with memory bounded, and
 * a question nobody answers is declined in time. The real CLI in a real terminal
 * (tmux), the liar from test/helpers/hostile-peer.ts.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import { PEER_CLI, listTree, tempDir } from './helpers/cli.js';
import { hostileOpen } from './helpers/hostile-peer.js';
import { hasTmux, TmuxServer, type Pane } from './helpers/tmux.js';
import { startWorld, type World } from './helpers/world.js';

/**
 * `sealdrop --home HOME args` in a terminal. It prints its PID first (the shell execs the
 * command, so that is the CLI's) or, with `status`, runs it in a shell that prints EXIT=n after.
 */
function receiveArgv(home: string, args: string, o: { status?: boolean } = {}): string[] {
  const run = o.status ? `SEALDROP_LOG=silent "$0" --home "$1" ${args}; echo EXIT=$?; sleep 600` : `echo PID=$$; SEALDROP_LOG=silent exec "$0" --home "$1" ${args}`;
  return ['sh', '-c', run, PEER_CLI, home];
}

/** Peak resident memory of a running process, in MiB. */
async function peakRssMiB(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

describe('hostile peer: at the consent prompt', function () {
  this.timeout(90_000);
  let world: World;
  let tmux: TmuxServer;

  before(async function () {
    if (!hasTmux()) {
      console.log('SKIP consent prompt tests: tmux is not installed (apt-get install tmux)');
      this.skip();
    }
    tmux = new TmuxServer(`sealdrop-prompt-${process.pid}`);
    world = await startWorld(['bob', 'mallory']);
  });
  after(async () => {
    tmux?.kill();
    await world?.stop();
  });

  async function offerTo(pane: Pane) {
    await pane.waitFor(/online as bob/);
    const h = await hostileOpen(world, 'mallory', 'bob');
    await h.send({ t: 'manifest', files: [{ name: 'gift.bin', size: 1000 }], dirs: [] });
    await pane.waitFor(/mallory wants to send gift\.bin \(1000 B\)\. Accept\?/);
    return h;
  }

  it('a flood of large control messages while the person is asked ends the session, memory bounded', async () => {
    const inbox = await tempDir();
    const pane = tmux.open(receiveArgv(world.homes.bob!, `receive --dir "${inbox}"`), inbox);
    const pid = Number(/PID=(\d+)/.exec(await pane.waitFor(/PID=\d+/))![1]);
    const h = await offerTo(pane);
    const before = await peakRssMiB(pid);
    // 174 valid messages of 1 MiB each: once they were decrypted, parsed and queued behind the prompt (3.1 GiB).
    const big = JSON.stringify({ t: 'listing', entries: Array.from({ length: 10_000 }, (_, i) => ({ name: `f${i}-${'x'.repeat(80)}`, size: i, type: 'file' })), truncated: false });
    let sent = 0;
    for (; sent < 174; sent++) {
      try { await h.raw(big); } catch { break; }
    }
    const answer = await h.next().then((m) => JSON.stringify(m), (err: Error) => err.message);
    expect(answer).to.match(/stopped: .*before the files were accepted/);
    const screen = await pane.waitFor(/session with mallory failed/);
    expect(screen).to.match(/ERR_PROTOCOL/);
    const peak = await peakRssMiB(pid);
    console.log(`      receive peak RSS ${before.toFixed(0)} MiB before the flood, ${peak.toFixed(0)} MiB after ${sent} of 174 messages of ${(big.length / 2 ** 20).toFixed(1)} MiB got out`);
    expect(peak - before, `peak RSS grew from ${before} MiB`).to.be.below(120);
    expect(await listTree(inbox)).to.deep.equal([]);
    // Still online, and still asking the next offer.
    h.close();
    const again = await offerTo(pane);
    again.close();
    pane.keys('C-c');
  });

  it('an offer nobody answers is declined after --ask-timeout, on both sides', async () => {
    const inbox = await tempDir();
    const pane = tmux.open(receiveArgv(world.homes.bob!, `receive --dir "${inbox}" --once --ask-timeout 2`, { status: true }), inbox);
    const h = await offerTo(pane);
    const started = Date.now();
    const answer = await h.next();
    expect(answer).to.deep.include({ t: 'reject', code: 'ERR_TIMEOUT' });
    expect(Date.now() - started).to.be.below(10_000);
    const screen = await pane.waitFor(/EXIT=\d+/);
    expect(screen).to.match(/nobody answered within 2 s, so the offer was declined/);
    expect(screen).to.match(/EXIT=4/);
    expect(await listTree(inbox)).to.deep.equal([]);
    h.close();
  });
});

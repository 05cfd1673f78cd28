/** Resume: a transfer killed part-way continues from the last verified chunk when sent again. */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { listTree, randomFile, sha256File, tempDir, type Run } from './helpers/cli.js';
import { startWorld, type World } from './helpers/world.js';

const SIZE = 128 * 1024 * 1024;

/** Resolves once `run` reported at least `bytes` of progress. */
function progressPast(run: Run, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (run.events.some((e) => e.type === 'progress' && e.bytes >= bytes)) { clearInterval(timer); resolve(); }
    }, 5);
    run.exit.then(() => { clearInterval(timer); reject(new Error(`exited before ${bytes} bytes: ${run.stderr()}`)); });
  });
}

describe('resume after a transfer dies', function () {
  this.timeout(120_000);
  let world: World;
  let work: string;
  let src: string;
  let sha: string;

  before(async () => {
    world = await startWorld(['alice', 'bob']);
    work = await tempDir();
    src = path.join(work, 'movie.bin');
    sha = await randomFile(src, SIZE);
  });
  after(async () => {
    await world?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  const finishAgain = async (inbox: string, args: string[] = []) => {
    const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    const sender = world.peer('alice', ['send', src, '--to', 'bob', ...args]);
    expect(await sender.exit, sender.stderr()).to.equal(0);
    expect(await receiver.exit, receiver.stderr()).to.equal(0);
    const done = sender.events.find((e) => e.type === 'done')!;
    expect(done.files[0].sha256).to.equal(sha);
    expect(await listTree(inbox)).to.deep.equal(['movie.bin']);
    expect(await sha256File(path.join(inbox, 'movie.bin'))).to.equal(sha);
    return { done, rdone: receiver.events.find((e) => e.type === 'done')! };
  };

  /** Starts a transfer and SIGKILLs one side once it has moved 16 MiB. */
  const interrupted = async (victim: 'sender' | 'receiver') => {
    const inbox = await tempDir();
    const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    const sender = world.peer('alice', ['send', src, '--to', 'bob']);
    const killed = victim === 'sender' ? sender : receiver;
    await progressPast(killed, 16 * 1024 * 1024);
    killed.child.kill('SIGKILL');
    return { inbox, sender, receiver };
  };

  it('continues when the sender was killed with SIGKILL', async () => {
    const { inbox, receiver } = await interrupted('sender');
    expect(await receiver.exit).to.not.equal(0);
    expect(receiver.events.find((e) => e.type === 'error')?.code).to.equal('ERR_PEER_GONE');
    const left = await listTree(inbox);
    expect(left, 'only a hidden partial file, never the final name').to.have.length(1);
    expect(left[0]).to.match(/^\.[0-9a-f]{32}:sealdrop-part$/);

    const { done, rdone } = await finishAgain(inbox);
    expect(done.resumed).to.be.greaterThan(0);
    expect(done.resumed).to.be.lessThan(SIZE);
    expect(rdone.resumed).to.equal(done.resumed);
  });

  it('continues when the receiver was killed with SIGKILL, over the relay', async () => {
    const { inbox, sender } = await interrupted('receiver');
    expect(await sender.exit).to.not.equal(0);
    // The rendezvous says the receiver went (PEER_GONE, CONNECT); once the transfer moved to the
    // direct path (on a loaded machine it can before 16 MiB), only the channel's silence does: TIMEOUT.
    expect(['ERR_PEER_GONE', 'ERR_CONNECT', 'ERR_TIMEOUT']).to.include(sender.events.find((e) => e.type === 'error')?.code);

    const { done } = await finishAgain(inbox, ['--relay']);
    expect(done.transport).to.equal('relay');
    expect(done.resumed).to.be.greaterThan(0);
  });

  it('discards a partial file that does not verify, and never renames it into place', async () => {
    const { inbox, receiver } = await interrupted('sender');
    await receiver.exit;
    const [partial] = await listTree(inbox);
    // Corrupt the kept prefix on disk: the resumed file's SHA-256 can no longer match.
    const handle = await fs.open(path.join(inbox, partial!), 'r+');
    await handle.write(Buffer.from('corruption'), 0, 10, 1000);
    await handle.close();
    const again = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await again.waitFor('ready');
    const retry = world.peer('alice', ['send', src, '--to', 'bob']);
    expect(await retry.exit).to.not.equal(0);
    expect(await again.exit).to.not.equal(0);
    expect(again.events.find((e) => e.type === 'error')?.code).to.equal('ERR_INTEGRITY');
    expect(await listTree(inbox), 'the bad partial is gone and nothing took the final name').to.deep.equal([]);
    // A third attempt starts over and succeeds.
    const { done } = await finishAgain(inbox);
    expect(done.resumed).to.equal(0);
  });
});

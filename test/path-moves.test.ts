/**
 * Path moves across real hosts (ip netns): one transfer, one encrypted stream, moving
 * between the direct and the relay path in the middle. The rendezvous host routes A↔B
 * while its forwarding is on; off, A and B still reach the rendezvous (the relay) but no
 * longer each other, so the direct path breaks, or cannot open yet. Needs root.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { listTree, randomFile, sha256File, tempDir, type Run } from './helpers/cli.js';
import { netnsUnavailable, setForwarding, startNetWorld, type NetWorld } from './helpers/netns.js';

const SIZE = 48 * 1024 * 1024 + 321;

describe('path moves across hosts (ip netns)', function () {
  this.timeout(120_000);
  let work: string;

  before(async function () {
    const why = netnsUnavailable();
    if (why) {
      console.log(`SKIP path-moves: ${why}`);
      this.skip();
    }
    work = await tempDir();
  });
  after(async () => { if (work) await fs.rm(work, { recursive: true, force: true }); });

  /** Waits for the first event of `type` that `match` accepts. */
  async function eventOf(run: Run, type: string, match: (e: Record<string, any>) => boolean, timeoutMs = 60_000): Promise<Record<string, any>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const ev = run.events.find((e) => e.type === type && match(e));
      if (ev) return ev;
      if (Date.now() > until) throw new Error(`no matching ${type} event: ${run.stdout()} ${run.stderr()}`);
      await Promise.race([run.exit, new Promise((r) => setTimeout(r, 20))]);
    }
  }

  /** Both ran to the end, the file verifies, and each side's `paths` adds up to the file with both paths in it. */
  async function expectVerified(sender: Run, receiver: Run, src: string, inbox: string, sha: string) {
    const [sent, got] = await Promise.all([sender.exit, receiver.exit]);
    expect(sent, sender.stderr() + sender.stdout()).to.equal(0);
    expect(got, receiver.stderr() + receiver.stdout()).to.equal(0);
    const name = path.basename(src);
    expect(await listTree(inbox)).to.deep.equal([name]);
    expect(await sha256File(path.join(inbox, name))).to.equal(sha);
    for (const run of [sender, receiver]) {
      const done = run.events.find((e) => e.type === 'done')!;
      expect(done.paths.direct, `direct bytes: ${JSON.stringify(done)}`).to.be.above(0);
      expect(done.paths.relay, `relay bytes: ${JSON.stringify(done)}`).to.be.above(0);
      expect(done.paths.direct + done.paths.relay, 'every byte once').to.equal(SIZE);
    }
    return { sent: sender.events.find((e) => e.type === 'done')!, got: receiver.events.find((e) => e.type === 'done')! };
  }

  describe('the direct path breaks in the middle', () => {
    let world: NetWorld;
    before(async () => { world = await startNetWorld('cut', { routed: true, serveArgs: ['--no-relay-start'] }); });
    after(async () => { await world?.stop(); });

    it('the transfer goes on over the relay from where it was, verified, and both paths carried bytes', async () => {
      const src = path.join(work, 'cut.bin');
      const sha = await randomFile(src, SIZE);
      const inbox = await tempDir();
      setForwarding(world.hosts, true);
      const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      const sender = world.peer('alice', ['send', src, '--to', 'bob']);
      expect((await sender.waitFor('secured', 30_000)).transport, '--no-relay-start: it starts direct').to.equal('direct');
      // Bob is stopped at his first bytes, so the cut falls in the middle whatever the speed.
      await eventOf(receiver, 'progress', (e) => e.bytes > 0);
      receiver.child.kill('SIGSTOP');
      setForwarding(world.hosts, false);
      receiver.child.kill('SIGCONT');
      const moved = await eventOf(sender, 'path', () => true);
      expect(moved.transport).to.equal('relay');
      expect(moved.reason).to.match(/direct path (stalled|closed)/);
      const { sent, got } = await expectVerified(sender, receiver, src, inbox, sha);
      expect(sent.transport).to.equal('relay');
      expect(got.transport).to.equal('relay');
      expect(receiver.events.find((e) => e.type === 'path')?.transport).to.equal('relay');
      await fs.rm(inbox, { recursive: true });
    });

    it('a get goes on over the relay too: the opener, which takes the data, sees it stop and moves', async () => {
      const share = await tempDir();
      const src = path.join(share, 'pulled.bin');
      const sha = await randomFile(src, SIZE);
      const inbox = await tempDir();
      setForwarding(world.hosts, true);
      const sharer = world.peer('bob', ['receive', '--dir', await tempDir(), '--share', share, '--yes', '--once']);
      await sharer.waitFor('ready');
      const getter = world.peer('alice', ['get', 'bob', 'pulled.bin', '--dir', inbox]);
      expect((await getter.waitFor('secured', 30_000)).transport).to.equal('direct');
      await eventOf(getter, 'progress', (e) => e.bytes > 0);
      getter.child.kill('SIGSTOP');
      setForwarding(world.hosts, false);
      getter.child.kill('SIGCONT');
      expect((await eventOf(getter, 'path', () => true)).transport).to.equal('relay');
      const [got, served] = await Promise.all([getter.exit, sharer.exit]);
      expect(got, getter.stderr() + getter.stdout()).to.equal(0);
      expect(served, sharer.stderr() + sharer.stdout()).to.equal(0);
      expect(await sha256File(path.join(inbox, 'pulled.bin'))).to.equal(sha);
      const done = getter.events.find((e) => e.type === 'done')!;
      expect(done.paths.direct).to.be.above(0);
      expect(done.paths.relay).to.be.above(0);
      expect(done.paths.direct + done.paths.relay).to.equal(SIZE);
      await fs.rm(inbox, { recursive: true });
      await fs.rm(share, { recursive: true });
    });
  });

  describe('the direct path opens only after the transfer began', () => {
    let world: NetWorld;
    // A slow relay, so the transfer is still on it when the direct path opens.
    before(async () => { world = await startNetWorld('late', { routed: true, serveArgs: ['--relay-rate', String(3 * 1024 * 1024)] }); });
    after(async () => { await world?.stop(); });

    it('starts on the relay at once and finishes on the direct path, verified, both carrying bytes', async () => {
      const src = path.join(work, 'late.bin');
      const sha = await randomFile(src, SIZE);
      const inbox = await tempDir();
      setForwarding(world.hosts, false);
      const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      const sender = world.peer('alice', ['send', src, '--to', 'bob']);
      expect((await sender.waitFor('secured', 30_000)).transport, 'relay start').to.equal('relay');
      await eventOf(receiver, 'progress', (e) => e.bytes > 0);
      await new Promise((r) => setTimeout(r, 2_000)); // the direct attempt meets a closed road for a while
      expect(sender.events.some((e) => e.type === 'path'), 'no direct path while the road is closed').to.equal(false);
      setForwarding(world.hosts, true);
      const moved = await eventOf(sender, 'path', () => true, 90_000);
      expect(moved.transport).to.equal('direct');
      const { sent, got } = await expectVerified(sender, receiver, src, inbox, sha);
      expect(sent.transport).to.equal('direct');
      expect(got.transport).to.equal('direct');
      await fs.rm(inbox, { recursive: true });
    });
  });
});

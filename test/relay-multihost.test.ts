/**
 * Relay fallback across real hosts: the rendezvous on one network namespace,
 * alice and bob on two others. Where A and B cannot reach each other, `send`
 * falls back to the relay; where they can, it goes direct. Needs root.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { expectCarriedDirect, listTree, randomFile, sha256File, tempDir } from './helpers/cli.js';
import { hasRoute, netnsUnavailable, startNetWorld, type NetWorld } from './helpers/netns.js';

const SIZE = 8 * 1024 * 1024 + 123;

describe('relay fallback across hosts (ip netns)', function () {
  this.timeout(60_000);
  let work: string;

  before(async function () {
    const why = netnsUnavailable();
    if (why) {
      console.log(`SKIP relay-multihost: ${why}`);
      this.skip();
    }
    work = await tempDir();
  });
  after(async () => { if (work) await fs.rm(work, { recursive: true, force: true }); });

  /** Sends `src` from alice (host a) to bob (host b); resolves with both runs once they exited. */
  async function transfer(world: NetWorld, src: string, inbox: string, extra: string[] = []) {
    const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    const started = performance.now();
    const sender = world.peer('alice', ['send', src, '--to', 'bob', ...extra]);
    const [sent, got] = await Promise.all([sender.exit, receiver.exit]);
    return { sender, receiver, sent, got, seconds: (performance.now() - started) / 1000 };
  }

  describe('A and B can reach only the rendezvous', () => {
    let world: NetWorld;
    before(async () => { world = await startNetWorld('iso', { routed: false }); });
    after(async () => { await world?.stop(); });

    it('has no route between the peer hosts', () => {
      expect(hasRoute(world.hosts.a, world.hosts.rvAddress.a), 'a reaches rv').to.equal(true);
      expect(hasRoute(world.hosts.b, world.hosts.rvAddress.b), 'b reaches rv').to.equal(true);
      expect(hasRoute(world.hosts.a, world.hosts.peerAddress.b), 'a reaches b').to.equal(false);
      expect(hasRoute(world.hosts.b, world.hosts.peerAddress.a), 'b reaches a').to.equal(false);
    });

    it('send falls back to the relay on its own and the file verifies', async () => {
      const src = path.join(work, 'fallback.bin');
      const sha = await randomFile(src, SIZE);
      const inbox = await tempDir();
      const { sender, receiver, sent, got } = await transfer(world, src, inbox);
      expect(sent, sender.stderr() + sender.stdout()).to.equal(0);
      expect(got, receiver.stderr() + receiver.stdout()).to.equal(0);
      const done = sender.events.find((e) => e.type === 'done')!;
      expect(done.transport).to.equal('relay');
      expect(done.files).to.deep.equal([{ name: 'fallback.bin', bytes: SIZE, sha256: sha }]);
      expect(receiver.events.find((e) => e.type === 'done')!.transport).to.equal('relay');
      expect(await listTree(inbox)).to.deep.equal(['fallback.bin']);
      expect(await sha256File(path.join(inbox, 'fallback.bin'))).to.equal(sha);
      await fs.rm(inbox, { recursive: true });
    });

    it('--direct-only fails quickly with ERR_NO_DIRECT and a clear message', async () => {
      const src = path.join(work, 'direct-only.txt');
      await fs.writeFile(src, 'only if direct');
      const inbox = await tempDir();
      const { sender, receiver, sent, got, seconds } = await transfer(world, src, inbox, ['--direct-only', '--timeout', '2']);
      expect(sent).to.equal(4);
      const err = sender.events.find((e) => e.type === 'error')!;
      expect(err.code, sender.stdout()).to.equal('ERR_NO_DIRECT');
      expect(err.message).to.match(/no direct path to bob/).and.match(/--direct-only/);
      expect(seconds, 'exits soon after the 2 s timeout').to.be.below(10);
      expect(got, 'the receiver ends too').to.not.equal(0);
      expect(await listTree(inbox)).to.deep.equal([]);
      await fs.rm(inbox, { recursive: true });
    });
  });

  describe('A and B can reach each other through the rendezvous host', () => {
    let world: NetWorld;
    // The relay only as a fallback, so the choice is the direct path's alone (relay start and moves: test/path-moves.test.ts).
    before(async () => { world = await startNetWorld('routed', { routed: true, serveArgs: ['--no-relay-start'] }); });
    after(async () => { await world?.stop(); });

    it('the same send goes direct and the file verifies', async () => {
      expect(hasRoute(world.hosts.a, world.hosts.peerAddress.b), 'a reaches b').to.equal(true);
      const src = path.join(work, 'direct.bin');
      const sha = await randomFile(src, SIZE);
      const inbox = await tempDir();
      const { sender, receiver, sent, got } = await transfer(world, src, inbox);
      expect(sent, sender.stderr() + sender.stdout()).to.equal(0);
      expect(got, receiver.stderr() + receiver.stdout()).to.equal(0);
      expectCarriedDirect(sender);
      expectCarriedDirect(receiver);
      expect(await sha256File(path.join(inbox, 'direct.bin'))).to.equal(sha);
      await fs.rm(inbox, { recursive: true });
    });
  });
});

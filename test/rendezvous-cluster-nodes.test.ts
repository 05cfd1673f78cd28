/**
 * Cluster mode, peers at different nodes: real `serve --redis` nodes (the CLI), one real
 * redis-server, real peers (the CLI) logged in at different nodes, and a real haproxy
 * round-robin in front of three nodes. Peers see each other across nodes, transfer direct
 * and through the relay (frames cross nodes), a SIGKILLed node's peers vanish from the
 * others' view and reconnect through haproxy to another node, and Redis going away and
 * coming back leaves a cluster that works without a restart.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { listTree, PEER_CLI, randomFile, type Run, sha256File, spawnCli, tempDir } from './helpers/cli.js';
import { haproxyAvailable, TestHaproxy } from './helpers/haproxy.js';
import { redisAvailable, TestRedis } from './helpers/redis.js';
import { type CliRun, runRendezvousCli, startServe } from './helpers/rendezvous.js';

const MiB = 1024 * 1024;

interface ClusterNode { run: CliRun; url: string }

async function until<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('rendezvous cluster on Redis: peers at different nodes', function () {
  this.timeout(90_000);
  let redis: TestRedis;
  let root: string;
  let data: string;
  const nodes: ClusterNode[] = [];
  const peers = new Set<Run>();
  let proxy: TestHaproxy | undefined;
  const secrets: Record<string, string> = {};

  before(function () {
    if (!redisAvailable()) {
      console.log('SKIP cluster node tests: /usr/bin/redis-server is missing (apt-get install redis-server)');
      this.skip();
    }
  });
  beforeEach(async () => {
    redis = await TestRedis.start();
    root = await tempDir('sealdrop-cluster-nodes-');
    data = path.join(root, 'rendezvous');
    for (const id of ['alice', 'bob']) {
      const enrolled = await runRendezvousCli(['enroll', id, '--redis', redis.url, '--data', data, '--json']);
      expect(enrolled.code, enrolled.stderr).to.equal(0);
      secrets[id] = (JSON.parse(enrolled.stdout) as { secret: string }).secret;
    }
  });
  afterEach(async () => {
    for (const run of peers) run.child.kill('SIGKILL');
    await Promise.all([...peers].map((r) => r.exit));
    peers.clear();
    await proxy?.stop();
    proxy = undefined;
    for (const n of nodes.splice(0)) {
      n.run.child.kill('SIGKILL');
      await n.run.exit;
    }
    await redis.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  async function startNodes(count: number): Promise<ClusterNode[]> {
    const started = await Promise.all(Array.from({ length: count }, () => startServe(['--redis', redis.url, '--data', data], { SEALDROP_LOG: 'silent' })));
    nodes.push(...started);
    return started;
  }

  const home = (id: string, at: string) => path.join(root, `home-${id}-${new URL(at).port}`);
  const peer = (id: string, at: string, args: string[]) => {
    const run = spawnCli(PEER_CLI, ['--home', home(id, at), '--json', ...args]);
    peers.add(run);
    void run.exit.then(() => peers.delete(run));
    return run;
  };
  /** Logs `id` in at `url` (its own home per URL), so its commands go to that node. */
  async function loginAt(id: string, url: string): Promise<void> {
    const run = peer(id, url, ['login', '--server', url, '--id', id, '--secret', secrets[id]!]);
    expect(await run.exit, run.stderr()).to.equal(0);
  }
  async function peersSeen(id: string, url: string): Promise<Array<{ id: string; receiving: boolean }>> {
    const run = peer(id, url, ['peers']);
    expect(await run.exit, run.stderr()).to.equal(0);
    return run.events.find((e) => e.type === 'peers')!.peers;
  }
  async function sendFile(url: string, src: string, extra: string[] = []): Promise<Run> {
    const sender = peer('alice', url, ['send', src, '--to', 'bob', ...extra]);
    expect(await sender.exit, sender.stderr() + sender.stdout()).to.equal(0);
    return sender;
  }

  it('a peer at node A sees one at node B, and they transfer direct and (--relay) through both nodes, byte for byte', async () => {
    const [a, b] = await startNodes(2);
    await loginAt('alice', a!.url);
    await loginAt('bob', b!.url);
    const inbox = path.join(root, 'inbox');
    await fs.mkdir(inbox);
    const receiver = peer('bob', b!.url, ['receive', '--dir', inbox, '--yes']);
    await receiver.waitFor('ready');
    expect(await peersSeen('alice', a!.url)).to.deep.include({ id: 'bob', receiving: true });

    const direct = path.join(root, 'direct.bin');
    const directSha = await randomFile(direct, 2 * MiB + 17);
    const viaDirect = await sendFile(a!.url, direct);
    expect(viaDirect.events.find((e) => e.type === 'done')!.transport).to.equal('direct');

    const relayed = path.join(root, 'relayed.bin');
    const relayedSha = await randomFile(relayed, 6 * MiB + 4321);
    const viaRelay = await sendFile(a!.url, relayed, ['--relay']);
    const done = viaRelay.events.find((e) => e.type === 'done')!;
    expect(done.transport).to.equal('relay');
    expect(done.paths.relay, 'the bytes crossed the nodes on the relay').to.be.greaterThan(6 * MiB);
    await until(() => receiver.events.filter((e) => e.type === 'done').length >= 2 || undefined, 'both transfers done at the receiver');
    expect(await listTree(inbox)).to.deep.equal(['direct.bin', 'relayed.bin']);
    expect(await sha256File(path.join(inbox, 'direct.bin'))).to.equal(directSha);
    expect(await sha256File(path.join(inbox, 'relayed.bin'))).to.equal(relayedSha);
  });

  it('a peer at a SIGKILLed node disappears from the other nodes\' view within seconds', async () => {
    const [a, b] = await startNodes(2);
    await loginAt('alice', a!.url);
    await loginAt('bob', b!.url);
    const receiver = peer('bob', b!.url, ['receive', '--dir', root, '--yes']);
    await receiver.waitFor('ready');
    expect((await peersSeen('alice', a!.url)).map((p) => p.id)).to.deep.equal(['bob']);
    b!.run.child.kill('SIGKILL');
    const killedAt = Date.now();
    await until(async () => (await peersSeen('alice', a!.url)).length === 0 || undefined, 'bob gone from node A\'s view');
    expect(Date.now() - killedAt, 'gone within the node TTL and a beat').to.be.lessThan(10_000);
  });

  it('behind haproxy (round robin, three nodes): SIGKILL of the receiver\'s node, it reconnects through haproxy to another node and receives again', async function () {
    if (!haproxyAvailable()) {
      console.log('SKIP haproxy test: /usr/sbin/haproxy is missing (apt-get install haproxy)');
      return this.skip();
    }
    const three = await startNodes(3);
    proxy = await TestHaproxy.start(three.map((n) => n.url));
    await loginAt('alice', proxy.url);
    await loginAt('bob', proxy.url);
    const inbox = path.join(root, 'inbox');
    await fs.mkdir(inbox);
    const receiver = peer('bob', proxy.url, ['receive', '--dir', inbox, '--yes']);
    await receiver.waitFor('ready');
    const first = path.join(root, 'first.bin');
    const firstSha = await randomFile(first, 1 * MiB);
    await sendFile(proxy.url, first, ['--relay']);
    await until(() => receiver.events.some((e) => e.type === 'done') || undefined, 'the first file at bob');
    expect(await sha256File(path.join(inbox, 'first.bin'))).to.equal(firstSha);

    // Which node holds bob's receiving connection: the one whose /metrics counts a connection now.
    const online = async (n: ClusterNode) => Number(/^sealdrop_peers_online (\d+)/m.exec(await (await fetch(`${n.url}/metrics`)).text())?.[1] ?? 0);
    const holder = await until(async () => {
      for (const n of three) if (await online(n) > 0) return n;
      return undefined;
    }, 'the node holding bob');
    holder.run.child.kill('SIGKILL');
    const killedAt = Date.now();
    await receiver.waitFor('reconnecting', 10_000);
    await receiver.waitFor('online', 15_000);
    expect(Date.now() - killedAt, 'back online within seconds').to.be.lessThan(12_000);
    const survivors = three.filter((n) => n !== holder);
    expect((await Promise.all(survivors.map(online))).reduce((x, y) => x + y, 0), 'bob is at another node now').to.be.greaterThan(0);

    const second = path.join(root, 'second.bin');
    const secondSha = await randomFile(second, 3 * MiB + 5);
    await until(async () => (await peersSeen('alice', proxy!.url)).some((p) => p.id === 'bob' && p.receiving) || undefined, 'bob receiving again in alice\'s view');
    await sendFile(proxy.url, second, ['--relay']);
    await until(() => receiver.events.filter((e) => e.type === 'done').length >= 2 || undefined, 'the second file at bob');
    expect(await sha256File(path.join(inbox, 'second.bin'))).to.equal(secondSha);
  });

  it('Redis stopped: new logins fail with clear words and /readyz is 503; Redis back: peers see each other and transfer across nodes again, no restart', async () => {
    const [a, b] = await startNodes(2);
    await loginAt('alice', a!.url);
    await loginAt('bob', b!.url);
    const inbox = path.join(root, 'inbox');
    await fs.mkdir(inbox);
    const receiver = peer('bob', b!.url, ['receive', '--dir', inbox, '--yes']);
    await receiver.waitFor('ready');

    await redis.stop({ save: true });
    const refused = peer('alice', a!.url, ['peers']);
    expect(await refused.exit).to.not.equal(0);
    expect(refused.stderr() + refused.stdout()).to.match(/cannot reach its shared login store \(Redis\)/);
    for (const n of [a!, b!]) expect((await fetch(`${n.url}/readyz`)).status).to.equal(503);

    await redis.restart();
    for (const n of [a!, b!]) await until(async () => (await fetch(`${n.url}/readyz`)).status === 200 || undefined, 'ready again');
    expect(await until(async () => {
      const seen = await peersSeen('alice', a!.url);
      return seen.some((p) => p.id === 'bob') ? seen : undefined;
    }, 'bob in alice\'s view again')).to.deep.include({ id: 'bob', receiving: true });
    const file = path.join(root, 'after.bin');
    const fileSha = await randomFile(file, 2 * MiB + 1);
    await sendFile(a!.url, file, ['--relay']);
    await until(() => receiver.events.some((e) => e.type === 'done') || undefined, 'the file at bob');
    expect(await sha256File(path.join(inbox, 'after.bin'))).to.equal(fileSha);
  });
});

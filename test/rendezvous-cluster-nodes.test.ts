/**
 * Cluster mode, peers at different nodes: real `serve --redis` nodes (the CLI), one real
 * redis-server, real peers (the CLI) logged in at different nodes, and a real haproxy
 * round-robin in front of three nodes. Peers see each other across nodes, transfer direct
 * and through the relay (frames cross nodes), a SIGKILLed node's peers vanish from the
 * others' view and reconnect through haproxy to another node, and Redis going away and
 * coming back leaves a cluster that works without a restart.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { MAX_RELAY_BATCH } from '../shared/relay-batch.js';
import { totpCode } from '../shared/totp.js';
import { AccountSeal } from '../rendezvous/cluster/account-seal.js';
import { createLogger, silentLogger } from '../rendezvous/log.js';
import { RedisAccountStore } from '../rendezvous/cluster/redis-accounts.js';
import { RedisLink } from '../rendezvous/cluster/redis-link.js';
import { createRendezvous, type Rendezvous, type RendezvousOptions } from '../rendezvous/server.js';
import { listTree, PEER_CLI, randomFile, type Run, sha256File, spawnCli, tempDir } from './helpers/cli.js';
import { haproxyAvailable, TestHaproxy } from './helpers/haproxy.js';
import { redisAvailable, TestRedis } from './helpers/redis.js';
import { ask, type CliRun, type Client, connect, next, refusal, runRendezvousCli, startServe, tempDir as rvTempDir } from './helpers/rendezvous.js';

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

  async function startNodes(count: number, extra: string[] = []): Promise<ClusterNode[]> {
    const started = await Promise.all(Array.from({ length: count }, () => startServe(['--redis', redis.url, '--data', data, ...extra], { SEALDROP_LOG: 'silent' })));
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
    expect(Date.now() - killedAt, 'gone within the node TTL and a beat').to.be.lessThan(15_000);
  });

  it('behind haproxy (round robin, three nodes): SIGKILL of the receiver\'s node, it reconnects through haproxy to another node and receives again', async function () {
    if (!haproxyAvailable()) {
      console.log('SKIP haproxy test: /usr/sbin/haproxy is missing (apt-get install haproxy)');
      return this.skip();
    }
    const three = await startNodes(3, ['--trust-proxy']); // each client's own address, from haproxy's X-Forwarded-For
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

  it('behind haproxy: a direct transfer goes on while the receiver\'s node is SIGKILLed mid-transfer, and completes', async function () {
    if (!haproxyAvailable()) return this.skip();
    const three = await startNodes(3, ['--trust-proxy', '--no-relay-start']); // direct from the first byte
    proxy = await TestHaproxy.start(three.map((n) => n.url));
    await loginAt('alice', proxy.url);
    await loginAt('bob', proxy.url);
    const inbox = path.join(root, 'inbox');
    await fs.mkdir(inbox);
    const receiver = peer('bob', proxy.url, ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    const online = async (n: ClusterNode) => Number(/^sealdrop_peers_online (\d+)/m.exec(await (await fetch(`${n.url}/metrics`)).text())?.[1] ?? 0);
    const holder = await until(async () => {
      for (const n of three) if (await online(n) > 0) return n;
      return undefined;
    }, 'the node holding bob');
    const big = path.join(root, 'big.bin');
    const bigSha = await randomFile(big, 48 * MiB);
    const sender = peer('alice', proxy.url, ['send', big, '--to', 'bob', '--direct-only']);
    await sender.waitFor('progress', 30_000);
    sender.child.kill('SIGSTOP'); // mid-transfer, until the node is gone
    try {
      holder.run.child.kill('SIGKILL');
      await receiver.waitFor('reconnecting', 10_000);
    } finally {
      sender.child.kill('SIGCONT');
    }
    expect(await sender.exit, sender.stderr() + sender.stdout()).to.equal(0);
    expect(await receiver.exit, receiver.stderr() + receiver.stdout()).to.equal(0);
    expect(sender.events.find((e) => e.type === 'done')!.transport).to.equal('direct');
    expect(await sha256File(path.join(inbox, 'big.bin'))).to.equal(bigSha);
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

describe('rendezvous cluster on Redis: sessions across nodes, message by message', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let data: string;
  const nodes: Array<{ rv: Rendezvous; url: string; logs: string[]; node: string }> = [];
  const sockets: Client[] = [];
  const secrets: Record<string, string> = {};
  const SIGNAL = { type: 'transport', mode: 'relay' } as const;

  before(function () { if (!redisAvailable()) this.skip(); });
  beforeEach(async () => {
    redis = await TestRedis.start();
    data = rvTempDir('sealdrop-cluster-msg-');
    const link = new RedisLink(redis.url, silentLogger, undefined, false);
    await link.connect();
    try {
      const store = new RedisAccountStore(link, AccountSeal.open(data, true));
      for (const id of ['alice', 'bob']) secrets[id] = (await store.enroll(id)).secret;
    } finally {
      link.close();
    }
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    for (const n of nodes.splice(0)) await n.rv.close();
    await redis.close();
    await fs.rm(data, { recursive: true, force: true });
  });

  async function startNodes(count: number, opts: Partial<RendezvousOptions> = {}) {
    for (let i = 0; i < count; i++) {
      const logs: string[] = [];
      const rv = createRendezvous({ dataDir: data, redis: redis.url, logger: createLogger({ level: 'info', write: (l) => logs.push(l) }), ...opts });
      const url = await rv.listen(0, '127.0.0.1');
      const node = /"node":"([0-9a-f]{16})"/.exec(logs.join('\n'))![1]!;
      nodes.push({ rv, url, logs, node });
    }
    return nodes.slice(-count);
  }

  /** Logs in: the first time with a code, then with the token of the first login (one code per step). */
  const tokens: Record<string, string> = {};
  async function login(id: string, url: string, extra: object = {}): Promise<Client> {
    const auth = tokens[id] ? { id, token: tokens[id] } : { id, code: totpCode(secrets[id]!, Date.now()) };
    const { socket, welcome } = await connect(url, { ...auth, ...extra });
    tokens[id] ??= welcome.token;
    sockets.push(socket);
    return socket;
  }
  afterEach(() => { for (const k of Object.keys(tokens)) delete tokens[k]; });

  /** alice at `from` opens a session with bob receiving at `to`; bob accepts. */
  async function openAcross(from: string, to: string): Promise<{ alice: Client; bob: Client; sid: string }> {
    const bob = await login('bob', to, { receiving: true });
    bob.on('session:request', (_req, ack) => ack({ accept: true }));
    const alice = await login('alice', from);
    const opened = await ask(alice, 'session:open', { to: 'bob' });
    expect(opened.ok, JSON.stringify(opened)).to.equal(true);
    return { alice, bob, sid: opened.sid };
  }

  it('signals and relay frames cross nodes with the one-node flow control: the sender\'s ack waits for the receiver\'s, the window holds, a close is heard', async () => {
    const [a, b] = await startNodes(2, { relayWindowBytes: 100_000 });
    const { alice, bob, sid } = await openAcross(a!.url, b!.url);
    const signal = next<any>(bob, 'signal');
    expect(await ask(alice, 'signal', { sid, data: SIGNAL })).to.deep.equal({ ok: true });
    expect((await signal)[0]).to.deep.equal({ sid, from: 'alice', data: SIGNAL });

    const held: Array<(res: object) => void> = [];
    const got: Buffer[] = [];
    bob.on('relay:frame', (s, frame, ack) => { expect(s).to.equal(sid); got.push(frame); held.push(ack); });
    const frames = [0, 1, 2].map(() => randomBytes(30_000));
    const answers = frames.map((f) => ask(alice, 'relay:frame', sid, f));
    await until(() => got.length === 3 || undefined, 'three frames at bob');
    expect(Buffer.concat(got).equals(Buffer.concat(frames)), 'the frames arrive whole and in order').to.equal(true);
    let settled = 0;
    for (const p of answers) void p.then(() => { settled += 1; });
    const over = await ask(alice, 'relay:frame', sid, randomBytes(30_000)); // 120,000 unacked > 100,000
    expect(over.code).to.equal('ERR_RELAY_LIMIT');
    expect(settled, 'no ack for alice while bob has acked nothing').to.equal(0);
    for (const ack of held.splice(0)) ack({ ok: true });
    expect(await Promise.all(answers)).to.deep.equal([{ ok: true }, { ok: true }, { ok: true }]);
    expect(a!.rv.relayStats.bytes).to.equal(90_000);

    const closed = next<any>(bob, 'session:closed');
    alice.emit('session:close', { sid, reason: 'done' });
    expect((await closed)[0]).to.deep.equal({ sid, reason: 'done' });
    await until(() => b!.rv.tables().sessions === 0 && a!.rv.tables().sessions === 0 || undefined, 'the session gone at both nodes');
  });

  it('the daily relay quota is one across nodes: what an account relayed through node A counts at node C', async () => {
    const [a, b, c] = await startNodes(3, { relayBytesPerDay: 100_000 });
    const first = await openAcross(a!.url, b!.url);
    first.bob.on('relay:frame', (_s, _f, ack) => ack({ ok: true }));
    for (let i = 0; i < 3; i++) expect(await ask(first.alice, 'relay:frame', first.sid, randomBytes(20_000))).to.deep.equal({ ok: true });
    const check = redis.client();
    try {
      await until(async () => Number((await check.get(`sealdrop:relay-bytes:${Math.floor(Date.now() / 86_400_000)}:alice`)) ?? 0) >= 60_000 || undefined, 'node A counted in Redis');
    } finally {
      check.disconnect();
    }
    const alice2 = await login('alice', c!.url);
    const again = await ask(alice2, 'session:open', { to: 'bob' });
    expect(again.ok).to.equal(true);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await ask(alice2, 'relay:frame', again.sid, randomBytes(20_000)));
    expect(answers.slice(0, 2)).to.deep.equal([{ ok: true }, { ok: true }]);
    expect(answers[2].code).to.equal('ERR_RELAY_LIMIT');
    expect(answers[2].message).to.match(/relay quota of 100000 bytes/);
  });

  it('a receive at another node is refused without --replace, and replaced with it', async () => {
    const [a, b] = await startNodes(2);
    const first = await login('bob', a!.url, { receiving: true });
    const refused = await refusal(b!.url, { id: 'bob', token: tokens.bob, receiving: true });
    expect(refused.code).to.equal('ERR_EXISTS');
    expect(refused.message).to.match(/already receiving on another connection/);
    const replaced = next(first, 'receiving:replaced', 5000);
    const gone = next(first, 'disconnect', 5000);
    await login('bob', b!.url, { receiving: true, replace: true });
    await replaced;
    await gone;
  });

  it('hostile node messages (garbage, a wrong sender node, oversized, unknown acks) are dropped and crash nothing', async () => {
    const [a, b] = await startNodes(2);
    const { alice, bob, sid } = await openAcross(a!.url, b!.url);
    const signals: unknown[] = [];
    alice.on('signal', (ev) => signals.push(ev));
    const pub = redis.client();
    try {
      const channel = `sealdrop:node:${a!.node}`;
      const envelope = (header: object, payload = Buffer.alloc(0)) => {
        const h = Buffer.from(JSON.stringify(header));
        const len = Buffer.alloc(4);
        len.writeUInt32BE(h.length);
        return Buffer.concat([len, h, payload]);
      };
      const stranger = 'ffffffffffffffff';
      for (const raw of [
        randomBytes(3), randomBytes(200), Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2]),
        envelope({ node: b!.node, msg: { t: 'signal', sid, data: { type: 'nope' } } }),
        envelope({ node: stranger, msg: { t: 'signal', sid, data: SIGNAL } }), // not the node of bob
        envelope({ node: stranger, msg: { t: 'closed', sid, reason: 'forged' } }),
        envelope({ node: b!.node, msg: { t: 'ack', ack: 999_999, res: { ok: true } } }),
        envelope({ node: b!.node, msg: { t: 'relay', sid, ack: 1, batch: false } }, randomBytes(MAX_RELAY_BATCH + 1)),
        envelope({ node: b!.node, msg: { t: 'signal', sid, data: SIGNAL } }, randomBytes(10)),
        envelope({ node: b!.node, msg: { t: 'replace', id: '../../x' } }),
      ]) await pub.publish(channel, raw);
      await until(() => /node\.message-bad/.test(a!.logs.join('\n')) || undefined, 'node A logging what it refused');
      // The session is untouched: a signal from bob's real node still arrives, and only that one.
      expect(await ask(bob, 'signal', { sid, data: SIGNAL })).to.deep.equal({ ok: true });
      await until(() => signals.length > 0 || undefined, 'bob\'s signal at alice');
      expect(signals).to.deep.equal([{ sid, from: 'bob', data: SIGNAL }]);
      bob.on('relay:frame', (_s, _f, ack) => ack({ ok: true }));
      expect(await ask(alice, 'relay:frame', sid, randomBytes(1000))).to.deep.equal({ ok: true });
      expect(alice.connected).to.equal(true);
      expect((await fetch(`${a!.url}/healthz`)).status).to.equal(200);
    } finally {
      pub.disconnect();
    }
  });
});

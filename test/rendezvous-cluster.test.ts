/**
 * Cluster mode, the login guarantees: several real rendezvous nodes (in this process,
 * each its own Socket.IO server on port 0) sharing one real redis-server. Each guarantee
 * its own test: one code accepted once cluster-wide, one guess budget, tokens valid at
 * every node, enroll and revoke (the real operator CLI with --redis) seen by every node,
 * and Redis going away and coming back.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { totpCode } from '../shared/totp.js';
import { AccountSeal } from '../rendezvous/cluster/account-seal.js';
import { createLogger, silentLogger } from '../rendezvous/log.js';
import { RedisAccountStore } from '../rendezvous/cluster/redis-accounts.js';
import { RedisLink } from '../rendezvous/cluster/redis-link.js';
import { createRendezvous, type Rendezvous, type RendezvousOptions } from '../rendezvous/server.js';
import { blockFor, LOCK_AFTER, THROTTLE_AFTER } from '../rendezvous/login/throttle.js';
import { type Client, connect, next, refusal, runRendezvousCli as cli, startRendezvous, startServe, T0, TestClock, tempDir } from './helpers/rendezvous.js';
import { redisAvailable, TestRedis } from './helpers/redis.js';

interface Node { rv: Rendezvous; url: string; logs: string[] }

/** A code that is wrong for the secret at `now` (not one of the three the ±1 window accepts). */
function wrongCode(secret: string, now: number): string {
  const right = new Set([-30_000, 0, 30_000].map((d) => totpCode(secret, now + d)));
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, '0');
    if (!right.has(code)) return code;
  }
}

describe('rendezvous cluster on Redis: login guarantees', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let data: string;
  let clock: TestClock;
  const nodes: Node[] = [];
  const sockets: Client[] = [];

  before(function () {
    if (!redisAvailable()) {
      console.log('SKIP cluster tests: /usr/bin/redis-server is missing (apt-get install redis-server)');
      this.skip();
    }
  });
  beforeEach(async () => {
    redis = await TestRedis.start();
    data = tempDir('sealdrop-cluster-');
    clock = new TestClock(T0);
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    for (const n of nodes.splice(0)) await n.rv.close();
    await redis.close();
    rmSync(data, { recursive: true, force: true });
  });

  /** Starts `count` nodes on one Redis, sharing the account key (one data folder) and the test clock. */
  async function startNodes(count: number, opts: Partial<RendezvousOptions> = {}): Promise<Node[]> {
    const started: Node[] = [];
    for (let i = 0; i < count; i++) {
      const logs: string[] = [];
      const rv = createRendezvous({
        dataDir: data, redis: redis.url, now: clock.now,
        logger: createLogger({ level: 'info', write: (line) => logs.push(line) }), ...opts,
      });
      const node = { rv, url: await rv.listen(0, '127.0.0.1'), logs };
      nodes.push(node);
      started.push(node);
    }
    return started;
  }

  /** Enrolls through the library, as `enroll --redis` does; returns the secret. */
  async function enroll(id: string): Promise<string> {
    const link = new RedisLink(redis.url, silentLogger, undefined, false);
    await link.connect();
    try {
      return (await new RedisAccountStore(link, AccountSeal.open(data, true)).enroll(id)).secret;
    } finally {
      link.close();
    }
  }

  const login = async (url: string, auth: object) => {
    const res = await connect(url, auth);
    sockets.push(res.socket);
    return res;
  };

  it('the same code at two nodes at the same time: exactly one login wins, the other is a replay', async () => {
    const secret = await enroll('alice');
    const [a, b] = await startNodes(2);
    for (let round = 0; round < 5; round++) {
      clock.advance(30_000); // a fresh step each round
      const code = totpCode(secret, clock.now());
      const results = await Promise.allSettled([connect(a!.url, { id: 'alice', code }), connect(b!.url, { id: 'alice', code })]);
      for (const r of results) if (r.status === 'fulfilled') sockets.push(r.value.socket);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won, `round ${round}`).to.have.length(1);
      expect(lost[0]!.reason.data.code, `round ${round}`).to.equal('ERR_AUTH_REPLAY');
    }
  });

  /**
   * Guesses at `urls` (round robin): first 12 at once, then one per moment the budget
   * allows and one right after it, until the account locks; then the right code.
   * Returns every answer's code, in order.
   */
  async function guessUntilLocked(urls: string[], secret: string): Promise<Array<string | undefined>> {
    const guess = (i: number, code = wrongCode(secret, clock.now())) => refusal(urls[i % urls.length]!, { id: 'alice', code }).then((r) => r.code);
    const codes = await Promise.all(Array.from({ length: 12 }, (_, i) => guess(i)));
    for (let failures = THROTTLE_AFTER; failures < LOCK_AFTER; failures++) {
      clock.advance(blockFor(failures));
      codes.push(await guess(failures), await guess(failures + 1));
    }
    for (let i = 0; i < 3; i++) codes.push(await guess(i, totpCode(secret, clock.now())));
    return codes;
  }

  it('wrong guesses spread over three nodes are throttled, then locked, by one shared budget, as on one node', async () => {
    const secret = await enroll('alice');
    // The address budget out of the way: this test is about the account's (the next one is about the address's).
    const roomy = { addressLockout: { throttleAfter: 1000, lockAfter: 1000 } };
    const three = await startNodes(3, roomy);
    const cluster = await guessUntilLocked(three.map((n) => n.url), secret);
    // Parallel guesses at three nodes at once: exactly THROTTLE_AFTER are weighed, the rest wait.
    expect(cluster.slice(0, 12).filter((c) => c === 'ERR_AUTH')).to.have.length(THROTTLE_AFTER);
    expect(cluster.slice(0, 12).filter((c) => c === 'ERR_THROTTLED')).to.have.length(12 - THROTTLE_AFTER);
    // Then one guess per allowed moment: each weighed, each followed by a wait, and the lock after LOCK_AFTER.
    const paced = cluster.slice(12, -3);
    for (let i = 0; i < paced.length; i += 2) {
      expect(paced[i], `guess ${THROTTLE_AFTER + i / 2 + 1}`).to.equal('ERR_AUTH');
      expect(paced[i + 1], `right after guess ${THROTTLE_AFTER + i / 2 + 1}`).to.equal(THROTTLE_AFTER + i / 2 + 1 >= LOCK_AFTER ? 'ERR_LOCKED' : 'ERR_THROTTLED');
    }
    expect(cluster.slice(-3), 'the right code, at each node, while locked').to.deep.equal(['ERR_LOCKED', 'ERR_LOCKED', 'ERR_LOCKED']);

    // The same sequence at one node without Redis gets the same answers.
    clock = new TestClock(T0);
    const single = await startRendezvous({ accounts: [], now: clock.now, ...roomy });
    try {
      const soloSecret = single.store.enroll('alice').secret;
      const solo = await guessUntilLocked([single.url], soloSecret);
      // Which of the parallel twelve were weighed depends on arrival order: compare those as a multiset.
      expect([...solo.slice(0, 12)].sort()).to.deep.equal([...cluster.slice(0, 12)].sort());
      expect(solo.slice(12)).to.deep.equal(cluster.slice(12));
    } finally {
      await single.stop();
    }
  });

  it('wrong guesses from one address are limited across nodes by the address budget too', async () => {
    const ids = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
    const secrets = await Promise.all(ids.map(enroll));
    const three = await startNodes(3, { addressLockout: { throttleAfter: 4, lockAfter: 8 } });
    // One guess at each of six accounts (no account reaches its own limit), over three nodes.
    const codes: Array<string | undefined> = [];
    for (let i = 0; i < ids.length; i++) codes.push((await refusal(three[i % 3]!.url, { id: ids[i]!, code: wrongCode(secrets[i]!, clock.now()) })).code);
    expect(codes).to.deep.equal(['ERR_AUTH', 'ERR_AUTH', 'ERR_AUTH', 'ERR_AUTH', 'ERR_THROTTLED', 'ERR_THROTTLED']);
  });

  it('many right-code logins at once from one address, spread over two nodes, under its budget, are all let in (none blocked by an earlier one\'s moment)', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `crowd${i}`);
    const crowd = await Promise.all(ids.map(enroll));
    // The real clock: each login takes its own "now", and they reach Redis in another order than they took it. The
    // address budget is raised above the crowd: logins in flight count against it until found right (by design), and
    // this test is about those that were refused without any budget spent (a block "until now").
    const [a, b] = await startNodes(2, {
      now: Date.now, admission: { maxPendingPerAddress: 64, maxConnectionsPerAddress: 128 },
      addressLockout: { throttleAfter: 1000, lockAfter: 1000 },
    });
    const results = await Promise.allSettled(ids.map((id, i) => login([a, b][i % 2]!.url, { id, code: totpCode(crowd[i]!, Date.now()) })));
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as Error).message);
    expect(refused).to.deep.equal([]);
  });

  it('a right code after failures clears the account, and does not count against the address', async () => {
    const secret = await enroll('alice');
    const [a, b] = await startNodes(2);
    for (let i = 0; i < 3; i++) expect((await refusal(a!.url, { id: 'alice', code: wrongCode(secret, clock.now()) })).code).to.equal('ERR_AUTH');
    await login(b!.url, { id: 'alice', code: totpCode(secret, clock.now()) });
    const check = redis.client();
    try {
      expect(await check.exists('sealdrop:guess:account:alice')).to.equal(0);
      expect(await check.hget('sealdrop:guess:address:127.0.0.1', 'c')).to.equal('3');
    } finally {
      check.disconnect();
    }
  });

  it('a session token issued by node A logs in at node B (and only there for that account)', async () => {
    const secret = await enroll('alice');
    await enroll('bob');
    const [a, b] = await startNodes(2);
    const first = await login(a!.url, { id: 'alice', code: totpCode(secret, clock.now()) });
    const again = await login(b!.url, { id: 'alice', token: first.welcome.token });
    expect(again.welcome.id).to.equal('alice');
    await login(a!.url, { id: 'alice', token: again.welcome.token }); // and back
    expect((await refusal(b!.url, { id: 'bob', token: first.welcome.token })).code).to.equal('ERR_AUTH');
    clock.advance(60 * 60_000 + 1); // past the token's hour
    expect((await refusal(b!.url, { id: 'alice', token: again.welcome.token })).code).to.equal('ERR_AUTH');
  });

  it('an account keeps at most 32 live tokens in Redis: the oldest go first', async () => {
    const secret = await enroll('alice');
    const [a, b] = await startNodes(2);
    let { welcome } = await login(a!.url, { id: 'alice', code: totpCode(secret, clock.now()) });
    const first = welcome.token;
    for (let i = 0; i < 33; i++) {
      clock.advance(1000);
      const next = await connect([a, b][i % 2]!.url, { id: 'alice', token: welcome.token });
      next.socket.close();
      welcome = next.welcome;
    }
    const check = redis.client();
    try {
      expect(await check.zcard('sealdrop:tokens:alice')).to.equal(32);
      expect((await check.keys('sealdrop:token:*')).length).to.equal(32);
    } finally {
      check.disconnect();
    }
    expect((await refusal(b!.url, { id: 'alice', token: first })).code).to.equal('ERR_AUTH');
    await login(b!.url, { id: 'alice', token: welcome.token });
  });

  it('tokens are kept hashed in Redis, and secrets sealed: neither is there in clear', async () => {
    const secret = await enroll('alice');
    const [a] = await startNodes(1);
    const { welcome } = await login(a!.url, { id: 'alice', code: totpCode(secret, clock.now()) });
    const check = redis.client();
    try {
      const keys = await check.keys('*');
      const values = await Promise.all(keys.map(async (k) => {
        const type = await check.type(k);
        if (type === 'string') return check.get(k);
        if (type === 'hash') return JSON.stringify(await check.hgetall(k));
        if (type === 'zset') return JSON.stringify(await check.zrange(k, 0, -1));
        return '';
      }));
      const everything = keys.join('\n') + values.join('\n');
      expect(everything).to.not.include(welcome.token);
      expect(everything).to.not.include(secret);
      expect(keys).to.include('sealdrop:accounts');
    } finally {
      check.disconnect();
    }
  });

  it('enroll --redis is seen by every node at once; revoke --redis disconnects the account on every node', async () => {
    AccountSeal.open(data, true); // the cluster's account key, copied to every node before it starts
    const three = await startNodes(3);
    const enrolled = await cli(['enroll', 'carol', '--redis', redis.url, '--data', data, '--json']);
    expect(enrolled.code, enrolled.stderr).to.equal(0);
    const { secret } = JSON.parse(enrolled.stdout) as { secret: string };
    // At once: the first login at every node right after the command exits (one code per step, so the clock moves).
    const carol: Client[] = [];
    for (const n of three) {
      clock.advance(30_000);
      carol.push((await login(n.url, { id: 'carol', code: totpCode(secret, clock.now()) })).socket);
    }
    const listed = await cli(['list', '--redis', redis.url, '--json']);
    expect(JSON.parse(listed.stdout).map((a: { id: string }) => a.id)).to.deep.equal(['carol']);
    await new Promise((r) => setTimeout(r, 300));
    for (const s of carol) expect(s.connected, 'still connected before the revoke').to.equal(true);

    const dropped = carol.map((s) => next(s, 'disconnect', 3000));
    const revoked = await cli(['revoke', 'carol', '--redis', redis.url]);
    expect(revoked.code, revoked.stderr).to.equal(0);
    const exitedAt = Date.now();
    await Promise.all(dropped);
    expect(Date.now() - exitedAt, 'well before the 5 s poll: the change message did it').to.be.lessThan(1500);
    clock.advance(30_000);
    for (const n of three) expect((await refusal(n.url, { id: 'carol', code: totpCode(secret, clock.now()) })).code).to.equal('ERR_AUTH');
  });

  it('Redis stopped: new logins fail with clear words, /readyz is 503, connections stay; Redis back: logins work again', async () => {
    const secret = await enroll('alice');
    const [a, b] = await startNodes(2, { metrics: true });
    const alice = await login(a!.url, { id: 'alice', code: totpCode(secret, clock.now()) });
    expect((await fetch(`${a!.url}/readyz`)).status).to.equal(200);

    await redis.stop({ save: true });
    await new Promise((r) => setTimeout(r, 300));
    const refused = await refusal(b!.url, { id: 'alice', token: alice.welcome.token });
    expect(refused.code).to.equal('ERR_STORE');
    expect(refused.message).to.match(/cannot reach its shared login store \(Redis\)/);
    clock.advance(30_000);
    expect((await refusal(a!.url, { id: 'alice', code: totpCode(secret, clock.now()) })).code).to.equal('ERR_STORE');
    for (const n of [a!, b!]) {
      const ready = await fetch(`${n.url}/readyz`);
      expect(ready.status).to.equal(503);
      expect(await ready.text()).to.match(/^Redis at 127\.0\.0\.1:\d+ is unreachable/);
      expect((await fetch(`${n.url}/healthz`)).status).to.equal(200);
    }
    await new Promise((r) => setTimeout(r, 1500));
    expect(alice.socket.connected, 'the open connection stays').to.equal(true);
    expect(a!.logs.join('\n')).to.match(/redis\.unreachable/);

    await redis.restart();
    const deadline = Date.now() + 10_000;
    while ((await fetch(`${b!.url}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('node did not become ready after Redis returned');
      await new Promise((r) => setTimeout(r, 100));
    }
    clock.advance(30_000);
    await login(b!.url, { id: 'alice', code: totpCode(secret, clock.now()) });
    await login(a!.url, { id: 'alice', token: alice.welcome.token });
    expect(alice.socket.connected).to.equal(true);
    expect(b!.logs.join('\n')).to.match(/redis\.recovered/);
    await b!.rv.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(b!.logs.filter((l) => /redis\.unreachable/.test(l)), 'one line for the outage, none for a shutdown').to.have.length(1);
    const metrics = await (await fetch(`${a!.url}/metrics`)).text();
    expect(metrics).to.match(/^sealdrop_redis_seconds_count\{op="spend",result="ok"\} [1-9]/m);
    expect(metrics).to.match(/^sealdrop_redis_seconds_count\{op="accounts",result="error"\} [1-9]/m);
  });

  it('a Redis that comes back empty is not taken as every account revoked: connections stay, logins fail until it is restored', async () => {
    const secret = await enroll('alice');
    const [a] = await startNodes(1);
    const alice = await login(a!.url, { id: 'alice', code: totpCode(secret, clock.now()) });
    await redis.stop(); // no dump: it comes back empty
    await redis.restart();
    const deadline = Date.now() + 10_000;
    while ((await fetch(`${a!.url}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('node did not become ready after Redis returned');
      await new Promise((r) => setTimeout(r, 100));
    }
    while (!/accounts\.redis-empty/.test(a!.logs.join('\n'))) { // the re-read on reconnection
      if (Date.now() > deadline) throw new Error('no accounts.redis-empty after Redis came back empty');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(alice.socket.connected).to.equal(true);
    clock.advance(30_000);
    expect((await refusal(a!.url, { id: 'alice', code: totpCode(secret, clock.now()) })).code).to.equal('ERR_AUTH');
    await new Promise((r) => setTimeout(r, 300));
    expect(alice.socket.connected, 'a login missing its account in the empty Redis does not revoke it either').to.equal(true);
  });

  it('a node does not start without Redis, or without the cluster\'s account key', async () => {
    await enroll('alice');
    const port = redis.port;
    const other = tempDir('sealdrop-cluster-other-');
    try {
      expect(() => createRendezvous({ dataDir: other, redis: redis.url, logger: silentLogger })).to.throw(/no account key at .*account-key: copy the file/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    await redis.stop();
    const noRedis = createRendezvous({ dataDir: data, redis: `redis://127.0.0.1:${port}`, logger: silentLogger });
    await noRedis.listen(0, '127.0.0.1').then(() => { throw new Error('started'); }, (err: Error) => expect(err.message).to.match(/cannot reach Redis at 127\.0\.0\.1:\d+/));
    await noRedis.close();
  });

  it('another account key than the cluster\'s is refused at once: by a node at start, and by enroll --redis', async () => {
    await enroll('alice'); // records the fingerprint of the key in `data`
    const other = tempDir('sealdrop-cluster-otherkey-');
    try {
      AccountSeal.open(other, true);
      const stranger = createRendezvous({ dataDir: other, redis: redis.url, logger: silentLogger });
      await stranger.listen(0, '127.0.0.1').then(() => { throw new Error('started'); }, (err: Error) => expect(err.message).to.match(/sealed with another account key than .*account-key/));
      await stranger.close();
      const r = await cli(['enroll', 'bob', '--redis', redis.url, '--data', other]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/another account key/).and.match(/ERR_CONFIG/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('a corrupt or hostile Redis refuses logins (never admits one) and crashes no node', async () => {
    const secret = await enroll('alice');
    const [a] = await startNodes(1);
    const bad = redis.client();
    try {
      await bad.set('sealdrop:step:alice', 'not-a-step');
      let r = await refusal(a!.url, { id: 'alice', code: totpCode(secret, clock.now()) });
      expect(r.code).to.equal('ERR_STORE');
      expect(r.message).to.match(/damaged login records/);
      await bad.del('sealdrop:step:alice');

      await bad.hset('sealdrop:guess:account:alice', 'c', 'many');
      expect((await refusal(a!.url, { id: 'alice', code: totpCode(secret, clock.now()) })).code).to.equal('ERR_STORE');
      await bad.del('sealdrop:guess:account:alice');

      const { welcome } = await login(a!.url, { id: 'alice', code: totpCode(secret, clock.now()) });
      const tokenKeys = await bad.keys('sealdrop:token:*');
      for (const k of tokenKeys) await bad.set(k, '{"id":"alice","expiresAt":1e99}');
      expect((await refusal(a!.url, { id: 'alice', token: welcome.token })).code).to.equal('ERR_AUTH');

      const stored = JSON.parse((await bad.hget('sealdrop:accounts', 'alice'))!) as { sealed: string; createdAt: string };
      await bad.hset('sealdrop:accounts', 'mallory', JSON.stringify(stored)); // alice's sealed secret under another name
      expect((await refusal(a!.url, { id: 'mallory', code: totpCode(secret, clock.now()) })).code).to.equal('ERR_STORE');
      await bad.hset('sealdrop:accounts', 'alice', '[1,2,3]');
      clock.advance(30_000);
      expect((await refusal(a!.url, { id: 'alice', code: totpCode(secret, clock.now()) })).code).to.equal('ERR_STORE');
      expect((await fetch(`${a!.url}/healthz`)).status).to.equal(200);
    } finally {
      bad.disconnect();
    }
  });
});


describe('rendezvous cluster on Redis: the command line', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let data: string;
  before(function () { if (!redisAvailable()) this.skip(); });
  beforeEach(async () => { redis = await TestRedis.start(); data = tempDir('sealdrop-cluster-cli-'); });
  afterEach(async () => { await redis.close(); rmSync(data, { recursive: true, force: true }); });

  it('serve --redis (two real CLI nodes) starts without warnings, and a login at either works', async () => {
    const enrolled = await cli(['enroll', 'alice', '--redis', redis.url, '--data', data, '--json']);
    expect(enrolled.code, enrolled.stderr).to.equal(0);
    const { secret } = JSON.parse(enrolled.stdout) as { secret: string };
    const a = await startServe(['--redis', redis.url, '--data', data], { SEALDROP_LOG: 'silent' });
    const b = await startServe(['--redis', redis.url, '--data', data], { SEALDROP_LOG: 'silent' });
    try {
      expect(a.run.stderr()).to.not.match(/not yet|partial/);
      const first = await connect(a.url, { id: 'alice', code: totpCode(secret, Date.now()) });
      const second = await connect(b.url, { id: 'alice', token: first.welcome.token });
      expect((await fetch(`${b.url}/readyz`)).status).to.equal(200);
      first.socket.close();
      second.socket.close();
    } finally {
      for (const n of [a, b]) { n.run.child.kill('SIGTERM'); await n.run.exit; }
    }
  });

  it('a bad --redis URL is a config error (exit 2); an unreachable Redis is ERR_STORE naming only host and port', async () => {
    const bad = await cli(['list', '--redis', 'http://127.0.0.1:1']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/--redis expects redis:\/\/ or rediss:\/\//).and.match(/ERR_CONFIG/);
    const port = redis.port;
    await redis.stop();
    const down = await cli(['revoke', 'alice', '--redis', `redis://:hunter2@127.0.0.1:${port}`]);
    expect(down.code).to.equal(1);
    expect(down.stderr).to.match(new RegExp(`cannot reach Redis at 127\\.0\\.0\\.1:${port}`)).and.match(/ERR_STORE/);
    expect(down.stderr).to.not.include('hunter2');
  });
});

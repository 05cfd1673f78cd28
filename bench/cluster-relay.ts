/**
 * Cluster bench (issue 16): two `sealdrop-rendezvous serve --redis` nodes on one real
 * redis-server, in a private network namespace (loopback only).
 *
 * - Relay: `send --relay` of a random file with the sender logged in at node A and the
 *   receiver at node B (frames and acks cross Redis pub/sub), interleaved with the same
 *   transfer with both peers at node A. MB/s from the receiver's first to last chunk
 *   written, as bench/transfer.ts measures it.
 * - Load (`--load N`): N idle authenticated peers, half logged in at each node; RSS of
 *   each node, logins per second the cluster took, signaling round trips between a peer
 *   at A and one at B (and `peers`, which lists both nodes).
 *
 *   node dist/bench/cluster-relay.js [--size MiB (64)] [--runs N (3)] [--load N (0: none)] [--no-write]
 *
 * Prints one JSON object on stdout and writes its section of bench/RESULTS.md (kept by
 * bench/run.ts's report). Every loop is bounded; nothing listens beyond 127.0.0.1.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccountSeal } from '../rendezvous/cluster/account-seal.js';
import { silentLogger } from '../rendezvous/log.js';
import { RedisAccountStore } from '../rendezvous/cluster/redis-accounts.js';
import { RedisLink } from '../rendezvous/cluster/redis-link.js';
import { RendezvousSession } from '../peer/session/rendezvous-session.js';
import type { SignalData } from '../shared/schemas.js';
import { totpCode } from '../shared/totp.js';
import { describeMachine, watchOtherLoad } from './machine.js';
import { abandonAll, log, now, PEER_CLI, randomFile, ROOT, sleep, spawnNode, stop, tempDir, track, type Proc } from './measure.js';
import { enterNamespace } from './netns.js';
import { startRendezvous } from './world.js';
import { fmt, MiB, mbps, percentile, round, summarize } from './stats.js';
import { createServer } from 'node:net';
import { withSection } from './kept-sections.js';

const CLIENTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'load-clients.js');
const REDIS_SERVER = '/usr/bin/redis-server';
const PEERS_PER_PROCESS = 2500;
const CANDIDATE: SignalData = {
  type: 'webrtc',
  data: { type: 'candidate', candidate: { candidate: 'candidate:842163049 1 udp 1677729535 127.0.0.1 52981 typ host generation 0 ufrag sXy1 network-cost 999', sdpMLineIndex: 0, sdpMid: '0' } },
};

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)); });
  });
}

async function startRedis(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = track(spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--client-output-buffer-limit', 'pubsub', '256mb', '64mb', '60'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    child.stdout!.on('data', (d) => { out += d; if (/Ready to accept connections/.test(out)) { clearTimeout(timer); resolve(); } });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited ${code}: ${out}`)); });
  });
  return { url: `redis://127.0.0.1:${port}`, child };
}

/** Enrolls `ids` straight into Redis (as `enroll --redis` does, without a process per account). */
async function enroll(redis: string, dataDir: string, ids: string[]): Promise<Record<string, string>> {
  const link = new RedisLink(redis, silentLogger, undefined, false);
  await link.connect();
  try {
    const store = new RedisAccountStore(link, AccountSeal.open(dataDir, true));
    const secrets: Record<string, string> = {};
    for (const id of ids) secrets[id] = (await store.enroll(id)).secret;
    return secrets;
  } finally {
    link.close();
  }
}

const peer = (home: string, url: string, id: string, secret: string, args: string[]): Proc =>
  spawnNode(PEER_CLI, ['--home', home, '--server', url, '--id', id, '--json', ...args], { env: { SEALDROP_TOTP_SECRET: secret } });

/** One `send --relay` from alice at `from` to bob at `to`; MB/s from the receiver's first to last chunk written. */
async function relayOnce(work: string, secrets: Record<string, string>, from: string, to: string, file: string, bytes: number): Promise<number> {
  const inbox = await tempDir('sealdrop-bench-cluster-inbox-');
  const procs: Proc[] = [];
  try {
    const receiver = peer(path.join(work, 'home-bob'), to, 'bob', secrets.bob!, ['receive', '--dir', inbox, '--yes', '--once']);
    procs.push(receiver);
    await receiver.waitFor((e) => e.type === 'ready', 30_000);
    const sender = peer(path.join(work, 'home-alice'), from, 'alice', secrets.alice!, ['send', file, '--to', 'bob', '--relay']);
    procs.push(sender);
    const timeout = 60_000 + (bytes / 5e6) * 1000;
    const [sent, got] = await Promise.race([
      Promise.all([sender.exit, receiver.exit]),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`transfer took over ${timeout} ms`)), timeout).unref()),
    ]);
    if (sent !== 0 || got !== 0) throw new Error(`transfer failed (send ${sent}, receive ${got}): ${sender.stderr().slice(-500)} ${receiver.stderr().slice(-500)}`);
    const done = sender.events.find((e) => e.type === 'done') as { transport?: string } | undefined;
    if (done?.transport !== 'relay') throw new Error(`expected the relay, got ${done?.transport}`);
    const progress = receiver.events.filter((e) => e.type === 'progress');
    const first = progress[0], last = progress.find((e) => e.bytes === bytes);
    if (!first || !last) throw new Error('the receiver reported no progress');
    return mbps(bytes - Math.min(bytes, Number(first.bytes)), last.t - first.t);
  } finally {
    await Promise.all(procs.map((p) => stop(p, 'SIGKILL')));
    await fs.rm(inbox, { recursive: true, force: true });
  }
}

interface LoadFigures { peers: number; connected: number; connectSeconds: number; loginsPerSec: number; loginP95Ms: number; rssMb: number[]; signalP50: number; signalP95: number; peersP95: number }

async function load(redis: string, dataDir: string, n: number): Promise<LoadFigures> {
  const ids = Array.from({ length: n }, (_, i) => `idle-${String(i).padStart(5, '0')}`);
  log(`enrolling ${n} accounts in Redis`);
  const secrets = await enroll(redis, dataDir, [...ids, 'probe-a', 'probe-b']);
  // Every idle peer logs in from 127.0.0.1, where a public cluster sees thousands of addresses: the per-address limits are
  // raised to the load, as bench/load.ts does for one node. In cluster mode that includes the failed-login budget of an
  // address, where a login counts as a possible failure until its code is found right (redis-guess-budget.ts): without it,
  // more than 10 logins in flight at once from one address wait.
  const limits = ['--max-connections-per-address', String(n + 10), '--max-pending-per-address', '512', '--max-pending', '512',
    '--address-throttle-after', String(10 * n), '--address-lock-after', String(10 * n)];
  const nodes = [await startRendezvous(dataDir, [], ['--redis', redis, ...limits]), await startRendezvous(dataDir, [], ['--redis', redis, ...limits])];
  const clients: ChildProcess[] = [];
  let a: RendezvousSession | undefined, b: RendezvousSession | undefined;
  try {
    log(`load: ${n} idle peers over two nodes`);
    const t0 = now();
    const slices = Math.max(2, Math.ceil(n / PEERS_PER_PROCESS));
    const replies = await Promise.all(Array.from({ length: slices }, (_, k) => {
      const per = Math.ceil(n / slices);
      const mine = ids.slice(k * per, (k + 1) * per).map((id) => [id, secrets[id]!]);
      const child = track(fork(CLIENTS, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
      clients.push(child);
      child.send({ t: 'start', url: nodes[k % 2]!.url, accounts: mine, concurrency: 64 });
      return new Promise<{ ok: number; errors: string[]; times: number[] }>((resolve, reject) => {
        child.once('message', (m) => resolve(m as never));
        child.once('exit', (code) => reject(new Error(`load client exited ${code}`)));
      });
    }));
    const connectSeconds = (now() - t0) / 1000;
    const connected = replies.reduce((s, r) => s + r.ok, 0);
    const failed = replies.flatMap((r) => r.errors);
    if (failed.length) log(`load: ${n - connected} logins failed, e.g. ${failed.join('; ')}`);
    await sleep(2000);
    const rssMb = nodes.map((x) => round(x.proc.rssNow() / 1e6));
    a = await RendezvousSession.connect(nodes[0]!.url, { id: 'probe-a', code: totpCode(secrets['probe-a']!, Date.now()) });
    b = await RendezvousSession.connect(nodes[1]!.url, { id: 'probe-b', code: totpCode(secrets['probe-b']!, Date.now()), receiving: true });
    const [pa, pb] = [a, b];
    pb.on('request', (req) => req.accept(true));
    const sid = await pa.open('probe-b');
    pb.on('signal', (ev) => { pb.signal(sid, ev.data).catch(() => {}); });
    let echo: (() => void) | undefined;
    pa.on('signal', () => echo?.());
    const times: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t = now();
      const back = new Promise<void>((r) => { echo = r; });
      await pa.signal(sid, CANDIDATE);
      await back;
      if (i >= 50) times.push(now() - t); // the first 50 warm up
    }
    const peersTimes: number[] = [];
    for (let i = 0; i < 10; i++) { const t = now(); await pa.peers(); peersTimes.push(now() - t); }
    return {
      peers: n, connected, connectSeconds: round(connectSeconds), loginsPerSec: Math.round(connected / connectSeconds),
      loginP95Ms: Math.round(percentile(replies.flatMap((r) => r.times), 95)), rssMb,
      signalP50: round(percentile(times, 50)), signalP95: round(percentile(times, 95)), peersP95: round(percentile(peersTimes, 95)),
    };
  } finally {
    a?.disconnect();
    b?.disconnect();
    for (const c of clients) { if (c.connected) c.send({ t: 'exit' }); setTimeout(() => c.kill('SIGKILL'), 5000).unref(); }
    await Promise.all(nodes.map((x) => stop(x.proc, 'SIGTERM', 15_000)));
  }
}

async function main(): Promise<void> {
  const isolation = enterNamespace();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { abandonAll(); process.exit(130); });
  const size = arg('--size', 64) * MiB;
  const runs = Math.max(1, Math.min(20, arg('--runs', 3)));
  const loadPeers = Math.max(0, Math.min(50_000, arg('--load', 0)));
  const machine = describeMachine();
  const otherLoad = watchOtherLoad();
  const started = new Date();
  const work = await tempDir('sealdrop-bench-cluster-');
  const redis = await startRedis(work);
  try {
    const dataDir = path.join(work, 'rendezvous');
    await fs.mkdir(dataDir, { mode: 0o700 });
    const secrets = await enroll(redis.url, dataDir, ['alice', 'bob']);
    const file = path.join(work, 'file.bin');
    await randomFile(file, size);
    const nodes = [await startRendezvous(dataDir, [], ['--redis', redis.url]), await startRendezvous(dataDir, [], ['--redis', redis.url])];
    const cross: number[] = [], same: number[] = [];
    let nodeRss: number[];
    try {
      for (let i = 0; i < runs; i++) {
        log(`relay run ${i + 1}/${runs}: across nodes, then on one node`);
        cross.push(await relayOnce(work, secrets, nodes[0]!.url, nodes[1]!.url, file, size));
        same.push(await relayOnce(work, secrets, nodes[0]!.url, nodes[0]!.url, file, size));
      }
    } finally {
      nodeRss = nodes.map((x) => round(x.proc.peakRss() / 1e6));
      await Promise.all(nodes.map((x) => stop(x.proc)));
    }
    const loadFigures = loadPeers > 0 ? await load(redis.url, dataDir, loadPeers) : undefined;
    const busy = otherLoad();
    const result = {
      date: started.toISOString(), isolation, machine: `${machine.nproc} × ${machine.cpu}, ${machine.memGiB} GiB`,
      othersShare: busy?.othersShare, loadBefore: machine.loadBefore, sizeMiB: size / MiB, runs,
      cross_node_relay_mbps: summarize(cross), one_node_relay_mbps: summarize(same), relay_node_peak_rss_mb: nodeRss,
      load: loadFigures,
    };
    process.stdout.write(JSON.stringify(result) + '\n');
    if (!process.argv.includes('--no-write')) await writeSection(result);
  } finally {
    redis.child.kill('SIGKILL');
    await fs.rm(work, { recursive: true, force: true });
  }
}

async function writeSection(r: {
  date: string; isolation: string; machine: string; othersShare?: number; loadBefore: string; sizeMiB: number; runs: number;
  cross_node_relay_mbps: ReturnType<typeof summarize>; one_node_relay_mbps: ReturnType<typeof summarize>; relay_node_peak_rss_mb: number[]; load?: LoadFigures;
}): Promise<void> {
  const command = `node ${process.argv.slice(1).map((x) => path.relative(process.cwd(), x) || x).join(' ')}`;
  const busy = r.othersShare === undefined ? `load average before ${r.loadBefore}`
    : `other processes used ${Math.round(r.othersShare * 100)}% of all CPU time during the run${r.othersShare > 0.1 ? '; the machine was NOT idle, so the figures are lower and noisier than on an idle one' : ''} (load average before: ${r.loadBefore})`;
  const L = ['## Cluster (two nodes on Redis)', ''];
  L.push(`${r.date}, \`${command}\`, ${r.machine}, ${r.isolation}; ${busy}.`, '');
  L.push(`Relay: \`send --relay\` of ${r.sizeMiB} MiB, sender at node A, receiver at node B (every frame and ack through Redis pub/sub), interleaved with both peers at node A; ${r.runs} runs each; MB/s from the receiver's first to last chunk written; median (min–max).`, '');
  L.push('| path | MB/s | peak RSS of the nodes (MB) |', '| --- | --- | --- |');
  L.push(`| relay across two nodes | ${fmt(r.cross_node_relay_mbps)} | ${r.relay_node_peak_rss_mb.join(', ')} |`);
  L.push(`| relay on one node of the cluster | ${fmt(r.one_node_relay_mbps)} | |`);
  if (r.load) {
    const l = r.load;
    L.push('', `Load: ${l.peers} idle authenticated peers, half logged in at each node (64 logins in flight per client process); then 250 signaling round trips between a peer at A and one at B, and \`peers\`, which lists both nodes.`, '');
    L.push('| idle peers | connected | connect time (s) | logins/s | login p95 (ms) | RSS node A, B (MB) | signal RTT across nodes p50 / p95 (ms) | `peers` p95 (ms) |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
    L.push(`| ${l.peers} | ${l.connected} | ${l.connectSeconds} | ${l.loginsPerSec} | ${l.loginP95Ms} | ${l.rssMb.join(', ')} | ${l.signalP50} / ${l.signalP95} | ${l.peersP95} |`);
  }
  const file = path.join(ROOT, 'bench/RESULTS.md');
  const old = await fs.readFile(file, 'utf8').catch(() => '');
  await fs.writeFile(file, withSection(old, 'cluster', L.join('\n')));
  log('wrote the cluster section of bench/RESULTS.md');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((err) => { log(`failed: ${(err as Error).stack ?? err}`); abandonAll(); process.exit(1); });
}

/**
 * Rendezvous load: N authenticated idle peers held by one spawned rendezvous,
 * connected from a few client processes. Measured: the server's RSS once they
 * are all in, and the signaling round trip between two more peers in an open
 * session (A signals, the rendezvous forwards to B, B signals back, A receives),
 * plus the `peers` request, whose answer lists everyone online.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RendezvousSession } from '../peer/session/rendezvous-session.js';
import type { SignalData } from '../shared/schemas.js';
import { totpCode } from '../shared/totp.js';
import { writeAccounts } from './accounts-file.js';
import { log, now, sleep, stop, tempDir, track } from './measure.js';
import { percentile } from './stats.js';
import { startRendezvous } from './world.js';
import { promises as fs } from 'node:fs';

const CLIENTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'load-clients.js');
const PEERS_PER_PROCESS = 2500;
const CONCURRENCY = 64;
/** A typical trickled ICE candidate, the commonest signal. */
const CANDIDATE: SignalData = {
  type: 'webrtc',
  data: { type: 'candidate', candidate: { candidate: 'candidate:842163049 1 udp 1677729535 127.0.0.1 52981 typ host generation 0 ufrag sXy1 network-cost 999', sdpMLineIndex: 0, sdpMid: '0' } },
};

export interface LoadResult {
  peers: number;
  connected: number;
  connectSeconds: number;
  loginP95Ms: number;
  rssBytes: number;
  /** Per batch of round trips: p50 and p95 in ms. */
  signalP50: number[];
  signalP95: number[];
  baselineP95: number;
  peersP95: number;
}

export async function measureLoad(n: number, batches: number, perBatch: number): Promise<LoadResult> {
  const root = await tempDir('sealdrop-bench-load-');
  const ids = Array.from({ length: n }, (_, i) => `idle-${String(i).padStart(5, '0')}`);
  const secrets = await writeAccounts(path.join(root, 'rv'), [...ids, 'probe-a', 'probe-b']);
  // Every idle peer comes from 127.0.0.1 here, where a public server sees thousands of addresses: the
  // per-address admission limits (64 open, 8 logging in) are raised to the load, and so is the number logging in at once (the clients keep up to 64 each in flight).
  const rv = await startRendezvous(path.join(root, 'rv'), [], ['--max-connections-per-address', String(n + 10), '--max-pending-per-address', '512', '--max-pending', '512']);
  const clients: ChildProcess[] = [];
  let a: RendezvousSession | undefined, b: RendezvousSession | undefined;
  try {
    a = await RendezvousSession.connect(rv.url, { id: 'probe-a', code: totpCode(secrets['probe-a']!, Date.now()) });
    b = await RendezvousSession.connect(rv.url, { id: 'probe-b', code: totpCode(secrets['probe-b']!, Date.now()), receiving: true });
    const [pa, pb] = [a, b];
    pb.on('request', (req) => req.accept(true));
    const sid = await pa.open('probe-b');
    pb.on('signal', (ev) => { pb.signal(sid, ev.data).catch(() => {}); });
    let echo: (() => void) | undefined;
    pa.on('signal', () => echo?.());
    const roundTrip = async () => {
      const t0 = now();
      const back = new Promise<void>((r) => { echo = r; });
      await pa.signal(sid, CANDIDATE);
      await back;
      return now() - t0;
    };
    const batch = async () => { const xs: number[] = []; for (let i = 0; i < perBatch; i++) xs.push(await roundTrip()); return xs; };
    await batch(); // warm-up
    const baselineP95 = percentile(await batch(), 95);

    const t0 = now();
    const slices = Math.max(1, Math.ceil(n / PEERS_PER_PROCESS));
    const replies = await Promise.all(Array.from({ length: slices }, (_, k) => {
      const mine = ids.slice(k * PEERS_PER_PROCESS, (k + 1) * PEERS_PER_PROCESS).map((id) => [id, secrets[id]!]);
      const child = track(fork(CLIENTS, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
      clients.push(child);
      child.send({ t: 'start', url: rv.url, accounts: mine, concurrency: CONCURRENCY });
      return new Promise<{ ok: number; failed: number; errors: string[]; times: number[] }>((resolve, reject) => {
        child.once('message', (m) => resolve(m as never));
        child.once('exit', (code) => reject(new Error(`load client exited ${code}`)));
      });
    }));
    const connectSeconds = (now() - t0) / 1000;
    const connected = replies.reduce((s, r) => s + r.ok, 0);
    const failed = replies.flatMap((r) => r.errors);
    if (failed.length) log(`load ${n}: ${n - connected} logins failed, e.g. ${failed.join('; ')}`);
    await sleep(2000);
    const rssBytes = rv.proc.rssNow();
    const signalP50: number[] = [], signalP95: number[] = [];
    for (let i = 0; i < batches; i++) {
      const xs = await batch();
      signalP50.push(percentile(xs, 50));
      signalP95.push(percentile(xs, 95));
    }
    const peersTimes: number[] = [];
    for (let i = 0; i < 10; i++) { const t = now(); await pa.peers(); peersTimes.push(now() - t); }
    return {
      peers: n, connected, connectSeconds, loginP95Ms: percentile(replies.flatMap((r) => r.times), 95),
      rssBytes, signalP50, signalP95, baselineP95, peersP95: percentile(peersTimes, 95),
    };
  } finally {
    a?.disconnect();
    b?.disconnect();
    for (const c of clients) { if (c.connected) c.send({ t: 'exit' }); setTimeout(() => c.kill('SIGKILL'), 5000).unref(); }
    await stop(rv.proc, 'SIGTERM', 15_000);
    await fs.rm(root, { recursive: true, force: true });
  }
}

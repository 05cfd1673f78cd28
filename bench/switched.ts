/**
 * The throughput of a transfer that switched paths: the defaults (relay start) between
 * two hosts that cannot reach each other at first (bench/hosts.ts), so the first bytes go
 * by relay; once the receiver has its first bytes the road between the hosts opens and the
 * rest moves to the direct path, one encrypted stream across the move. Measured end to end
 * (spawn of `send` to both exits) and over the streaming span (the receiver's first to last
 * chunk written), with the bytes each path carried. A run that did not switch is refused.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createBenchHosts, hostsUnavailable } from './hosts.js';
import { log, now, randomFile, stop, tempDir, type Proc } from './measure.js';
import type { Results } from './results.js';
import { mbps, summarize } from './stats.js';
import { startRendezvous, type BenchWorld } from './world.js';

interface SwitchedRun { streamMbps: number; endToEndMs: number; relay: number; direct: number }

export async function measureSwitched(world: BenchWorld, work: string, bytes: number, runs: number): Promise<Results['switched']> {
  const why = hostsUnavailable();
  if (why) { log(`switched paths not measured: ${why}`); return undefined; }
  const file = path.join(work, 'switched.bin');
  await randomFile(file, bytes);
  const list: SwitchedRun[] = [];
  try {
    for (let run = 1; run <= runs; run++) {
      log(`switched paths run ${run}/${runs}: sealdrop relay start → direct, ${bytes / (1 << 20)} MiB`);
      list.push(await switchedRun(world, file, bytes));
    }
  } finally {
    await fs.rm(file, { force: true });
  }
  return {
    bytes, runs,
    stream: summarize(list.map((t) => t.streamMbps)),
    endToEnd: summarize(list.map((t) => t.endToEndMs)),
    relayBytes: summarize(list.map((t) => t.relay)),
    directBytes: summarize(list.map((t) => t.direct)),
  };
}

async function switchedRun(world: BenchWorld, file: string, bytes: number): Promise<SwitchedRun> {
  const hosts = createBenchHosts();
  const inbox = await tempDir('sealdrop-bench-inbox-');
  const procs: Proc[] = [];
  try {
    const rv = await startRendezvous(world.dataDir, [], ['--host', '0.0.0.0'], hosts.rv);
    procs.push(rv.proc);
    const port = new URL(rv.url).port;
    const url = (side: 'a' | 'b') => `http://${hosts.rvAddress[side]}:${port}`;
    const receiver = world.peer(url('b'), 'bob', ['receive', '--dir', inbox, '--yes', '--once'], [], hosts.b);
    procs.push(receiver);
    await receiver.waitFor((e) => e.type === 'ready', 30_000);
    const sender = world.peer(url('a'), 'alice', ['send', file, '--to', 'bob'], [], hosts.a);
    procs.push(sender);
    const timeout = 60_000 + (bytes / 5e6) * 1000;
    // The relay carries the first bytes; then the road between the hosts opens.
    await receiver.waitFor((e) => e.type === 'progress' && Number(e.bytes) > 0, timeout);
    hosts.forwarding(true);
    const [sent, got] = await Promise.race([
      Promise.all([sender.exit, receiver.exit]),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`transfer took over ${timeout} ms`)), timeout).unref()),
    ]);
    const exitedAt = now();
    if (sent !== 0 || got !== 0) throw new Error(`transfer failed (send ${sent}, receive ${got}): ${sender.stderr().slice(-1000)} ${receiver.stderr().slice(-1000)}`);
    const done = sender.events.find((e) => e.type === 'done') as { transport?: string; paths?: { direct?: number; relay?: number } } | undefined;
    const relay = done?.paths?.relay ?? 0, direct = done?.paths?.direct ?? 0;
    if (done?.transport !== 'direct' || relay === 0 || direct === 0) throw new Error(`expected a move from the relay to the direct path, both carrying bytes; the transfer went ${JSON.stringify(done?.paths ?? done?.transport)}`);
    const progress = receiver.events.filter((e) => e.type === 'progress');
    const first = progress[0]!, last = progress.find((e) => e.bytes === bytes);
    if (!last) throw new Error('the receiver reported no last progress');
    return { streamMbps: mbps(bytes - Math.min(bytes, Number(first.bytes)), last.t - first.t), endToEndMs: exitedAt - sender.spawnedAt, relay, direct };
  } finally {
    await Promise.all(procs.map((p) => stop(p, 'SIGKILL')));
    hosts.destroy();
    await fs.rm(inbox, { recursive: true, force: true });
  }
}

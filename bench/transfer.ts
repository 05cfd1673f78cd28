/**
 * One sealdrop transfer through the real CLIs, measured: a fresh rendezvous, a
 * `receive --once`, then `send` (with `--relay` for the relay path).
 *
 * Streaming time runs from the receiver's first `progress` event (emitted when the
 * first chunk is written) to its progress event with bytes == total (the last chunk
 * written), the same span the raw ceilings measure. End-to-end time runs from
 * spawning `send` to its exit and also holds process start, login, handshake, the
 * final SHA-256 check and the receiver's fsync.
 */
import { promises as fs } from 'node:fs';
import { mbps } from './stats.js';
import { now, stop, tempDir, type Proc } from './measure.js';
import { grouped, minus, perMb, threadCpu, unknownCpu, type ThreadCpu } from './threads.js';
import { startRendezvous, type BenchWorld } from './world.js';

export type Path = 'direct' | 'relay';

export interface TransferResult {
  path: Path;
  bytes: number;
  streamMbps: number;
  endToEndMs: number;
  /** Peak RSS in bytes of each process. */
  rss: { sender: number; receiver: number; rendezvous: number };
  /** RSS in bytes before the transfer: receiver online and waiting, rendezvous with both peers in. */
  idleRss: { receiver: number; rendezvous: number };
  /** CPU ms per MB streamed, from the first chunk written until each process exited (rendezvous: until stopped). */
  cpu: Record<Role, ThreadCpu>;
}

type Role = 'sender' | 'receiver' | 'rendezvous';

export interface TransferOptions {
  world: BenchWorld;
  file: string;
  bytes: number;
  path: Path;
  /** Extra node flags for every process (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Sees each process as it starts (e.g. to watch its threads). */
  onSpawn?: (role: Role, proc: Proc) => void;
  /** Sees each phase of the end-to-end time, in ms from the sender's spawn (bench/versus.ts). */
  phases?: (name: string, ms: number) => void;
}

/**
 * The rendezvous flags for a path: a direct figure is a transfer that never touched the relay,
 * so its rendezvous keeps the relay for fallbacks only (`--no-relay-start`; by default the first
 * bytes go by relay and move to direct when it opens).
 */
export const serveArgsFor = (p: Path): string[] => (p === 'direct' ? ['--no-relay-start'] : []);

/** A transfer measured for one path that moved to the other (a direct path that stalled moves to the relay). */
export class PathMoved extends Error {
  constructor(readonly path: Path, readonly paths: Partial<Record<Path, number>>) {
    super(`expected the ${path} path only, the transfer went ${JSON.stringify(paths)}`);
  }
}

export async function measureTransfer(o: TransferOptions): Promise<TransferResult> {
  const rv = await startRendezvous(o.world.dataDir, o.nodeArgs, serveArgsFor(o.path));
  o.onSpawn?.('rendezvous', rv.proc);
  const inbox = await tempDir('sealdrop-bench-inbox-');
  const peers: Proc[] = [];
  try {
    const receiver = o.world.peer(rv.url, 'bob', ['receive', '--dir', inbox, '--yes', '--once'], o.nodeArgs);
    peers.push(receiver);
    o.onSpawn?.('receiver', receiver);
    await receiver.waitFor((e) => e.type === 'ready', 30_000);
    const idleRss = { receiver: receiver.rssNow(), rendezvous: rv.proc.rssNow() };
    const sender = o.world.peer(rv.url, 'alice', ['send', o.file, '--to', 'bob', ...(o.path === 'relay' ? ['--relay'] : [])], o.nodeArgs);
    peers.push(sender);
    o.onSpawn?.('sender', sender);
    const timeout = 60_000 + (o.bytes / 5e6) * 1000; // generous: 5 MB/s
    const procs = { sender, receiver, rendezvous: rv.proc };
    // CPU spent before the first chunk (start, login, handshake) is not the transfer's.
    const cpuAtStart = receiver.waitFor((e) => e.type === 'progress', timeout)
      .then(() => Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, threadCpu(p.child.pid!)])) as Record<Role, ThreadCpu>);
    cpuAtStart.catch(() => {});
    const [sent, got] = await Promise.race([
      Promise.all([sender.exit, receiver.exit]),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`transfer took over ${timeout} ms`)), timeout).unref()),
    ]);
    const exitedAt = now();
    if (sent !== 0 || got !== 0) {
      throw new Error(`transfer failed (send ${sent}, receive ${got}): ${sender.stdout().slice(-500)} ${sender.stderr().slice(-1000)} ${receiver.stdout().slice(-500)} ${receiver.stderr().slice(-1000)}`);
    }
    const done = sender.events.find((e) => e.type === 'done') as { transport?: string; paths?: Partial<Record<Path, number>> } | undefined;
    const other: Path = o.path === 'direct' ? 'relay' : 'direct';
    if (done?.transport !== o.path || (done.paths?.[other] ?? 0) > 0) throw new PathMoved(o.path, done?.paths ?? {});
    const progress = receiver.events.filter((e) => e.type === 'progress');
    const first = progress[0];
    const last = progress.find((e) => e.bytes === o.bytes);
    if (!first || !last) throw new Error('the receiver reported no progress');
    if (o.phases) {
      const at = (e: { t: number } | undefined) => (e ? e.t - sender.spawnedAt : NaN);
      const ev = (type: string) => sender.events.find((e) => e.type === type);
      for (const type of ['secured', 'accepted']) o.phases(`sender ${type}`, at(ev(type)));
      o.phases('receiver first chunk written', at(first));
      o.phases('receiver last chunk written', at(last));
      o.phases('sender done', at(ev('done')));
      o.phases('receiver done', at(receiver.events.find((e) => e.type === 'done')));
      o.phases('both exited', exitedAt - sender.spawnedAt);
    }
    await stop(rv.proc);
    // The first event comes after one chunk is written: that chunk is not in the span.
    const streamed = o.bytes - Math.min(o.bytes, Number(first.bytes));
    const startCpu = await cpuAtStart;
    const cpu = {} as Record<Role, ThreadCpu>;
    for (const [role, p] of Object.entries(procs) as Array<[Role, Proc]>) {
      const end = p.exitStats();
      cpu[role] = end ? perMb(minus(grouped(p.child.pid!, end.threads), startCpu[role]), streamed) : unknownCpu();
    }
    return {
      path: o.path,
      bytes: o.bytes,
      streamMbps: mbps(streamed, last.t - first.t),
      endToEndMs: exitedAt - sender.spawnedAt,
      rss: { sender: sender.peakRss(), receiver: receiver.peakRss(), rendezvous: rv.proc.peakRss() },
      idleRss,
      cpu,
    };
  } finally {
    await Promise.all(peers.map((p) => stop(p, 'SIGKILL')));
    await stop(rv.proc);
    await fs.rm(inbox, { recursive: true, force: true });
  }
}


/**
 * Ceiling, relay: a raw Socket.IO relay in three processes (sender → server →
 * receiver), messages acked end to end within a window, in three shapes: single
 * frames (128 KiB + 30 B) in a 2 MiB and an 8 MiB window, and messages the size of
 * sealdrop's relay batches (four frames, 524,424 B; sixteen, 2,097,696 B) in 8 MiB. The best shape is the
 * ceiling: the best raw relay the same server code can do at any message size.
 * Timed from telling the sender to start until the receiver has every byte.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHUNK_SIZE, FRAME_HEADER_SIZE, GCM_TAG_SIZE } from '../shared/constants.js';
import { batchBytes, MAX_RELAY_BATCH } from '../shared/relay-batch.js';
import { mbps } from './stats.js';
import type { CeilingOptions } from './ceiling-direct.js';
import { now, track } from './measure.js';
import { minus, perMb, threadCpu, type ThreadCpu } from './threads.js';
import { NODE_FLAGS } from '../shared/node-flags.js';

const NODE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ceiling-relay-node.js');
export const FRAME_SIZE = FRAME_HEADER_SIZE + CHUNK_SIZE + GCM_TAG_SIZE;
const MiB = 1024 * 1024;
/** Message size and window: a small window (2 MiB) and the rendezvous's per-session limit (8 MiB; sealdrop's peers keep 6 MiB in flight). */
export const RELAY_SHAPES: Record<string, { size: number; window: number }> = {
  'frames, 2 MiB window': { size: FRAME_SIZE, window: 2 * MiB },
  'frames, 8 MiB window': { size: FRAME_SIZE, window: 8 * MiB },
  'batches, 8 MiB window': { size: batchBytes(4), window: 8 * MiB },
  'large batches, 8 MiB window': { size: MAX_RELAY_BATCH, window: 8 * MiB },
};

type Reply = { t: string; [k: string]: unknown };

function start(args: string[], o: CeilingOptions): { child: ChildProcess; next: (t: string, timeoutMs?: number) => Promise<Reply> } {
  const child = track(fork(NODE, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...NODE_FLAGS, ...(o.nodeArgs ?? [])] }));
  o.onSpawn?.(args[0]!, child.pid!);
  const waiters: Array<{ t: string; resolve: (m: Reply) => void }> = [];
  child.on('message', (m: Reply) => {
    const i = waiters.findIndex((w) => w.t === m.t);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
  });
  const next = (t: string, timeoutMs = 30_000) => new Promise<Reply>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay ceiling: no "${t}" within ${timeoutMs} ms`)), timeoutMs);
    waiters.push({ t, resolve: (m) => { clearTimeout(timer); resolve(m); } });
  });
  return { child, next };
}

export interface RelayCeilingRun {
  byShape: Record<string, number>;
  /** CPU ms per MB of each process, per shape. */
  cpuByShape: Record<string, { sender: ThreadCpu; server: ThreadCpu; receiver: ThreadCpu }>;
}

/** One server and pair of clients; each shape (RELAY_SHAPES) is tried once. */
export async function relayCeilingRun(bytes: number, shapes = Object.keys(RELAY_SHAPES), o: CeilingOptions & { paceMbps?: number } = {}): Promise<RelayCeilingRun> {
  const server = start(['server'], o);
  const procs = [server.child];
  try {
    const { url } = await server.next('listening') as { url: string } & Reply;
    const receiver = start(['receiver', url], o);
    procs.push(receiver.child);
    await receiver.next('ready');
    const sender = start(['sender', url], o);
    procs.push(sender.child);
    await sender.next('ready');
    const byShape: Record<string, number> = {};
    const cpuByShape: RelayCeilingRun['cpuByShape'] = {};
    const cpu = () => ({ sender: threadCpu(sender.child.pid!), server: threadCpu(server.child.pid!), receiver: threadCpu(receiver.child.pid!) });
    for (const shape of shapes) {
      const { size, window } = RELAY_SHAPES[shape]!;
      receiver.child.send({ t: 'expect', bytes });
      await receiver.next('armed');
      const [t0, cpu0] = [now(), cpu()];
      sender.child.send({ t: 'send', bytes, size, window, paceMbps: o.paceMbps });
      await receiver.next('received', 60_000 + (bytes / 10e6) * 1000);
      byShape[shape] = mbps(bytes, now() - t0);
      const cpu1 = cpu();
      cpuByShape[shape] = {
        sender: perMb(minus(cpu1.sender, cpu0.sender), bytes),
        server: perMb(minus(cpu1.server, cpu0.server), bytes),
        receiver: perMb(minus(cpu1.receiver, cpu0.receiver), bytes),
      };
    }
    return { byShape, cpuByShape };
  } finally {
    for (const child of procs) {
      if (child.connected) child.send({ t: 'exit' });
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    }
  }
}

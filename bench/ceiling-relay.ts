/**
 * Ceiling, relay: a raw Socket.IO relay in three processes (sender → server →
 * receiver), frames the size of sealdrop's, acked end to end within a window.
 * Timed from telling the sender to start until the receiver has every byte.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHUNK_SIZE, FRAME_HEADER_SIZE, GCM_TAG_SIZE } from '../shared/constants.js';
import { mbps } from './stats.js';
import type { CeilingOptions } from './ceiling-direct.js';
import { now, track } from './measure.js';
import { minus, perMb, threadCpu, type ThreadCpu } from './threads.js';
import { NODE_FLAGS } from '../shared/node-flags.js';

const NODE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ceiling-relay-node.js');
export const FRAME_SIZE = FRAME_HEADER_SIZE + CHUNK_SIZE + GCM_TAG_SIZE;
/** A small window (2 MiB) and the rendezvous's per-session limit (8 MiB; sealdrop's peers keep 6 MiB in flight). */
export const WINDOWS = [2 * 1024 * 1024, 8 * 1024 * 1024];

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
  byWindow: Record<number, number>;
  /** CPU ms per MB of each process, per window. */
  cpuByWindow: Record<number, { sender: ThreadCpu; server: ThreadCpu; receiver: ThreadCpu }>;
}

/** One server and pair of clients; each window is tried once. */
export async function relayCeilingRun(bytes: number, windows = WINDOWS, o: CeilingOptions = {}): Promise<RelayCeilingRun> {
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
    const byWindow: Record<number, number> = {};
    const cpuByWindow: RelayCeilingRun['cpuByWindow'] = {};
    const cpu = () => ({ sender: threadCpu(sender.child.pid!), server: threadCpu(server.child.pid!), receiver: threadCpu(receiver.child.pid!) });
    for (const window of windows) {
      receiver.child.send({ t: 'expect', bytes });
      await receiver.next('armed');
      const [t0, cpu0] = [now(), cpu()];
      sender.child.send({ t: 'send', bytes, size: FRAME_SIZE, window });
      await receiver.next('received', 60_000 + (bytes / 10e6) * 1000);
      byWindow[window] = mbps(bytes, now() - t0);
      const cpu1 = cpu();
      cpuByWindow[window] = {
        sender: perMb(minus(cpu1.sender, cpu0.sender), bytes),
        server: perMb(minus(cpu1.server, cpu0.server), bytes),
        receiver: perMb(minus(cpu1.receiver, cpu0.receiver), bytes),
      };
    }
    return { byWindow, cpuByWindow };
  } finally {
    for (const child of procs) {
      if (child.connected) child.send({ t: 'exit' });
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    }
  }
}

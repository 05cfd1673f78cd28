/**
 * Ceiling, direct: the fastest the raw @roamhq/wrtc data channel carries bytes
 * between two processes on this machine, for 16, 64 and 256 KiB messages. Timed
 * from telling the sender to start until the receiver has every byte.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mbps } from './stats.js';
import { now, track } from './measure.js';
import { minus, perMb, threadCpu, type ThreadCpu } from './threads.js';
import { NODE_FLAGS } from '../shared/node-flags.js';

const PEER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ceiling-direct-peer.js');
export const MESSAGE_SIZES = [16 * 1024, 64 * 1024, 256 * 1024];
/** The WebRTC stack under simple-peer: sealdrop's (@roamhq/wrtc, libwebrtc) or libdatachannel's, for comparison. */
export type DirectEngine = 'wrtc' | 'node-datachannel';

type Reply = { t: string; [k: string]: unknown };

class Side {
  readonly child: ChildProcess;
  private waiters: Array<{ t: string; resolve: (m: Reply) => void; reject: (e: Error) => void }> = [];
  constructor(role: 'sender' | 'receiver', onSignal: (data: unknown) => void, o: CeilingOptions) {
    this.child = track(fork(PEER, [role, o.engine ?? 'wrtc'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...NODE_FLAGS, ...(o.nodeArgs ?? [])] }));
    o.onSpawn?.(role, this.child.pid!);
    this.child.on('message', (m: Reply) => {
      if (m.t === 'signal') return onSignal(m.data);
      const i = this.waiters.findIndex((w) => w.t === m.t);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiters.splice(0)) w.reject(new Error(`direct ceiling: the ${role} exited (${code})`));
    });
  }
  next(t: string, timeoutMs = 60_000): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`direct ceiling: no "${t}" within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ t, resolve: (m) => { clearTimeout(timer); resolve(m); }, reject: (e) => { clearTimeout(timer); reject(e); } });
    });
  }
  send(m: object): void { this.child.send(m); }
  close(): void { if (this.child.connected) this.send({ t: 'exit' }); setTimeout(() => this.child.kill('SIGKILL'), 2000).unref(); }
}

export interface DirectCeilingRun {
  bySize: Record<number, number>;
  maxMessageSize: number;
  /** The initiator's SimplePeer creation to 'connect': ICE, DTLS and SCTP on loopback, signals via IPC. */
  setupMs: number;
  /** CPU ms per MB of each side, per message size. */
  cpuBySize: Record<number, { sender: ThreadCpu; receiver: ThreadCpu }>;
}

/** One connected pair; each message size is sent `bytes` once. MB/s per message size. */
export interface CeilingOptions {
  /** Node flags for the child processes (e.g. --cpu-prof). */
  nodeArgs?: string[];
  onSpawn?: (role: string, pid: number) => void;
  /** Direct ceiling only: the WebRTC stack (default wrtc). */
  engine?: DirectEngine;
}

export async function directCeilingRun(bytes: number, sizes = MESSAGE_SIZES, o: CeilingOptions = {}): Promise<DirectCeilingRun> {
  let sender!: Side;
  const receiver = new Side('receiver', (data) => sender.send({ t: 'signal', data }), o);
  sender = new Side('sender', (data) => receiver.send({ t: 'signal', data }), o);
  try {
    await Promise.all([sender.next('up', 20_000), receiver.next('up', 20_000)]);
    receiver.send({ t: 'start' });
    sender.send({ t: 'start' });
    const [connected] = await Promise.all([sender.next('connected', 20_000), receiver.next('connected', 20_000)]);
    const maxMessageSize = Number(connected.maxMessageSize) || 256 * 1024;
    const bySize: Record<number, number> = {};
    const cpuBySize: DirectCeilingRun['cpuBySize'] = {};
    const cpu = () => ({ sender: threadCpu(sender.child.pid!), receiver: threadCpu(receiver.child.pid!) });
    for (const wanted of sizes) {
      // 256 KiB is the largest; shave a little off only if the channel's limit is below it.
      const size = Math.min(wanted, maxMessageSize);
      receiver.send({ t: 'expect', bytes });
      await receiver.next('armed');
      const [t0, cpu0] = [now(), cpu()];
      sender.send({ t: 'send', bytes, size });
      await receiver.next('received', 60_000 + (bytes / 10e6) * 1000);
      bySize[wanted] = mbps(bytes, now() - t0);
      const cpu1 = cpu();
      cpuBySize[wanted] = { sender: perMb(minus(cpu1.sender, cpu0.sender), bytes), receiver: perMb(minus(cpu1.receiver, cpu0.receiver), bytes) };
    }
    return { bySize, maxMessageSize, setupMs: Number(connected.setupMs), cpuBySize };
  } finally {
    sender.close();
    receiver.close();
  }
}

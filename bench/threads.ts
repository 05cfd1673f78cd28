/**
 * CPU time per thread group of a process, from /proc/PID/task: the JS main
 * thread, wrtc's own threads (PeerConnectionFactory network and signaling
 * threads, where SCTP and DTLS run, invisible to --cpu-prof), and the rest (V8
 * GC helpers, libuv's pool for fs and async crypto). CPU per byte moved says
 * where a path's time goes even when other work shares the machine.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { ExitStats } from './exit-stats.js';

const TICK_S = 0.01; // USER_HZ is 100 on Linux

export const GROUPS = ['main (JS)', 'wrtc threads', 'other threads'] as const;
export type ThreadCpu = Record<(typeof GROUPS)[number], number>;

const zero = (): ThreadCpu => ({ 'main (JS)': 0, 'wrtc threads': 0, 'other threads': 0 });
export const unknownCpu = (): ThreadCpu => ({ 'main (JS)': NaN, 'wrtc threads': NaN, 'other threads': NaN });

function groupOf(pid: number, tid: number, comm: string): keyof ThreadCpu {
  if (tid === pid) return 'main (JS)';
  if (/^(PeerConnection|rtc|rtp_|TestAudio|TaskQueue)/.test(comm)) return 'wrtc threads';
  return 'other threads';
}

/** CPU seconds per group of a live process, now. */
export function threadCpu(pid: number): ThreadCpu {
  let tids: string[];
  try { tids = readdirSync(`/proc/${pid}/task`); } catch { return zero(); }
  const threads: ExitStats['threads'] = [];
  for (const t of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      threads.push([Number(t), stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), Number(f[11]) + Number(f[12])]);
    } catch { /* the thread ended */ }
  }
  return grouped(pid, threads);
}

/** CPU seconds per group from what a process reported as it exited (exit-stats.ts). */
export function grouped(pid: number, threads: ExitStats['threads']): ThreadCpu {
  const out = zero();
  for (const [tid, comm, ticks] of threads) out[groupOf(pid, tid, comm)] += ticks * TICK_S;
  return out;
}

export function minus(a: ThreadCpu, b: ThreadCpu): ThreadCpu {
  const out = zero();
  for (const g of GROUPS) out[g] = a[g] - b[g];
  return out;
}

export function cpuTotal(c: ThreadCpu): number {
  return GROUPS.reduce((n, g) => n + c[g], 0);
}

/** CPU milliseconds per MB (10^6 bytes) moved. */
export function perMb(cpu: ThreadCpu, bytes: number): ThreadCpu {
  const out = zero();
  for (const g of GROUPS) out[g] = (cpu[g] * 1000) / (bytes / 1e6);
  return out;
}

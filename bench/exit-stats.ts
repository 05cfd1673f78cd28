/**
 * Loaded with `node --import` into every process the harness measures. On exit it
 * writes to $SEALDROP_BENCH_EXIT the process's peak RSS (VmHWM) and the CPU time of
 * each of its threads, read from /proc at the last moment, which polling from
 * outside would miss.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

export interface ExitStats {
  vmHwmKb: number;
  /** [thread id, thread name, CPU clock ticks (user + system)] */
  threads: Array<[number, string, number]>;
}

const out = process.env.SEALDROP_BENCH_EXIT;
if (out) {
  process.on('exit', () => {
    try {
      const status = readFileSync('/proc/self/status', 'utf8');
      const threads: ExitStats['threads'] = [];
      for (const t of readdirSync('/proc/self/task')) {
        try {
          const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
          const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          threads.push([Number(t), stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), Number(f[11]) + Number(f[12])]);
        } catch { /* the thread ended */ }
      }
      const stats: ExitStats = { vmHwmKb: Number(/VmHWM:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 0), threads };
      writeFileSync(out, JSON.stringify(stats));
    } catch {
      // No /proc: the harness falls back to what it polled.
    }
  });
}

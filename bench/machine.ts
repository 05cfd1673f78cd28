/**
 * What machine the numbers come from, and how busy it was meanwhile: CPU time
 * the whole machine spent (from /proc/stat) minus what this harness and its
 * children spent (from /proc/self/stat) is what other processes took.
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface Machine { nproc: number; cpu: string; node: string; kernel: string; memGiB: number; loadBefore: string }

export function describeMachine(): Machine {
  let nproc = os.cpus().length;
  try { nproc = Number(execSync('nproc', { encoding: 'utf8' }).trim()) || nproc; } catch { /* os.cpus() it is */ }
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try { cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu; } catch { /* keep */ }
  return {
    nproc, cpu, node: process.version, kernel: `${os.type()} ${os.release()}`,
    memGiB: Math.round(os.totalmem() / 2 ** 30), loadBefore: os.loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

interface CpuSample { machineBusy: number; machineTotal: number; ours: number }

function sample(): CpuSample | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = cpu as [number, number, number, number, number, number, number, number];
    const busy = user + nice + system + irq + softirq + (steal ?? 0);
    const self = readFileSync('/proc/self/stat', 'utf8');
    const fields = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
    // Fields 14-17 of stat (utime stime cutime cstime) are 11-14 after the command name.
    const ours = fields[11]! + fields[12]! + fields[13]! + fields[14]!;
    return { machineBusy: busy, machineTotal: busy + idle + iowait, ours };
  } catch {
    return undefined;
  }
}

/**
 * Starts watching; the returned function gives the share of all CPUs others used meanwhile (0..1).
 * `alsoOursTicks`: CPU ticks of processes this harness started that are still running (a child
 * counts in /proc/self/stat only once it was waited for), e.g. a browser (bench/browser.ts).
 */
export function watchOtherLoad(): (alsoOursTicks?: number) => { othersShare: number; oursShare: number } | undefined {
  const start = sample();
  return (alsoOursTicks = 0) => {
    const end = sample();
    if (!start || !end) return undefined;
    const total = end.machineTotal - start.machineTotal;
    const ours = end.ours - start.ours + alsoOursTicks;
    const others = Math.max(0, end.machineBusy - start.machineBusy - ours);
    return total > 0 ? { othersShare: others / total, oursShare: ours / total } : undefined;
  };
}

/**
 * Measuring processes: spawn a Node script, timestamp every JSON line it prints
 * (on the harness's monotonic clock), and track its peak RSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomFill } from 'node:crypto';
import { createWriteStream, promises as fs, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NODE_FLAGS } from '../shared/node-flags.js';
import type { ExitStats } from './exit-stats.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PEER_CLI = path.join(ROOT, 'bin/sealdrop.js');
export const RENDEZVOUS_CLI = path.join(ROOT, 'bin/sealdrop-rendezvous.js');
const PRELOAD = pathToFileURL(path.join(ROOT, 'dist/bench/exit-stats.js')).href;
const POLL_MS = 100;

export const now = (): number => performance.now();

const live = new Set<ChildProcess>();

/** Registers a child so an interrupted harness can kill it (abandonAll). */
export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

const temps = new Set<string>();

/** For an interrupted harness: kills every tracked child and removes every temp folder. */
export function abandonAll(): void {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
}

export interface TimedEvent { t: number; type: string; [k: string]: unknown }

export interface Proc {
  child: ChildProcess;
  /** When spawn() was called, on the harness clock. */
  spawnedAt: number;
  events: TimedEvent[];
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number>;
  /** Resolves with the first event at index >= from that matches. */
  waitFor: (match: (e: TimedEvent) => boolean, timeoutMs?: number, from?: number) => Promise<TimedEvent>;
  /** Peak RSS in bytes (after exit: exact; before: as last polled). */
  peakRss: () => number;
  /** What the process reported as it exited (undefined before, or without /proc). */
  exitStats: () => ExitStats | undefined;
  /** Current RSS in bytes, read from /proc now. */
  rssNow: () => number;
}

/** `netns`: run inside that network namespace (`ip netns exec` execs in place: the pid is node's own). */
export interface SpawnOptions { env?: Record<string, string>; nodeArgs?: string[]; netns?: string }

export function spawnNode(script: string, args: string[], opts: SpawnOptions = {}): Proc {
  const statsFile = path.join(os.tmpdir(), `sealdrop-bench-exit-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  const spawnedAt = now();
  const argv = [...NODE_FLAGS, '--import', PRELOAD, ...(opts.nodeArgs ?? []), script, ...args];
  const child = track(spawn(opts.netns ? 'ip' : process.execPath, opts.netns ? ['netns', 'exec', opts.netns, process.execPath, ...argv] : argv, {
    env: { ...process.env, SEALDROP_LOG: 'silent', ...opts.env, SEALDROP_BENCH_EXIT: statsFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  let out = '', err = '', partial = '';
  const events: TimedEvent[] = [];
  const watchers = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    const t = now();
    out += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      try { events.push({ ...JSON.parse(line), t }); } catch { /* not JSON */ }
    }
    for (const w of [...watchers]) w();
  });
  child.stderr!.on('data', (d: Buffer) => { err += d; });
  let polled = 0;
  let exited = false;
  const poll = setInterval(() => { polled = Math.max(polled, procKb(child.pid, 'VmHWM')); }, POLL_MS);
  let stats: ExitStats | undefined;
  const exit = new Promise<number>((resolve) => child.on('exit', (code, signal) => {
    clearInterval(poll);
    exited = true;
    try { stats = JSON.parse(readFileSync(statsFile, 'utf8')); } catch { /* killed, or no /proc */ }
    void fs.rm(statsFile, { force: true });
    for (const w of [...watchers]) w();
    resolve(code ?? (signal ? 128 : 1));
  }));
  const peakRss = () => Math.max(polled, stats?.vmHwmKb ?? 0) * 1024;
  const waitFor = (match: (e: TimedEvent) => boolean, timeoutMs = 60_000, from = 0) => new Promise<TimedEvent>((resolve, reject) => {
    const check = () => {
      const ev = events.slice(from).find(match);
      if (ev) { done(); resolve(ev); } else if (exited) { done(); reject(new Error(`exited before the awaited event; stderr: ${err.slice(-2000)} stdout: ${out.slice(-1000)}`)); }
    };
    const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${timeoutMs} ms; stderr: ${err.slice(-2000)} stdout: ${out.slice(-1000)}`)); }, timeoutMs);
    const done = () => { clearTimeout(timer); watchers.delete(check); };
    watchers.add(check);
    check();
  });
  return {
    child, spawnedAt, events, stdout: () => out, stderr: () => err, exit, waitFor, peakRss,
    exitStats: () => stats, rssNow: () => procKb(child.pid, 'VmRSS') * 1024,
  };
}

/** A field of /proc/PID/status in kB (0 when unreadable). */
export function procKb(pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number {
  if (!pid) return 0;
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export async function stop(proc: Proc, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<number> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) {
    proc.child.kill(signal);
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
    const code = await proc.exit;
    clearTimeout(timer);
    return code;
  }
  return proc.exit;
}

export async function tempDir(prefix = 'sealdrop-bench-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  temps.add(dir);
  return dir;
}

/** A file of `size` random bytes, written in 4 MiB pieces so memory stays small. */
export async function randomFile(file: string, size: number): Promise<void> {
  const out = createWriteStream(file);
  const piece = Buffer.allocUnsafe(4 * 1024 * 1024);
  for (let left = size; left > 0;) {
    const n = Math.min(left, piece.length);
    await new Promise<void>((resolve, reject) => randomFill(piece, 0, n, (err) => (err ? reject(err) : resolve())));
    // write() keeps a reference until flushed, so it gets a copy and `piece` can be refilled.
    if (!out.write(Buffer.from(piece.subarray(0, n)))) await new Promise<void>((r) => out.once('drain', () => r()));
    left -= n;
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Progress lines for the person running the harness; stdout stays for results. */
export function log(text: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

/**
 * The browser's side of a measurement, read from /proc and CDP while a transfer runs: the
 * anonymous RSS of Chromium's processes (all of them, and the renderers apart), the page's JS
 * heap (CDP Performance.getMetrics), and the CPU ticks of every Chromium process, for CPU per MB.
 * The process tree comes from test/helpers/browser.ts (browserMemory), which finds the Chromium
 * this process launched.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { CDPSession } from 'playwright-core';
import { browserMemory, type ProcessMemory } from '../test/helpers/browser.js';

const SAMPLE_MS = 200;
const TICK_S = 0.01; // USER_HZ is 100 on Linux

/** Peaks during one transfer, in bytes; `before`: the same figures just before it started. */
export interface PageMemory {
  /** RssAnon of all Chromium processes together (at the sample where that sum peaked). */
  anonTotal: number;
  /** RssAnon of the page's renderer (the largest that is not Chromium's UI). */
  renderer: number;
  /** V8 heap in use on the page's main thread (CDP Runtime.getHeapUsage; its workers' heaps are not in it). */
  jsHeap: number;
  /** ArrayBuffer backing stores of the page's main thread, outside the JS heap (backingStorageSize). */
  arrayBuffers: number;
  /** Peak RssAnon per process type (browser, renderer, renderer (browser UI), gpu-process, utility, zygote). */
  byType: Record<string, number>;
  before: { anonTotal: number; renderer: number; jsHeap: number; arrayBuffers: number };
  samples: number;
}

/**
 * Headless Chromium also runs its own UI in a renderer (`--top-chrome-webui`), and keeps a spare
 * one: the page's renderer is the largest renderer that is not the UI's.
 */
const uiRenderers = new Map<number, boolean>();
function isUiRenderer(pid: number): boolean {
  let ui = uiRenderers.get(pid);
  if (ui === undefined) {
    // A zygote's child renames itself with one string (spaces, not NULs, between its flags).
    try { ui = /(^|[\s\0])--top-chrome-webui([\s\0]|$)/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8')); } catch { ui = false; }
    uiRenderers.set(pid, ui);
  }
  return ui;
}
const typeOf = (p: ProcessMemory) => (p.type === 'renderer' && isUiRenderer(p.pid) ? 'renderer (browser UI)' : p.type);
const rendererOf = (procs: ProcessMemory[]) => Math.max(0, ...procs.filter((p) => typeOf(p) === 'renderer').map((p) => p.anon));
const anonOf = (procs: ProcessMemory[]) => procs.reduce((n, p) => n + p.anon, 0);

/** The page main thread's V8 heap in use, and the ArrayBuffer backing stores it holds outside that heap. */
export async function heapUsage(cdp: CDPSession): Promise<{ jsHeap: number; arrayBuffers: number }> {
  const u = await cdp.send('Runtime.getHeapUsage') as { usedSize: number; backingStorageSize?: number };
  return { jsHeap: u.usedSize, arrayBuffers: u.backingStorageSize ?? NaN };
}

/** Samples every SAMPLE_MS until the returned function is called, which gives the peaks. */
export async function sampleBrowser(cdp: CDPSession): Promise<() => Promise<PageMemory>> {
  const first = browserMemory();
  const before = { anonTotal: anonOf(first), renderer: rendererOf(first), ...await heapUsage(cdp) };
  const peak: PageMemory = { ...before, byType: {}, before, samples: 0 };
  let heapInFlight = false;
  const take = () => {
    const procs = browserMemory();
    peak.samples++;
    peak.anonTotal = Math.max(peak.anonTotal, anonOf(procs));
    peak.renderer = Math.max(peak.renderer, rendererOf(procs));
    const types = new Map<string, number>();
    for (const p of procs) types.set(typeOf(p), (types.get(typeOf(p)) ?? 0) + p.anon);
    for (const [t, n] of types) peak.byType[t] = Math.max(peak.byType[t] ?? 0, n);
    if (heapInFlight) return; // a busy page answers late: one question at a time
    heapInFlight = true;
    heapUsage(cdp).then((h) => { peak.jsHeap = Math.max(peak.jsHeap, h.jsHeap); peak.arrayBuffers = Math.max(peak.arrayBuffers, h.arrayBuffers); }, () => {}).finally(() => { heapInFlight = false; });
  };
  take();
  const timer = setInterval(take, SAMPLE_MS);
  return async () => {
    clearInterval(timer);
    take();
    const last = await heapUsage(cdp).catch(() => before);
    peak.jsHeap = Math.max(peak.jsHeap, last.jsHeap);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, last.arrayBuffers);
    return peak;
  };
}

/** CPU seconds (user + system) of one process now; 0 once it is gone. */
export function processCpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_S;
  } catch {
    return 0;
  }
}

/** CPU seconds of every thread of every Chromium process now, by "pid/tid", with where it runs. */
export function chromiumCpu(): Map<string, { part: string; seconds: number }> {
  const out = new Map<string, { part: string; seconds: number }>();
  for (const p of browserMemory()) {
    let tids: string[];
    try { tids = readdirSync(`/proc/${p.pid}/task`); } catch { continue; }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${p.pid}/task/${tid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // Thread names as Chromium sets them (DedicatedWorker, WebRTC_W_and_N, Chrome_ChildIOT…), numbers dropped; the
        // main thread carries the program's name.
        const comm = Number(tid) === p.pid ? 'main thread' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/[\d/]+$/, '');
        out.set(`${p.pid}/${tid}`, { part: `${typeOf(p)}: ${comm}`, seconds: (Number(f[11]) + Number(f[12])) * TICK_S });
      } catch { /* the thread ended */ }
    }
  }
  return out;
}

/** CPU seconds every live Chromium thread has spent since it started. */
export function chromiumCpuTotal(): number {
  return [...chromiumCpu().values()].reduce((n, t) => n + t.seconds, 0);
}

/** CPU seconds Chromium spent since a reading of chromiumCpu(), in all and by process type and thread name. */
export function chromiumCpuSince(start: Map<string, { seconds: number }>): { total: number; byPart: Record<string, number> } {
  const byPart: Record<string, number> = {};
  let total = 0;
  for (const [key, t] of chromiumCpu()) {
    const s = t.seconds - (start.get(key)?.seconds ?? 0);
    total += s;
    byPart[t.part] = (byPart[t.part] ?? 0) + s;
  }
  return { total, byPart };
}

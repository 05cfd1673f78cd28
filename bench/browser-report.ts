/**
 * The browser bench's figures: rows summarised over rounds, a table for stdout, the JSON kept in
 * bench/browser-results.json (one entry per file size, each run replacing its own size's), and the
 * "## Browser page" section of bench/RESULTS.md rendered from every size there.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { RowRun } from './browser-rows.js';
import { withSection } from './kept-sections.js';
import type { Machine } from './machine.js';
import { ROOT } from './measure.js';
import { fmt, round, summarize, type Summary } from './stats.js';

export const RESULTS_JSON = path.join(ROOT, 'bench/browser-results.json');
const RESULTS_MD = path.join(ROOT, 'bench/RESULTS.md');

export interface RowSummary {
  row: string;
  runs: number;
  mbps: Summary;
  endToEndMbps: Summary;
  /** MB (10^6 bytes): anonymous RSS of all Chromium processes, its growth over the transfer, the renderer's, the page's JS heap. */
  pageAnonPeakMb: Summary;
  pageAnonGrowthMb: Summary;
  rendererPeakMb: Summary;
  jsHeapPeakMb: Summary;
  /** Not in runs from before it was measured. */
  arrayBuffersPeakMb?: Summary;
  /** Largest peak over the rounds, per Chromium process type. */
  byTypePeakMb: Record<string, number>;
  cliPeakRssMb: Summary;
  cpuMsPerMb: { chromium: Summary; cli: Summary; rendezvous: Summary; total: Summary };
  /** Chromium's CPU ms per MB by process type and thread name, median over the rounds, largest first. */
  chromiumCpuByPart: Record<string, number>;
  harnessCpuMsPerMb?: Summary;
}

export interface BrowserRun {
  date: string;
  minutes: number;
  command: string;
  isolation: string;
  machine: Machine;
  chromium: string;
  /** Share of all CPU time other processes took during the run; load average after it. */
  othersShare?: number;
  loadAfter: string;
  sizeMiB: number;
  rounds: number;
  rows: RowSummary[];
  runs: RowRun[];
}

export const rowName = (r: Pick<RowRun, 'direction' | 'path'>) => `${r.direction === 'cli-to-page' ? 'CLI → page' : 'page → CLI'}, ${r.path}`;
const mb = (bytes: number) => bytes / 1e6;

export function summarizeRows(runs: RowRun[]): RowSummary[] {
  const names = [...new Set(runs.map(rowName))];
  return names.map((row) => {
    const of = runs.filter((r) => rowName(r) === row);
    const s = (f: (r: RowRun) => number) => summarize(of.map(f));
    const byType: Record<string, number> = {};
    for (const r of of) for (const [t, n] of Object.entries(r.memory.byType)) byType[t] = round(Math.max(byType[t] ?? 0, mb(n)));
    const c = (r: RowRun) => r.cpuMsPerMb;
    return {
      row, runs: of.length, mbps: s((r) => r.streamMbps), endToEndMbps: s((r) => r.endToEndMbps),
      pageAnonPeakMb: s((r) => mb(r.memory.anonTotal)), pageAnonGrowthMb: s((r) => mb(r.memory.anonTotal - r.memory.before.anonTotal)),
      rendererPeakMb: s((r) => mb(r.memory.renderer)), jsHeapPeakMb: s((r) => mb(r.memory.jsHeap)), arrayBuffersPeakMb: s((r) => mb(r.memory.arrayBuffers ?? NaN)), byTypePeakMb: byType,
      cliPeakRssMb: s((r) => mb(r.cliPeakRss)),
      cpuMsPerMb: {
        chromium: s((r) => c(r).chromium), cli: s((r) => c(r).cli), rendezvous: s((r) => c(r).rendezvous),
        total: s((r) => c(r).chromium + c(r).cli + c(r).rendezvous),
      },
      chromiumCpuByPart: byPart(of),
      harnessCpuMsPerMb: s((r) => r.harnessCpuMsPerMb),
    };
  });
}

function byPart(runs: RowRun[]): Record<string, number> {
  const parts = new Set(runs.flatMap((r) => Object.keys(r.chromiumCpuMsPerMb)));
  const medians = [...parts].map((p) => [p, round(summarize(runs.map((r) => r.chromiumCpuMsPerMb[p] ?? 0)).median)] as const);
  return Object.fromEntries(medians.filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]));
}

const HEAD = ['row', 'MB/s', 'end to end MB/s', 'page anon RSS peak (MB)', 'growth (MB)', 'page renderer peak (MB)', 'JS heap peak (MB)', 'ArrayBuffers peak (MB)', 'CLI peak RSS (MB)', 'CPU ms/MB Chromium + CLI + rendezvous'];

function cells(r: RowSummary): string[] {
  const c = r.cpuMsPerMb;
  return [r.row, fmt(r.mbps), fmt(r.endToEndMbps), fmt(r.pageAnonPeakMb), fmt(r.pageAnonGrowthMb), fmt(r.rendererPeakMb), fmt(r.jsHeapPeakMb), r.arrayBuffersPeakMb ? fmt(r.arrayBuffersPeakMb) : 'n/a', fmt(r.cliPeakRssMb),
    `${round(c.chromium.median)} + ${round(c.cli.median)} + ${round(c.rendezvous.median)} = ${round(c.total.median)}`];
}

export function markdownTable(rows: RowSummary[]): string {
  return [`| ${HEAD.join(' | ')} |`, `| ${HEAD.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${cells(r).join(' | ')} |`)].join('\n');
}

/** Plain columns for a terminal. */
export function textTable(rows: RowSummary[]): string {
  const all = [HEAD, ...rows.map(cells)];
  const widths = HEAD.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function loadLine(r: BrowserRun): string {
  const avg = `load average ${r.machine.loadBefore} before, ${r.loadAfter} after`;
  if (r.othersShare === undefined) return avg;
  const pct = Math.round(r.othersShare * 100);
  return `other processes used ${pct}% of all CPU time during the run${pct >= 5 ? ' (the machine was NOT idle: figures are lower and noisier than on an idle one)' : ''}; ${avg}`;
}

/**
 * What bounds each row, from its own figures: on nproc cores CPU per MB caps the rate, and the
 * share other processes took (and this harness's own) leaves less than nproc.
 */
function limits(r: BrowserRun): string[] {
  const L: string[] = [];
  const free = r.machine.nproc * (1 - (r.othersShare ?? 0));
  for (const row of r.rows) {
    const c = row.cpuMsPerMb;
    const harness = row.harnessCpuMsPerMb?.median ?? 0; // not in runs before it was measured
    const idleCap = (r.machine.nproc * 1000) / c.total.median;
    const cap = (free * 1000) / (c.total.median + harness);
    const share = row.endToEndMbps.median / cap;
    const top = Object.entries(row.chromiumCpuByPart).slice(0, 5).map(([p, v]) => `${p} ${v}`).join(', ');
    L.push(`- ${row.row}: ${round(c.total.median)} CPU ms per MB end to end (Chromium ${round(c.chromium.median)}, CLI ${round(c.cli.median)}, rendezvous ${round(c.rendezvous.median)}) caps it at ~${round(idleCap)} MB/s on ${r.machine.nproc} idle cores;`
      + ` with the ${round(free)} cores other processes left and the harness's own ${round(harness)} ms/MB, at ~${round(cap)}. It ran at ${round(row.endToEndMbps.median)} end to end, ${Math.round(share * 100)}% of that${share > 1 ? ' (the others\' share is an average over the run): CPU-bound' : share > 0.75 ? ': CPU-bound' : ': not CPU-bound alone (it also waits: flow control, the page\'s event loop, OPFS writes)'}.`
      + ` Chromium's CPU ms per MB by process and thread: ${top}.`);
  }
  const most = (f: (row: RowSummary) => Summary | undefined) => round(Math.max(...r.rows.map((row) => f(row)?.max ?? NaN)));
  const before = r.runs.map((x) => mb(x.memory.before.renderer));
  const renderer = most((row) => row.rendererPeakMb), buffers = most((row) => row.arrayBuffersPeakMb), heap = most((row) => row.jsHeapPeakMb);
  L.push(`- Memory: the page's renderer peaked at ${renderer} MB, all of Chromium at ${most((row) => row.pageAnonPeakMb)} MB. The main thread's JS heap stayed at ${heap} MB at most and the ArrayBuffer backing stores it held (chunks handled and not yet collected, outside the JS heap) reached ${buffers} MB; the rest of the renderer's growth is native memory outside V8 (Chromium's allocator, IPC and socket buffers, the OPFS writer), which this bench does not break down further. Just before each transfer the renderer held ${round(Math.min(...before))}–${round(Math.max(...before))} MB: what one transfer leaves is given back only as the collector gets to it, so the peaks also carry some of the previous row.`);
  return L;
}

function section(bySize: Record<string, BrowserRun>): string {
  const L = ['## Browser page', ''];
  L.push('Written by `bench/browser.ts` (bench/README.md). The page served by the rendezvous, in headless Chromium driven over CDP, against the real CLI (`sealdrop send` to the page, the page\'s file picker to `sealdrop receive --once`), on the relay (`--relay`, the page\'s "relay" box) and direct (`--direct-only`, "direct only"; the rendezvous starts on the relay by default, so these name one path for the whole transfer, and a transfer that took the other one fails the run). One rendezvous and one logged-in page for the whole run; rounds interleaved (every row once, then again). A random file; the receiving side\'s SHA-256 checked against the file\'s (the page\'s own hash and its stored copy in OPFS, downloaded and hashed; or the CLI\'s `done` and the file on disk).', '');
  L.push('MB/s: the receiver\'s first chunk written to its last (the page\'s progress bar, set after each write to OPFS, watched by a MutationObserver in the page; or the CLI\'s `progress` events), median (min–max). End to end: the click (accept in the page, or send) until the receiving side has checked every byte. Page memory: RssAnon of every Chromium process from /proc every 200 ms during the transfer (all together at their peak, growth over the value just before the click, and the page\'s renderer: the largest one that is not Chromium\'s own UI, `--top-chrome-webui`, which headless Chromium also runs), and the page\'s main thread (CDP `Runtime.getHeapUsage`): its V8 heap in use and the ArrayBuffer backing stores it holds outside that heap (the hashing worker\'s are in neither). CLI peak RSS: VmHWM of the CLI at the other end. CPU per MB: /proc ticks of every Chromium process, the CLI and the rendezvous from the click to the check, per MB moved (the harness\'s own sampling and CDP calls not counted).', '');
  for (const r of Object.values(bySize).sort((a, b) => a.sizeMiB - b.sizeMiB)) {
    const m = r.machine;
    L.push(`### ${r.sizeMiB >= 1024 ? `${r.sizeMiB / 1024} GiB` : `${r.sizeMiB} MiB`}, ${r.rounds} round${r.rounds === 1 ? '' : 's'}`, '');
    L.push(`${r.date} (took ${round(r.minutes)} min), \`${r.command}\`; nproc ${m.nproc}, ${m.cpu}, ${m.memGiB} GiB RAM, ${m.kernel}, node ${m.node}, ${r.chromium}; ${r.isolation === 'none' ? 'host loopback (no namespace available)' : `private network namespace (\`${r.isolation}\`), loopback only`}; ${loadLine(r)}.`, '');
    L.push(markdownTable(r.rows), '');
    const types = r.rows.map((row) => `${row.row}: ${Object.entries(row.byTypePeakMb).map(([t, n]) => `${t} ${n}`).join(', ')}`);
    L.push(`Peak anonymous RSS by Chromium process type (MB, largest over the rounds): ${types.join('; ')}.`, '');
    L.push('What limits the figures:', '', ...limits(r), '');
  }
  L.push('The machine\'s load moves every figure (the rows share 2 cores with the harness, Chromium\'s GPU and network processes and whatever else runs); CPU per MB holds better than MB/s. The page\'s memory is sampled, so a spike shorter than 200 ms can be missed; RssAnon leaves out mapped files and shared memory (Chromium passes data between its processes in shared memory).');
  return L.join('\n');
}

/** Adds this run to bench/browser-results.json (replacing the same size's) and rewrites the section from it. */
export async function saveRun(run: BrowserRun): Promise<void> {
  const old = JSON.parse(await fs.readFile(RESULTS_JSON, 'utf8').catch(() => '{"bySize":{}}')) as { bySize: Record<string, BrowserRun> };
  old.bySize[String(run.sizeMiB)] = run;
  await fs.writeFile(RESULTS_JSON, JSON.stringify(old, null, 1) + '\n');
  await writeSection();
}

/** Rewrites the "## Browser page" section of bench/RESULTS.md from bench/browser-results.json. */
export async function writeSection(): Promise<void> {
  const { bySize } = JSON.parse(await fs.readFile(RESULTS_JSON, 'utf8')) as { bySize: Record<string, BrowserRun> };
  const md = await fs.readFile(RESULTS_MD, 'utf8').catch(() => '');
  await fs.writeFile(RESULTS_MD, withSection(md, 'browser', section(bySize)));
}

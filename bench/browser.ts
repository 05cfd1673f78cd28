/**
 * The browser page's throughput and memory: the page served by a real rendezvous, in headless
 * Chromium, against the real CLI, four rows (CLI → page and page → CLI, on the relay and direct),
 * rounds interleaved, in a private network namespace (nothing leaves the machine).
 *
 *   npm run build && node dist/bench/browser.js [--size MiB (256)] [--rounds N (3)] [--no-write]
 *   node dist/bench/browser.js --report-only   # re-render the section from bench/browser-results.json
 *
 * Prints the table, then one JSON line (the run). Unless --no-write it keeps the run in
 * bench/browser-results.json (per file size) and rewrites the "## Browser page" section of
 * bench/RESULTS.md from it; bench/run.ts keeps that section (bench/kept-sections.ts).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { browserMissing, startBrowser, type TestBrowser } from '../test/helpers/browser.js';
import { chromiumCpuTotal, processCpuSeconds } from './browser-procs.js';
import { saveRun, summarizeRows, textTable, writeSection, type BrowserRun } from './browser-report.js';
import { cliToPage, openBenchPage, PAGE_ID, pageToCli, sha256File, type RowContext, type RowRun } from './browser-rows.js';
import { describeMachine, watchOtherLoad } from './machine.js';
import { abandonAll, log, randomFile, stop, tempDir } from './measure.js';
import { enterNamespace } from './netns.js';
import { MiB, round } from './stats.js';
import type { Path } from './transfer.js';
import { BenchWorld, startRendezvous, type Rendezvous } from './world.js';

const ROWS: Array<[(c: RowContext, via: Path) => Promise<RowRun>, Path]> = [[cliToPage, 'relay'], [cliToPage, 'direct'], [pageToCli, 'relay'], [pageToCli, 'direct']];

function arg(name: string, fallback: number, max: number): number {
  const i = process.argv.indexOf(name);
  const n = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isSafeInteger(n) || n <= 0 || n > max) throw new Error(`${name} takes a whole number from 1 to ${max}`);
  return n;
}

async function main(): Promise<void> {
  if (process.argv.includes('--report-only')) return writeSection(); // from bench/browser-results.json, measuring nothing
  const isolation = enterNamespace();
  const missing = browserMissing();
  if (missing) throw new Error(`no browser to measure: ${missing}`);
  const sizeMiB = arg('--size', 256, 16_384);
  const rounds = arg('--rounds', 3, 20);
  const write = !process.argv.includes('--no-write');
  const bytes = sizeMiB * MiB;
  const machine = describeMachine();
  const otherLoad = watchOtherLoad();
  const started = Date.now();
  const command = `node ${process.argv.slice(1).map((a) => path.relative(process.cwd(), a) || a).join(' ')}`;
  log(`browser page: ${sizeMiB} MiB, ${rounds} round(s), in ${isolation}; load average ${machine.loadBefore}`);

  const world = await BenchWorld.create(['alice', PAGE_ID]);
  const work = await tempDir('sealdrop-bench-browser-');
  let rv: Rendezvous | undefined;
  let chrome: TestBrowser | undefined;
  const cleanUp = async () => {
    await chrome?.stop();
    if (rv) await stop(rv.proc);
    await fs.rm(work, { recursive: true, force: true });
    await world.dispose();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { void cleanUp().finally(() => { abandonAll(); process.exit(130); }); });
  }
  try {
    const file = path.join(work, `random-${sizeMiB}MiB.bin`);
    await randomFile(file, bytes);
    const sha256 = await sha256File(file);
    rv = await startRendezvous(world.dataDir);
    chrome = await startBrowser();
    const pg = await openBenchPage(chrome.context, rv.url, world.secret(PAGE_ID));
    const ua = await pg.page.evaluate(() => navigator.userAgent);
    const ctx: RowContext = { world, rv, pg, file, bytes, sha256, work };
    const runs: RowRun[] = [];
    for (let n = 1; n <= rounds; n++) {
      for (const [row, via] of ROWS) {
        log(`round ${n}/${rounds}: ${row === cliToPage ? 'CLI → page' : 'page → CLI'}, ${via}`);
        const r = await row(ctx, via);
        log(`  ${round(r.streamMbps)} MB/s (end to end ${round(r.endToEndMbps)}), page anon RSS peak ${round(r.memory.anonTotal / 1e6)} MB, page renderer ${round(r.memory.renderer / 1e6)} MB, JS heap ${round(r.memory.jsHeap / 1e6)} MB, ArrayBuffers ${round(r.memory.arrayBuffers / 1e6)} MB, CLI ${round(r.cliPeakRss / 1e6)} MB; SHA-256 identical`);
        runs.push(r);
      }
    }
    // Chromium and the rendezvous still run, so /proc/self/stat does not count them yet: both started after the watch began.
    const busy = otherLoad(Math.round((chromiumCpuTotal() + processCpuSeconds(rv.proc.child.pid)) * 100));
    const run: BrowserRun = {
      date: new Date(started).toISOString(), minutes: (Date.now() - started) / 60_000, command, isolation, machine,
      chromium: /HeadlessChrome\/[\d.]+|Chrome\/[\d.]+/.exec(ua)?.[0] ?? ua,
      othersShare: busy?.othersShare, loadAfter: os.loadavg().map((l) => l.toFixed(2)).join(' '),
      sizeMiB, rounds, rows: summarizeRows(runs), runs,
    };
    process.stdout.write(`browser page, ${sizeMiB} MiB, ${rounds} round(s); median (min–max); MB = 10^6 bytes\n${textTable(run.rows)}\n`);
    process.stdout.write(`other processes used ${busy ? Math.round(busy.othersShare * 100) : '?'}% of the CPU; load average ${machine.loadBefore} before, ${run.loadAfter} after\n`);
    if (write) {
      await saveRun(run);
      log('wrote bench/browser-results.json and the browser section of bench/RESULTS.md');
    }
    process.stdout.write(JSON.stringify(run) + '\n');
  } finally {
    await cleanUp();
  }
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  abandonAll();
  process.exit(1);
});

/**
 * The benchmark: `npm run bench` (or `npm run bench -- --quick`, about 2 minutes).
 * Measures sealdrop's direct and relay throughput against the raw ceilings of the
 * parts it builds on, crypto on one core, peak memory, time to first byte and the
 * rendezvous under many idle peers, all in a private network namespace. Writes
 * bench/RESULTS.md, bench/throughput.svg and the raw bench/results.json (from which
 * `--report-only` re-renders the other two); the last line of stdout is one JSON object.
 * `--only-switched` measures just the transfer that switches paths (relay start → direct,
 * `--runs N`, `--mib M`) and prints its figures, writing nothing.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CRYPTO_TESTS, cryptoCeiling } from './crypto.js';
import { measureLoad, type LoadResult } from './load.js';
import { describeMachine, watchOtherLoad } from './machine.js';
import { abandonAll, log, ROOT, tempDir } from './measure.js';
import { enterNamespace } from './netns.js';
import { writeReport } from './report.js';
import { summaryJson, switchedJson, type Results } from './results.js';
import { measureSwitched } from './switched.js';
import { MiB, percentile, round, summarize } from './stats.js';
import { measureLargeTransfers, measureThroughput } from './throughput.js';
import type { Path } from './transfer.js';
import { measureCliStart, measureTtfb, type TtfbPath } from './ttfb.js';
import { BenchWorld } from './world.js';

const quick = process.argv.includes('--quick');
const PLAN = quick
  ? { small: 64 * MiB, large: 256 * MiB, runs: 2, largeRuns: 1, ttfbRuns: 5, cryptoBytes: 64 * MiB, cryptoRuns: 3, load: [1000], loadBatches: 3, perBatch: 40 }
  : { small: 256 * MiB, large: 2048 * MiB, runs: 5, largeRuns: 1, ttfbRuns: 20, cryptoBytes: 256 * MiB, cryptoRuns: 5, load: [1000, 10_000], loadBatches: 5, perBatch: 50 };

async function main(): Promise<void> {
  if (process.argv.includes('--report-only')) {
    // Re-renders RESULTS.md and the chart from the last run's bench/results.json, measuring nothing.
    await writeReport(JSON.parse(await fs.readFile(path.join(ROOT, 'bench/results.json'), 'utf8')) as Results);
    return;
  }
  const isolation = enterNamespace();
  if (process.argv.includes('--only-switched')) return onlySwitched();
  // Interrupted, no process and no file (up to 2 GiB) may stay behind.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      abandonAll();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  const machine = describeMachine();
  const started = Date.now();
  const otherLoad = watchOtherLoad();
  const command = process.env.npm_lifecycle_event === 'bench'
    ? `npm run bench${quick ? ' -- --quick' : ''}`
    : `node ${process.argv.slice(1).map((a) => path.relative(process.cwd(), a) || a).join(' ')}`;
  log(`${quick ? 'quick' : 'full'} run in ${isolation}; ${machine.nproc} × ${machine.cpu}, node ${machine.node}`);

  log('crypto ceiling');
  const cryptoRuns = await cryptoCeiling(PLAN.cryptoBytes, PLAN.cryptoRuns);
  const crypto = Object.fromEntries(CRYPTO_TESTS.map((t) => [t, summarize(cryptoRuns.map((r) => r[t]))])) as Results['crypto'];

  const world = await BenchWorld.create(['alice', 'bob']);
  const work = await tempDir();
  try {
    const throughput = await measureThroughput(world, work, PLAN.small, PLAN.runs);
    const large = await measureLargeTransfers(world, work, PLAN.large, PLAN.largeRuns);
    const switched = await measureSwitched(world, work, PLAN.small, PLAN.runs);

    log('time to first byte: CLI start');
    const cliStart = summarize(await measureCliStart(world, 5));
    const ttfb = {} as Results['ttfb'];
    for (const p of ['direct', 'relay', 'relay-start'] as TtfbPath[]) {
      log(`time to first byte: ${p}, ${PLAN.ttfbRuns} runs`);
      const runs = await measureTtfb(world, p, PLAN.ttfbRuns);
      const ms = runs.map((r) => r.ms);
      ttfb[p] = {
        p50: percentile(ms, 50), p95: percentile(ms, 95), min: Math.min(...ms), max: Math.max(...ms),
        securedP50: percentile(runs.map((r) => r.securedMs), 50), runs: ms.length,
        startedOnRelay: runs.filter((r) => (r.paths.relay ?? 0) > 0).length,
      };
    }

    const load: LoadResult[] = [];
    for (const n of PLAN.load) {
      log(`rendezvous load: ${n} idle peers`);
      load.push(await measureLoad(n, PLAN.loadBatches, PLAN.perBatch));
    }

    const results: Results = {
      quick, command, isolation, machine,
      date: new Date(started).toISOString(),
      minutes: (Date.now() - started) / 60_000,
      othersShare: otherLoad()?.othersShare,
      throughputBytes: PLAN.small,
      runs: PLAN.runs,
      ...throughput,
      rss: [throughput.rss, large],
      switched,
      ttfb, cliStart, crypto, load,
    };
    await writeReport(results);
    const json = summaryJson(results);
    log(`done in ${round(results.minutes)} min; wrote bench/RESULTS.md and bench/throughput.svg`);
    process.stdout.write(`direct ${json.direct_mbps} MB/s of ${json.direct_ceiling_mbps} (${json.direct_ratio}); relay ${json.relay_mbps} MB/s of ${json.relay_ceiling_mbps} (${json.relay_ratio})\n`);
    process.stdout.write(JSON.stringify(json) + '\n');
  } finally {
    await fs.rm(work, { recursive: true, force: true });
    await world.dispose();
  }
}

/** One row: the transfer that switches paths, `--runs N` (default 1) of `--mib M` (default PLAN.small). */
async function onlySwitched(): Promise<void> {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(name);
    const n = i >= 0 ? Number(process.argv[i + 1]) : fallback;
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} takes a whole number`);
    return n;
  };
  const bytes = arg('--mib', PLAN.small / MiB) * MiB;
  const runs = arg('--runs', 1);
  const world = await BenchWorld.create(['alice', 'bob']);
  const work = await tempDir();
  try {
    const switched = await measureSwitched(world, work, bytes, runs);
    process.stdout.write(JSON.stringify({ date: new Date().toISOString(), ...switchedJson({ switched }), runs }) + '\n');
  } finally {
    await fs.rm(work, { recursive: true, force: true });
    await world.dispose();
  }
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

/**
 * sealdrop against magic-wormhole on one path, interleaved, with sealdrop's end-to-end time cut
 * into phases (from the CLIs' own --json events): where a second goes that the streaming figure
 * does not show. Not part of `npm run bench`; a tool to find what limits the end-to-end ratio.
 *
 *     node dist/bench/versus.js [--path relay|direct] [--mib 256] [--runs 3]
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { enterNamespace } from './netns.js';
import { randomFile, tempDir, log } from './measure.js';
import { summarize, MiB, type Summary } from './stats.js';
import { measureTransfer, type Path, type TransferResult } from './transfer.js';
import { BenchWorld } from './world.js';
import { available, WormholeServers } from './wormhole.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

const fmt = (s: Summary, digits = 0) => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

async function main(): Promise<void> {
  const isolation = enterNamespace();
  const p = arg('--path', 'relay') as Path;
  const bytes = Number(arg('--mib', '256')) * MiB;
  const runs = Number(arg('--runs', '3'));
  const world = await BenchWorld.create(['alice', 'bob']);
  const work = await tempDir();
  const file = path.join(work, 'payload.bin');
  await randomFile(file, bytes);
  const wormhole = available() ? await WormholeServers.start() : undefined;
  const ours: TransferResult[] = [];
  const theirs: number[] = [];
  const phases: Record<string, number[]> = {};
  try {
    for (let run = 0; run < runs; run++) {
      const r = await measureTransfer({ world, file, bytes, path: p, phases: (name, ms) => (phases[name] ??= []).push(ms) });
      ours.push(r);
      log(`sealdrop ${p}: ${(bytes / r.endToEndMs / 1e3).toFixed(0)} MB/s end to end, ${r.streamMbps.toFixed(0)} streaming`);
      if (wormhole) {
        const w = await wormhole.transfer(file, bytes, p, run);
        theirs.push(w.mbps);
        log(`wormhole ${p}: ${w.mbps.toFixed(0)} MB/s`);
      }
    }
  } finally {
    await wormhole?.stop();
    await fs.rm(work, { recursive: true, force: true });
    await world.dispose();
  }
  const e2e = summarize(ours.map((r) => bytes / r.endToEndMs / 1e3));
  const out = [`${isolation}, ${bytes / MiB} MiB, ${runs} runs, ${p}`,
    `sealdrop end to end ${fmt(e2e)} MB/s, streaming ${fmt(summarize(ours.map((r) => r.streamMbps)))}`];
  if (theirs.length) {
    out.push(`wormhole ${fmt(summarize(theirs))} MB/s; sealdrop ÷ wormhole per run: ${ours.map((r, i) => (bytes / r.endToEndMs / 1e3 / theirs[i]!).toFixed(2)).join(', ')}`);
  }
  for (const [name, ms] of Object.entries(phases)) out.push(`  ${name}: ${fmt(summarize(ms))} ms`);
  process.stdout.write(out.join('\n') + '\n');
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`versus failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

/**
 * `node dist/bench/profile.js [--size MiB] [--keep DIR] [--threads-only] [--only raw-direct,raw-datachannel,sealdrop-relay,…] [--node-args "--flag …"]`: the raw direct
 * ceiling, a sealdrop direct transfer, the raw relay (8 MiB window, the bench's best) and
 * a sealdrop relay transfer, each process under `node --cpu-prof`; then where each
 * process spent its CPU: per thread group (threads.ts), by package
 * or layer, and the top functions by self time. `--threads-only` skips the profiler
 * and its overhead. For finding what limits throughput; not part of `npm run bench`.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { log, randomFile, tempDir } from './measure.js';
import { enterNamespace } from './netns.js';
import { MiB, round } from './stats.js';
import { directCeilingRun, type DirectEngine } from './ceiling-direct.js';
import { relayCeilingRun } from './ceiling-relay.js';
import type { ThreadCpu } from './threads.js';
import { measureTransfer, type Path } from './transfer.js';
import { BenchWorld } from './world.js';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
interface Profile { nodes: Node[]; startTime: number; endTime: number; samples: number[] }

/** Which layer a frame belongs to, from its script URL. */
function layer(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').split('/').slice(0, 2).join('/');
  const own = /dist\/(\w+\/[\w-]+)\.js/.exec(url);
  return own ? own[1]! : url;
}

function summarizeProfile(p: Profile, top: number): string {
  const total = p.samples.length;
  const byLayer = new Map<string, number>(), byFn = new Map<string, number>();
  for (const n of p.nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const l = layer(url, functionName);
    byLayer.set(l, (byLayer.get(l) ?? 0) + hits);
    const key = `${functionName || '(anonymous)'} ${l}:${lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + hits);
  }
  const pct = (h: number) => `${round((h / total) * 100)}%`.padStart(6);
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  const seconds = (p.endTime - p.startTime) / 1e6;
  return [
    `  ${round(seconds)} s profiled; by layer:`,
    ...sorted(byLayer).map(([k, h]) => `  ${pct(h)}  ${k}`),
    '  top functions by self time:',
    ...sorted(byFn).map(([k, h]) => `  ${pct(h)}  ${k}`),
  ].join('\n');
}

type Case = { name: string; run: (nodeArgs: string[], onSpawn: (role: string, pid: number) => void) => Promise<{ mbps: number; cpu: Record<string, ThreadCpu> }> };

async function main(): Promise<void> {
  enterNamespace();
  const arg = (name: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
  const bytes = Number(arg('--size') ?? 256) * MiB;
  const keep = arg('--keep');
  const pace = arg('--pace') ? Number(arg('--pace')) : undefined;
  const cpuProf = !process.argv.includes('--threads-only');
  const world = await BenchWorld.create(['alice', 'bob']);
  const work = await tempDir();
  const file = path.join(work, 'payload.bin');
  const sealdrop = (via: Path): Case['run'] => async (nodeArgs, onSpawn) => {
    const r = await measureTransfer({ world, file, bytes, path: via, nodeArgs, onSpawn: (role, proc) => onSpawn(role, proc.child.pid!) });
    return { mbps: r.streamMbps, cpu: r.cpu };
  };
  /** The raw data channel on one engine, 256 KiB messages (the bench's best size). */
  const rawChannel = (engine: DirectEngine): Case['run'] => async (nodeArgs, onSpawn) => {
    const r = await directCeilingRun(bytes, [256 * 1024], { nodeArgs, onSpawn, engine });
    return { mbps: r.bySize[256 * 1024]!, cpu: r.cpuBySize[256 * 1024]! };
  };
  const cases: Case[] = [
    { name: 'raw-direct', run: rawChannel('wrtc') },
    { name: 'raw-datachannel', run: rawChannel('node-datachannel') },
    { name: 'sealdrop-direct', run: sealdrop('direct') },
    // The shape that gives the raw relay its ceiling in the bench.
    { name: 'raw-relay', run: async (nodeArgs, onSpawn) => {
      const shape = 'large batches, 8 MiB window';
      const r = await relayCeilingRun(bytes, [shape], { nodeArgs, onSpawn, paceMbps: pace });
      return { mbps: r.byShape[shape]!, cpu: r.cpuByShape[shape]! };
    } },
    { name: 'sealdrop-relay', run: sealdrop('relay') },
  ];
  try {
    await randomFile(file, bytes);
    const only = arg('--only')?.split(',');
    for (const c of cases.filter((x) => !only || only.includes(x.name))) {
      const dir = path.join(keep ?? work, `profile-${c.name}`);
      await fs.mkdir(dir, { recursive: true });
      log(`${c.name}: ${bytes / MiB} MiB${cpuProf ? `, profiles in ${dir}` : ''}`);
      const roles = new Map<number, string>();
      const extra = arg('--node-args')?.split(' ').filter(Boolean) ?? [];
      const r = await c.run([...extra, ...(cpuProf ? ['--cpu-prof', '--cpu-prof-dir', dir] : [])], (role, pid) => roles.set(pid, role));
      process.stdout.write(`\n== ${c.name}: ${round(r.mbps)} MB/s${cpuProf ? ' (slowed by profiling)' : ''}\n`);
      for (const [role, cpu] of Object.entries(r.cpu)) {
        process.stdout.write(`   ${role} CPU ms per MB: ${Object.entries(cpu).map(([g, ms]) => `${g} ${round(ms)}`).join(', ')}\n`);
      }
      if (!cpuProf) continue;
      await new Promise((resolve) => setTimeout(resolve, 500)); // forked ceilings write their profiles as they exit
      for (const f of (await fs.readdir(dir)).filter((name) => name.endsWith('.cpuprofile'))) {
        const p = JSON.parse(await fs.readFile(path.join(dir, f), 'utf8')) as Profile;
        const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(f)?.[1]);
        process.stdout.write(`-- ${roles.get(pid) ?? 'unknown'} (${f})\n${summarizeProfile(p, 14)}\n`);
      }
    }
  } finally {
    await fs.rm(work, { recursive: true, force: true });
    await world.dispose();
  }
}

main().then(() => process.exit(0), (err) => { process.stderr.write(`profile failed: ${err instanceof Error ? err.stack : err}\n`); process.exit(1); });

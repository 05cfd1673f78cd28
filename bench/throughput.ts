/**
 * Throughput and memory: sealdrop's direct and relay transfers of one file next
 * to the raw ceilings of the same paths. Ceiling and sealdrop runs alternate so
 * background load on a shared machine hits both alike.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { directCeilingRun, MESSAGE_SIZES, type DirectCeilingRun } from './ceiling-direct.js';
import { RELAY_SHAPES, relayCeilingRun, type RelayCeilingRun } from './ceiling-relay.js';
import { log, randomFile } from './measure.js';
import { hasNonLoopbackAddress } from './netns.js';
import type { ProcessRss, Results } from './results.js';
import { MiB, summarize, type Summary } from './stats.js';
import { cpuTotal, GROUPS, type ThreadCpu } from './threads.js';
import { measureTransfer, PathMoved, type Path, type TransferResult } from './transfer.js';
import type { BenchWorld } from './world.js';
import { available as wormholeAvailable, WormholeServers, type WormholeRun } from './wormhole.js';

const PATHS: Path[] = ['direct', 'relay'];
/** Transfers of one path that may move away in a run before the bench gives up. */
const MAX_MOVED = 3;

type ThroughputResults = Pick<Results, 'directCeiling' | 'datachannelCeiling' | 'relayCeiling' | 'stream' | 'moved' | 'endToEnd' | 'cpu' | 'wormhole'> & { rss: Results['rss'][number] };

/** Message sizes node-datachannel is measured at (its best was 64 or 256 KiB). */
const DATACHANNEL_SIZES = [64 * 1024, 256 * 1024];

export async function measureThroughput(world: BenchWorld, work: string, bytes: number, runs: number): Promise<ThroughputResults> {
  const file = path.join(work, 'throughput.bin');
  await randomFile(file, bytes);
  const direct: DirectCeilingRun[] = [], relay: RelayCeilingRun[] = [], datachannel: DirectCeilingRun[] = [];
  const withDatachannel = hasNonLoopbackAddress();
  if (!withDatachannel) log('no address beside loopback in this namespace: node-datachannel (which needs one) is not measured');
  const transfers: Record<Path, TransferResult[]> = { direct: [], relay: [] };
  const wormholeRuns: Record<Path, WormholeRun[]> = { direct: [], relay: [] };
  /**
   * A figure for one path comes from a transfer that stayed on it. One that moved (the direct
   * path stalled for seconds and the rest went by relay: a collapse) is counted, and measured again.
   */
  const moved: Record<Path, number> = { direct: 0, relay: 0 };
  const onePath = async (p: Path): Promise<TransferResult> => {
    for (;;) {
      try {
        return await measureTransfer({ world, file, bytes, path: p });
      } catch (err) {
        if (!(err instanceof PathMoved) || moved[p] >= MAX_MOVED) throw err;
        moved[p]++;
        log(`sealdrop ${p}: the transfer moved to the other path (${JSON.stringify(err.paths)} bytes): counted, and measured again`);
      }
    }
  };
  const wormhole = wormholeAvailable() ? await WormholeServers.start() : undefined;
  if (!wormhole) log('magic-wormhole is not installed (bench/README.md says how): sealdrop is measured without it');
  try {
    for (let run = 1; run <= runs; run++) {
      log(`throughput run ${run}/${runs}: direct ceiling`);
      direct.push(await directCeilingRun(bytes));
      if (withDatachannel) {
        log(`throughput run ${run}/${runs}: direct ceiling, node-datachannel`);
        datachannel.push(await directCeilingRun(bytes, DATACHANNEL_SIZES, { engine: 'node-datachannel' }));
      }
      log(`throughput run ${run}/${runs}: sealdrop direct`);
      transfers.direct.push(await onePath('direct'));
      if (wormhole) {
        log(`throughput run ${run}/${runs}: magic-wormhole direct`);
        wormholeRuns.direct.push(await wormhole.transfer(file, bytes, 'direct', run));
      }
      log(`throughput run ${run}/${runs}: relay ceiling`);
      relay.push(await relayCeilingRun(bytes));
      log(`throughput run ${run}/${runs}: sealdrop relay`);
      transfers.relay.push(await onePath('relay'));
      if (wormhole) {
        log(`throughput run ${run}/${runs}: magic-wormhole relay`);
        wormholeRuns.relay.push(await wormhole.transfer(file, bytes, 'relay', run));
      }
    }
  } finally {
    await wormhole?.stop();
    await fs.rm(file, { force: true });
  }
  const { by: directBy, best: bestSize } = summaries(MESSAGE_SIZES, (s) => direct.map((r) => r.bySize[s]!));
  const { by: relayBy, best: bestShape } = summaries(Object.keys(RELAY_SHAPES), (w) => relay.map((r) => r.byShape[w]!));
  const of = (p: Path, f: (t: TransferResult) => number) => summarize(transfers[p].map(f));
  return {
    directCeiling: {
      bySize: directBy, bestSize, best: directBy[bestSize]!, maxMessageSize: direct[0]!.maxMessageSize, setup: summarize(direct.map((r) => r.setupMs)),
    },
    datachannelCeiling: withDatachannel ? datachannelSummary(datachannel) : undefined,
    relayCeiling: { byShape: relayBy, bestShape, best: relayBy[bestShape]! },
    stream: { direct: of('direct', (t) => t.streamMbps), relay: of('relay', (t) => t.streamMbps) },
    moved,
    endToEnd: { direct: of('direct', (t) => t.endToEndMs), relay: of('relay', (t) => t.endToEndMs) },
    wormhole: wormhole && {
      direct: summarize(wormholeRuns.direct.map((r) => r.mbps)),
      relay: summarize(wormholeRuns.relay.map((r) => r.mbps)),
    },
    rss: { bytes, runs, byPath: { direct: rssOf(transfers.direct), relay: rssOf(transfers.relay) } },
    cpu: {
      'raw wrtc': medianCpu(direct.map((r) => r.cpuBySize[bestSize]!)),
      'sealdrop direct': medianCpu(transfers.direct.map((t) => t.cpu)),
      'raw Socket.IO relay': medianCpu(relay.map((r) => r.cpuByShape[bestShape]!)),
      'sealdrop relay': medianCpu(transfers.relay.map((t) => t.cpu)),
    },
  };
}

/** Bigger file, both paths: does peak RSS grow with the file? */
export async function measureLargeTransfers(world: BenchWorld, work: string, bytes: number, runs: number): Promise<Results['rss'][number]> {
  const file = path.join(work, 'large.bin');
  log(`memory: writing a ${bytes / MiB} MiB file`);
  await randomFile(file, bytes);
  const transfers: Record<Path, TransferResult[]> = { direct: [], relay: [] };
  try {
    for (let run = 1; run <= runs; run++) {
      for (const p of PATHS) {
        log(`memory run ${run}/${runs}: sealdrop ${p}, ${bytes / MiB} MiB`);
        transfers[p].push(await measureTransfer({ world, file, bytes, path: p }));
      }
    }
  } finally {
    await fs.rm(file, { force: true });
  }
  return { bytes, runs, byPath: { direct: rssOf(transfers.direct), relay: rssOf(transfers.relay) } };
}

function datachannelSummary(runs: DirectCeilingRun[]): Results['datachannelCeiling'] {
  const { by: bySize, best: bestSize } = summaries(DATACHANNEL_SIZES, (s) => runs.map((r) => r.bySize[s]!));
  return { bySize, bestSize, best: bySize[bestSize]!, cpu: summarize(runs.map((r) => cpuTotal(r.cpuBySize[bestSize]!.sender) + cpuTotal(r.cpuBySize[bestSize]!.receiver))) };
}

/** Per key (message size, relay shape), the summary over runs, and the key with the highest median (the first on a tie). */
function summaries<K extends string | number>(keys: readonly K[], valuesOf: (k: K) => number[]): { by: Record<K, Summary>; best: K } {
  const by = Object.fromEntries(keys.map((k) => [k, summarize(valuesOf(k))])) as Record<K, Summary>;
  return { by, best: keys.reduce((a, b) => (by[b].median > by[a].median ? b : a)) };
}

function rssOf(list: TransferResult[]): ProcessRss {
  const of = (f: (t: TransferResult) => number) => summarize(list.map(f));
  return {
    sender: of((t) => t.rss.sender), receiver: of((t) => t.rss.receiver), rendezvous: of((t) => t.rss.rendezvous),
    receiverIdle: of((t) => t.idleRss.receiver), rendezvousIdle: of((t) => t.idleRss.rendezvous),
  };
}

/** Per process and thread group, the median over runs. */
function medianCpu<R extends string>(runs: Array<Record<R, ThreadCpu>>): Record<R, ThreadCpu> {
  const out = {} as Record<R, ThreadCpu>;
  for (const proc of Object.keys(runs[0]!) as R[]) {
    out[proc] = Object.fromEntries(GROUPS.map((g) => [g, summarize(runs.map((r) => r[proc][g])).median])) as ThreadCpu;
  }
  return out;
}

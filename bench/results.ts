/** The shape of one benchmark run's results, and its one-line JSON summary. */
import type { LoadResult } from './load.js';
import type { Machine } from './machine.js';
import { round, sizeLabel, summarize, type Summary } from './stats.js';
import type { CryptoTest } from './crypto.js';
import { cpuTotal, type ThreadCpu } from './threads.js';
import type { Path } from './transfer.js';

export interface TtfbFigures { p50: number; p95: number; min: number; max: number; securedP50: number; runs: number; /** Runs whose bytes went (partly) by relay. */ startedOnRelay?: number }

export interface ProcessRss { sender: Summary; receiver: Summary; rendezvous: Summary; receiverIdle: Summary; rendezvousIdle: Summary }

export interface Results {
  quick: boolean;
  command: string;
  date: string;
  minutes: number;
  isolation: string;
  machine: Machine;
  /** Share of all CPUs used by other processes during the run (0..1), if known. */
  othersShare?: number;
  throughputBytes: number;
  runs: number;
  directCeiling: { bySize: Record<number, Summary>; bestSize: number; best: Summary; maxMessageSize: number; setup: Summary };
  /** The same raw ceiling on node-datachannel (libdatachannel), when the namespace had a veth for it. `cpu`: ms per MB, both sides. */
  datachannelCeiling?: { bySize: Record<number, Summary>; bestSize: number; best: Summary; cpu: Summary };
  /** By shape (message size and window, ceiling-relay.ts RELAY_SHAPES). */
  relayCeiling: { byShape: Record<string, Summary>; bestShape: string; best: Summary };
  stream: Record<Path, Summary>;
  /** Transfers measured for a path that moved to the other one (and were measured again); absent in older results. */
  moved?: Record<Path, number>;
  endToEnd: Record<Path, Summary>;
  /**
   * A transfer that switched paths (relay start → direct, bench/switched.ts): streaming MB/s,
   * end to end in ms, and the bytes each path carried (absent in results of older runs).
   */
  switched?: { bytes: number; runs: number; stream: Summary; endToEnd: Summary; relayBytes: Summary; directBytes: Summary };
  /** magic-wormhole's MB/s on each path, spawn to exit of both sides, same file, same runs (absent when not installed). */
  wormhole?: Record<Path, Summary>;
  /** size in bytes → path → peak RSS of each process, bytes. */
  rss: Array<{ bytes: number; runs: number; byPath: Record<Path, ProcessRss> }>;
  /** direct (relay kept for fallbacks), relay (--relay), relay-start (the defaults: relay first, then direct). */
  ttfb: Record<Path, TtfbFigures> & { 'relay-start'?: TtfbFigures };
  cliStart: Summary;
  crypto: Record<CryptoTest, Summary>;
  /** Path → process → CPU ms per MB moved, by thread group (median over runs). */
  cpu: Record<string, Record<string, ThreadCpu>>;
  load: LoadResult[];
}

const mb = (bytes: number) => round(bytes / 1e6);

/** Peak RSS of the hungriest process in any transfer of that size (median over runs). */
export function worstRss(r: Results['rss'][number]): number {
  return Math.max(...Object.values(r.byPath).flatMap((p) => [p.sender.median, p.receiver.median, p.rendezvous.median]));
}

/** The best raw data-channel ceiling of the run, on either engine (median over runs). */
export function bestDirectCeiling(r: Results): number {
  return Math.max(r.directCeiling.best.median, r.datachannelCeiling?.best.median ?? 0);
}

export function summaryJson(r: Results): Record<string, number | string | boolean | null> {
  const out: Record<string, number | string | boolean | null> = {
    direct_mbps: round(r.stream.direct.median),
    direct_ceiling_mbps: round(r.directCeiling.best.median),
    relay_mbps: round(r.stream.relay.median),
    relay_ceiling_mbps: round(r.relayCeiling.best.median),
    direct_ratio: round(r.stream.direct.median / r.directCeiling.best.median),
    relay_ratio: round(r.stream.relay.median / r.relayCeiling.best.median),
    direct_ceiling_datachannel_mbps: r.datachannelCeiling ? round(r.datachannelCeiling.best.median) : null,
    direct_best_ceiling_mbps: round(bestDirectCeiling(r)),
    direct_best_ceiling_ratio: round(r.stream.direct.median / bestDirectCeiling(r)),
    rss_256m_mb: null,
    rss_2g_mb: null,
    rss_2g_file_mb: null,
    wormhole_direct_mbps: null,
    wormhole_relay_mbps: null,
    direct_vs_wormhole: null,
    relay_vs_wormhole: null,
    ttfb_direct_p50_ms: Math.round(r.ttfb.direct.p50),
    ttfb_relay_p50_ms: Math.round(r.ttfb.relay.p50),
    ttfb_direct_p95_ms: Math.round(r.ttfb.direct.p95),
    ttfb_relay_p95_ms: Math.round(r.ttfb.relay.p95),
    ttfb_relay_start_p50_ms: r.ttfb['relay-start'] ? Math.round(r.ttfb['relay-start'].p50) : null,
    direct_runs_moved: r.moved?.direct ?? null,
    direct_e2e_mbps: round((r.throughputBytes / 1e6) / (r.endToEnd.direct.median / 1000)),
    relay_e2e_mbps: round((r.throughputBytes / 1e6) / (r.endToEnd.relay.median / 1000)),
    throughput_file_mb: mb(r.throughputBytes),
    direct_ceiling_message_kib: r.directCeiling.bestSize / 1024,
    relay_ceiling_shape: r.relayCeiling.bestShape,
    cli_start_ms: Math.round(r.cliStart.median),
    direct_setup_ceiling_ms: Math.round(r.directCeiling.setup.median),
  };
  if (r.wormhole) {
    // Like for like: sealdrop's end-to-end rate (spawn of send to both exits) against wormhole's.
    const e2e = (p: Path) => (r.throughputBytes / 1e6) / (r.endToEnd[p].median / 1000);
    out.wormhole_direct_mbps = round(r.wormhole.direct.median);
    out.wormhole_relay_mbps = round(r.wormhole.relay.median);
    out.direct_vs_wormhole = round(e2e('direct') / r.wormhole.direct.median);
    out.relay_vs_wormhole = round(e2e('relay') / r.wormhole.relay.median);
  }
  // rss_2g_mb is always there: the larger file of the run (2 GiB in a full run), its size beside it.
  const largest = r.rss.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  out.rss_2g_mb = mb(worstRss(largest));
  out.rss_2g_file_mb = mb(largest.bytes);
  for (const size of r.rss) {
    const label = sizeLabel(size.bytes);
    out[`rss_${label}_mb`] = mb(worstRss(size));
    for (const [path, procs] of Object.entries(size.byPath)) {
      for (const proc of ['sender', 'receiver', 'rendezvous'] as const) out[`rss_${label}_${path}_${proc}_mb`] = mb(procs[proc].median);
    }
  }
  for (const [path, procs] of Object.entries(r.cpu)) {
    out[`cpu_ms_per_mb_${path.replace(/\W+/g, '_')}`] = round(Object.values(procs).reduce((n, c) => n + cpuTotal(c), 0));
  }
  for (const [test, s] of Object.entries(r.crypto)) out[`${test}_mbps`] = round(s.median);
  for (const l of r.load) {
    out[`load_${l.peers}_connected`] = l.connected;
    out[`load_${l.peers}_rss_mb`] = mb(l.rssBytes);
    out[`load_${l.peers}_signal_p95_ms`] = round(summarize(l.signalP95).median);
    out[`load_${l.peers}_peers_p95_ms`] = round(l.peersP95);
  }
  Object.assign(out, switchedJson(r));
  out.quick = r.quick;
  if (r.othersShare !== undefined) out.other_processes_cpu_share = round(r.othersShare);
  return out;
}

/** The switched-paths figures of the summary (null when the run did not measure them). */
export function switchedJson(r: Pick<Results, 'switched'>): Record<string, number | null> {
  const s = r.switched;
  return {
    switched_mbps: s ? round(s.stream.median) : null,
    switched_e2e_mbps: s ? round((s.bytes / 1e6) / (s.endToEnd.median / 1000)) : null,
    switched_relay_mb: s ? mb(s.relayBytes.median) : null,
    switched_direct_mb: s ? mb(s.directBytes.median) : null,
    switched_file_mb: s ? mb(s.bytes) : null,
  };
}

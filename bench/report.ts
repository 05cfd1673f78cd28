/** Writes bench/RESULTS.md and bench/throughput.svg from one run's results. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { throughputSvg } from './chart.js';
import { keptSections } from './kept-sections.js';
import { ROOT } from './measure.js';
import { summaryJson, worstRss, type Results } from './results.js';
import { fmt, round, summarize, type Summary } from './stats.js';
import { cpuTotal, GROUPS } from './threads.js';

const mbS = (s: Summary): Summary => ({ median: s.median / 1e6, min: s.min / 1e6, max: s.max / 1e6, n: s.n });
const kib = (b: number) => `${b / 1024} KiB`;
const mib = (b: number) => (b >= 2 ** 30 ? `${b / 2 ** 30} GiB` : `${b / 2 ** 20} MiB`);

export async function writeReport(r: Results): Promise<void> {
  const dir = path.join(ROOT, 'bench');
  const kept = keptSections(await fs.readFile(path.join(dir, 'RESULTS.md'), 'utf8').catch(() => '')); // bench/cluster-relay.ts's and bench/browser.ts's
  await fs.writeFile(path.join(dir, 'RESULTS.md'), kept ? `${markdown(r).replace(/\n*$/, '\n\n')}${kept}` : markdown(r));
  await fs.writeFile(path.join(dir, 'results.json'), JSON.stringify(r, null, 1) + '\n');
  await fs.writeFile(path.join(dir, 'throughput.svg'), throughputSvg([
    { title: 'direct', bars: [{ label: 'sealdrop', s: r.stream.direct, color: '#2b7bb9' }, { label: 'raw wrtc', s: r.directCeiling.best, color: '#a9c9e3' }, ...wormholeBar(r, 'direct')] },
    { title: 'relay', bars: [{ label: 'sealdrop', s: r.stream.relay, color: '#c0622b' }, { label: 'raw Socket.IO', s: r.relayCeiling.best, color: '#ebc3a8' }, ...wormholeBar(r, 'relay')] },
  ], `${mib(r.throughputBytes)} file, median of ${r.runs} runs, whiskers min–max; ${r.date.slice(0, 10)}, ${r.machine.nproc} × ${r.machine.cpu}`));
}

/** magic-wormhole's bar (its whole wall time: it reports no streaming span) when it was measured. */
function wormholeBar(r: Results, p: 'direct' | 'relay') {
  return r.wormhole ? [{ label: 'wormhole (e2e)', s: r.wormhole[p], color: '#8a8a8a' }] : [];
}

function loadLine(r: Results): string {
  if (r.othersShare === undefined) return `unknown (load average before the run: ${r.machine.loadBefore})`;
  const pct = Math.round(r.othersShare * 100);
  const verdict = pct < 5 ? 'the machine was otherwise idle' : 'the machine was NOT idle: other work shared it, so figures are noisier and lower than on an idle machine';
  return `other processes used ${pct}% of all CPU time during the run; ${verdict} (load average before: ${r.machine.loadBefore})`;
}

function markdown(r: Results): string {
  const j = summaryJson(r);
  const m = r.machine;
  const L: string[] = [];
  L.push('# sealdrop benchmark results', '');
  L.push('Written by `bench/run.ts`; do not edit by hand. How each figure is taken and what limits it: [README.md](README.md).', '');
  L.push('| | |', '| --- | --- |');
  L.push(`| Date | ${r.date} (took ${round(r.minutes)} min) |`);
  L.push(`| Command | \`${r.command}\`${r.quick ? ' (quick mode: smaller files, fewer runs)' : ''} |`);
  L.push(`| Machine | nproc ${m.nproc}, ${m.cpu}, ${m.memGiB} GiB RAM, ${m.kernel} |`);
  L.push(`| Node | ${m.node} |`);
  L.push(`| Network | ${r.isolation === 'none' ? 'host loopback (no namespace available)' : `private network namespace (\`${r.isolation}\`), loopback only`}, no ICE servers |`);
  L.push(`| Machine load | ${loadLine(r)} |`);
  L.push('', `Each figure is the median of several runs with (min–max). MB = 10^6 bytes, MB/s = 10^6 bytes per second.`, '');

  L.push('## Throughput', '');
  L.push(`${mib(r.throughputBytes)} of random data, ${r.runs} runs; ceiling and sealdrop runs interleaved so background load hits both alike.`, '');
  L.push('| path | sealdrop (MB/s) | ceiling (MB/s) | sealdrop / ceiling | end to end (s) |', '| --- | --- | --- | --- | --- |');
  L.push(`| direct | ${fmt(r.stream.direct)} | ${fmt(r.directCeiling.best)} raw wrtc, ${kib(r.directCeiling.bestSize)} messages | ${j.direct_ratio} | ${fmt(msToS(r.endToEnd.direct))} |`);
  L.push(`| relay | ${fmt(r.stream.relay)} | ${fmt(r.relayCeiling.best)} raw Socket.IO, ${r.relayCeiling.bestShape} | ${j.relay_ratio} | ${fmt(msToS(r.endToEnd.relay))} |`);
  const sw = r.switched;
  if (sw) L.push(`| relay start → direct (switched mid-way) | ${fmt(sw.stream)} | – | – | ${fmt(msToS(sw.endToEnd))} (${fmt(rate(sw.bytes, sw.endToEnd))} MB/s) |`);
  L.push('', 'sealdrop MB/s: receiver\'s first to last chunk written. End to end: spawning `send` until both CLIs exited (process start, login, handshake, transfer, SHA-256 check, fsync).', '');
  if (r.moved && (r.moved.direct || r.moved.relay)) {
    L.push(`Transfers that moved to the other path and were measured again (not in the figures above): direct ${r.moved.direct}, relay ${r.moved.relay}. A direct transfer moves to the relay when its channel makes no progress for seconds: each is a collapse of the direct path.`, '');
  }
  if (sw) {
    L.push(`Switched: the defaults (relay start), ${mib(sw.bytes)}, ${sw.runs} runs: the first bytes by relay, the rest on the direct path once it opened, one encrypted stream across the move. Bytes per path (median): relay ${round(sw.relayBytes.median / 1e6)} MB, direct ${round(sw.directBytes.median / 1e6)} MB.`, '');
  }
  if (r.wormhole) {
    L.push('### Against magic-wormhole, same file, same runs', '');
    L.push('Wall time from spawn to the exit of both sides for each tool (sealdrop: spawning `send` to both CLIs exited, the receiver already online; wormhole: spawning `wormhole receive` and `wormhole send` with the same code to both exited). magic-wormhole direct is TCP on loopback (both sides listen); its relay is the transit relay (`--no-listen` on both sides).', '');
    L.push('| path | sealdrop end to end (MB/s) | magic-wormhole (MB/s) | sealdrop / wormhole |', '| --- | --- | --- | --- |');
    for (const p of ['direct', 'relay'] as const) {
      L.push(`| ${p} | ${fmt(rate(r.throughputBytes, r.endToEnd[p]))} | ${fmt(r.wormhole[p])} | ${j[`${p}_vs_wormhole`]} |`);
    }
    L.push('');
  } else {
    L.push('magic-wormhole was not installed for this run, so there is no comparison (bench/README.md says how to add it).', '');
  }
  L.push(`Direct ceiling by message size (max message size ${r.directCeiling.maxMessageSize} B): ${Object.entries(r.directCeiling.bySize).map(([s, v]) => `${kib(Number(s))}: ${fmt(v)}`).join('; ')}.`);
  if (r.datachannelCeiling) {
    const dc = r.datachannelCeiling;
    const wrtcCpu = cpuTotal(r.cpu['raw wrtc']!.sender!) + cpuTotal(r.cpu['raw wrtc']!.receiver!);
    L.push(`The same raw channel on node-datachannel (libdatachannel), interleaved with the wrtc runs: ${Object.entries(dc.bySize).map(([s, v]) => `${kib(Number(s))}: ${fmt(v)}`).join('; ')}; ${fmt(dc.cpu)} CPU ms per MB (both sides) against wrtc's ${round(wrtcCpu)}. sealdrop direct is ${j.direct_best_ceiling_ratio} of the best raw channel of the run.`);
  }
  L.push(`Relay ceiling by shape (frames: 128 KiB + 30 B messages; batches: 524,424 B, four frames, as sealdrop's relay:frames): ${Object.entries(r.relayCeiling.byShape).map(([w, v]) => `${w}: ${fmt(v)}`).join('; ')}.`, '');
  L.push('![throughput per path against its ceiling](throughput.svg)', '');

  L.push('## Where the CPU goes: CPU ms per MB moved', '');
  L.push('CPU time of each process while streaming (from the first chunk to exit for sealdrop), divided by MB moved; thread groups from /proc: the JS main thread, wrtc\'s own threads (SCTP, DTLS, ICE), and the rest (libuv pool for fs, V8 GC helpers). On this machine a path can move at most nproc × 1000 / (total ms per MB) MB/s.', '');
  L.push(`| path | process | ${GROUPS.join(' | ')} | total |`, `| --- | --- | ${GROUPS.map(() => '---').join(' | ')} | --- |`);
  for (const [p, procs] of Object.entries(r.cpu)) {
    for (const [proc, c] of Object.entries(procs)) L.push(`| ${p} | ${proc} | ${GROUPS.map((g) => round(c[g])).join(' | ')} | ${round(cpuTotal(c))} |`);
    L.push(`| ${p} | **all** | ${GROUPS.map((g) => round(Object.values(procs).reduce((n, c) => n + c[g], 0))).join(' | ')} | **${round(Object.values(procs).reduce((n, c) => n + cpuTotal(c), 0))}** |`);
  }
  L.push('');

  L.push('## Crypto ceiling (one core, 128 KiB chunks)', '');
  L.push('| operation | MB/s |', '| --- | --- |');
  const names: Record<string, string> = {
    aes_gcm_chunk: 'AES-256-GCM, one createCipheriv per chunk', aes_gcm_stream: 'AES-256-GCM, one long stream',
    seal_frame: 'sealdrop sealFrame (encrypt a frame)', open_frame: 'sealdrop openFrame (decrypt and verify)', sha256: 'SHA-256',
  };
  for (const [k, s] of Object.entries(r.crypto)) L.push(`| ${names[k] ?? k} | ${fmt(s)} |`);
  const seal = r.crypto.seal_frame.median, open = r.crypto.open_frame.median, sha = r.crypto.sha256.median;
  L.push('', `Per byte the sender seals and hashes, the receiver opens and hashes: one core caps the sender at ${round(1 / (1 / seal + 1 / sha))} MB/s and the receiver at ${round(1 / (1 / open + 1 / sha))} MB/s before any I/O.`, '');

  L.push('## Memory: peak RSS (MB)', '');
  L.push('| file | path | runs | sender | receiver | rendezvous |', '| --- | --- | --- | --- | --- | --- |');
  for (const size of r.rss) {
    for (const [p, procs] of Object.entries(size.byPath)) {
      L.push(`| ${mib(size.bytes)} | ${p} | ${size.runs} | ${fmt(mbS(procs.sender))} | ${fmt(mbS(procs.receiver))} | ${fmt(mbS(procs.rendezvous))} |`);
    }
  }
  const idle = r.rss[0]!.byPath;
  L.push('', `Before a transfer (receiver online and waiting, rendezvous with both peers in) RSS is ${fmt(mbS(idle.direct.receiverIdle))} MB for the receiver and ${fmt(mbS(idle.relay.rendezvousIdle))} MB for the rendezvous: that much is the runtime (Node, V8, Socket.IO, wrtc) before any data moves.`);
  if (r.rss.length === 2) {
    const [a, b] = r.rss as [Results['rss'][number], Results['rss'][number]];
    L.push('', `Largest process: ${round(worstRss(a) / 1e6)} MB at ${mib(a.bytes)}, ${round(worstRss(b) / 1e6)} MB at ${mib(b.bytes)} (${round((worstRss(b) / worstRss(a) - 1) * 100)}% apart).`);
  }
  L.push('');

  L.push('## Time to first byte', '');
  L.push('From spawning `sealdrop send` to the receiver\'s first `progress` event (first encrypted chunk received, opened and written); 1 MiB file, receiver already online. direct: the rendezvous keeps the relay for fallbacks (`serve --no-relay-start`), so the first byte waits for the data channel; relay: `send --relay`; relay-start: the defaults, the first bytes by relay at once, moving to direct when it opens (the last column: runs whose bytes went partly by relay).', '');
  L.push('| path | runs | p50 (ms) | p95 (ms) | min–max (ms) | spawn → `secured` p50 (ms) | by relay |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const [p, t] of Object.entries(r.ttfb)) L.push(`| ${p} | ${t.runs} | ${Math.round(t.p50)} | ${Math.round(t.p95)} | ${Math.round(t.min)}–${Math.round(t.max)} | ${Math.round(t.securedP50)} | ${t.startedOnRelay ?? '–'} |`);
  L.push('', `Floors: spawning \`sealdrop fingerprint\` until it exits (Node start and the CLI's imports, no network) takes ${fmt(r.cliStart, ' ms')}; a raw wrtc connection (ICE, DTLS, SCTP on loopback, signals through a parent process) takes ${fmt(r.directCeiling.setup, ' ms')} to set up.`, '');

  L.push('## Rendezvous load', '');
  L.push('N authenticated idle peers (each logged in with its own TOTP code) on one rendezvous process; then signaling round trips between two more peers in an open session (A → rendezvous → B → rendezvous → A, a typical ICE candidate each way).', '');
  L.push('| idle peers | connected | connect time (s) | login p95 (ms) | server RSS (MB) | signal RTT p50 (ms) | signal RTT p95 (ms) | p95 with no load (ms) | `peers` p95 (ms) |');
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const l of r.load) {
    L.push(`| ${l.peers} | ${l.connected} | ${round(l.connectSeconds)} | ${Math.round(l.loginP95Ms)} | ${round(l.rssBytes / 1e6)} | ${fmt(summarize(l.signalP50))} | ${fmt(summarize(l.signalP95))} | ${round(l.baselineP95)} | ${round(l.peersP95)} |`);
  }
  L.push('', 'Signal RTT: several batches of round trips; median (min–max) of the batches\' p50 and p95.', '');

  L.push('## Against the targets of issue 13', '');
  L.push('| target | measured | met |', '| --- | --- | --- |');
  const target = (what: string, value: string, ok: boolean | undefined) => L.push(`| ${what} | ${value} | ${ok === undefined ? 'not measured' : ok ? 'yes' : '**no**'} |`);
  target('relay ≥ magic-wormhole relay (end to end)', r.wormhole ? `${j.relay_vs_wormhole}×` : 'wormhole not installed', r.wormhole ? Number(j.relay_vs_wormhole) >= 1 : undefined);
  target('direct ≥ 90% of the best raw data-channel ceiling (either engine)', `${Math.round(Number(j.direct_best_ceiling_ratio) * 100)}%`, Number(j.direct_best_ceiling_ratio) >= 0.9);
  const slowest = r.stream.direct.min / r.stream.direct.median;
  target('slowest direct run ≥ 70% of the median', `${Math.round(slowest * 100)}% (${round(r.stream.direct.min)} of ${round(r.stream.direct.median)} MB/s)`, slowest >= 0.7);
  target('direct against magic-wormhole direct (end to end)', r.wormhole ? `${j.direct_vs_wormhole}×` : 'wormhole not installed', r.wormhole ? Number(j.direct_vs_wormhole) >= 1 : undefined);
  const worst = Math.max(...r.rss.map(worstRss));
  target('peak RSS of every process ≤ 150 MB', `${round(worst / 1e6)} MB`, worst <= 150e6);
  if (r.rss.length === 2) {
    const [a, b] = r.rss.map(worstRss) as [number, number];
    target(`${mib(r.rss[1]!.bytes)} peak within 10% of ${mib(r.rss[0]!.bytes)} peak`, `${round((b / a - 1) * 100)}%`, b <= a * 1.1);
  }
  target('time to first byte p50 ≤ 0.5 s direct', `${Math.round(r.ttfb.direct.p50)} ms`, r.ttfb.direct.p50 <= 500);
  target('time to first byte p50 ≤ 0.5 s relay', `${Math.round(r.ttfb.relay.p50)} ms`, r.ttfb.relay.p50 <= 500);
  const rs = r.ttfb['relay-start'];
  target('time to first byte p50 ≤ 0.5 s with relay start (the default)', rs ? `${Math.round(rs.p50)} ms` : 'not measured', rs ? rs.p50 <= 500 : undefined);
  const big = r.load.find((l) => l.peers >= 10_000);
  target('10,000 idle peers in ≤ 1 GiB RSS', big ? `${round(big.rssBytes / 1e6)} MB, ${big.connected} connected` : 'quick mode: 10,000 not run', big ? big.rssBytes <= 2 ** 30 && big.connected === big.peers : undefined);
  L.push('');
  return L.join('\n');
}

/** MB/s from a summary of milliseconds for `bytes` (the slowest run gives the min). */
function rate(bytes: number, ms: Summary): Summary {
  const of = (x: number) => bytes / 1e6 / (x / 1000);
  return { median: of(ms.median), min: of(ms.max), max: of(ms.min), n: ms.n };
}

function msToS(s: Summary): Summary {
  return { median: s.median / 1000, min: s.min / 1000, max: s.max / 1000, n: s.n };
}

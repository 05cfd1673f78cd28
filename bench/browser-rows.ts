/**
 * One transfer between the browser page and the real CLI, measured: `sealdrop send` to the page
 * (the page accepts; its bytes land in OPFS) or the page's file picker to `sealdrop receive`, on
 * the relay (`--relay`, the page's "relay" box) or direct (`--direct-only`, "direct only"). The
 * receiving side's SHA-256 is checked against the file's; a mismatch, a failure or a transfer that
 * took the other path throws.
 *
 * MB/s runs from the receiver's first chunk written to its last, as bench/transfer.ts times the
 * CLIs: the page's progress bar (set after each chunk is written, read by a MutationObserver in
 * the page, on the page's clock) or the CLI receiver's `progress` events. End to end: the click
 * (accept, or send) until the receiving side has checked every byte.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { totpCode } from '../shared/totp.js';
import { chromiumCpu, chromiumCpuSince, processCpuSeconds, sampleBrowser, type PageMemory } from './browser-procs.js';
import { now, stop, tempDir, type Proc } from './measure.js';
import { mbps } from './stats.js';
import { cpuTotal, grouped, threadCpu } from './threads.js';
import type { Path } from './transfer.js';
import type { BenchWorld, Rendezvous } from './world.js';

export type Direction = 'cli-to-page' | 'page-to-cli';
export const PAGE_ID = 'webby';
const CLI_ID = 'alice';

export interface RowRun {
  direction: Direction;
  path: Path;
  bytes: number;
  streamMbps: number;
  endToEndMbps: number;
  memory: PageMemory;
  /** Peak RSS (VmHWM) of the CLI at the other end, bytes. */
  cliPeakRss: number;
  /** CPU ms per MB moved, from the click to the receiving side's check. */
  cpuMsPerMb: { chromium: number; cli: number; rendezvous: number };
  /** This harness's own CPU ms per MB meanwhile (Playwright, the CDP heap questions, /proc sampling): not in the figures above. */
  harnessCpuMsPerMb: number;
  /** Chromium's CPU ms per MB by process type and thread name. */
  chromiumCpuMsPerMb: Record<string, number>;
  sha256: string;
}

/** The page, logged in as PAGE_ID, with a CDP session for its heap and an observer of its progress bar. */
export interface BenchPage { page: Page; cdp: CDPSession }

export interface RowContext {
  world: BenchWorld;
  rv: Rendezvous;
  pg: BenchPage;
  file: string;
  bytes: number;
  sha256: string;
  work: string;
}

export async function openBenchPage(context: BrowserContext, url: string, secret: string): Promise<BenchPage> {
  const page = await context.newPage();
  // The persistent context opens with a blank tab: closed, so the browser's memory is this one page's.
  for (const other of context.pages()) if (other !== page) await other.close();
  page.on('pageerror', (err) => process.stderr.write(`page error: ${err.message}\n`));
  await page.goto(`${url}/`);
  await page.waitForSelector('body[data-ready="1"]');
  await page.fill('#login-id', PAGE_ID);
  await page.fill('#login-code', totpCode(secret, Date.now()));
  await page.click('#login-button');
  await page.waitForFunction(() => !document.getElementById('home')!.hidden || document.getElementById('error')!.textContent !== '');
  const error = await page.locator('#error').textContent();
  if (error) throw new Error(`the page did not log in: ${error}`);
  await page.evaluate(() => {
    const bar = document.getElementById('transfer-progress') as HTMLProgressElement;
    const w = window as unknown as { benchSpan: { first?: number; firstBytes?: number; last?: number } };
    w.benchSpan = {};
    new MutationObserver(() => {
      if (!bar.hasAttribute('value') || bar.value <= 0) return;
      const s = w.benchSpan, t = performance.now();
      if (s.first === undefined) { s.first = t; s.firstBytes = bar.value; }
      if (bar.value >= bar.max && s.last === undefined) s.last = t;
    }).observe(bar, { attributes: true, attributeFilter: ['value', 'max'] });
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  return { page, cdp };
}

const timeoutFor = (bytes: number) => 120_000 + (bytes / 2e6) * 1000; // generous: 2 MB/s

async function pageSays(page: Page): Promise<string> {
  return `status "${await page.locator('#status').textContent()}", error "${await page.locator('#error').textContent()}"`;
}

/** Waits until the page's status starts with `word` (or it shows an error, which throws). */
async function pageDone(page: Page, word: string, timeout: number): Promise<void> {
  await page.waitForFunction((w) => document.getElementById('status')!.textContent!.startsWith(w) || document.getElementById('error')!.textContent !== '', word, { timeout });
  const error = await page.locator('#error').textContent();
  if (error) throw new Error(`the page failed: ${error}`);
}

function checkPath(done: Record<string, unknown> | undefined, via: Path, who: string): void {
  const other: Path = via === 'direct' ? 'relay' : 'direct';
  const paths = (done?.paths ?? {}) as Partial<Record<Path, number>>;
  if (done?.transport !== via || (paths[other] ?? 0) > 0) throw new Error(`${who}: expected the ${via} path only, the transfer went ${JSON.stringify(done?.transport)} ${JSON.stringify(paths)}`);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of (await fs.open(file)).createReadStream({ highWaterMark: 4 << 20 })) hash.update(piece as Buffer);
  return hash.digest('hex');
}

/** CPU seconds of a CLI from a reading at the start to what it reported as it exited. */
function cliCpuSince(proc: Proc, start: number): number {
  const end = proc.exitStats();
  return end ? cpuTotal(grouped(proc.child.pid!, end.threads)) - start : NaN;
}

function harnessSeconds(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

function perMb(seconds: Record<string, number>, mb: number): Record<string, number> {
  return Object.fromEntries(Object.entries(seconds).filter(([, s]) => s > 0).sort((a, b) => b[1] - a[1]).map(([k, s]) => [k, (s * 1000) / mb]));
}

export async function cliToPage(c: RowContext, via: Path): Promise<RowRun> {
  const { page, cdp } = c.pg;
  const timeout = timeoutFor(c.bytes);
  const sender = c.world.peer(c.rv.url, CLI_ID, ['send', c.file, '--to', PAGE_ID, via === 'relay' ? '--relay' : '--direct-only']);
  try {
    await page.waitForSelector('#offer:not([hidden])', { timeout: 60_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}; sender: ${sender.stderr().slice(-1000)}; page: ${await pageSays(page)}`);
    });
    await page.evaluate(() => { (window as unknown as { benchSpan: object }).benchSpan = {}; });
    const memory = await sampleBrowser(cdp);
    const cpu0 = { chromium: chromiumCpu(), cli: cpuTotal(threadCpu(sender.child.pid!)), rendezvous: processCpuSeconds(c.rv.proc.child.pid), harness: process.cpuUsage() };
    const t0 = now();
    await page.click('#offer-accept');
    await pageDone(page, 'received', timeout);
    const t1 = now();
    const peaks = await memory();
    const chromium = chromiumCpuSince(cpu0.chromium), rendezvous = processCpuSeconds(c.rv.proc.child.pid) - cpu0.rendezvous;
    const harness = harnessSeconds(cpu0.harness);
    const code = await Promise.race([sender.exit, new Promise<number>((r) => setTimeout(() => r(-1), 30_000).unref())]);
    if (code !== 0) throw new Error(`sealdrop send exited ${code}: ${sender.stderr().slice(-1000)}`);
    checkPath(sender.events.find((e) => e.type === 'done'), via, 'sealdrop send');
    const status = await page.locator('#status').textContent() ?? '';
    if (!status.includes(`(${via})`)) throw new Error(`the page says "${status}", not the ${via} path`);
    const span = await page.evaluate(() => (window as unknown as { benchSpan: { first?: number; firstBytes?: number; last?: number } }).benchSpan);
    if (span.first === undefined || span.last === undefined) throw new Error(`the page's progress bar did not run from first to last byte: ${JSON.stringify(span)}`);
    await checkPageCopy(c);
    return rowRun(c, 'cli-to-page', via, mbps(c.bytes - (span.firstBytes ?? 0), span.last - span.first), t1 - t0, peaks, sender,
      { chromium, cli: cliCpuSince(sender, cpu0.cli), rendezvous, harness });
  } finally {
    await stop(sender, 'SIGKILL');
  }
}

/**
 * The page's own check (its SHA-256 of what it wrote, data-sha256) and the bytes in OPFS, taken out
 * as a download and hashed here. Then the copy in OPFS is removed, so 2 GiB files do not pile up
 * in the profile (the page does the same at its next login).
 */
async function checkPageCopy(c: RowContext): Promise<void> {
  const { page } = c.pg;
  const link = page.locator('#received a').last();
  const claimed = await link.getAttribute('data-sha256');
  if (claimed !== c.sha256) throw new Error(`SHA-256 MISMATCH in the page: it hashed ${claimed}, the file is ${c.sha256}`);
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const saved = path.join(c.work, 'downloaded.bin');
  await download.saveAs(saved);
  await download.delete();
  const got = await sha256File(saved);
  await fs.rm(saved, { force: true });
  if (got !== c.sha256) throw new Error(`SHA-256 MISMATCH: the page's stored copy hashes to ${got}, the file is ${c.sha256}`);
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory() as unknown as { keys(): AsyncIterable<string>; removeEntry(n: string): Promise<void> };
    const names: string[] = [];
    for await (const name of root.keys()) if (name.startsWith('sealdrop-received-')) names.push(name);
    for (const name of names) await root.removeEntry(name);
  });
}

/** One row's run from what was measured: CPU in seconds, divided here per MB moved. */
function rowRun(c: RowContext, direction: Direction, via: Path, streamMbps: number, endToEndMs: number, memory: PageMemory, cli: { peakRss(): number },
  cpu: { chromium: ReturnType<typeof chromiumCpuSince>; cli: number; rendezvous: number; harness: number }): RowRun {
  const mb = c.bytes / 1e6;
  return {
    direction, path: via, bytes: c.bytes, streamMbps, endToEndMbps: mbps(c.bytes, endToEndMs), memory, cliPeakRss: cli.peakRss(),
    cpuMsPerMb: { chromium: (cpu.chromium.total * 1000) / mb, cli: (cpu.cli * 1000) / mb, rendezvous: (cpu.rendezvous * 1000) / mb },
    chromiumCpuMsPerMb: perMb(cpu.chromium.byPart, mb),
    harnessCpuMsPerMb: (cpu.harness * 1000) / mb,
    sha256: c.sha256,
  };
}

export async function pageToCli(c: RowContext, via: Path): Promise<RowRun> {
  const { page, cdp } = c.pg;
  const timeout = timeoutFor(c.bytes);
  const inbox = await tempDir('sealdrop-bench-browser-inbox-');
  const receiver = c.world.peer(c.rv.url, CLI_ID, ['receive', '--dir', inbox, '--yes', '--once']);
  try {
    await receiver.waitFor((e) => e.type === 'ready', 30_000);
    await page.fill('#send-to', CLI_ID);
    await page.setChecked('#send-relay', via === 'relay');
    await page.setChecked('#send-direct-only', via === 'direct');
    await page.setInputFiles('#send-files', c.file);
    const memory = await sampleBrowser(cdp);
    const cpu0 = { chromium: chromiumCpu(), cli: cpuTotal(threadCpu(receiver.child.pid!)), rendezvous: processCpuSeconds(c.rv.proc.child.pid), harness: process.cpuUsage() };
    const t0 = now();
    await page.click('#send-button');
    const code = await Promise.race([receiver.exit, new Promise<number>((r) => setTimeout(() => r(-1), timeout).unref())]);
    const t1 = now();
    if (code !== 0) throw new Error(`sealdrop receive exited ${code}: ${JSON.stringify(receiver.events.filter((e) => e.type === 'error'))} ${receiver.stderr().slice(-1000)}; page: ${await pageSays(page)}`);
    const peaks = await memory();
    const chromium = chromiumCpuSince(cpu0.chromium), rendezvous = processCpuSeconds(c.rv.proc.child.pid) - cpu0.rendezvous;
    const harness = harnessSeconds(cpu0.harness);
    await pageDone(page, 'sent', 30_000);
    const done = receiver.events.find((e) => e.type === 'done') as { files?: Array<{ bytes: number; sha256: string }> } & Record<string, unknown> | undefined;
    checkPath(done, via, 'sealdrop receive');
    const file = done?.files?.[0];
    if (done?.files?.length !== 1 || file?.bytes !== c.bytes || file.sha256 !== c.sha256) throw new Error(`SHA-256 MISMATCH: sealdrop receive reports ${JSON.stringify(done?.files)}, the file is ${c.sha256}`);
    const onDisk = await sha256File(path.join(inbox, path.basename(c.file)));
    if (onDisk !== c.sha256) throw new Error(`SHA-256 MISMATCH: the received file hashes to ${onDisk}, the file is ${c.sha256}`);
    const progress = receiver.events.filter((e) => e.type === 'progress');
    const first = progress[0], last = progress.find((e) => e.bytes === c.bytes);
    if (!first || !last) throw new Error('sealdrop receive reported no progress');
    return rowRun(c, 'page-to-cli', via, mbps(c.bytes - Number(first.bytes), last.t - first.t), t1 - t0, peaks, receiver,
      { chromium, cli: cliCpuSince(receiver, cpu0.cli), rendezvous, harness });
  } finally {
    await stop(receiver, 'SIGKILL');
    await fs.rm(inbox, { recursive: true, force: true });
  }
}

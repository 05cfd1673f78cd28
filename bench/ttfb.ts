/**
 * Time to first byte: from spawning `sealdrop send` to the receiver's first
 * `progress` event, which it emits when the first encrypted chunk has arrived,
 * been opened and written. One receiver stays online (`receive` without --once)
 * and takes every run; one unmeasured warm-up run comes first (first contact pins
 * keys, and the OS caches the modules as it would for any repeat user).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { now, randomFile, stop, tempDir } from './measure.js';
import { serveArgsFor, type Path } from './transfer.js';
import { startRendezvous, type BenchWorld } from './world.js';

/**
 * direct: the relay kept for fallbacks (`serve --no-relay-start`), so the first byte waits for the
 * data channel; relay: `send --relay`; relay-start: the defaults, first bytes by relay at once,
 * moving to direct when it opens.
 */
export type TtfbPath = Path | 'relay-start';

const FILE_BYTES = 1024 * 1024;

export interface TtfbRun { ms: number; securedMs: number; /** Bytes of the file that went each way. */ paths: Partial<Record<Path, number>> }

export async function measureTtfb(world: BenchWorld, via: TtfbPath, runs: number): Promise<TtfbRun[]> {
  const work = await tempDir('sealdrop-bench-ttfb-');
  const file = path.join(work, 'first-byte.bin');
  await randomFile(file, FILE_BYTES);
  const rv = await startRendezvous(world.dataDir, [], via === 'relay-start' ? [] : serveArgsFor(via));
  const inbox = path.join(work, 'inbox');
  await fs.mkdir(inbox);
  const receiver = world.peer(rv.url, 'bob', ['receive', '--dir', inbox, '--yes']);
  try {
    await receiver.waitFor((e) => e.type === 'ready', 30_000);
    const out: TtfbRun[] = [];
    for (let i = -1; i < runs; i++) {
      const from = receiver.events.length;
      const sender = world.peer(rv.url, 'alice', ['send', file, '--to', 'bob', ...(via === 'relay' ? ['--relay'] : [])]);
      const [first] = await Promise.all([
        receiver.waitFor((e) => e.type === 'progress', 30_000, from),
        receiver.waitFor((e) => e.type === 'done', 30_000, from),
      ]).catch(async (err) => { await stop(sender, 'SIGKILL'); throw err; });
      const code = await sender.exit;
      if (code !== 0) throw new Error(`send failed (${code}): ${sender.stdout()} ${sender.stderr()}`);
      const done = sender.events.find((e) => e.type === 'done') as { transport?: Path; paths?: Partial<Record<Path, number>> } | undefined;
      if (via !== 'relay-start' && done?.transport !== via) throw new Error(`expected the ${via} path, got ${String(done?.transport)}`);
      const secured = sender.events.find((e) => e.type === 'secured')!;
      const paths = done?.paths ?? (done?.transport ? { [done.transport]: FILE_BYTES } : {});
      if (i >= 0) out.push({ ms: first.t - sender.spawnedAt, securedMs: secured.t - sender.spawnedAt, paths });
      for (const name of await fs.readdir(inbox)) await fs.rm(path.join(inbox, name), { force: true });
    }
    return out;
  } finally {
    await stop(receiver);
    await stop(rv.proc);
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** Spawn to exit of `sealdrop fingerprint` (no network): Node's start and the CLI's imports, a floor under any TTFB. */
export async function measureCliStart(world: BenchWorld, runs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = -1; i < runs; i++) {
    const proc = world.peer(undefined, 'alice', ['fingerprint']);
    if ((await proc.exit) !== 0) throw new Error(`sealdrop fingerprint failed: ${proc.stderr()}`);
    if (i >= 0) out.push(now() - proc.spawnedAt);
  }
  return out;
}

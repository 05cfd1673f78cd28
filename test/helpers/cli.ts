/** Spawns the real CLIs as a user would, and reads their --json output. */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The installed commands (package.json "bin"); run with node they import dist/, run directly they add the node flags too. */
export const PEER_CLI = path.join(ROOT, 'bin/sealdrop.js');
export const RENDEZVOUS_CLI = path.join(ROOT, 'bin/sealdrop-rendezvous.js');

export interface Run {
  child: ChildProcess;
  /** Every JSON line seen on stdout so far. */
  events: Array<Record<string, any>>;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number>;
  /** Resolves with the first event of that type. */
  waitFor: (type: string, timeoutMs?: number) => Promise<Record<string, any>>;
  /** Writes to its standard input (spawned with `{ stdin: true }`; otherwise stdin is closed). */
  write: (text: string) => void;
}

/** Every CLI spawned and not yet exited, with where it was spawned: the suite's last hook ends them (test/helpers/root-hooks.ts). */
const live = new Map<ChildProcess, string>();

/** Ends every spawned CLI still running and says which: a test that leaves one behind is a defect to fix. */
export function endLeftoverClis(): string[] {
  const left = [...live.entries()];
  for (const [child] of left) child.kill('SIGKILL');
  return left.map(([, what]) => what);
}

/** Runs `cli` (PEER_CLI or RENDEZVOUS_CLI) the way a shell runs an installed command: the file itself. */
export function spawnCli(cli: string, args: string[], env: Record<string, string> = {}, o: { stdin?: boolean } = {}): Run {
  const child = spawn(cli, args, {
    env: { ...process.env, SEALDROP_LOG: 'silent', ...env },
    stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const spawnedAt = new Error().stack?.split('\n').slice(2, 5).map((l) => l.trim()).join(' < ') ?? '';
  live.set(child, `${path.basename(cli)} ${args.join(' ')} (spawned at ${spawnedAt})`);
  child.on('exit', () => live.delete(child));
  let out = '', err = '';
  const events: Array<Record<string, any>> = [];
  const watchers: Array<() => void> = [];
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      try { events.push(JSON.parse(line)); } catch { /* not JSON */ }
    }
    watchers.forEach((w) => w());
  });
  child.stderr!.on('data', (d: Buffer) => { err += d; });
  const exit = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  const waitFor = (type: string, timeoutMs = 20_000) => new Promise<Record<string, any>>((resolve, reject) => {
    const check = () => {
      const ev = events.find((e) => e.type === type);
      if (ev) { clearTimeout(timer); resolve(ev); return true; }
      return false;
    };
    const timer = setTimeout(() => reject(new Error(`no "${type}" event within ${timeoutMs} ms; stdout=${out} stderr=${err}`)), timeoutMs);
    if (!check()) {
      watchers.push(check);
      exit.then(() => setTimeout(() => { if (!check()) { clearTimeout(timer); reject(new Error(`exited before "${type}"; stdout=${out} stderr=${err}`)); } }, 50));
    }
  });
  const write = (text: string) => { child.stdin?.write(text); };
  return { child, events, stdout: () => out, stderr: () => err, exit, waitFor, write };
}

/** The first `error` event a CLI printed with --json, if any. */
export const errorOf = (run: Run): Record<string, any> | undefined => run.events.find((e) => e.type === 'error');

export async function tempDir(prefix = 'sealdrop-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A file of random bytes, written in pieces so memory stays small. */
export async function randomFile(file: string, size: number): Promise<string> {
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  for (let left = size; left > 0;) {
    const piece = randomBytes(Math.min(left, 1 << 20));
    hash.update(piece);
    if (!out.write(piece)) await new Promise((r) => out.once('drain', r));
    left -= piece.length;
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return hash.digest('hex');
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of (await fs.open(file)).createReadStream()) hash.update(piece as Buffer);
  return hash.digest('hex');
}

/** Every file under dir, relative, sorted (hidden partial files included). */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) { out.push(`${r}/`); await walk(path.join(d, e.name), r); } else out.push(r);
    }
  };
  await walk(dir, '');
  return out.sort();
}

/**
 * The transfer chose the direct path and it carried the transfer to the end, or it moved to the
 * relay only because the direct path stalled: on a loaded machine a data channel can go quiet for
 * seconds, and moving then is what a user wants. Any other move (or a relay choice) fails.
 */
export function expectCarriedDirect(run: Run): void {
  const secured = run.events.find((e) => e.type === 'secured');
  const done = run.events.find((e) => e.type === 'done');
  expect(secured?.transport, 'the direct path is chosen').to.equal('direct');
  expect(done, run.stderr()).to.not.equal(undefined);
  if (done!.transport === 'direct') return;
  const moves = run.events.filter((e) => e.type === 'path').map((e) => `${e.transport}: ${e.reason}`);
  const stalled = ['relay: the direct path stalled', 'relay: the other peer lost the direct path']; // the opener's words, the accepter's
  expect(moves.filter((m) => stalled.includes(m)), `moved to the relay only because the direct path stalled: ${moves.join('; ')}`).to.not.be.empty;
}

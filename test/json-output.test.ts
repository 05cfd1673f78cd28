/**
 * --json output is complete however large: process.exit() used to drop what a
 * pipe had not taken yet, and a 20,000-file `done` line was cut off at about
 * 219 KB. Here both sides of a 20,000-file transfer write into pipes read
 * slowly, as by a busy script, and every line must parse.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PEER_CLI, tempDir } from './helpers/cli.js';
import { startWorld, type World } from './helpers/world.js';

const FILES = 20_000;

interface SlowRun { exit: Promise<number>; stdout: () => string; stderr: () => string; onLine: (f: (line: string) => void) => void }

/** The CLI with --json, its stdout read a piece every few milliseconds: the pipe stays full while it writes. */
function slowlyRead(world: World, id: string, args: string[]): SlowRun {
  const child = spawn(PEER_CLI, ['--home', world.homes[id]!, '--json', ...args], { env: { ...process.env, SEALDROP_LOG: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '', partial = '';
  const listeners: Array<(line: string) => void> = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) listeners.forEach((f) => f(line));
    child.stdout.pause();
    setTimeout(() => child.stdout.resume(), 5);
  });
  child.stderr.on('data', (d: Buffer) => { err += d; });
  // 'close', not 'exit': only then has all of stdout been read.
  const exit = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  return { exit, stdout: () => out, stderr: () => err, onLine: (f) => listeners.push(f) };
}

function parseAll(run: SlowRun): Array<Record<string, any>> {
  expect(run.stdout().endsWith('\n'), 'stdout ends with a whole line').to.equal(true);
  return run.stdout().split('\n').filter(Boolean).map((line, i) => {
    try { return JSON.parse(line); } catch { throw new Error(`line ${i + 1} of ${line.length} bytes is not JSON: …${line.slice(-80)}`); }
  });
}

describe('--json output', function () {
  this.timeout(120_000);
  let world: World;
  let work: string;
  before(async () => {
    world = await startWorld(['alice', 'bob']);
    work = await tempDir();
  });
  after(async () => {
    await world?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it(`a ${FILES.toLocaleString('en')}-file transfer: every line of both sides parses, each done line lists all the files`, async () => {
    const src = path.join(work, 'many');
    for (let d = 0; d < 20; d++) {
      const dir = path.join(src, `d${d}`);
      await fs.mkdir(dir, { recursive: true });
      await Promise.all(Array.from({ length: FILES / 20 }, (_, i) => fs.writeFile(path.join(dir, `file-${String(i).padStart(4, '0')}.txt`), i % 10 === 0 ? `${i}` : '')));
    }
    const inbox = path.join(work, 'inbox');
    const bob = slowlyRead(world, 'bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await new Promise<void>((resolve) => bob.onLine((l) => { if (l.includes('"ready"')) resolve(); }));
    const alice = slowlyRead(world, 'alice', ['send', src, '--to', 'bob']);
    const [sent, received] = await Promise.all([alice.exit, bob.exit]);
    const errorsOf = (run: SlowRun) => run.stdout().split('\n').filter((l) => l.includes('"error"')).join('\n') + run.stderr();
    expect(sent, errorsOf(alice)).to.equal(0);
    expect(received, errorsOf(bob)).to.equal(0);

    for (const [who, run] of [['send', alice], ['receive', bob]] as const) {
      const events = parseAll(run);
      const done = events.filter((e) => e.type === 'done');
      expect(done, `${who}: one done event`).to.have.length(1);
      expect(done[0]!.files, who).to.have.length(FILES);
      expect(done[0]!.files.every((f: { sha256: string }) => /^[0-9a-f]{64}$/.test(f.sha256)), who).to.equal(true);
      expect(run.stdout().length, `${who} writes more than a pipe holds`).to.be.greaterThan(1 << 20);
    }
    expect((await fs.readdir(path.join(inbox, 'many/d19'))).length).to.equal(FILES / 20);
  });

  it('an error line is complete too, and the exit status still says it failed', async () => {
    const run = slowlyRead(world, 'alice', ['send', path.join(work, 'does-not-exist'), '--to', 'bob']);
    expect(await run.exit).to.not.equal(0);
    const errors = parseAll(run).filter((e) => e.type === 'error');
    expect(errors).to.have.length(1);
    expect(errors[0]!.code).to.be.a('string');
  });
});

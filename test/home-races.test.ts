/**
 * Several sealdrop processes on one home at once: a `receive` left running while a `send` starts,
 * two first runs started together. Each child process here waits on its stdin and starts its
 * step when the line "go" comes, so the steps really overlap.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fingerprintText } from '../shared/key-schedule.js';
import { errorOf, PEER_CLI, ROOT, spawnCli, tempDir } from './helpers/cli.js';

const PINNED_KEYS = path.join(ROOT, 'dist/peer/session/pinned-keys.js');
const HOME = path.join(ROOT, 'dist/peer/session/home.js');

/** Node children that each run `body` (an async function body with `home`, `pins` and `arg`) once all of them are up. */
async function together(home: string, args: string[], body: string): Promise<Array<{ out: string; err: string; code: number }>> {
  const script = `
    const { Home } = await import(${JSON.stringify(HOME)});
    const { PinnedKeys } = await import(${JSON.stringify(PINNED_KEYS)});
    const home = new Home(process.argv[1]);
    const pins = new PinnedKeys(home);
    const arg = process.argv[2];
    process.stdout.write('up\\n');
    await new Promise((r) => process.stdin.once('data', r));
    try { process.stdout.write(JSON.stringify(await (async () => { ${body} })()) + '\\n'); }
    catch (err) { process.stdout.write(JSON.stringify({ error: err.code ?? err.message }) + '\\n'); }
    process.exit(0);`;
  const children = args.map((arg) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, home, arg], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stderr.on('data', (d: Buffer) => { err += d; });
    const up = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => { out += d; if (out.includes('up\n')) resolve(); });
      child.once('exit', () => reject(new Error(`a child exited before it was up: ${err}`)));
    });
    const exit = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
    return { child, up, exit, out: () => out.replace('up\n', ''), err: () => err };
  });
  await Promise.all(children.map((c) => c.up));
  for (const c of children) c.child.stdin.end('go\n');
  const codes = await Promise.all(children.map((c) => c.exit));
  return children.map((c, i) => ({ out: c.out().trim(), err: c.err(), code: codes[i]! }));
}

const someFingerprint = () => fingerprintText(randomBytes(32));

describe('one home, several processes at once', function () {
  this.timeout(60_000);

  it('first runs started together end with one identity, the one every process reports', async () => {
    const home = await tempDir();
    const runs = Array.from({ length: 6 }, () => spawnCli(PEER_CLI, ['--json', 'fingerprint'], { SEALDROP_HOME: home }));
    const codes = await Promise.all(runs.map((r) => r.exit));
    expect(codes, runs.map((r) => r.stderr()).join('\n')).to.deep.equal(runs.map(() => 0));
    const fps = runs.map((r) => r.events.find((e) => e.type === 'fingerprint')?.fingerprint);
    expect(new Set(fps).size, String(fps)).to.equal(1);
    // … and it is the identity on disk: a later run says the same.
    const later = spawnCli(PEER_CLI, ['--json', 'fingerprint'], { SEALDROP_HOME: home });
    expect(await later.exit, errorOf(later)?.message).to.equal(0);
    expect(later.events.find((e) => e.type === 'fingerprint')?.fingerprint).to.equal(fps[0]);
    expect((await fs.readdir(home)).sort()).to.deep.equal(['identity.key']);
  });

  it('the same at the step itself: eight identity() calls at once agree', async () => {
    const home = await tempDir();
    const results = await together(home, Array.from({ length: 8 }, (_, i) => String(i)),
      'const k = await home.identity(); return Buffer.from(k.publicKey).toString("hex");');
    expect(results.map((r) => r.code), results.map((r) => r.err).join('\n')).to.deep.equal(results.map(() => 0));
    expect(new Set(results.map((r) => r.out)).size, results.map((r) => r.out).join('\n')).to.equal(1);
    expect(results[0]!.out).to.match(/^"[0-9a-f]{64}"$/);
  });

  it('pins made by eight processes at once are all kept (none lost to another\'s write)', async () => {
    const home = await tempDir();
    const fps = Array.from({ length: 8 }, someFingerprint);
    const results = await together(home, fps.map((fp, i) => `peer${i}=${fp}`),
      'const [id, fp] = arg.split("="); return await pins.check(id, fp, { strict: false });');
    expect(results.map((r) => r.out), results.map((r) => r.err).join('\n')).to.deep.equal(fps.map(() => '"pinned-now"'));
    const kept = JSON.parse(await fs.readFile(path.join(home, 'known_peers.json'), 'utf8'));
    expect(kept).to.deep.equal({ version: 1, peers: Object.fromEntries(fps.map((fp, i) => [`peer${i}`, fp])) });
    expect((await fs.readdir(home)).filter((f) => f !== 'known_peers.json')).to.deep.equal([]); // no lock or temp file left
  });

  it('two first contacts of one ID with different keys at once: one is pinned, the other is refused as a changed key', async () => {
    for (let trial = 0; trial < 4; trial++) {
      const home = await tempDir();
      const fps = Array.from({ length: 4 }, someFingerprint);
      const results = await together(home, fps, 'return await pins.check("carol", arg, { strict: false });');
      const outs = results.map((r) => r.out);
      expect(outs.filter((o) => o === '"pinned-now"'), outs.join(' ')).to.have.length(1);
      expect(outs.filter((o) => o === '{"error":"ERR_KEY_CHANGED"}'), outs.join(' ')).to.have.length(3);
      const winner = fps[outs.indexOf('"pinned-now"')];
      const kept = JSON.parse(await fs.readFile(path.join(home, 'known_peers.json'), 'utf8'));
      expect(kept.peers, `trial ${trial}`).to.deep.equal({ carol: winner });
    }
  });

  it('`sealdrop trust` run eight times at once keeps every pin', async () => {
    const home = await tempDir();
    const fps = Array.from({ length: 8 }, someFingerprint);
    const runs = fps.map((fp, i) => spawnCli(PEER_CLI, ['--json', 'trust', `friend${i}`, fp], { SEALDROP_HOME: home }));
    expect(await Promise.all(runs.map((r) => r.exit)), runs.map((r) => r.stderr()).join('\n')).to.deep.equal(fps.map(() => 0));
    const kept = JSON.parse(await fs.readFile(path.join(home, 'known_peers.json'), 'utf8'));
    expect(Object.keys(kept.peers).sort()).to.deep.equal(fps.map((_, i) => `friend${i}`).sort());
  });
});

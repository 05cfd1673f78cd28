/**
 * The account store under concurrent operator commands, crashes and a file that goes
 * away while serving; spent steps and session tokens across restarts.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccountStore } from '../rendezvous/store/accounts.js';
import { totpCode } from '../shared/totp.js';
import { connect, next, refusal, runRendezvousCli as cli, startRendezvous, startServe, tempDir } from './helpers/rendezvous.js';

const STORE_LOCK = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/shared/file-lock.js');
const ids = (data: string) => Object.keys(JSON.parse(readFileSync(join(data, 'accounts.json'), 'utf8')).accounts).sort();

/** Resolves once `pred` holds, checking every 20 ms for at most `ms`. */
async function until(pred: () => boolean, what: string, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; !pred();) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('rendezvous store', function () {
  this.timeout(120_000); // every step spawns the operator CLI: slow on a loaded machine
  let root: string;
  let data: string;
  beforeEach(() => { root = tempDir('sealdrop-store-'); data = join(root, 'data'); });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('loses no enroll among 8 concurrent operator processes enrolling 3 accounts each', async () => {
    const printed: string[] = [];
    await Promise.all(Array.from({ length: 8 }, async (_, p) => {
      for (let i = 0; i < 3; i++) {
        const r = await cli(['enroll', `p${p}-a${i}`, '--data', data, '--json']);
        expect(r.code, r.stderr).to.equal(0);
        printed.push(JSON.parse(r.stdout).id);
      }
    }));
    expect(printed).to.have.length(24);
    expect(ids(data)).to.deep.equal(printed.sort());
    expect(existsSync(join(data, 'accounts.json.lock'))).to.equal(false);
  });

  it('a revoke racing enrolls is never undone by them', async () => {
    for (let trial = 0; trial < 5; trial++) {
      expect((await cli(['enroll', `victim${trial}`, '--data', data, '--json'])).code).to.equal(0);
      const [a, b, rv] = await Promise.all([
        cli(['enroll', `x${trial}`, '--data', data, '--json']),
        cli(['enroll', `y${trial}`, '--data', data, '--json']),
        cli(['revoke', `victim${trial}`, '--data', data]),
      ]);
      for (const r of [a, b, rv]) expect(r.code, r.stderr).to.equal(0);
      const now = ids(data);
      expect(now, `trial ${trial}`).to.include.members([`x${trial}`, `y${trial}`]).and.not.include(`victim${trial}`);
    }
  });

  it('a lock left by a SIGKILLed process does not block the next command', async () => {
    expect((await cli(['enroll', 'alice', '--data', data, '--json'])).code).to.equal(0);
    const lock = join(data, 'accounts.json.lock');
    // A process that takes the store's lock and hangs holding it, as a crashed command would.
    const holder = spawn(process.execPath, ['--input-type=module', '-e',
      `const m = await import(${JSON.stringify(STORE_LOCK)}); m.withFileLock(${JSON.stringify(lock)}, () => { process.stdout.write('held\\n'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); });`],
    { stdio: ['ignore', 'pipe', 'inherit'] });
    await next(holder.stdout as never, 'data', 10_000);
    expect(JSON.parse(readFileSync(lock, 'utf8')).pid).to.equal(holder.pid);
    // While it lives, a command waits for it and then gives up with words.
    const blocked = await cli(['enroll', 'bob', '--data', data, '--json', '--lock-wait', '1']);
    expect(blocked.code).to.equal(1);
    expect(blocked.stderr).to.match(/locked by process \d+/).and.include('ERR_STORE');
    const died = new Promise((r) => holder.once('close', r));
    holder.kill('SIGKILL');
    await died;
    expect(existsSync(lock)).to.equal(true);
    const started = Date.now();
    const r = await cli(['enroll', 'bob', '--data', data, '--json']);
    expect(r.code, r.stderr).to.equal(0);
    expect(Date.now() - started).to.be.lessThan(5000);
    expect(ids(data)).to.deep.equal(['alice', 'bob']);
    expect(existsSync(lock)).to.equal(false);
  });

  it('keeps the last good accounts in force when accounts.json is moved aside, logging once a minute', async () => {
    const t = await startRendezvous({ accounts: ['alice', 'bob'] });
    try {
      const { socket: bob } = await t.login('bob');
      const file = join(t.dataDir, 'accounts.json');
      renameSync(file, `${file}.aside`);
      const errors = () => t.logs.filter((l) => l.includes('"event":"store.unreadable"'));
      await until(() => errors().length === 1, 'store.unreadable');
      expect(errors()[0]).to.include('missing').and.include('"level":"error"');
      // Nobody is dropped, known accounts still log in, and the error is not repeated within the minute.
      expect(bob.connected).to.equal(true);
      expect((await bob.timeout(2000).emitWithAck('peers', {})).ok).to.equal(true);
      await t.login('alice');
      await new Promise((r) => setTimeout(r, 1200)); // a poll passes (nothing to await: the point is no line)
      expect(errors()).to.have.length(1);
      t.clock.advance(61_000);
      await until(() => errors().length === 2, 'the minute\'s repeat');
      // Back in place: recovered, and a revoke then takes effect as usual.
      renameSync(`${file}.aside`, file);
      await until(() => t.logs.some((l) => l.includes('"event":"store.recovered"')), 'store.recovered');
      const dropped = next(bob, 'disconnect', 3000);
      new AccountStore(t.dataDir).revoke('bob');
      await dropped;
    } finally {
      await t.stop();
    }
  });

  it('refuses to start on a corrupt spent-steps.json', async () => {
    expect((await cli(['enroll', 'alice', '--data', data, '--json'])).code).to.equal(0);
    for (const body of ['{"version":2,"last":', '{"version":2,"last":{"alice":"x"}}', '[1,2]']) {
      writeFileSync(join(data, 'spent-steps.json'), body);
      const r = await cli(['serve', '--port', '0', '--data', data]);
      expect(r.code, body).to.equal(1);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr).to.include(join(data, 'spent-steps.json')).and.include('ERR_STORE');
    }
  });

  it('session tokens survive a restart, stored hashed and private; re-enrolling drops them', async () => {
    const secrets: Record<string, string> = {};
    for (const id of ['alice', 'bob']) secrets[id] = JSON.parse((await cli(['enroll', id, '--data', data, '--json'])).stdout).secret;
    let { run, url } = await startServe(['--data', data], { SEALDROP_LOG: 'silent' });
    const a = await connect(url, { id: 'alice', code: totpCode(secrets.alice!, Date.now()) });
    const b = await connect(url, { id: 'bob', code: totpCode(secrets.bob!, Date.now()) });
    a.socket.close();
    b.socket.close();
    run.child.kill('SIGTERM');
    expect(await run.exit).to.equal(0);
    const file = join(data, 'session-tokens.json');
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    const stored = readFileSync(file, 'utf8');
    expect(stored).to.not.include(a.welcome.token).and.not.include(b.welcome.token);
    expect(stored).to.not.include(secrets.alice!);
    expect((await cli(['enroll', 'bob', '--force', '--data', data, '--json'])).code).to.equal(0);
    ({ run, url } = await startServe(['--data', data], { SEALDROP_LOG: 'silent' }));
    try {
      const again = await connect(url, { id: 'alice', token: a.welcome.token });
      expect(again.welcome.id).to.equal('alice');
      again.socket.close();
      expect((await refusal(url, { id: 'bob', token: b.welcome.token })).code).to.equal('ERR_AUTH');
    } finally {
      run.child.kill('SIGTERM');
      await run.exit;
    }
  });
});

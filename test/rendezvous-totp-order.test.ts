/** RFC 6238 §5.2: once a step was accepted for an account, that step and every older one are refused, across restarts. */
import { expect } from 'chai';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../rendezvous/log.js';
import { createRendezvous } from '../rendezvous/server.js';
import { SpentSteps } from '../rendezvous/login/spent-steps.js';
import { stepAt, totpCode } from '../shared/totp.js';
import { connect, refusal, runRendezvousCli, startRendezvous, startServe, tempDir, type TestRendezvous } from './helpers/rendezvous.js';

const STEP = 30_000;

describe('rendezvous TOTP step order', () => {
  let t: TestRendezvous;
  beforeEach(async () => { t = await startRendezvous({ accounts: ['alice', 'bob'] }); });
  afterEach(async () => { await t.stop(); });

  it('refuses codes of T and T−1 after the code of T+1 was accepted', async () => {
    (await t.login('alice', { code: t.code('alice', +STEP) })).socket.close();
    for (const offset of [0, -STEP, +STEP]) {
      const r = await refusal(t.url, { id: 'alice', code: t.code('alice', offset) });
      expect(r.code, `offset ${offset}`).to.equal('ERR_AUTH_REPLAY');
      expect(r.message).to.match(/newer one/);
    }
    // Other accounts keep their own order.
    (await t.login('bob', { code: t.code('bob', -STEP) })).socket.close();
    (await t.login('bob')).socket.close();
    // One step later, T+1 is now the current step and still spent; T+2 (now +1) is accepted.
    t.clock.advance(STEP);
    expect((await refusal(t.url, { id: 'alice', code: t.code('alice') })).code).to.equal('ERR_AUTH_REPLAY');
    (await t.login('alice', { code: t.code('alice', +STEP) })).socket.close();
  });

  it('remembers the last accepted step across a restart', async () => {
    (await t.login('alice', { code: t.code('alice', +STEP) })).socket.close();
    await t.rv.close(); // writes spent-steps.json
    const saved = JSON.parse(readFileSync(join(t.dataDir, 'spent-steps.json'), 'utf8'));
    expect(saved).to.deep.equal({ version: 2, last: { alice: stepAt(t.clock.now()) + 1 } });
    const again = createRendezvous({ dataDir: t.dataDir, now: t.clock.now, logger: silentLogger });
    const url = await again.listen(0, '127.0.0.1');
    try {
      for (const offset of [0, -STEP, +STEP]) expect((await refusal(url, { id: 'alice', code: t.code('alice', offset) })).code).to.equal('ERR_AUTH_REPLAY');
      t.clock.advance(2 * STEP);
      const { socket } = await connect(url, { id: 'alice', code: t.code('alice') });
      socket.close();
    } finally {
      await again.close();
    }
  });

  it('a crash right after a code login does not re-open the code: the step is on disk before the welcome', async () => {
    const data = tempDir();
    const secrets: Record<string, string> = {};
    for (const id of ['alice', 'bob', 'carol']) {
      secrets[id] = (JSON.parse((await runRendezvousCli(['enroll', id, '--data', data, '--json'])).stdout) as { secret: string }).secret;
    }
    // One account a round: each round's code is fresh without waiting for the next step.
    for (const [id, secret] of Object.entries(secrets)) {
      const { run, url } = await startServe(['--data', data]);
      const code = totpCode(secret, Date.now());
      try {
        const { socket } = await connect(url, { id, code });
        // SIGKILL the moment the welcome is here: no graceful shutdown writes anything now.
        run.child.kill('SIGKILL');
        socket.close();
      } finally {
        run.child.kill('SIGKILL');
        await run.exit;
      }
      const again = await startServe(['--data', data]);
      try {
        const r = await refusal(again.url, { id, code });
        expect(r.code, `${id}: the code used just before the crash`).to.equal('ERR_AUTH_REPLAY');
      } finally {
        again.run.child.kill('SIGKILL');
        await again.run.exit;
      }
    }
  });

  it('refuses a code login whose step cannot be written (ERR_STORE), and logs in once it can', async () => {
    // A folder where the file goes: the atomic rename over it fails, as a full or broken disk would.
    const blocker = join(t.dataDir, 'spent-steps.json');
    mkdirSync(join(blocker, 'x'), { recursive: true });
    const r = await refusal(t.url, { id: 'alice', code: t.code('alice') });
    expect(r.code).to.equal('ERR_STORE');
    expect(r.message).to.match(/cannot record used codes/);
    rmSync(blocker, { recursive: true });
    t.clock.advance(STEP);
    (await t.login('alice')).socket.close();
    expect(JSON.parse(readFileSync(blocker, 'utf8')).last.alice).to.equal(stepAt(t.clock.now()));
  });

  it('every spend resolves only once its step is on disk, while concurrent spends share writes', async () => {
    const data = tempDir();
    const spent = new SpentSteps(data, Date.now, silentLogger);
    const step = stepAt(Date.now());
    const onDisk = () => JSON.parse(readFileSync(join(data, 'spent-steps.json'), 'utf8')).last as Record<string, number>;
    const checks = Array.from({ length: 300 }, (_, i) => `acct-${i}`).map(async (id, i) => {
      if (i % 3 === 0) await new Promise((r) => setImmediate(r)); // some arrive while a write is on its way
      expect(await spent.spend(id, step)).to.equal(true);
      expect(onDisk()[id], `${id} is on disk when its spend resolves`).to.equal(step);
    });
    // The same code again, while the first spend may still be writing: refused at once.
    expect(await spent.spend('acct-1', step)).to.equal(false);
    await Promise.all(checks);
    await spent.settled();
    expect(Object.keys(onDisk())).to.have.length(300);
  });
});

/** RFC 6238 §5.2: once a step was accepted for an account, that step and every older one are refused, across restarts. */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../rendezvous/log.js';
import { createRendezvous } from '../rendezvous/server.js';
import { stepAt } from '../shared/totp.js';
import { connect, refusal, startRendezvous, type TestRendezvous } from './helpers/rendezvous.js';

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
});

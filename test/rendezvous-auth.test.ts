import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AccountStore } from '../rendezvous/store/accounts.js';
import { silentLogger } from '../rendezvous/log.js';
import { createRendezvous } from '../rendezvous/server.js';
import { LOCK_AFTER, LOCK_MS, THROTTLE_AFTER } from '../rendezvous/login/throttle.js';
import { matchStep, stepAt, totpCode } from '../shared/totp.js';
import { connect, next, refusal, startRendezvous, type TestRendezvous } from './helpers/rendezvous.js';

const STEP = 30_000;

describe('rendezvous auth', () => {
  describe('TOTP (shared/totp.ts)', () => {
    // RFC 6238 appendix B, SHA-1, 8 digits; secret is ASCII "12345678901234567890".
    const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
    const vectors: Array<[number, string]> = [
      [59, '94287082'], [1111111109, '07081804'], [1111111111, '14050471'],
      [1234567890, '89005924'], [2000000000, '69279037'], [20000000000, '65353130'],
    ];
    for (const [t, code] of vectors) {
      it(`RFC 6238 vector at T=${t}`, () => {
        expect(totpCode(secret, t * 1000, 8)).to.equal(code);
      });
    }

    it('matches ±1 step and no further', () => {
      const now = 1_700_000_025_000;
      for (const d of [-1, 0, 1]) expect(matchStep(secret, totpCode(secret, now + d * STEP), now)).to.equal(stepAt(now) + d);
      for (const d of [-2, 2]) expect(matchStep(secret, totpCode(secret, now + d * STEP), now)).to.equal(null);
    });
  });

  describe('login', () => {
    let t: TestRendezvous;
    beforeEach(async () => { t = await startRendezvous({ accounts: ['alice', 'bob'], iceServers: [{ urls: 'turn:127.0.0.1:3478', username: 'u', credential: 'c' }] }); });
    afterEach(async () => { await t.stop(); });

    it('accepts a valid code and sends welcome with a fresh token', async () => {
      const { socket, welcome } = await t.login('alice');
      expect(socket.connected).to.equal(true);
      expect(welcome.id).to.equal('alice');
      expect(welcome.token).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(welcome.tokenExpiresAt).to.equal(t.clock.now() + 3600_000);
      expect(welcome.iceServers).to.deep.equal([{ urls: 'turn:127.0.0.1:3478', username: 'u', credential: 'c' }]);
      expect(t.inbound[0]).to.deep.equal({ event: 'handshake', args: [{ id: 'alice', code: t.code('alice') }] });
    });

    it('refuses a wrong code', async () => {
      const wrong = String((Number(t.code('alice')) + 1) % 1_000_000).padStart(6, '0');
      const r = await refusal(t.url, { id: 'alice', code: wrong });
      expect(r.code).to.equal('ERR_AUTH');
      expect(r.message).to.match(/wrong code/);
    });

    it('refuses an unknown account with the same answer as a wrong code', async () => {
      const r = await refusal(t.url, { id: 'mallory', code: '123456' });
      expect(r.code).to.equal('ERR_AUTH');
      expect(r.message).to.match(/wrong code or unknown account/);
    });

    it('refuses malformed handshakes before anything else', async () => {
      for (const auth of [{}, { id: 'alice' }, { id: 'alice', code: '12345' }, { id: 'Alice!', code: '123456' },
        { id: 'alice', code: '123456', token: 'x'.repeat(43) }, { id: 'alice', code: 123456 }]) {
        const r = await refusal(t.url, auth);
        expect(r.code, JSON.stringify(auth)).to.equal('ERR_BAD_INPUT');
      }
    });

    it('refuses a replayed code, then accepts the next step', async () => {
      const code = t.code('alice');
      (await t.login('alice')).socket.close();
      const r = await refusal(t.url, { id: 'alice', code });
      expect(r.code).to.equal('ERR_AUTH_REPLAY');
      expect(r.message).to.match(/already used/).and.match(/next one/);
      t.clock.advance(STEP);
      await t.login('alice');
    });

    it('still refuses a used code after the rendezvous restarts', async () => {
      const code = t.code('alice');
      (await t.login('alice')).socket.close();
      await t.rv.close(); // flushes the spent steps to the data folder
      const again = createRendezvous({ dataDir: t.dataDir, now: t.clock.now, logger: silentLogger });
      const url = await again.listen(0, '127.0.0.1');
      try {
        expect((await refusal(url, { id: 'alice', code })).code).to.equal('ERR_AUTH_REPLAY');
        t.clock.advance(STEP);
        const { socket } = await connect(url, { id: 'alice', code: t.code('alice') });
        socket.close();
      } finally {
        await again.close();
      }
    });

    it('tolerates ±1 step of clock skew and refuses ±2', async () => {
      await t.login('alice', { code: t.code('alice', -STEP) });
      await t.login('alice', { code: t.code('alice', +STEP) });
      for (const d of [-2, 2]) expect((await refusal(t.url, { id: 'bob', code: t.code('bob', d * STEP) })).code).to.equal('ERR_AUTH');
    });

    it('throttles after 5 failures, across reconnects, and a success resets the count', async () => {
      for (let i = 0; i < THROTTLE_AFTER; i++) expect((await refusal(t.url, { id: 'alice', code: '000000' })).code).to.equal('ERR_AUTH');
      // Even the right code is refused while throttled, on a brand-new connection.
      const r = await refusal(t.url, { id: 'alice', code: t.code('alice') });
      expect(r.code).to.equal('ERR_THROTTLED');
      expect(r.retryAfter).to.equal(1);
      expect(r.message).to.match(/wait 1 s/);
      await t.login('bob'); // other accounts are unaffected
      t.clock.advance(1000);
      expect((await refusal(t.url, { id: 'alice', code: '000000' })).code).to.equal('ERR_AUTH');
      expect((await refusal(t.url, { id: 'alice', code: t.code('alice') })).retryAfter).to.equal(2);
      t.clock.advance(2000);
      await t.login('alice');
      // Reset: the next failure is an ordinary one.
      t.clock.advance(STEP);
      expect((await refusal(t.url, { id: 'alice', code: '000000' })).code).to.equal('ERR_AUTH');
      await t.login('alice');
    });

    it('throttles unknown account IDs too', async () => {
      for (let i = 0; i < THROTTLE_AFTER; i++) await refusal(t.url, { id: 'nobody', code: '000000' });
      expect((await refusal(t.url, { id: 'nobody', code: '000000' })).code).to.equal('ERR_THROTTLED');
    });

    it('locks after 20 failures for 15 minutes', async () => {
      for (let i = 0; i < LOCK_AFTER; i++) {
        expect((await refusal(t.url, { id: 'alice', code: '000000' })).code).to.equal('ERR_AUTH');
        t.clock.advance(61_000); // past this address's own throttle (60 s at most before its lock)
      }
      const r = await refusal(t.url, { id: 'alice', code: t.code('alice') });
      expect(r.code).to.equal('ERR_LOCKED');
      expect(r.retryAfter).to.equal(LOCK_MS / 1000 - 61);
      expect(r.message).to.match(/locked/).and.match(/14 min/).and.match(/session token/);
      t.clock.advance(LOCK_MS - 61_000 - 1000);
      expect((await refusal(t.url, { id: 'alice', code: t.code('alice') })).code).to.equal('ERR_LOCKED');
      t.clock.advance(1000);
      await t.login('alice');
    });

    it('lets a peer reconnect within the same step with its session token', async () => {
      const first = await t.login('alice', { receiving: true });
      first.socket.close();
      const again = await connect(t.url, { id: 'alice', token: first.welcome.token });
      t.track(again.socket);
      expect(again.welcome.id).to.equal('alice');
      expect(again.welcome.token).to.not.equal(first.welcome.token);
      // The token is bound to its account.
      expect((await refusal(t.url, { id: 'bob', token: first.welcome.token })).code).to.equal('ERR_AUTH');
      // And expires after an hour.
      t.clock.advance(3600_000);
      const r = await refusal(t.url, { id: 'alice', token: first.welcome.token });
      expect(r.code).to.equal('ERR_AUTH');
      expect(r.message).to.match(/expired/);
    });

    it('revoking an account refuses its codes and tokens and ends its connections', async () => {
      const { socket, welcome } = await t.login('alice');
      const dropped = next(socket, 'disconnect', 5000);
      new AccountStore(t.dataDir).revoke('alice'); // as `sealdrop-rendezvous revoke` does
      await dropped;
      t.clock.advance(STEP);
      expect((await refusal(t.url, { id: 'alice', code: t.code('alice') })).code).to.equal('ERR_AUTH');
      expect((await refusal(t.url, { id: 'alice', token: welcome.token })).code).to.equal('ERR_AUTH');
    });

    it('re-enrolling with --force invalidates old tokens', async () => {
      const { welcome } = await t.login('bob');
      const fresh = new AccountStore(t.dataDir).enroll('bob', { force: true }).secret;
      expect((await refusal(t.url, { id: 'bob', token: welcome.token })).code).to.equal('ERR_AUTH');
      t.clock.advance(STEP); // this step was spent by the first login
      const { welcome: w } = await connect(t.url, { id: 'bob', code: totpCode(fresh, t.clock.now()) }).then((r) => (t.track(r.socket), r));
      expect(w.id).to.equal('bob');
    });

    it('sees accounts enrolled while running, without a restart', async () => {
      const secret = new AccountStore(t.dataDir).enroll('carol').secret;
      const { welcome } = await connect(t.url, { id: 'carol', code: totpCode(secret, t.clock.now()) }).then((r) => (t.track(r.socket), r));
      expect(welcome.id).to.equal('carol');
    });

    it('keeps the last good store in force while the file is corrupt, and keeps serving', async () => {
      const { socket } = await t.login('bob');
      writeFileSync(join(t.dataDir, 'accounts.json'), '{"version":1,"accounts":');
      await t.login('alice'); // from the last good copy
      expect(t.logs.some((l) => l.includes('"event":"store.unreadable"') && l.includes('not valid JSON'))).to.equal(true);
      expect(socket.connected).to.equal(true);
      expect((await socket.timeout(2000).emitWithAck('peers', {})).ok).to.equal(true);
    });

    it('never logs secrets, codes or tokens', async () => {
      const code = t.code('alice');
      const { welcome } = await t.login('alice');
      await refusal(t.url, { id: 'alice', code });
      await refusal(t.url, { id: 'bob', code: '999999' });
      const log = t.logs.join('\n');
      expect(log).to.include('auth.ok').and.include('auth.failed');
      for (const secret of [t.secrets.alice, t.secrets.bob, code, '999999', welcome.token]) expect(log).to.not.include(secret);
    });
  });
});

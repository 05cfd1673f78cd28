/**
 * Revocation is driven by the store's content: logins racing `sealdrop-rendezvous
 * revoke` (each one re-reads accounts.json) must not swallow the change. Real spawned
 * server, real operator CLI, real sockets.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { totpCode } from '../shared/totp.js';
import { type Client, connect, next, refusal, runRendezvousCli as cli, startServe, tempDir } from './helpers/rendezvous.js';

const TRIALS = 5;

describe('rendezvous revocation', function () {
  this.timeout(60_000);
  let root: string;
  let data: string;
  beforeEach(() => { root = tempDir('sealdrop-revoke-'); data = join(root, 'data'); });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('revoke cuts the live connection within a second while token logins race it', async () => {
    const ids = Array.from({ length: TRIALS }, (_, i) => `victim${i}`);
    const secrets: Record<string, string> = {};
    for (const id of [...ids, 'bob']) secrets[id] = JSON.parse((await cli(['enroll', id, '--data', data, '--json'])).stdout).secret;
    const { run, url } = await startServe(['--data', data], { SEALDROP_LOG: 'silent' });
    const sockets: Client[] = [];
    try {
      const victims: Client[] = [];
      for (const id of ids) victims.push((await connect(url, { id, code: totpCode(secrets[id]!, Date.now()) })).socket);
      sockets.push(...victims);
      let bob = await connect(url, { id: 'bob', code: totpCode(secrets.bob!, Date.now()) });
      sockets.push(bob.socket);
      let token = bob.welcome.token;

      for (let i = 0; i < TRIALS; i++) {
        const victim = victims[i]!;
        expect(victim.connected, `trial ${i}`).to.equal(true);
        const dropped = next(victim, 'disconnect', 5000).then(() => Date.now());
        // Token logins back to back from before the revoke until after it: every one re-reads the store.
        let racing = true;
        let logins = 0;
        const race = (async () => {
          for (let n = 0; racing && n < 500; n++) {
            const r = await connect(url, { id: 'bob', token });
            token = r.welcome.token;
            r.socket.close();
            logins++;
          }
        })();
        const revoked = await cli(['revoke', ids[i]!, '--data', data]);
        const exitedAt = Date.now();
        expect(revoked.code, revoked.stderr).to.equal(0);
        const droppedAt = await dropped;
        racing = false;
        await race;
        expect(logins, `trial ${i}: logins raced`).to.be.greaterThan(0);
        expect(droppedAt - exitedAt, `trial ${i}: dropped ${droppedAt - exitedAt} ms after revoke exited`).to.be.lessThan(1000);
        // The other victims stay.
        for (const v of victims.slice(i + 1)) expect(v.connected).to.equal(true);
        expect((await refusal(url, { id: ids[i]!, code: totpCode(secrets[ids[i]!]!, Date.now()) })).code).to.equal('ERR_AUTH');
      }
      bob = await connect(url, { id: 'bob', token });
      sockets.push(bob.socket);
      expect((await bob.socket.timeout(2000).emitWithAck('peers', {})).ok).to.equal(true);
    } finally {
      for (const s of sockets) s.close();
      run.child.kill('SIGTERM');
      await run.exit;
    }
  });

  it('re-enrolling with --force cuts the live connection while code logins race it', async () => {
    const secrets: Record<string, string> = {};
    for (const id of ['alice', 'bob']) secrets[id] = JSON.parse((await cli(['enroll', id, '--data', data, '--json'])).stdout).secret;
    const { run, url } = await startServe(['--data', data], { SEALDROP_LOG: 'silent' });
    try {
      const alice = await connect(url, { id: 'alice', code: totpCode(secrets.alice!, Date.now()) });
      const dropped = next(alice.socket, 'disconnect', 5000);
      let racing = true;
      const race = (async () => {
        // Well-formed code logins for an account that does not exist: refused, but each reads the store.
        for (let n = 0; racing && n < 8; n++) await refusal(url, { id: 'nobody', code: '123456' });
      })();
      const forced = await cli(['enroll', 'alice', '--force', '--data', data, '--json']);
      expect(forced.code, forced.stderr).to.equal(0);
      await dropped;
      racing = false;
      await race;
      expect((await refusal(url, { id: 'alice', token: alice.welcome.token })).code).to.equal('ERR_AUTH');
    } finally {
      run.child.kill('SIGTERM');
      await run.exit;
    }
  });
});

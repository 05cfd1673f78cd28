/**
 * Lockout abuse: browser pages refused by Origin before auth, per-address failure
 * limits in front of per-account ones, and an owner with a session token never
 * locked out by someone else's guesses.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { io as ioClient } from 'socket.io-client';
import { LOCK_AFTER } from '../rendezvous/login/throttle.js';
import { totpCode } from '../shared/totp.js';
import { type Refused, runRendezvousCli as cli, startRendezvous, startServe, tempDir, type TestRendezvous } from './helpers/rendezvous.js';

/** A login attempt with extra HTTP headers on the WebSocket handshake, as a browser or a proxy would send. */
function attempt(url: string, auth: object, headers: Record<string, string>): Promise<Refused | 'ok'> {
  const socket = ioClient(url, { transports: ['websocket'], auth, reconnection: false, forceNew: true, timeout: 5000, extraHeaders: headers });
  return new Promise((resolve) => {
    socket.once('welcome', () => { socket.close(); resolve('ok'); });
    socket.once('connect_error', (err) => {
      socket.close();
      const data = (err as { data?: { code?: string; retryAfter?: number } }).data ?? {};
      resolve({ message: err.message, code: data.code, retryAfter: data.retryAfter });
    });
  });
}

const WRONG = '000000';

describe('rendezvous lockout abuse and Origin', () => {
  let t: TestRendezvous;
  afterEach(async () => { await t?.stop(); });

  it('refuses a browser Origin before auth: no guess is counted; Node clients and listed origins get in', async () => {
    t = await startRendezvous({ accounts: ['alice'], allowOrigins: ['https://app.example:443'] });
    for (let i = 0; i < LOCK_AFTER + 5; i++) {
      const r = await attempt(t.url, { id: 'alice', code: WRONG }, { origin: 'https://evil.example' });
      expect(r).to.not.equal('ok');
      expect((r as Refused).code).to.equal('ERR_AUTH');
      expect((r as Refused).message).to.match(/web pages at https:\/\/evil\.example/).and.match(/--allow-origin/);
    }
    expect(await attempt(t.url, { id: 'alice', code: t.code('alice') }, { origin: 'null' })).to.have.property('code', 'ERR_AUTH');
    // Nothing was counted: the owner's code still works, from a Node client (no Origin) …
    expect(t.inbound.filter((e) => e.event === 'handshake')).to.have.length(LOCK_AFTER + 6);
    (await t.login('alice')).socket.close();
    // … and from the listed origin.
    t.clock.advance(30_000);
    expect(await attempt(t.url, { id: 'alice', code: t.code('alice') }, { origin: 'https://app.example' })).to.equal('ok');
  });

  it('limits failures per address in front of the per-account limits', async () => {
    t = await startRendezvous({ accounts: ['alice', 'bob'] });
    // Ten wrong guesses spread over ten IDs: no account reaches its own throttle, the address does.
    for (let i = 0; i < 10; i++) expect((await attempt(t.url, { id: `guess${i}`, code: WRONG }, {}) as Refused).code).to.equal('ERR_AUTH');
    const r = await attempt(t.url, { id: 'bob', code: t.code('bob') }, {}) as Refused;
    expect(r.code).to.equal('ERR_THROTTLED');
    expect(r.message).to.match(/from this address/);
    // Spoofed X-Forwarded-For changes nothing without --trust-proxy.
    expect((await attempt(t.url, { id: 'bob', code: t.code('bob') }, { 'x-forwarded-for': '203.0.113.9' }) as Refused).code).to.equal('ERR_THROTTLED');
    // A token login is not a guess: an owner with a token gets in from the same address.
    t.clock.advance(1000);
    const bob = await t.login('bob');
    expect(await attempt(t.url, { id: 'alice', token: bob.welcome.token }, {})).to.have.property('code', 'ERR_AUTH');
    expect(await attempt(t.url, { id: 'bob', token: bob.welcome.token }, {})).to.equal('ok');
  });

  it('an owner with a session token is never locked out by guesses from many addresses (--trust-proxy)', async () => {
    t = await startRendezvous({ accounts: ['alice'], trustProxy: true });
    const owner = await t.login('alice', {}); // from the proxy's own address: no header
    for (let i = 0; i < LOCK_AFTER; i++) {
      // Each guess from another client address, as the proxy reports it (only the last hop counts).
      const r = await attempt(t.url, { id: 'alice', code: WRONG }, { 'x-forwarded-for': `198.51.100.7, 10.9.${i}.1` }) as Refused;
      expect(r.code, `guess ${i}`).to.equal('ERR_AUTH');
      t.clock.advance(61_000);
    }
    expect(t.logs.some((l) => l.includes('"event":"auth.failed"') && l.includes('"addr":"10.9.3.1"'))).to.equal(true);
    expect((await attempt(t.url, { id: 'alice', code: t.code('alice') }, { 'x-forwarded-for': '10.200.0.1' }) as Refused).code).to.equal('ERR_LOCKED');
    // The owner's token still works, and so does the one it gets back, while the account is locked to codes.
    const back = await attempt(t.url, { id: 'alice', token: owner.welcome.token }, { 'x-forwarded-for': '10.9.1.1' });
    expect(back).to.equal('ok');
  });

  it('serve --allow-origin takes origins and refuses what is not one', async () => {
    const root = tempDir('sealdrop-origin-');
    const data = join(root, 'data');
    try {
      const secret = JSON.parse((await cli(['enroll', 'alice', '--data', data, '--json'])).stdout).secret;
      const bad = await cli(['serve', '--port', '0', '--data', data, '--allow-origin', 'example.org/app']);
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.match(/--allow-origin/).and.include('ERR_CONFIG');
      const { run, url } = await startServe(['--data', data, '--allow-origin', 'https://a.example', '--allow-origin', 'http://127.0.0.1:8080'], { SEALDROP_LOG: 'silent' });
      try {
        expect(await attempt(url, { id: 'alice', code: WRONG }, { origin: 'https://b.example' })).to.have.property('message').that.match(/web pages/);
        expect(await attempt(url, { id: 'alice', code: totpCode(secret, Date.now()) }, { origin: 'http://127.0.0.1:8080' })).to.equal('ok');
      } finally {
        run.child.kill('SIGTERM');
        await run.exit;
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/**
 * Issue 12, items 3–8: what hostile clients cannot wear down. Real sockets against
 * a real server; raw WebSocket frames where socket.io-client would not send them.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createLogger } from '../rendezvous/log.js';
import { frameHeader, rawUpgrade, rawWs, rssOf, sleep } from './helpers/raw-socket.js';
import { ask, type Client, next, type RawClient, startRendezvous, startServe, tempDir, type TestRendezvous } from './helpers/rendezvous.js';

const MiB = 1024 * 1024;

async function openSession(t: TestRendezvous, from: Client, to: Client, toId: string): Promise<string> {
  const res = await ask(from, 'session:open', { to: toId });
  expect(res.ok, JSON.stringify(res)).to.equal(true);
  return res.sid;
}

/** A receiving login that accepts every request and acks every relay frame. */
async function accepter(t: TestRendezvous, id: string): Promise<Client> {
  const socket = (await t.login(id, { receiving: true })).socket;
  socket.on('session:request', (_req, ack) => ack({ accept: true }));
  socket.on('relay:frame', (_sid, _frame, ack) => ack({ ok: true }));
  return socket;
}

const parsed = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe('rendezvous limits (issue 12)', function () {
  this.timeout(60_000);

  describe('before login (spawned server)', () => {
    let run: Awaited<ReturnType<typeof startServe>>['run'];
    let url: string;
    let port: number;
    let dataDir: string;
    before(async () => {
      dataDir = tempDir();
      ({ run, url } = await startServe(['--data', dataDir], { SEALDROP_LOG: 'silent' }));
      port = Number(new URL(url).port);
    });
    after(async () => {
      run.child.kill('SIGTERM');
      await run.exit;
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('a binary event before CONNECT closes the connection at once; 300 such sockets pin nothing', async () => {
      const pid = run.child.pid!;
      const before = await rssOf(pid);
      const attachment = Buffer.alloc(256 * 1024 - 1, 7);
      let opened = 0;
      let refused = 0;
      const started = Date.now();
      for (let wave = 0; wave < 6; wave++) {
        const sockets = await Promise.all(Array.from({ length: 50 }, () => rawWs(url)));
        await Promise.all(sockets.map(async ({ ws, closed }) => {
          if (ws.readyState !== ws.OPEN) { refused += 1; return; }
          opened += 1;
          ws.send('45300-["x",{"_placeholder":true,"num":0}]'); // announces 300 attachments
          for (let i = 0; i < 4 && ws.readyState === ws.OPEN; i++) ws.send(attachment);
          const code = await Promise.race([closed, sleep(2000).then(() => 'open')]);
          expect(code, 'the server closes a binary packet before login').to.not.equal('open');
        }));
      }
      expect(Date.now() - started).to.be.below(30_000);
      expect(opened + refused).to.equal(300);
      expect(opened).to.be.greaterThan(0);
      await sleep(1000);
      const grown = (await rssOf(pid)) - before;
      process.stdout.write(`      (binary before login: ${opened} opened, ${refused} refused at the upgrade; server RSS ${(grown / MiB).toFixed(1)} MiB)\n`);
      expect(grown).to.be.below(40 * MiB);
    });

    it('per-address and total caps on logins in progress; each holds at most a 4 KiB message until the 5 s deadline', async () => {
      const pid = run.child.pid!;
      await sleep(500);
      const before = await rssOf(pid);
      // A message larger than the pre-login limit closes the connection at its header.
      const big = (await rawUpgrade(port, '127.0.0.1'))!;
      const bigClosed = new Promise((r) => big.on('close', r));
      big.write(frameHeader(1, 5000));
      await Promise.race([bigClosed, sleep(2000).then(() => { throw new Error('a 5000-byte message before login was not refused'); })]);

      // 32 addresses × 9 upgrades: 8 each are taken (256 in all, the total cap), the 9th refused.
      const held: Array<{ closedAt: Promise<number> }> = [];
      let refused = 0;
      const started = Date.now();
      for (let a = 2; a < 34; a++) {
        for (let i = 0; i < 9; i++) {
          const sock = await rawUpgrade(port, `127.0.0.${a}`);
          if (!sock) { refused += 1; continue; }
          // Almost all of a 4096-byte text message: the server must hold it, waiting for the last byte.
          sock.write(Buffer.concat([frameHeader(1, 4096), Buffer.alloc(4095, 0x34)]));
          held.push({ closedAt: new Promise((r) => sock.on('close', () => r(Date.now()))) });
        }
      }
      expect(held.length).to.equal(256);
      expect(refused).to.equal(32);
      expect(await rawUpgrade(port, '127.0.0.100'), 'over the total cap').to.equal(null);
      await sleep(300);
      const grown = (await rssOf(pid)) - before;
      process.stdout.write(`      (256 logins in progress, each holding 4095 bytes: server RSS +${(grown / MiB).toFixed(1)} MiB, ${(grown / 256 / 1024).toFixed(1)} KiB each)\n`);
      expect(grown).to.be.below(48 * MiB);
      // The connect deadline closes every one of them.
      const closedAt = await Promise.all(held.map((h) => h.closedAt));
      expect(Math.max(...closedAt) - started).to.be.below(5_000 + 8_000);
      expect(Math.min(...closedAt) - started).to.be.above(4_000);
    });

    it('more than 3 CONNECT attempts on one connection close it', async () => {
      const { ws, closed, received } = await rawWs(url, '127.0.0.200');
      for (let i = 0; i < 10 && ws.readyState === ws.OPEN; i++) {
        ws.send(`40${JSON.stringify({ id: 'nobody', code: '000000' })}`);
        await sleep(50);
      }
      expect(await Promise.race([closed, sleep(2000).then(() => 'open')])).to.not.equal('open');
      expect(received.filter((m) => m.startsWith('44')).length).to.be.at.most(3);
    });
  });

  describe('after login (in-process server)', () => {
    let t: TestRendezvous;
    afterEach(async () => { await t?.stop(); });

    it('relay acks the receiver never sends and unanswered session requests leave no table entries', async () => {
      t = await startRendezvous({ accounts: ['alice', 'bob', 'carol'], relayAckTimeoutMs: 200, sessionRequestTimeoutMs: 200 });
      const alice = (await t.login('alice')).socket;
      const bob = await accepter(t, 'bob');
      bob.removeAllListeners('relay:frame');
      bob.on('relay:frame', () => {}); // never acks
      const sid = await openSession(t, alice, bob, 'bob');
      const answers = await Promise.all(Array.from({ length: 500 }, () => ask(alice, 'relay:frame', sid, randomBytes(30))));
      expect(answers.every((a) => a.code === 'ERR_TIMEOUT')).to.equal(true);
      expect(t.rv.tables().acks, 'relay acks left in bob\'s table').to.equal(0);

      const carol = (await t.login('carol', { receiving: true })).socket;
      carol.on('session:request', () => {}); // never answers
      const opens = await Promise.all([ask(alice, 'session:open', { to: 'carol' }), ask(alice, 'session:open', { to: 'carol' })]);
      expect(opens.map((o) => o.code)).to.deep.equal(['ERR_TIMEOUT', 'ERR_TIMEOUT']);
      expect(t.rv.tables()).to.include({ acks: 0, pendingSessions: 0 });
    });

    it('relay slots are shared between accounts, and idle relaying sessions give theirs back', async () => {
      t = await startRendezvous({ accounts: ['mallory', 'trudy', 'alice', 'bob'], maxRelaySessions: 16, relayIdleMs: 300 });
      const mallory = (await t.login('mallory')).socket;
      const trudy = await accepter(t, 'trudy');
      const refusals: string[] = [];
      for (let i = 0; i < 16; i++) {
        const sid = await openSession(t, mallory, trudy, 'trudy');
        const res = await ask(mallory, 'relay:frame', sid, randomBytes(30));
        if (!res.ok) refusals.push(res.code);
      }
      expect(refusals).to.have.length(14); // 16 / 8 = 2 slots for the pair
      expect(new Set(refusals)).to.deep.equal(new Set(['ERR_RELAY_LIMIT']));
      expect(t.rv.relayStats.activeSessions).to.equal(2);
      const alice = (await t.login('alice')).socket;
      const bob = await accepter(t, 'bob');
      const sid = await openSession(t, alice, bob, 'bob');
      expect(await ask(alice, 'relay:frame', sid, randomBytes(30))).to.deep.equal({ ok: true });
      // Nothing relayed for 300 ms: every slot is free again, and the session still relays.
      await sleep(900);
      expect(t.rv.tables().relaySessions).to.equal(0);
      expect(await ask(alice, 'relay:frame', sid, randomBytes(30))).to.deep.equal({ ok: true });
      expect(t.logs.join('\n')).to.include('"event":"relay.idle"');
    });

    it('session:open spam reaches the receiver as a few prompts and cannot make it busy for others', async () => {
      t = await startRendezvous({ accounts: ['alice', 'bob', 'carol'], sessionRequestTimeoutMs: 1000 });
      const bob = (await t.login('bob', { receiving: true })).socket;
      const prompts: string[] = [];
      let declining = false;
      bob.on('session:request', (req, ack) => {
        prompts.push(req.from);
        if (req.from === 'carol' || declining) ack({ accept: false });
      });
      const alice = (await t.login('alice')).socket;
      const gone = next(alice, 'disconnect', 5000);
      const answers = await Promise.allSettled(Array.from({ length: 300 }, () => ask(alice, 'session:open', { to: 'bob' })));
      await gone; // out of strikes
      const codes = answers.map((a) => (a.status === 'fulfilled' ? a.value.code : 'no answer'));
      expect(codes).to.include('ERR_THROTTLED');
      expect(prompts.filter((p) => p === 'alice').length, 'prompts from alice').to.be.at.most(2);
      const carol = (await t.login('carol')).socket;
      expect((await ask(carol, 'session:open', { to: 'bob' })).code).to.equal('ERR_REJECTED'); // reached bob, who answered
      expect(prompts).to.include('carol');

      // Declined at once, requests free their place at once: the rates (this connection's 20 then 2/s,
      // under the pair's 60 then 5/s) still bound the prompts.
      declining = true;
      prompts.length = 0;
      t.clock.advance(30_000); // the next TOTP step: the last code is spent
      const again = (await t.login('alice')).socket;
      const started = Date.now();
      for (let i = 0; i < 60 && again.connected && Date.now() - started < 5000; i++) {
        await ask(again, 'session:open', { to: 'bob' }).catch(() => undefined);
      }
      expect(prompts.filter((p) => p === 'alice').length).to.be.at.most(32);
    });

    it('floods get ERR_THROTTLED, then the connection is closed; repeated log lines are summarized', async () => {
      const lines: string[] = [];
      t = await startRendezvous({
        accounts: ['alice', 'bob'],
        logger: createLogger({ write: (l) => lines.push(l), repeat: { lines: 20, windowMs: 500 } }),
      });
      const alice = (await t.login('alice')).socket;
      const answers = await Promise.allSettled(Array.from({ length: 100 }, () => ask(alice, 'peers', {})));
      const values = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
      expect(values.filter((v) => v.ok).length).to.be.within(20, 30);
      const limited = values.find((v) => v.code === 'ERR_THROTTLED');
      expect(limited.message).to.match(/too many peers on this connection/);

      const bob = (await t.login('bob')).socket;
      const gone = next(bob, 'disconnect', 10_000);
      const started = Date.now();
      for (let i = 0; i < 10_000 && bob.connected; i++) (bob as RawClient).emit('no-such-event', i);
      await gone;
      expect(Date.now() - started).to.be.below(10_000);
      await sleep(800);
      const events = parsed(lines);
      expect(events.filter((e) => e.event === 'event.unknown').length).to.be.at.most(20);
      const summary = events.find((e) => e.event === 'log.suppressed' && e.of === 'event.unknown');
      expect(summary, 'a summary of the suppressed lines').to.not.equal(undefined);
      expect(summary!.message).to.match(/^… [\d,]+ more like this in the last \d+ s$/);
      expect(events.some((e) => e.event === 'socket.cut' && e.id === 'bob')).to.equal(true);
    });

    it('unauthenticated CONNECT spam logs a bounded, summarized number of auth.failed lines', async () => {
      const lines: string[] = [];
      t = await startRendezvous({
        accounts: ['alice'],
        logger: createLogger({ write: (l) => lines.push(l), repeat: { lines: 20, windowMs: 500 } }),
      });
      const started = Date.now();
      for (let c = 0; c < 20; c++) {
        const { ws, closed } = await rawWs(t.url);
        for (let i = 0; i < 10 && ws.readyState === ws.OPEN; i++) ws.send(`40${JSON.stringify({ id: 'alice', code: '000000' })}`);
        await Promise.race([closed, sleep(2000)]);
        ws.terminate();
      }
      expect(Date.now() - started).to.be.below(20_000);
      await sleep(800);
      const events = parsed(lines);
      expect(events.filter((e) => e.event === 'auth.failed').length).to.be.at.most(20);
      const suppressed = events.filter((e) => e.event === 'log.suppressed' && e.of === 'auth.failed')
        .reduce((n, e) => n + (e.count as number), 0);
      expect(suppressed + events.filter((e) => e.event === 'auth.failed').length).to.be.at.most(20 * 3);
    });

    it('a client cannot forge a log line\'s event, and what it names is made printable', async () => {
      t = await startRendezvous({ accounts: ['alice'] });
      const alice = (await t.login('alice')).socket;
      const before = parsed(t.logs).filter((e) => e.event === 'auth.ok').length;
      for (const name of ['auth.ok', 'auth.failed', 'store.unreadable', 'x\u001b[31m\u2028\u202e\u0085y']) {
        expect((await ask(alice, name, {})).code).to.equal('ERR_BAD_INPUT');
      }
      const events = parsed(t.logs);
      expect(events.filter((e) => e.event === 'auth.ok').length).to.equal(before);
      expect(events.filter((e) => e.event === 'auth.failed' || e.event === 'store.unreadable')).to.deep.equal([]);
      const unknown = events.filter((e) => e.event === 'event.unknown').map((e) => e.name);
      expect(unknown).to.deep.equal(['auth.ok', 'auth.failed', 'store.unreadable', 'x\\u{001B}[31m\\u{2028}\\u{202E}\\u{0085}y']);

      // The logger itself: its own fields win whatever a caller passes.
      const lines: string[] = [];
      createLogger({ write: (l) => lines.push(l) }).warn('event.unknown', { event: 'auth.ok', level: 'error', time: 'then' });
      expect(JSON.parse(lines[0]!)).to.include({ event: 'event.unknown', level: 'warn', 'field.event': 'auth.ok', 'field.level': 'error', 'field.time': 'then' });
    });
  });
});

import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { MAX_FRAME_SIZE, MAX_SIGNAL_SIZE, MAX_SOCKET_MESSAGE } from '../shared/constants.js';
import { ask, type Client, next, type RawClient, startRendezvous, type TestRendezvous } from './helpers/rendezvous.js';

const hello = {
  type: 'hello', v: 1,
  identityKey: randomBytes(32).toString('base64'),
  ephemeralKey: randomBytes(32).toString('base64'),
  signature: randomBytes(64).toString('base64'),
};
const offer = { type: 'webrtc', data: { type: 'offer', sdp: 'v=0 fake sdp' } };

interface Pair { alice: Client; bob: Client; sid: string }

/** alice opens a session to bob (receiving), who answers `accept`. */
async function openSession(t: TestRendezvous, accept = true): Promise<Pair & { res: any; request: any }> {
  const alice = (await t.login('alice')).socket;
  const bob = (await t.login('bob', { receiving: true })).socket;
  let request: any;
  bob.on('session:request', (req, ack) => { request = req; ack({ accept }); });
  const res = await ask(alice, 'session:open', { to: 'bob' });
  return { alice, bob, sid: res.sid, res, request };
}

/** Collects every event of one kind a socket receives. */
function collect(socket: Client | RawClient, event: string): unknown[][] {
  const seen: unknown[][] = [];
  (socket as RawClient).on(event, (...args: unknown[]) => seen.push(args.filter((a) => typeof a !== 'function')));
  return seen;
}

const settle = () => new Promise((r) => setTimeout(r, 100));

describe('rendezvous sessions and signaling', () => {
  let t: TestRendezvous;
  beforeEach(async () => { t = await startRendezvous({ accounts: ['alice', 'bob', 'carol'], sessionRequestTimeoutMs: 300 }); });
  afterEach(async () => { await t.stop(); });

  it('lists who is online and who is receiving', async () => {
    const alice = (await t.login('alice')).socket;
    await t.login('bob', { receiving: true });
    await t.login('carol');
    const res = await ask(alice, 'peers', {});
    expect(res).to.deep.equal({ ok: true, peers: [{ id: 'bob', receiving: true }, { id: 'carol', receiving: false }] });
  });

  it('refuses sessions to yourself, to offline and to non-receiving peers', async () => {
    const alice = (await t.login('alice')).socket;
    await t.login('carol');
    expect((await ask(alice, 'session:open', { to: 'alice' })).code).to.equal('ERR_BAD_INPUT');
    expect((await ask(alice, 'session:open', { to: 'dave' })).code).to.equal('ERR_PEER_OFFLINE');
    expect((await ask(alice, 'session:open', { to: 'carol' })).code).to.equal('ERR_PEER_OFFLINE');
  });

  it('forwards signals both ways within an accepted session, with `from` stamped by the server', async () => {
    const { alice, bob, sid, res, request } = await openSession(t);
    expect(res).to.deep.equal({ ok: true, sid });
    expect(sid).to.match(/^[0-9a-f]{32}$/);
    expect(request).to.deep.equal({ sid, from: 'alice' });
    const atBob = next(bob, 'signal');
    expect(await ask(alice, 'signal', { sid, data: hello })).to.deep.equal({ ok: true });
    expect((await atBob)[0]).to.deep.equal({ sid, from: 'alice', data: hello });
    const atAlice = next(alice, 'signal');
    expect(await ask(bob, 'signal', { sid, data: offer })).to.deep.equal({ ok: true });
    expect((await atAlice)[0]).to.deep.equal({ sid, from: 'bob', data: offer });
    // The inbound hook saw what the server received, and the log holds none of it.
    expect(t.inbound.filter((e) => e.event === 'signal').map((e) => e.args)).to.deep.equal([[{ sid, data: hello }], [{ sid, data: offer }]]);
    expect(t.logs.join('\n')).to.include('session.opened').and.not.include(hello.signature).and.not.include('fake sdp');
  });

  it('lets nobody speak as someone else or into a session they are not in', async () => {
    const { alice, bob, sid } = await openSession(t);
    const carol = (await t.login('carol', { receiving: true })).socket;
    const atBob = collect(bob, 'signal');
    const closedAtBob = collect(bob, 'session:closed');
    const spoof = await ask(alice, 'signal', { sid, from: 'carol', data: hello });
    expect(spoof.code).to.equal('ERR_BAD_INPUT');
    expect(spoof.message).to.match(/from/);
    expect((await ask(carol, 'signal', { sid, data: hello })).code).to.equal('ERR_BAD_INPUT');
    expect((await ask(carol, 'session:close', { sid, reason: 'hijack' })).code).to.equal('ERR_BAD_INPUT');
    expect((await ask(carol, 'relay:frame', sid, randomBytes(64))).code).to.equal('ERR_BAD_INPUT');
    expect((await ask(alice, 'signal', { sid: 'f'.repeat(32), data: hello })).code).to.equal('ERR_BAD_INPUT');
    await settle();
    expect(atBob).to.deep.equal([]);
    expect(closedAtBob).to.deep.equal([]);
  });

  it('does not forward signals before the receiver accepts', async () => {
    const alice = (await t.login('alice')).socket;
    const bob = (await t.login('bob', { receiving: true })).socket;
    const request = next<any>(bob, 'session:request');
    const opening = ask(alice, 'session:open', { to: 'bob' });
    const [req, answer] = await request as [any, (a: object) => void];
    expect((await ask(alice, 'signal', { sid: req.sid, data: hello })).code).to.equal('ERR_BAD_INPUT');
    expect((await ask(bob, 'signal', { sid: req.sid, data: hello })).code).to.equal('ERR_BAD_INPUT');
    answer({ accept: true });
    expect((await opening).ok).to.equal(true);
  });

  it('reports a declined, malformed or unanswered request', async () => {
    const declined = await openSession(t, false);
    expect(declined.res).to.include({ ok: false, code: 'ERR_REJECTED' });
    declined.bob.removeAllListeners('session:request');
    declined.bob.on('session:request', (_req, ack) => ack({ accept: 'yes' } as never));
    expect((await ask(declined.alice, 'session:open', { to: 'bob' })).code).to.equal('ERR_REJECTED');
    declined.bob.removeAllListeners('session:request');
    const closed = next<any>(declined.bob, 'session:closed');
    const res = await ask(declined.alice, 'session:open', { to: 'bob' });
    expect(res.code).to.equal('ERR_TIMEOUT');
    expect(res.message).to.match(/did not answer/);
    expect((await closed)[0].reason).to.match(/timed out/);
  });

  it('session:close tells the other side, and the session is gone', async () => {
    const { alice, bob, sid } = await openSession(t);
    const closed = next<any>(bob, 'session:closed');
    alice.emit('session:close', { sid, reason: 'done' });
    expect((await closed)[0]).to.deep.equal({ sid, reason: 'done' });
    expect((await ask(bob, 'signal', { sid, data: hello })).code).to.equal('ERR_BAD_INPUT');
  });

  it('a disconnect closes the session on the other side', async () => {
    const { alice, bob, sid } = await openSession(t);
    const closed = next<any>(alice, 'session:closed');
    bob.close();
    expect((await closed)[0]).to.deep.equal({ sid, reason: 'peer disconnected' });
    expect((await ask(alice, 'signal', { sid, data: hello })).code).to.equal('ERR_BAD_INPUT');
    expect(t.rv.io.of('/').sockets.size).to.equal(1);
  });

  it('caps sessions per connection', async () => {
    const { alice } = await openSession(t);
    for (let i = 1; i < 16; i++) expect((await ask(alice, 'session:open', { to: 'bob' })).ok).to.equal(true);
    const res = await ask(alice, 'session:open', { to: 'bob' });
    expect(res.code).to.equal('ERR_BAD_INPUT');
    expect(res.message).to.match(/16 sessions/);
  });

  it('answers bad payloads with ERR_BAD_INPUT and keeps serving', async () => {
    const { alice, sid } = await openSession(t);
    const carol = (await t.login('carol')).socket;
    const bad: Array<[string, unknown[]]> = [
      ['peers', ['x']], ['peers', [null]], ['peers', [{ extra: 1 }]], ['peers', []],
      ['session:open', [{ to: 123 }]], ['session:open', [{ to: '../etc' }]], ['session:open', ['bob']], ['session:open', [[]]],
      ['session:open', [{ to: 'bob' }, 'extra']],
      ['signal', [42]], ['signal', [{ sid, data: 'hi' }]], ['signal', [{ sid, data: { type: 'unknown' } }]],
      ['signal', [{ sid: 'not-hex', data: hello }]], ['signal', [{ sid, data: { ...hello, v: 0 } }]],
      ['signal', [{ sid, data: { type: 'webrtc', data: { sdp: 'x'.repeat(MAX_SIGNAL_SIZE) } } }]],
      ['session:close', [{ sid, reason: 'x'.repeat(201) }]],
      ['relay:frame', [sid, 'not binary']], ['relay:frame', [sid, Buffer.alloc(0)]],
      ['relay:frame', [sid, Buffer.alloc(MAX_FRAME_SIZE + 1)]], ['relay:frame', [{ sid }, Buffer.alloc(10)]],
      ['no-such-event', [{}]], ['welcome', [{}]],
    ];
    for (const [event, args] of bad) {
      const res = await ask(alice, event, ...args);
      expect(res, `${event} ${JSON.stringify(args).slice(0, 80)}`).to.include({ ok: false, code: 'ERR_BAD_INPUT' });
      expect(res.message).to.be.a('string').and.not.equal('');
    }
    // Events without an ack are ignored, not fatal.
    (alice as RawClient).emit('no-such-event', 1, 2, 3);
    (alice as RawClient).emit('signal', 'garbage');
    expect(alice.connected).to.equal(true);
    expect((await ask(alice, 'peers', {})).ok).to.equal(true);
    // A message over the size cap costs its sender the connection, nobody else.
    const dropped = next(alice, 'disconnect', 5000);
    (alice as RawClient).emit('signal', { sid, data: { type: 'webrtc', data: { sdp: 'x'.repeat(MAX_SOCKET_MESSAGE) } } });
    await dropped;
    expect((await ask(carol, 'peers', {})).peers.map((p: any) => p.id)).to.deep.equal(['bob']);
  });
});

describe('rendezvous relay', () => {
  let t: TestRendezvous;
  afterEach(async () => { await t.stop(); });

  it('forwards frames byte-identical with an ack round trip', async () => {
    t = await startRendezvous({ accounts: ['alice', 'bob'] });
    const { alice, bob, sid } = await openSession(t);
    const got: Buffer[] = [];
    bob.on('relay:frame', (s, frame, ack) => { expect(s).to.equal(sid); got.push(frame); ack({ ok: true }); });
    const sent = [randomBytes(MAX_FRAME_SIZE), randomBytes(1), randomBytes(1000)];
    for (const frame of sent) expect(await ask(alice, 'relay:frame', sid, frame)).to.deep.equal({ ok: true });
    expect(got.map((b) => b.toString('hex'))).to.deep.equal(sent.map((b) => b.toString('hex')));
    // Both directions.
    const back = next<Buffer>(alice, 'relay:frame');
    const reply = bob.timeout(3000).emitWithAck('relay:frame', sid, sent[2]!);
    const [s, frame, ack] = await back as unknown as [string, Buffer, (r: object) => void];
    expect([s, frame.equals(sent[2]!)]).to.deep.equal([sid, true]);
    ack({ ok: true });
    expect(await reply).to.deep.equal({ ok: true });
    expect(t.rv.relayStats).to.include({ frames: 4, bytes: MAX_FRAME_SIZE + 1 + 2000, activeSessions: 1 });
    const hex = sent[2]!.toString('hex');
    expect(t.logs.join('\n')).to.include('relay.start').and.not.include(hex.slice(0, 32));
    const closed = next(bob, 'session:closed');
    alice.emit('session:close', { sid });
    await closed;
    expect(t.rv.relayStats.activeSessions).to.equal(0);
    expect(t.logs.join('\n')).to.match(new RegExp(`"event":"relay.end".*"bytes":${MAX_FRAME_SIZE + 2001}`));
  });

  it('refuses frames beyond the unacked window, and accepts again after acks', async () => {
    t = await startRendezvous({ accounts: ['alice', 'bob'], relayWindowBytes: 100_000 });
    const { alice, bob, sid } = await openSession(t);
    const held: Array<(r: any) => void> = [];
    bob.on('relay:frame', (_s, _f, ack) => held.push(ack));
    const first = ask(alice, 'relay:frame', sid, randomBytes(60_000));
    const over = await ask(alice, 'relay:frame', sid, randomBytes(60_000));
    expect(over).to.include({ ok: false, code: 'ERR_RELAY_LIMIT' });
    expect(over.message).to.match(/100000 relayed bytes/);
    await settle();
    held.shift()!({ ok: true });
    expect(await first).to.deep.equal({ ok: true });
    const third = ask(alice, 'relay:frame', sid, randomBytes(60_000));
    await settle();
    held.shift()!({ ok: false, code: 'ERR_DECRYPT', message: 'bad chunk' });
    expect(await third).to.deep.equal({ ok: false, code: 'ERR_DECRYPT', message: 'bad chunk' });
  });

  it('fails a frame the receiver never takes after the ack timeout, and frees its room in the window', async () => {
    t = await startRendezvous({ accounts: ['alice', 'bob'], relayAckTimeoutMs: 200, relayWindowBytes: 100_000 });
    const { alice, bob, sid } = await openSession(t);
    let taking = false;
    bob.on('relay:frame', (_s, _f, ack) => { if (taking) ack({ ok: true }); });
    const started = Date.now();
    const ignored = await ask(alice, 'relay:frame', sid, randomBytes(90_000));
    expect(ignored.code).to.equal('ERR_TIMEOUT');
    expect(ignored.message).to.match(/did not take the frame within 0.2 s/);
    expect(Date.now() - started).to.be.within(150, 2_000);
    taking = true;
    expect(await ask(alice, 'relay:frame', sid, randomBytes(90_000))).to.deep.equal({ ok: true });
  });

  it('settles frames in flight when the receiver disconnects', async () => {
    t = await startRendezvous({ accounts: ['alice', 'bob'] });
    const { alice, bob, sid } = await openSession(t);
    bob.on('relay:frame', () => bob.close());
    const res = await ask(alice, 'relay:frame', sid, randomBytes(100));
    expect(res.code).to.equal('ERR_PEER_GONE');
  });

  it('enforces the daily quota per account and the cap on relaying sessions', async () => {
    t = await startRendezvous({ accounts: ['alice', 'bob'], relayBytesPerDay: 150_000, maxRelaySessions: 1 });
    const { alice, bob, sid } = await openSession(t);
    bob.on('relay:frame', (_s, _f, ack) => ack({ ok: true }));
    expect(await ask(alice, 'relay:frame', sid, randomBytes(65_000))).to.deep.equal({ ok: true });
    expect(await ask(alice, 'relay:frame', sid, randomBytes(65_000))).to.deep.equal({ ok: true });
    const quota = await ask(alice, 'relay:frame', sid, randomBytes(65_000));
    expect(quota.code).to.equal('ERR_RELAY_LIMIT');
    expect(quota.message).to.match(/quota of 150000 bytes/);
    t.clock.advance(86_400_000); // a new day, a new quota
    expect(await ask(alice, 'relay:frame', sid, randomBytes(65_000))).to.deep.equal({ ok: true });
    const second = await ask(alice, 'session:open', { to: 'bob' });
    const busy = await ask(alice, 'relay:frame', second.sid, randomBytes(10));
    expect(busy.code).to.equal('ERR_RELAY_LIMIT');
    expect(busy.message).to.match(/already relaying 1 sessions/);
  });

  it('paces a session to the relay rate by delaying acks', async () => {
    t = await startRendezvous({ accounts: ['alice', 'bob'], relayRateBytesPerSec: 200_000 });
    const { alice, bob, sid } = await openSession(t);
    bob.on('relay:frame', (_s, _f, ack) => ack({ ok: true }));
    const started = performance.now();
    // 325 KB against a 200 KB burst refilling at 200 KB/s: about 0.6 s.
    for (let i = 0; i < 5; i++) expect(await ask(alice, 'relay:frame', sid, randomBytes(65_000))).to.deep.equal({ ok: true });
    expect(performance.now() - started).to.be.within(450, 2000);
  });
});

/**
 * Relay batches (`relay:frames`): up to four frames in one relay message. The
 * rendezvous checks only the grouping, hands a batch on as it is to a peer that
 * asked for batches and frame by frame to one that did not; the peer splits it
 * and checks every frame as before. Against a rendezvous that breaks or reorders
 * a batch, or that offers none, a transfer fails cleanly or falls back.
 */
import { expect } from 'chai';
import { io as ioClient } from 'socket.io-client';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { MAX_FRAME_SIZE } from '../shared/constants.js';
import { batchBytes, LARGE_BATCH_FRAMES, MAX_BATCH_FRAMES, MAX_RELAY_BATCH, putFrame, splitBatch } from '../shared/relay-batch.js';
import { totpCode } from '../shared/totp.js';
import { errorOf, listTree, randomFile, sha256File, tempDir } from './helpers/cli.js';
import { startMitmRendezvous, type MitmRendezvous } from './helpers/mitm-rendezvous.js';
import { ask, type Client, startRendezvous, type TestRendezvous } from './helpers/rendezvous.js';
import { startWorld, type World } from './helpers/world.js';

const batchOf = (frames: Buffer[]) => {
  const out = Buffer.alloc(frames.reduce((n, f) => n + 4 + f.length, 0));
  frames.reduce((at, f) => putFrame(out, at, f), 0);
  return out;
};
const lengths = (...ns: number[]) => Buffer.concat(ns.map((n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; }));

describe('relay batches: the format', () => {
  it('splits what putFrame wrote, frame for frame, and refuses every other shape with ERR_PROTOCOL', () => {
    const frames = [randomBytes(MAX_FRAME_SIZE), randomBytes(1), randomBytes(30), randomBytes(MAX_FRAME_SIZE)];
    const batch = batchOf(frames);
    expect(batch.length).to.equal(batchBytes(4) - 2 * (MAX_FRAME_SIZE - 1) + 29);
    expect(splitBatch(batch, MAX_BATCH_FRAMES).map((f) => f.toString('hex'))).to.deep.equal(frames.map((f) => f.toString('hex')));
    const bad: Array<[string, Buffer, RegExp]> = [
      ['empty', Buffer.alloc(0), /no frame/],
      ['a zero-length frame', lengths(0), /frame of 0 bytes/],
      ['a frame over the limit', Buffer.concat([lengths(MAX_FRAME_SIZE + 1), Buffer.alloc(MAX_FRAME_SIZE + 1)]), /frame of 131103 bytes/],
      ['a length cut short', Buffer.from([0, 0, 1]), /inside a frame length/],
      ['a frame cut short', Buffer.concat([lengths(10), Buffer.alloc(9)]), /ends inside a frame/],
      ['a trailing byte', Buffer.concat([batchOf([randomBytes(10)]), Buffer.alloc(1)]), /inside a frame length/],
      ['five frames', batchOf(Array.from({ length: MAX_BATCH_FRAMES + 1 }, () => randomBytes(8))), /more than 4 frames/],
      ['a huge length', lengths(0xffffffff), /frame of 4294967295 bytes/],
      ['over the batch size', Buffer.alloc(batchBytes(4) + 1), /exceeds 524424/],
    ];
    for (const [what, b, why] of bad) {
      expect(() => splitBatch(b, MAX_BATCH_FRAMES), what).to.throw(why).with.property('code', 'ERR_PROTOCOL');
    }
  });

  it('large batches: sixteen full frames (2,097,696 bytes) split, a seventeenth frame or one byte more does not', () => {
    expect(MAX_RELAY_BATCH).to.equal(2_097_696);
    const frames = Array.from({ length: LARGE_BATCH_FRAMES }, (_, i) => randomBytes(i === 7 ? 5 : MAX_FRAME_SIZE));
    expect(splitBatch(batchOf(frames), LARGE_BATCH_FRAMES).map((f) => f.length)).to.deep.equal(frames.map((f) => f.length));
    expect(() => splitBatch(batchOf([...frames, randomBytes(1)]), LARGE_BATCH_FRAMES)).to.throw(/more than 16 frames/);
    expect(() => splitBatch(Buffer.alloc(MAX_RELAY_BATCH + 1), LARGE_BATCH_FRAMES)).to.throw(/exceeds 2097696/);
    // Sixteen frames are not a batch for a peer that agreed to four.
    expect(() => splitBatch(batchOf(frames), MAX_BATCH_FRAMES)).to.throw(/exceeds 524424|more than 4 frames/).with.property('code', 'ERR_PROTOCOL');
  });
});

describe('relay batches: the rendezvous', () => {
  let t: TestRendezvous;
  afterEach(async () => { await t.stop(); });

  async function open(receiverAuth: object): Promise<{ alice: Client; bob: Client; sid: string; welcome: { relayBatch?: true } }> {
    const { socket: alice, welcome } = await t.login('alice');
    const { socket: bob } = await t.login('bob', { receiving: true, ...receiverAuth });
    bob.on('session:request', (_req, ack) => ack({ accept: true }));
    const res = await ask(alice, 'session:open', { to: 'bob' });
    expect(res.ok, JSON.stringify(res)).to.equal(true);
    return { alice, bob, sid: res.sid, welcome };
  }

  it('says so in welcome, and hands a batch as it is to a peer that asked for batches, acked once', async () => {
    t = await startRendezvous({ accounts: ['alice', 'bob'] });
    const { alice, bob, sid, welcome } = await open({ relayBatch: true });
    expect(welcome.relayBatch).to.equal(true);
    const frames = [randomBytes(MAX_FRAME_SIZE), randomBytes(1000), randomBytes(7)];
    const batch = batchOf(frames);
    const got: Buffer[] = [];
    bob.on('relay:frames', (s, b, ack) => { expect(s).to.equal(sid); got.push(b); ack({ ok: true }); });
    bob.on('relay:frame', () => expect.fail('a batch-taking peer got a single frame'));
    expect(await ask(alice, 'relay:frames', sid, batch)).to.deep.equal({ ok: true });
    expect(got.map((b) => b.equals(batch))).to.deep.equal([true]);
    expect(t.rv.relayStats).to.include({ frames: 3, bytes: MAX_FRAME_SIZE + 1007 });
  });

  it('splits a batch into single frames, in order, for a peer that did not ask; ok once all are taken, else the first refusal', async () => {
    t = await startRendezvous({ accounts: ['alice', 'bob'] });
    const { alice, bob, sid } = await open({});
    const got: Buffer[] = [];
    let refuseSecond = false;
    bob.on('relay:frame', (_s, f, ack) => {
      got.push(f);
      ack(refuseSecond && got.length === 2 ? { ok: false, code: 'ERR_DECRYPT', message: 'bad frame' } : { ok: true });
    });
    bob.on('relay:frames', () => expect.fail('a peer that did not ask got a batch'));
    const frames = [randomBytes(100), randomBytes(MAX_FRAME_SIZE), randomBytes(3), randomBytes(4000)];
    expect(await ask(alice, 'relay:frames', sid, batchOf(frames))).to.deep.equal({ ok: true });
    expect(got.map((f) => f.toString('hex'))).to.deep.equal(frames.map((f) => f.toString('hex')));
    got.length = 0;
    refuseSecond = true;
    expect(await ask(alice, 'relay:frames', sid, batchOf(frames.slice(0, 3)))).to.deep.equal({ ok: false, code: 'ERR_DECRYPT', message: 'bad frame' });
    expect(t.rv.relayStats.frames).to.equal(4);
  });

  it('refuses malformed batches with ERR_BAD_INPUT, forwards none of them, and keeps relaying', async () => {
    t = await startRendezvous({ accounts: ['alice', 'bob'] });
    const { alice, bob, sid } = await open({ relayBatch: true });
    let forwarded = 0;
    bob.on('relay:frames', (_s, _b, ack) => { forwarded += 1; ack({ ok: true }); });
    const bad = [
      lengths(0), Buffer.concat([lengths(10), Buffer.alloc(9)]), Buffer.concat([batchOf([randomBytes(10)]), Buffer.alloc(2)]),
      batchOf(Array.from({ length: 5 }, () => randomBytes(8))), Buffer.concat([lengths(MAX_FRAME_SIZE + 1), Buffer.alloc(MAX_FRAME_SIZE + 1)]),
    ];
    for (const b of bad) {
      const res = await ask(alice, 'relay:frames', sid, b);
      expect(res, b.subarray(0, 8).toString('hex')).to.include({ ok: false, code: 'ERR_BAD_INPUT' });
    }
    const tooBig = await ask(alice, 'relay:frames', sid, Buffer.alloc(batchBytes(4) + 1, 1));
    expect(tooBig).to.include({ ok: false, code: 'ERR_BAD_INPUT' });
    expect(tooBig.message).to.match(/exceeds 524424/);
    const text = await ask(alice, 'relay:frames', sid, 'not binary');
    expect(text).to.include({ ok: false, code: 'ERR_BAD_INPUT' });
    expect(forwarded).to.equal(0);
    expect(await ask(alice, 'relay:frames', sid, batchOf([randomBytes(10), randomBytes(10)]))).to.deep.equal({ ok: true });
    expect(forwarded).to.equal(1);
  });

  /** Logs in as the reference peer does, asking for large batches in the query (`batchFrames`). */
  async function loginAsking(id: string, batchFrames: string, auth: object = {}): Promise<{ socket: Client; welcome: { relayBatch?: true; relayBatchFrames?: number } }> {
    const socket: Client = t.track(ioClient(t.url, { transports: ['websocket'], auth: { id, code: t.code(id), relayBatch: true, ...auth }, query: { batchFrames }, reconnection: false, forceNew: true }));
    const welcome = await new Promise<any>((resolve, reject) => {
      socket.once('welcome', resolve);
      socket.once('connect_error', reject);
    });
    return { socket, welcome };
  }

  describe('large batches (16 frames), asked for in the login\'s query', () => {
    const sixteen = () => Array.from({ length: LARGE_BATCH_FRAMES }, (_, i) => randomBytes(i % 5 === 0 ? MAX_FRAME_SIZE : 1000 + i));

    it('welcome says 16 only to a peer that asked (and took batches): an older peer sees the welcome it knows', async () => {
      t = await startRendezvous({ accounts: ['alice', 'bob', 'carol', 'dave'] });
      expect((await loginAsking('alice', '16')).welcome).to.include({ relayBatch: true, relayBatchFrames: 16 });
      expect((await t.login('bob', { relayBatch: true })).welcome).to.not.have.property('relayBatchFrames');
      expect((await loginAsking('carol', '64')).welcome).to.not.have.property('relayBatchFrames');
      // Large batches without batches at all mean nothing.
      expect((await loginAsking('dave', '16', { relayBatch: false })).welcome).to.not.have.property('relayBatchFrames');
    });

    it('a 16-frame batch goes as it is to a peer that asked, and frame by frame, in order, to a peer that takes four', async () => {
      t = await startRendezvous({ accounts: ['alice', 'bob'] });
      const { socket: alice } = await loginAsking('alice', '16');
      for (const [receiverAsks, want] of [[true, 'batch'], [false, 'frames']] as const) {
        t.clock.advance(30_000); // bob's second login needs the next step's code
        const { socket: bob } = receiverAsks ? await loginAsking('bob', '16', { receiving: true }) : await t.login('bob', { receiving: true, relayBatch: true, replace: true });
        bob.on('session:request', (_req, ack) => ack({ accept: true }));
        const res = await ask(alice, 'session:open', { to: 'bob' });
        expect(res.ok, JSON.stringify(res)).to.equal(true);
        const frames = sixteen();
        const got: Buffer[] = [];
        let batches = 0;
        bob.on('relay:frames', (_s, b, ack) => { batches++; got.push(...splitBatch(b)); ack({ ok: true }); });
        bob.on('relay:frame', (_s, f, ack) => { got.push(f); ack({ ok: true }); });
        expect(await ask(alice, 'relay:frames', res.sid, batchOf(frames))).to.deep.equal({ ok: true });
        expect(got.map((f) => f.toString('hex')), want).to.deep.equal(frames.map((f) => f.toString('hex')));
        expect(batches, want).to.equal(want === 'batch' ? 1 : 0);
        bob.close();
      }
    });

    it('refuses 17 frames from a peer that asked, and 5 from one that did not (ERR_BAD_INPUT, nothing forwarded)', async () => {
      t = await startRendezvous({ accounts: ['alice', 'bob', 'carol'] });
      const { socket: alice } = await loginAsking('alice', '16');
      const { socket: carol } = await t.login('carol', { relayBatch: true });
      const { socket: bob } = await loginAsking('bob', '16', { receiving: true });
      bob.on('session:request', (_req, ack) => ack({ accept: true }));
      let forwarded = 0;
      bob.on('relay:frames', (_s, _b, ack) => { forwarded++; ack({ ok: true }); });
      const a = await ask(alice, 'session:open', { to: 'bob' });
      const c = await ask(carol, 'session:open', { to: 'bob' });
      expect([a.ok, c.ok]).to.deep.equal([true, true]);
      const seventeen = await ask(alice, 'relay:frames', a.sid, batchOf([...sixteen(), randomBytes(10)]));
      expect(seventeen).to.include({ ok: false, code: 'ERR_BAD_INPUT' });
      expect(seventeen.message).to.match(/more than 16 frames|exceeds 2097696/);
      const five = await ask(carol, 'relay:frames', c.sid, batchOf(Array.from({ length: 5 }, () => randomBytes(10))));
      expect(five).to.include({ ok: false, code: 'ERR_BAD_INPUT' });
      expect(five.message).to.match(/more than 4 frames/);
      expect(forwarded).to.equal(0);
      expect(await ask(alice, 'relay:frames', a.sid, batchOf(sixteen()))).to.deep.equal({ ok: true });
      expect(forwarded).to.equal(1);
    });
  });

  it('counts a batch\'s frame bytes against the unacked window and the daily quota', async () => {
    t = await startRendezvous({ accounts: ['alice', 'bob'], relayWindowBytes: 300_000, relayBytesPerDay: 700_000 });
    const { alice, bob, sid } = await open({ relayBatch: true });
    const held: Array<(r: object) => void> = [];
    bob.on('relay:frames', (_s, _b, ack) => held.push(ack));
    const two = () => batchOf([randomBytes(100_000), randomBytes(100_000)]);
    const first = ask(alice, 'relay:frames', sid, two());
    const over = await ask(alice, 'relay:frames', sid, two());
    expect(over).to.include({ ok: false, code: 'ERR_RELAY_LIMIT' });
    expect(over.message).to.match(/300000 relayed bytes/);
    while (held.length === 0) await new Promise((r) => setImmediate(r));
    held.shift()!({ ok: true });
    expect(await first).to.deep.equal({ ok: true });
    bob.removeAllListeners('relay:frames');
    bob.on('relay:frames', (_s, _b, ack) => ack({ ok: true }));
    expect(await ask(alice, 'relay:frames', sid, two())).to.deep.equal({ ok: true });
    expect(await ask(alice, 'relay:frames', sid, two())).to.deep.equal({ ok: true });
    // 800,000 frame bytes would pass the 700,000-byte quota: refused, and bob hears why.
    const told = new Promise((resolve) => bob.once('relay:refused', resolve));
    const quota = await ask(alice, 'relay:frames', sid, batchOf([randomBytes(100_000), randomBytes(100_000)]));
    expect(quota).to.include({ ok: false, code: 'ERR_RELAY_LIMIT' });
    expect(quota.message).to.match(/quota of 700000 bytes/);
    expect(await told).to.include({ sid, code: 'ERR_RELAY_LIMIT' });
  });
});

describe('relay batches: real peers', () => {
  let world: World;
  let mitm: MitmRendezvous;
  let work: string;
  let file: string;
  let fileSha: string;
  const viaMitm = new Set<string>();

  before(async () => {
    world = await startWorld(['alice', 'bob']);
    mitm = await startMitmRendezvous(world.url);
    work = await tempDir();
    file = path.join(work, 'batched.bin');
    fileSha = await randomFile(file, 3 * 1024 * 1024 + 12_345);
  });
  after(async () => {
    await mitm?.close();
    await world?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });
  beforeEach(() => mitm.reset());

  /** `--server MITM`; the first login through it takes the next step's code (the world's login spent this one's). */
  const through = (id: string) => {
    if (viaMitm.has(id)) return ['--server', mitm.url];
    viaMitm.add(id);
    return ['--server', mitm.url, '--code', totpCode(world.secrets[id]!, Date.now() + 30_000)];
  };

  async function relayed() {
    const inbox = await tempDir();
    const receiver = world.peer('bob', [...through('bob'), 'receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    const sender = world.peer('alice', [...through('alice'), 'send', file, '--to', 'bob', '--relay']);
    const [sent, got] = await Promise.all([sender.exit, receiver.exit]);
    const batches = mitm.log.filter((e) => e.event === 'relay:frames' && e.direction === 'up').length;
    const singles = mitm.log.filter((e) => e.event === 'relay:frame' && e.direction === 'up').length;
    const maxFrames = Math.max(0, ...mitm.log.filter((e) => e.event === 'relay:frames' && e.direction === 'up').map((e) => e.frames ?? 0));
    return { sender, receiver, sent, got, inbox, batches, singles, maxFrames };
  }

  it('send batches frames through the relay, sixteen to a batch, and the file arrives identical', async () => {
    mitm.mode = 'honest';
    const r = await relayed();
    expect([r.sent, r.got], r.sender.stderr() + r.receiver.stderr()).to.deep.equal([0, 0]);
    expect(await sha256File(path.join(r.inbox, 'batched.bin'))).to.equal(fileSha);
    // 25 chunks of data: chunks 0-15 in one batch, 16-24 in another (a group whose members stop coming may go early).
    expect(r.batches, 'relay:frames messages').to.be.within(2, 4);
    expect(r.maxFrames, 'frames in the largest batch').to.equal(16);
  });

  it('sends four to a batch through a rendezvous that predates large batches, and the file arrives identical', async () => {
    mitm.mode = 'four-frame-batches';
    const r = await relayed();
    expect([r.sent, r.got], r.sender.stderr() + r.receiver.stderr()).to.deep.equal([0, 0]);
    expect(await sha256File(path.join(r.inbox, 'batched.bin'))).to.equal(fileSha);
    expect(r.batches, 'relay:frames messages').to.be.within(5, 12);
    expect(r.maxFrames).to.equal(4);
  });

  it('falls back to one frame per message with a rendezvous that offers no batches', async () => {
    mitm.mode = 'no-batches';
    const r = await relayed();
    expect([r.sent, r.got], r.sender.stderr() + r.receiver.stderr()).to.deep.equal([0, 0]);
    expect(await sha256File(path.join(r.inbox, 'batched.bin'))).to.equal(fileSha);
    expect(r.batches).to.equal(0);
    expect(r.singles).to.be.above(25);
  });

  it('a batch cut short on its way fails the transfer with ERR_PROTOCOL on the receiver, and nothing is kept', async () => {
    mitm.mode = 'break-batch';
    const r = await relayed();
    expect(r.got).to.not.equal(0);
    expect(r.sent).to.not.equal(0);
    expect(errorOf(r.receiver)?.code, r.receiver.stderr()).to.equal('ERR_PROTOCOL');
    expect(errorOf(r.receiver)?.message).to.match(/malformed batch/);
    expect((await listTree(r.inbox)).filter((f) => f.endsWith('batched.bin'))).to.deep.equal([]);
  });

  it('frames reordered inside a well-formed batch fail the frame order check (ERR_INTEGRITY), and nothing is kept', async () => {
    mitm.mode = 'reorder-batch';
    const r = await relayed();
    expect(r.got).to.not.equal(0);
    expect(errorOf(r.receiver)?.code, r.receiver.stderr()).to.equal('ERR_INTEGRITY');
    expect((await listTree(r.inbox)).filter((f) => f.endsWith('batched.bin'))).to.deep.equal([]);
  });
});

/**
 * The direct path honours the other side's message-size limit (protocol version 2):
 * aiortc and Safari advertise a=max-message-size:65536, and libwebrtc closes the
 * channel on the first larger message. One side here rewrites its SDP to advertise
 * 65536; files of edge sizes must still arrive over the direct path, both ways, one
 * side the real CLI and the other in-process. Below that, the piece reassembly
 * against hostile input, and what libwebrtc does on an oversized message.
 */
import wrtc from '@roamhq/wrtc';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import SimplePeer from 'simple-peer';
import { DirectTransport } from '../peer/link/direct-transport.js';
import { advertisedLimit, FrameAssembler, FrameSplitter, MAX_MESSAGE_CAP, messageLimit, PIECE_END } from '../peer/link/frame-pieces.js';
import { Home } from '../peer/session/home.js';
import { PinnedKeys } from '../peer/session/pinned-keys.js';
import { receiveEngine } from '../peer/transfer/receive-engine.js';
import { RendezvousSession } from '../peer/session/rendezvous-session.js';
import { sendEngine } from '../peer/transfer/send-engine.js';
import { collectSources } from '../peer/transfer/source-files.js';
import { establishLink, useLink } from '../peer/link/transfer-link.js';
import type { Transport } from '../peer/link/transport.js';
import { MAX_FRAME_SIZE } from '../shared/constants.js';
import { identityFromSeed } from '../shared/crypto.js';
import type { SealdropError } from '../shared/errors.js';
import { totpCode } from '../shared/totp.js';
import { randomFile, sha256File, tempDir } from './helpers/cli.js';
import { startWorld, type World } from './helpers/world.js';

const SMALL = 65_536;

/** This side's SDP advertises `limit` (the line added when libwebrtc left it out). */
function advertise(limit: number) {
  return (sdp: string): string => (/a=max-message-size:\d+/.test(sdp)
    ? sdp.replace(/a=max-message-size:\d+/g, `a=max-message-size:${limit}`)
    : sdp.replace(/(a=sctp-port:\d+\r\n)/, `$1a=max-message-size:${limit}\r\n`));
}

interface Internals { peer: SimplePeer.Instance & { _channel: { send(b: Buffer): void; readyState: string } } }
const internals = (t: Transport) => t as unknown as Internals;

/** Records the size of every data-channel message a DirectTransport sends and receives. */
function spy(t: Transport, seen: { out: number[]; in: number[] }): Transport {
  const { peer } = internals(t);
  const channel = peer._channel;
  const send = channel.send.bind(channel);
  channel.send = (b: Buffer) => { seen.out.push(b.length); send(b); };
  peer.on('data', (d: Buffer) => seen.in.push(d.length));
  return t;
}

/** Two DirectTransports in this process, signaling straight to each other. */
async function directPair(bTransform?: (sdp: string) => string): Promise<[DirectTransport, DirectTransport]> {
  let a: DirectTransport | undefined, b: DirectTransport | undefined;
  a = new DirectTransport({ initiator: true, iceServers: [], signalOut: (d) => b!.signal(d) });
  b = new DirectTransport({ initiator: false, iceServers: [], signalOut: (d) => a!.signal(d), sdpTransform: bTransform });
  await Promise.all([a.connected, b.connected]);
  return [a, b];
}

function closed(t: Transport): Promise<SealdropError | undefined> {
  return new Promise((resolve) => t.onClose(resolve));
}

describe('direct path: the negotiated message size', function () {
  this.timeout(120_000);

  describe('limit and pieces (unit)', () => {
    it('reads a=max-message-size: absent is 65536, 0 and anything larger are capped at 256 KiB', () => {
      expect(advertisedLimit('v=0\r\na=sctp-port:5000\r\n')).to.equal(65_536);
      expect(advertisedLimit('a=sctp-port:5000\r\na=max-message-size:100000\r\n')).to.equal(100_000);
      expect(advertisedLimit('a=max-message-size:0\r\n')).to.equal(MAX_MESSAGE_CAP);
      expect(advertisedLimit('a=max-message-size:1073741823\r\n')).to.equal(MAX_MESSAGE_CAP);
      expect(advertisedLimit('a=max-message-size:99999999999999999999999\r\n')).to.equal(MAX_MESSAGE_CAP);
      expect(advertisedLimit('a=max-message-size:12x\r\n')).to.equal(65_536);
      // The smaller of both sides, and of what the SCTP transport reports when it reports something.
      expect(messageLimit('a=max-message-size:262144\r\n', 'a=max-message-size:262144\r\n', 262_144)).to.equal(262_144);
      expect(messageLimit('a=max-message-size:262144\r\n', 'v=0\r\n', 262_144)).to.equal(65_536);
      expect(messageLimit('a=max-message-size:100000\r\n', 'a=max-message-size:262144\r\n', 0)).to.equal(100_000);
      expect(messageLimit('a=max-message-size:262144\r\n', 'a=max-message-size:262144\r\n', 70_000)).to.equal(70_000);
      expect(messageLimit(undefined, undefined)).to.equal(65_536);
    });

    it('splits into messages within the limit, each with a piece header, and reassembles them', () => {
      const frame = randomBytes(MAX_FRAME_SIZE);
      for (const limit of [SMALL, 1000, 2, MAX_MESSAGE_CAP]) {
        const messages: Buffer[] = [];
        const sent = new FrameSplitter(limit).split(frame, (m) => messages.push(Buffer.from(m)));
        expect(messages.reduce((max, m) => Math.max(max, m.length), 0)).to.be.at.most(limit);
        expect(sent).to.equal(frame.length + messages.length);
        expect(messages.map((m) => m[0])).to.deep.equal([...Array(messages.length - 1).fill(0), PIECE_END]);
        const asm = new FrameAssembler();
        const out = messages.map((m) => asm.push(m));
        expect(out.slice(0, -1).every((f) => f === undefined)).to.equal(true);
        expect(out.at(-1)!.equals(frame), `limit ${limit}`).to.equal(true);
        expect(asm.partial).to.equal(false);
      }
      expect(Math.ceil(frame.length / (SMALL - 1))).to.equal(3);
    });

    it('hands a frame that fits in one message on as a view of it, without a copy', () => {
      const message = Buffer.concat([Buffer.from([PIECE_END]), randomBytes(MAX_FRAME_SIZE)]);
      const frame = new FrameAssembler().push(message)!;
      expect(frame.buffer).to.equal(message.buffer);
      expect(frame.byteOffset).to.equal(message.byteOffset + 1);
      expect(frame.length).to.equal(MAX_FRAME_SIZE);
    });

    it('refuses hostile pieces with ERR_PROTOCOL: unknown header bits, empty, one too large, too many', () => {
      const refuses = (messages: Buffer[], pattern: RegExp) => {
        const asm = new FrameAssembler();
        let err: SealdropError | undefined;
        try { for (const m of messages) asm.push(m); } catch (e) { err = e as SealdropError; }
        expect(err?.code, String(pattern)).to.equal('ERR_PROTOCOL');
        expect(err!.message).to.match(pattern);
      };
      for (const header of [0x02, 0x03, 0x80, 0xff]) refuses([Buffer.from([header, 1, 2, 3])], /unknown header bits/);
      refuses([Buffer.alloc(0)], /empty frame piece/);
      refuses([Buffer.from([PIECE_END])], /empty frame piece/);
      refuses([Buffer.from([0])], /empty frame piece/);
      refuses([Buffer.concat([Buffer.from([PIECE_END]), Buffer.alloc(MAX_FRAME_SIZE + 1)])], /more than the 131102-byte frame limit/);
      // Pieces that never end: refused at the first byte past a frame's worth, before it is copied.
      refuses(Array.from({ length: 3 }, () => Buffer.concat([Buffer.from([0]), Buffer.alloc(SMALL - 1)])), /more than the 131102-byte frame limit/);
      refuses([Buffer.concat([Buffer.from([0]), Buffer.alloc(MAX_FRAME_SIZE)]), Buffer.from([PIECE_END, 0])], /more than/);
      // Exactly a full frame in pieces is fine.
      const asm = new FrameAssembler();
      expect(asm.push(Buffer.concat([Buffer.from([0]), Buffer.alloc(MAX_FRAME_SIZE - 1)]))).to.equal(undefined);
      expect(asm.push(Buffer.from([PIECE_END, 7]))!.length).to.equal(MAX_FRAME_SIZE);
    });
  });

  describe('two wrtc peers, one advertising 65536', () => {
    it('libwebrtc closes the channel on a message over the limit instead of refusing it (why pieces exist)', async () => {
      const a = new SimplePeer({ initiator: true, wrtc, config: { iceServers: [] } });
      const b = new SimplePeer({ wrtc, config: { iceServers: [] }, sdpTransform: advertise(SMALL) });
      a.on('signal', (d) => b.signal(d));
      b.on('signal', (d) => a.signal(d));
      const got: number[] = [];
      let first: () => void = () => {};
      const firstArrived = new Promise<void>((resolve) => { first = resolve; });
      b.on('data', (d: Buffer) => { got.push(d.length); first(); });
      await Promise.all([new Promise((r) => a.once('connect', r)), new Promise((r) => b.once('connect', r))]);
      const channel = (a as unknown as Internals['peer'])._channel;
      const bothClosed = Promise.all([new Promise((r) => a.once('close', r)), new Promise((r) => b.once('close', r))]);
      a.on('error', () => {});
      b.on('error', () => {});
      channel.send(Buffer.alloc(SMALL));
      await firstArrived; // one at the limit arrives (and no race with the close below under load)
      channel.send(Buffer.alloc(SMALL + 1)); // no exception: the channel just closes
      await bothClosed;
      expect(got).to.deep.equal([SMALL]);
      expect(() => channel.send(Buffer.alloc(1))).to.throw(/readyState is not 'open'/);
    });

    it('both sides keep every message within 65536 and frames of every size arrive whole', async () => {
      const [a, b] = await directPair(advertise(SMALL));
      expect(a.maxMessageSize).to.equal(undefined); // read on first send
      const seenA = { out: [] as number[], in: [] as number[] };
      const seenB = { out: [] as number[], in: [] as number[] };
      spy(a, seenA);
      spy(b, seenB);
      const sizes = [30, SMALL - 2, SMALL - 1, SMALL, SMALL + 1, 2 * (SMALL - 1), 2 * (SMALL - 1) + 1, MAX_FRAME_SIZE];
      const frames = sizes.map((n) => randomBytes(n));
      const atB: Buffer[] = [], atA: Buffer[] = [];
      const allAtB = new Promise<void>((resolve) => b.onFrame((f) => { atB.push(Buffer.from(f)); if (atB.length === frames.length) resolve(); }));
      const allAtA = new Promise<void>((resolve) => a.onFrame((f) => { atA.push(Buffer.from(f)); if (atA.length === frames.length) resolve(); }));
      for (const f of frames) await a.send(f);
      for (const f of frames) await b.send(f);
      await Promise.all([allAtB, allAtA]);
      expect(a.maxMessageSize).to.equal(SMALL);
      expect(b.maxMessageSize).to.equal(SMALL);
      expect(atB.map((f, i) => f.equals(frames[i]!))).to.deep.equal(frames.map(() => true));
      expect(atA.map((f, i) => f.equals(frames[i]!))).to.deep.equal(frames.map(() => true));
      for (const seen of [seenA, seenB]) {
        expect(Math.max(...seen.out, ...seen.in)).to.equal(SMALL);
        // 1 + 1 + 1 + 2 + 2 + 2 + 3 + 3 pieces.
        expect(seen.out.length).to.equal(15);
      }
      const done = Promise.all([closed(a), closed(b)]);
      a.close();
      b.close();
      expect(await done).to.deep.equal([undefined, undefined]);
    });

    it('with 256 KiB on both sides every frame is one message', async () => {
      const [a, b] = await directPair();
      const seen = { out: [] as number[], in: [] as number[] };
      spy(a, seen);
      const got = new Promise<Buffer>((resolve) => b.onFrame(resolve));
      await a.send(randomBytes(MAX_FRAME_SIZE));
      expect((await got).length).to.equal(MAX_FRAME_SIZE);
      expect(a.maxMessageSize).to.equal(MAX_MESSAGE_CAP);
      expect(seen.out).to.deep.equal([MAX_FRAME_SIZE + 1]);
      a.close();
      b.close();
    });

    for (const [label, pieces, pattern] of [
      ['a piece header with unknown bits', [Buffer.from([0x81, ...randomBytes(40)])], /unknown header bits/],
      ['more pieces than a frame can hold', Array.from({ length: 3 }, () => Buffer.concat([Buffer.from([0]), randomBytes(SMALL - 1)])), /more than the 131102-byte frame limit/],
    ] as const) {
      it(`a peer that sends ${label} is cut off with ERR_PROTOCOL, and nothing reaches the engine`, async () => {
        const [a, b] = await directPair(advertise(SMALL));
        const frames: Buffer[] = [];
        b.onFrame((f) => frames.push(f));
        const ended = closed(b);
        for (const p of pieces) internals(a).peer._channel.send(p);
        const err = await ended;
        expect(err?.code).to.equal('ERR_PROTOCOL');
        expect(err!.message).to.match(pattern);
        expect(frames).to.deep.equal([]);
        a.close();
      });
    }

    it('a frame cut off by the channel closing is ERR_PEER_GONE; a piece after the close is ignored', async () => {
      const [a, b] = await directPair(advertise(SMALL));
      const frames: Buffer[] = [];
      b.onFrame((f) => frames.push(f));
      const ended = closed(b);
      const piece = Buffer.concat([Buffer.from([0]), randomBytes(1000)]);
      internals(a).peer._channel.send(piece);
      await new Promise<void>((resolve) => internals(b).peer.once('data', () => resolve()));
      internals(a).peer.destroy();
      const err = await ended;
      expect(err?.code).to.equal('ERR_PEER_GONE');
      expect(err!.message).to.match(/closed in the middle of a frame/);
      // Whatever still surfaces from the dead connection never becomes a frame.
      internals(b).peer.emit('data', Buffer.from([PIECE_END, 1, 2, 3]));
      expect(frames).to.deep.equal([]);
    });

    it('sending on a channel that closed underneath is ERR_PEER_GONE, never ERR_INTERNAL', async () => {
      const [a, b] = await directPair(advertise(SMALL));
      b.onFrame(() => {});
      // What used to happen to every file over 64 KiB: an oversized message, and libwebrtc closes the channel.
      internals(a).peer._channel.send(Buffer.alloc(SMALL + 1));
      let err: SealdropError | undefined;
      for (let i = 0; i < 10_000 && !err; i++) {
        await a.send(randomBytes(100)).catch((e) => { err = e; });
        if (!err) await new Promise((r) => setImmediate(r));
      }
      expect(err?.code).to.equal('ERR_PEER_GONE');
      expect(err!.message).to.equal('the direct connection to the other peer closed');
      b.close();
    });
  });

  describe('real files: the CLI on one side, an in-process peer advertising 65536 on the other', () => {
    let world: World;
    let work: string;
    let carol: RendezvousSession;
    const carolId = identityFromSeed(randomBytes(32));
    let carolPins: PinnedKeys;

    before(async () => {
      world = await startWorld(['alice', 'bob', 'carol']);
      work = await tempDir();
      carolPins = new PinnedKeys(new Home(path.join(work, 'home-carol')));
      // startWorld's login spent this step's code; the next step's is within the tolerated skew.
      carol = await RendezvousSession.connect(world.url, { id: 'carol', code: totpCode(world.secrets.carol!, Date.now() + 30_000), receiving: true });
    });
    after(async () => {
      carol?.disconnect();
      await world?.stop();
      await fs.rm(work, { recursive: true, force: true });
    });

    const SIZES = [['1 B', 1], ['65,536 B', 65_536], ['65,537 B', 65_537], ['64 MiB', 64 * 1024 * 1024]] as const;

    for (const [label, size] of SIZES) {
      it(`CLI sends ${label} --direct-only to the 65536 side: right SHA-256, direct, no message over 65536`, async () => {
        const src = path.join(work, `to-carol-${size}.bin`);
        const sha = await randomFile(src, size);
        const dir = await tempDir();
        const seen = { out: [] as number[], in: [] as number[] };
        let limit: number | undefined;
        const received = new Promise<{ sha256: string[]; transport: string }>((resolve, reject) => {
          carol.once('request', (req) => {
            req.accept(true);
            establishLink({
              session: carol, sid: req.sid, peerId: req.from, role: 'receiver', identity: carolId, pins: carolPins, strict: false,
              sdpTransform: advertise(SMALL), wrapTransport: (t) => spy(t, seen),
            }).then((link) => useLink(link, async ({ channel }) => {
              const manifest = await channel.nextControl();
              if (manifest.t !== 'manifest') throw new Error(`expected the file list, got ${manifest.t}`);
              const got = await receiveEngine(channel, manifest, { dir, peerId: req.from, consent: async () => true });
              await channel.ended(5_000);
              limit = (channel.transport as DirectTransport).maxMessageSize;
              return { sha256: got.files.map((f) => f.sha256), transport: link.transport };
            })).then(resolve, reject);
          });
        });
        const sender = world.peer('alice', ['send', src, '--to', 'carol', '--direct-only']);
        const [code, got] = await Promise.all([sender.exit, received]);
        expect(code, sender.stderr()).to.equal(0);
        const done = sender.events.find((e) => e.type === 'done')!;
        expect(done.transport).to.equal('direct');
        expect(done.files).to.deep.equal([{ name: path.basename(src), bytes: size, sha256: sha }]);
        expect(got).to.deep.equal({ sha256: [sha], transport: 'direct' });
        expect(await sha256File(path.join(dir, path.basename(src)))).to.equal(sha);
        // The limit was in force: the CLI's frames came in pieces, none over 65536 (one of exactly 65536 once a frame needs two).
        expect(Math.max(...seen.in)).to.be.at.most(SMALL);
        if (size >= 65_536) expect(seen.in).to.include(SMALL);
        expect(limit).to.equal(SMALL);
        await fs.rm(dir, { recursive: true, force: true });
      });
    }

    for (const [label, size] of SIZES) {
      it(`the 65536 side sends ${label} --direct-only to the CLI: right SHA-256, direct, no message over 65536`, async () => {
        const src = path.join(work, `from-carol-${size}.bin`);
        const sha = await randomFile(src, size);
        const inbox = await tempDir();
        const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
        await receiver.waitFor('ready');
        const seen = { out: [] as number[], in: [] as number[] };
        const sid = await carol.open('bob');
        const link = await establishLink({
          session: carol, sid, peerId: 'bob', role: 'sender', identity: carolId, pins: carolPins, strict: false,
          mode: 'direct-only', sdpTransform: advertise(SMALL), wrapTransport: (t) => spy(t, seen),
        });
        expect(link.transport).to.equal('direct');
        const sent = await useLink(link, async ({ channel }) => {
          const result = await sendEngine(channel, await collectSources([src]));
          expect((channel.transport as DirectTransport).maxMessageSize).to.equal(SMALL);
          return result;
        });
        carol.close(sid, 'done');
        expect(sent.files.map((f) => f.sha256)).to.deep.equal([sha]);
        expect(await receiver.exit, receiver.stderr()).to.equal(0);
        const rdone = receiver.events.find((e) => e.type === 'done')!;
        expect(rdone.transport).to.equal('direct');
        expect(rdone.files[0].sha256).to.equal(sha);
        expect(await sha256File(path.join(inbox, path.basename(src)))).to.equal(sha);
        expect(Math.max(...seen.out)).to.be.at.most(SMALL);
        if (size >= 65_536) expect(seen.out).to.include(SMALL);
        await fs.rm(inbox, { recursive: true, force: true });
      });
    }
  });
});

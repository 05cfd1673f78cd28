/**
 * No (key, nonce) pair ever repeats: 100 transfers between the same two peers,
 * each with the real handshake over a real in-process rendezvous and the relay
 * transport, recording every frame each side sends.
 *
 * A frame's nonce is its position (stream ‖ index, frame bytes 1..12), so every
 * transfer reuses the same nonces; what keeps (key, nonce) unique is that every
 * transfer, and each direction in it, has its own key.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Home } from '../peer/session/home.js';
import { PinnedKeys } from '../peer/session/pinned-keys.js';
import { receiveEngine } from '../peer/transfer/receive-engine.js';
import { RendezvousSession } from '../peer/session/rendezvous-session.js';
import { sendEngine } from '../peer/transfer/send-engine.js';
import { collectSources } from '../peer/transfer/source-files.js';
import { establishLink, type Link } from '../peer/link/transfer-link.js';
import type { Transport } from '../peer/link/transport.js';
import { identityFromSeed } from '../shared/crypto.js';
import { decodeHeader, openFrame } from '../shared/framing.js';
import { randomFile, tempDir } from './helpers/cli.js';
import { DEFAULT_EVENT_LIMITS } from '../rendezvous/admission/event-limits.js';
import { startRendezvous, type TestRendezvous } from './helpers/rendezvous.js';

const TRANSFERS = 100;

/** Passes everything through and keeps a copy of each frame sent. */
function recording(into: Buffer[]) {
  return (t: Transport): Transport => ({
    kind: t.kind,
    send: (frame) => { into.push(Buffer.from(frame)); return t.send(frame); },
    onFrame: (handler) => t.onFrame(handler),
    onClose: (handler) => t.onClose(handler),
    close: () => t.close(),
  });
}

describe('trust: no (key, nonce) pair repeats', function () {
  this.timeout(60_000);
  let rv: TestRendezvous;
  let work: string;
  let alice: RendezvousSession;
  let bob: RendezvousSession;

  before(async () => {
    // 100 sessions on one connection in seconds, under a test clock that never refills rate buckets:
    // not what these tests are about, so the session:open limits are lifted.
    const open = { perSec: 1, burst: 1_000 };
    rv = await startRendezvous({
      accounts: ['alice', 'bob'],
      eventLimits: {
        perSocket: { ...DEFAULT_EVENT_LIMITS.perSocket, 'session:open': open },
        perAccount: { ...DEFAULT_EVENT_LIMITS.perAccount, 'session:open': open },
        perPair: open,
      },
    });
    work = await tempDir();
    alice = await RendezvousSession.connect(rv.url, { id: 'alice', code: rv.code('alice') });
    bob = await RendezvousSession.connect(rv.url, { id: 'bob', code: rv.code('bob'), receiving: true });
  });
  after(async () => {
    alice?.disconnect();
    bob?.disconnect();
    await rv?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it(`across ${TRANSFERS} transfers between the same two peers`, async () => {
    const aliceId = identityFromSeed(randomBytes(32));
    const bobId = identityFromSeed(randomBytes(32));
    const alicePins = new PinnedKeys(new Home(path.join(work, 'home-alice')));
    const bobPins = new PinnedKeys(new Home(path.join(work, 'home-bob')));
    // A small file and one of 600 KiB: several chunk frames, and a credit frame back.
    const src = path.join(work, 'src');
    await fs.mkdir(src);
    await randomFile(path.join(src, 'small.txt'), 1000);
    await randomFile(path.join(src, 'big.bin'), 600 * 1024);
    const sources = await collectSources([src]);

    const pairs = new Set<string>();
    const keys = new Set<string>();
    const nonces = new Set<string>();
    let frames = 0;
    for (let n = 0; n < TRANSFERS; n++) {
      const accepted = new Promise<void>((resolve) => bob.once('request', (req) => { req.accept(true); resolve(); }));
      const sid = await alice.open('bob');
      await accepted;
      const sent: Buffer[] = [];
      const received: Buffer[] = [];
      const [a, b] = await Promise.all([
        establishLink({ session: alice, sid, peerId: 'bob', role: 'sender', identity: aliceId, pins: alicePins, strict: false, mode: 'relay', wrapTransport: recording(sent) }),
        establishLink({ session: bob, sid, peerId: 'alice', role: 'receiver', identity: bobId, pins: bobPins, strict: false, mode: 'relay', wrapTransport: recording(received) }),
      ]);
      const dir = path.join(work, `in-${n}`);
      await fs.mkdir(dir);
      const [out, got] = await Promise.all([
        sendEngine(a.channel, sources),
        b.channel.nextControl().then((manifest) => {
          if (manifest.t !== 'manifest') throw new Error(`expected the file list, got ${manifest.t}`);
          return receiveEngine(b.channel, manifest, { dir, peerId: 'alice', consent: async () => true });
        }),
      ]);
      expect(got.files.map((f) => f.sha256)).to.deep.equal(out.files.map((f) => f.sha256));
      for (const link of [a, b]) { link.channel.close(); link.inbox.dispose(); }
      alice.close(sid, 'done');
      await fs.rm(dir, { recursive: true });

      // Both sides agree on the keys, and each direction has its own.
      expect(a.sas).to.equal(b.sas);
      expect(a.keys.sendKey.equals(b.keys.receiveKey)).to.equal(true);
      expect(a.keys.receiveKey.equals(b.keys.sendKey)).to.equal(true);
      for (const [link, frameList] of [[a, sent], [b, received]] as Array<[Link, Buffer[]]>) {
        const key = link.keys.sendKey;
        keys.add(key.toString('hex'));
        expect(frameList.length).to.be.greaterThan(0);
        for (const frame of frameList) {
          // The frame really is sealed under this key (so the pair recorded is the pair used).
          const h = decodeHeader(frame);
          openFrame(key, Buffer.from(sid, 'hex'), frame, { type: h.type, stream: h.stream, index: h.index });
          const nonce = frame.subarray(1, 13).toString('hex');
          nonces.add(nonce);
          pairs.add(`${key.toString('hex')}/${nonce}`);
          frames++;
        }
      }
    }
    expect(keys.size, 'distinct directional keys').to.equal(2 * TRANSFERS);
    expect(frames).to.be.greaterThan(TRANSFERS * 8);
    expect(pairs.size, 'distinct (key, nonce) pairs').to.equal(frames);
    // Nonces alone repeat all the time (every transfer starts at control #0 and chunk 0):
    // only the fresh keys make the pairs unique.
    expect(nonces.size).to.be.lessThan(frames / 10);
  });
});

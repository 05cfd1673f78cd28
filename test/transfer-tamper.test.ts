/**
 * A stream altered in transit is detected: a sender built from the library with
 * a tampering transport sends to the real receiver CLI, which must fail and
 * leave nothing under the final name.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Home } from '../peer/session/home.js';
import { resolveAccount } from '../peer/session/login.js';
import { sendFiles } from '../peer/transfer/send.js';
import type { Transport } from '../peer/link/transport.js';
import { listTree, randomFile, tempDir } from './helpers/cli.js';
import { startWorld, type World } from './helpers/world.js';

const CHUNK_FRAME = 2;
type Edit = (frame: Buffer, chunkNo: number) => Buffer[] | 'cut';

/** Wraps a transport so outgoing chunk frames (numbered from 0) pass through `edit`. */
function tampering(edit: Edit): (t: Transport) => Transport {
  return (inner) => {
    let chunks = 0;
    let cut = false;
    return {
      kind: inner.kind,
      onFrame: (h) => inner.onFrame(h),
      onClose: (h) => inner.onClose(h),
      close: () => inner.close(),
      async send(frame) {
        if (cut) return;
        if (frame[0] !== CHUNK_FRAME) return inner.send(frame);
        const out = edit(frame, chunks++);
        if (out === 'cut') { cut = true; inner.close(); return; }
        for (const f of out) await inner.send(f);
      },
    };
  };
}

describe('tampering in transit is detected', function () {
  this.timeout(60_000);
  let world: World;
  let work: string;
  let src: string;

  before(async () => {
    world = await startWorld(['alice', 'bob']);
    work = await tempDir();
    src = path.join(work, 'secret-plans.bin');
    await randomFile(src, 1024 * 1024 + 5); // 9 chunks
  });
  after(async () => {
    await world?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  const cases: Array<[string, Edit, string[]]> = [
    ['a bit flipped in one chunk', (f, n) => { if (n === 3) { const c = Buffer.from(f); c[c.length - 40]! ^= 0x01; return [c]; } return [f]; }, ['ERR_DECRYPT']],
    ['a dropped chunk', (f, n) => (n === 2 ? [] : [f]), ['ERR_INTEGRITY']],
    ['a duplicated chunk', (f, n) => (n === 1 ? [f, f] : [f]), ['ERR_INTEGRITY']],
    ['two chunks swapped', (() => { let held: Buffer | undefined; return (f: Buffer, n: number) => { if (n === 4) { held = f; return []; } if (n === 5) return [f, held!]; return [f]; }; })(), ['ERR_INTEGRITY']],
    ['the LAST flag moved to an earlier chunk', (f, n) => { if (n === 6) { const c = Buffer.from(f); c[13] = 1; return [c]; } return [f]; }, ['ERR_DECRYPT']],
    ['a truncated stream', (f, n) => (n === 5 ? 'cut' : [f]), ['ERR_PEER_GONE', 'ERR_INTEGRITY']],
  ];

  // The same edits on both paths: on the relay, frames sent back to back travel in batches (relay:frames).
  for (const [label, edit, codes] of cases) for (const mode of ['direct', 'relay'] as const) {
    it(`detects ${label} and leaves no file under the final name (${mode})`, async () => {
      const inbox = await tempDir();
      const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      const home = new Home(world.homes.alice!);
      const sending = sendFiles({
        home, account: await resolveAccount(home, {}), to: 'bob', paths: [src], wrapTransport: tampering(edit), ...(mode === 'relay' && { mode: 'relay' as const }),
      });
      const sendError = await sending.then(() => undefined, (e) => e);
      expect(sendError, 'the sender must not report success').to.be.instanceOf(Error);
      expect(await receiver.exit).to.not.equal(0);
      const err = receiver.events.find((e) => e.type === 'error');
      expect(err, receiver.stdout()).to.exist;
      expect(codes).to.include(err!.code);
      expect(receiver.events.find((e) => e.type === 'done')).to.equal(undefined);
      // Nothing under the final name. What may remain is the hidden partial file kept for resume,
      // and it holds only chunks that verified: an exact prefix of the source, whole chunks only.
      const left = await listTree(inbox);
      expect(left).to.not.include(path.basename(src));
      for (const name of left) {
        expect(name).to.match(/^\.[0-9a-f]{32}:sealdrop-part$/);
        const kept = await fs.readFile(path.join(inbox, name));
        expect(kept.length % (128 * 1024)).to.equal(0);
        expect(kept.equals((await fs.readFile(src)).subarray(0, kept.length))).to.equal(true);
      }
      await fs.rm(inbox, { recursive: true });
    });
  }
});

/**
 * The relay transport end to end through the spawned CLIs, on loopback: forced
 * relay, edge sizes, what the rendezvous gets to see, a paused receiver against
 * the rendezvous' memory, either peer killed mid-transfer, and operator limits.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { listTree, PEER_CLI, randomFile, sha256File, spawnCli, tempDir, type Run } from './helpers/cli.js';
import { startRendezvous, type TestRendezvous } from './helpers/rendezvous.js';
import { startWorld, type World } from './helpers/world.js';

const MiB = 1024 * 1024;
const RUN = 32;

/** Resolves once `pred` holds, polling; rejects after timeoutMs. */
async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Bytes of the latest progress event a CLI printed. */
const progressOf = (run: Run) => run.events.filter((e) => e.type === 'progress').at(-1)?.bytes ?? 0;

/** VmRSS of a process in MB. */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/** What a failed transfer may leave: hidden partial files kept for resume, never anything under a final name. */
const onlyPartials = (tree: string[]) => tree.every((f) => /^\.[0-9a-f]+:sealdrop-part$/.test(f));

/** Everything the rendezvous received, as bytes: binary frames raw, everything else as its JSON text. */
function recordedBytes(inbound: TestRendezvous['inbound']): Buffer[] {
  const out: Buffer[] = [];
  for (const { event, args } of inbound) {
    out.push(Buffer.from(event));
    for (const arg of args) {
      if (Buffer.isBuffer(arg)) out.push(arg);
      else if (arg instanceof Uint8Array) out.push(Buffer.from(arg));
      else out.push(Buffer.from(JSON.stringify(arg) ?? '', 'utf8'));
    }
  }
  return out;
}

/**
 * Whether any RUN-byte run of `content` occurs in `recorded`. Every such run holds
 * a whole 16-byte block of content at a 16-aligned offset, so only those blocks are
 * indexed (content/16 entries) and each recorded offset is looked up once; a hit is
 * then checked byte by byte and extended to see whether it spans RUN bytes.
 */
function leaksARun(recorded: Buffer[], content: Buffer): boolean {
  const BLOCK = RUN / 2;
  // 31-bit keys stay small integers, which a Map hashes fast; the byte check below settles collisions.
  const key = (b: Buffer, at: number) => b.readInt32LE(at) >> 1;
  const blocks = new Map<number, number[]>();
  for (let j = 0; j + BLOCK <= content.length; j += BLOCK) {
    const k = key(content, j);
    const list = blocks.get(k);
    if (list) list.push(j); else blocks.set(k, [j]);
  }
  for (const r of recorded) {
    for (let i = 0; i + BLOCK <= r.length; i++) {
      const candidates = blocks.get(key(r, i));
      if (!candidates) continue;
      for (const j of candidates) {
        let before = 0;
        while (i - before > 0 && j - before > 0 && r[i - before - 1] === content[j - before - 1]) before++;
        let after = 0;
        while (i + after < r.length && j + after < content.length && r[i + after] === content[j + after]) after++;
        if (before + after >= RUN) return true;
      }
    }
  }
  return false;
}

describe('relay transport through the CLI', function () {
  this.timeout(60_000);
  let work: string;
  before(async () => { work = await tempDir(); });
  after(async () => { await fs.rm(work, { recursive: true, force: true }); });

  describe('with a rendezvous that records everything it receives', () => {
    let rv: TestRendezvous;
    const homes: Record<string, string> = {};
    const peer = (id: string, args: string[]) => spawnCli(PEER_CLI, ['--home', homes[id]!, '--json', ...args]);

    before(async () => {
      rv = await startRendezvous({ accounts: ['alice', 'bob'], now: Date.now });
      for (const id of ['alice', 'bob']) {
        homes[id] = path.join(work, `home-${id}`);
        const login = peer(id, ['login', '--server', rv.url, '--id', id, '--secret', rv.secrets[id]!]);
        expect(await login.exit, login.stderr()).to.equal(0);
      }
    });
    after(async () => { await rv?.stop(); });

    async function relayed(src: string) {
      const inbox = await tempDir();
      const receiver = peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      rv.inbound.length = 0;
      const sender = peer('alice', ['send', src, '--to', 'bob', '--relay']);
      const [sent, got] = await Promise.all([sender.exit, receiver.exit]);
      expect(sent, sender.stderr() + sender.stdout()).to.equal(0);
      expect(got, receiver.stderr() + receiver.stdout()).to.equal(0);
      expect(sender.events.find((e) => e.type === 'done')!.transport).to.equal('relay');
      expect(receiver.events.find((e) => e.type === 'done')!.transport).to.equal('relay');
      return { inbox, sender, receiver };
    }

    it('--relay carries a few MiB bit-identical, and the rendezvous sees no plaintext run and no name', async () => {
      const name = `board-minutes-${randomBytes(4).toString('hex')}.odt`;
      const src = path.join(work, name);
      const content = randomBytes(3 * MiB + 4321);
      await fs.writeFile(src, content);
      const sha = createHash('sha256').update(content).digest();
      const { inbox } = await relayed(src);
      expect(await listTree(inbox)).to.deep.equal([name]);
      expect(await sha256File(path.join(inbox, name))).to.equal(sha.toString('hex'));

      // Single frames and batches of them (relay:frames: length-prefixed frames) alike.
      const frames = rv.inbound.filter((r) => r.event === 'relay:frame' || r.event === 'relay:frames');
      const relayedBytes = frames.reduce((n, r) => n + (r.args[1] as Buffer).length, 0);
      expect(relayedBytes, 'the ciphertext went through the relay').to.be.greaterThan(content.length);
      const recorded = recordedBytes(rv.inbound);
      for (const b of recorded) {
        expect(b.includes(name), 'file name in clear').to.equal(false);
        expect(b.includes(Buffer.from(name).toString('base64')), 'file name in base64').to.equal(false);
        expect(b.includes(sha), 'SHA-256 as bytes').to.equal(false);
        expect(b.includes(sha.toString('hex')), 'SHA-256 as hex').to.equal(false);
      }
      expect(leaksARun(recorded, content), 'a 32-byte run of the plaintext reached the rendezvous').to.equal(false);
      // The detector finds what it should: a planted 32-byte run at an odd offset, and not 31 bytes.
      expect(leaksARun([randomBytes(100), content.subarray(1_000_003, 1_000_003 + RUN)], content)).to.equal(true);
      expect(leaksARun([Buffer.concat([Buffer.from([content[76]! ^ 0xff]), content.subarray(77, 77 + RUN - 1)])], content)).to.equal(false);
      await fs.rm(inbox, { recursive: true });
    });

    for (const size of [0, 1]) {
      it(`--relay carries a ${size}-byte file`, async () => {
        const src = path.join(work, `edge-${size}.bin`);
        const sha = await randomFile(src, size);
        const { inbox, sender } = await relayed(src);
        expect(sender.events.find((e) => e.type === 'done')!.files).to.deep.equal([{ name: `edge-${size}.bin`, bytes: size, sha256: sha }]);
        expect(await listTree(inbox)).to.deep.equal([`edge-${size}.bin`]);
        expect(await sha256File(path.join(inbox, `edge-${size}.bin`))).to.equal(sha);
        await fs.rm(inbox, { recursive: true });
      });
    }
  });

  describe('with a spawned rendezvous', () => {
    let world: World;
    let big: { src: string; sha: string };
    let medium: { src: string; sha: string };
    before(async () => {
      world = await startWorld(['alice', 'bob']);
      big = { src: path.join(work, 'big.bin'), sha: '' };
      medium = { src: path.join(work, 'medium.bin'), sha: '' };
      big.sha = await randomFile(big.src, 128 * MiB);
      medium.sha = await randomFile(medium.src, 48 * MiB);
    });
    after(async () => { await world?.stop(); });

    async function startRelayed(src: string) {
      const inbox = await tempDir();
      const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      const sender = world.peer('alice', ['send', src, '--to', 'bob', '--relay']);
      return { inbox, sender, receiver };
    }

    it('a paused receiver holds the sender back and the rendezvous memory stays flat; it completes after SIGCONT', async () => {
      const pid = world.server.child.pid!;
      const { inbox, sender, receiver } = await startRelayed(big.src);
      const idle = rssOf(pid);
      // Early (16 of 128 MiB): progress comes every 250 ms, and the transfer must still be running when paused.
      await until(() => progressOf(receiver) >= 16 * MiB, 30_000, 'the receiver to get 16 MiB');
      receiver.child.kill('SIGSTOP');
      const atPause = rssOf(pid);
      const sentAtPause = progressOf(sender);
      let peak = atPause;
      for (let t = 0; t < 30; t++) {
        await new Promise((r) => setTimeout(r, 100));
        peak = Math.max(peak, rssOf(pid));
      }
      const sentDuringPause = progressOf(sender) - sentAtPause;
      receiver.child.kill('SIGCONT');
      console.log(`      rendezvous RSS ${idle.toFixed(1)} MB idle, ${atPause.toFixed(1)} MB at the pause, at most ${peak.toFixed(1)} MB during 3 s paused; the sender moved ${(sentDuringPause / MiB).toFixed(1)} MiB meanwhile`);
      // Without backpressure the sender would go on at full speed (tens of MiB/s) and the rendezvous would hold it all.
      // Progress events come every 250 ms, so the sender's figure may lag the pause by that much plus its 4 MiB window.
      expect(sentDuringPause, 'MiB the sender got out while the receiver was stopped').to.be.below(24 * MiB);
      expect(peak - atPause, 'rendezvous RSS growth while the receiver was stopped (MB)').to.be.below(16);
      // Relaying at full speed, V8 frees the Buffers' memory in batches: a plateau of a few tens of MB over idle, whatever the file size.
      expect(peak - idle, 'rendezvous RSS growth over idle (MB)').to.be.below(64);

      const [sent, got] = await Promise.all([sender.exit, receiver.exit]);
      expect(sent, sender.stderr() + sender.stdout()).to.equal(0);
      expect(got, receiver.stderr() + receiver.stdout()).to.equal(0);
      expect(sender.events.find((e) => e.type === 'done')!.transport).to.equal('relay');
      expect(await sha256File(path.join(inbox, 'big.bin'))).to.equal(big.sha);
      await fs.rm(inbox, { recursive: true });
    });

    it('killing the sender mid-relay ends the receiver within seconds with a clear error; the partial file resumes', async () => {
      const { inbox, sender, receiver } = await startRelayed(medium.src);
      // No race against the transfer finishing first: the receiver is stopped at its first bytes, so
      // it credits nothing more and the sender can be at most one credit window (8 MiB) ahead when
      // it is killed; 48 MiB cannot be through. Then the receiver goes on and must notice.
      await receiver.waitFor('progress', 30_000);
      receiver.child.kill('SIGSTOP');
      sender.child.kill('SIGKILL');
      await sender.exit;
      receiver.child.kill('SIGCONT');
      const killed = performance.now();
      const code = await receiver.exit;
      const seconds = (performance.now() - killed) / 1000;
      expect(code).to.not.equal(0);
      expect(seconds, 'seconds until the receiver gave up').to.be.below(10);
      const err = receiver.events.find((e) => e.type === 'error')!;
      expect(err.code, receiver.stdout()).to.equal('ERR_PEER_GONE');
      expect(err.message).to.match(/alice left the transfer/);
      const left = await listTree(inbox);
      expect(onlyPartials(left), `nothing under a final name: ${left.join(', ')}`).to.equal(true);

      // As after a failed direct transfer: sending again continues from the verified chunks.
      const again = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await again.waitFor('ready');
      const resend = world.peer('alice', ['send', medium.src, '--to', 'bob', '--relay']);
      expect(await resend.exit, resend.stderr() + resend.stdout()).to.equal(0);
      expect(await again.exit, again.stderr() + again.stdout()).to.equal(0);
      const done = resend.events.find((e) => e.type === 'done')!;
      expect(done.transport).to.equal('relay');
      expect(done.resumed, 'bytes resumed from the partial file').to.be.greaterThan(0);
      expect(await listTree(inbox)).to.deep.equal(['medium.bin']);
      expect(await sha256File(path.join(inbox, 'medium.bin'))).to.equal(medium.sha);
      await fs.rm(inbox, { recursive: true });
    });

    it('killing the receiver mid-relay ends the sender within seconds, with a clear error', async () => {
      const { inbox, sender, receiver } = await startRelayed(medium.src);
      // Stopped at its first bytes out, the sender cannot finish before the receiver is gone.
      await sender.waitFor('progress', 30_000);
      sender.child.kill('SIGSTOP');
      receiver.child.kill('SIGKILL');
      await receiver.exit;
      sender.child.kill('SIGCONT');
      const killed = performance.now();
      const code = await sender.exit;
      const seconds = (performance.now() - killed) / 1000;
      expect(code).to.not.equal(0);
      expect(seconds, 'seconds until the sender gave up').to.be.below(10);
      const err = sender.events.find((e) => e.type === 'error')!;
      expect(err.code, sender.stdout()).to.equal('ERR_PEER_GONE');
      expect(err.message).to.match(/bob left the transfer/);
      await fs.rm(inbox, { recursive: true, force: true });
    });
  });

  describe('operator limits', () => {
    for (const [label, flags, message] of [
      ['--max-relay-sessions 0', ['--max-relay-sessions', '0'], /already relaying 0 sessions/],
      ['--relay-quota below the file size', ['--relay-quota', String(MiB)], /relay quota of 1048576 bytes/],
    ] as const) {
      it(`${label} gives both peers ERR_RELAY_LIMIT and nothing under the file's name`, async () => {
        const world = await startWorld(['alice', 'bob'], [...flags]);
        try {
          const src = path.join(work, 'limited.bin');
          await randomFile(src, 4 * MiB);
          const inbox = await tempDir();
          const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
          await receiver.waitFor('ready');
          const sender = world.peer('alice', ['send', src, '--to', 'bob', '--relay']);
          const [sent, got] = await Promise.all([sender.exit, receiver.exit]);
          expect(sent).to.equal(4);
          expect(got).to.equal(4);
          for (const run of [sender, receiver]) {
            const err = run.events.find((e) => e.type === 'error')!;
            expect(err?.code, run.stdout()).to.equal('ERR_RELAY_LIMIT');
            expect(err.message).to.match(message);
          }
          const left = await listTree(inbox);
          expect(onlyPartials(left), left.join(', ')).to.equal(true);
          await fs.rm(inbox, { recursive: true });
        } finally {
          await world.stop();
        }
      });
    }
  });
});

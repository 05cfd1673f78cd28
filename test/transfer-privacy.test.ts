/**
 * The rendezvous learns nothing of what is sent: we record everything it
 * receives during a transfer (handshakes, signals, relayed frames) and look for
 * the file name and for any 32-byte run of the file's content.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { splitBatch } from '../shared/relay-batch.js';
import { PEER_CLI, sha256File, spawnCli, tempDir } from './helpers/cli.js';
import { startRendezvous, type TestRendezvous } from './helpers/rendezvous.js';

const WINDOW = 32;

/** Every recorded argument as bytes: binary frames raw, everything else as its JSON text. */
function recordedBytes(inbound: TestRendezvous['inbound']): Buffer[] {
  const out: Buffer[] = [];
  const visit = (value: unknown): void => {
    if (Buffer.isBuffer(value)) { out.push(value); return; }
    if (value instanceof Uint8Array) { out.push(Buffer.from(value)); return; }
    out.push(Buffer.from(JSON.stringify(value) ?? '', 'utf8'));
  };
  for (const { event, args } of inbound) { out.push(Buffer.from(event)); args.forEach(visit); }
  return out;
}

function windowsOf(buffers: Buffer[]): Set<string> {
  const set = new Set<string>();
  for (const b of buffers) for (let i = 0; i + WINDOW <= b.length; i++) set.add(b.toString('base64', i, i + WINDOW));
  return set;
}

/** How many 32-byte runs of `content` appear anywhere in `recorded`. */
function leakedRuns(recorded: Buffer[], content: Buffer): number {
  const seen = windowsOf(recorded);
  let leaked = 0;
  for (let i = 0; i + WINDOW <= content.length; i++) if (seen.has(content.toString('base64', i, i + WINDOW))) leaked++;
  return leaked;
}

describe('what the rendezvous sees during a transfer', function () {
  this.timeout(60_000);
  let rv: TestRendezvous;
  let root: string;
  const homes: Record<string, string> = {};

  before(async () => {
    rv = await startRendezvous({ accounts: ['alice', 'bob'], now: Date.now });
    root = await tempDir();
    for (const id of ['alice', 'bob']) {
      homes[id] = path.join(root, id);
      const login = spawnCli(PEER_CLI, ['--home', homes[id]!, 'login', '--server', rv.url, '--id', id, '--secret', rv.secrets[id]!]);
      expect(await login.exit, login.stderr()).to.equal(0);
    }
  });
  after(async () => {
    await rv?.stop();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('cannot tell individual file sizes apart when relaying: only the total shows', async () => {
    // Two transfers of two files with the same total but different splits: everything the relay
    // sees (event order, frame headers, frame lengths) must be the same for both.
    const observe = async (sizes: [number, number]) => {
      const dir = await tempDir();
      const paths = ['a.bin', 'b.bin'].map((n) => path.join(dir, n));
      for (const [i, p] of paths.entries()) await fs.writeFile(p, randomBytes(sizes[i]!));
      const mtime = new Date('2026-01-01T00:00:00Z');
      for (const p of paths) await fs.utimes(p, mtime, mtime);
      const inbox = await tempDir();
      rv.inbound.length = 0;
      const receiver = spawnCli(PEER_CLI, ['--home', homes.bob!, '--json', 'receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      const sender = spawnCli(PEER_CLI, ['--home', homes.alice!, '--json', 'send', ...paths, '--to', 'bob', '--relay']);
      expect(await sender.exit, sender.stderr()).to.equal(0);
      expect(await receiver.exit).to.equal(0);
      // Chunk frames: the whole clear header; control frames: their type and length only. A batch
      // (relay:frames) shows as its frames in order: how frames are grouped must not differ either.
      const seen = (frame: Buffer) => `${frame.length}:${frame[0] === 2 ? frame.subarray(0, 14).toString('hex') : frame[0]}`;
      return rv.inbound
        .filter((r) => r.event === 'relay:frame' || r.event === 'relay:frames')
        .map((r) => (r.event === 'relay:frame' ? seen(r.args[1] as Buffer) : `batch[${splitBatch(r.args[1] as Buffer).map(seen).join(' ')}]`))
        .sort(); // the two directions interleave by timing; compare as multisets
    };
    const first = await observe([123_456, 234_567]);
    const second = await observe([200_000, 158_023]);
    expect(first.length).to.be.greaterThan(3);
    expect(first.filter((e) => e.startsWith('batch[')).length, 'chunks went in batches').to.be.greaterThan(0);
    expect(second).to.deep.equal(first);
  });

  for (const mode of ['direct', 'relay'] as const) {
    it(`holds neither the file name nor any 32-byte run of its content (${mode})`, async () => {
      const name = `quarterly-merger-${randomBytes(4).toString('hex')}.pdf`;
      const src = path.join(root, name);
      const content = randomBytes(300 * 1024);
      await fs.writeFile(src, content);
      const inbox = await tempDir();
      rv.inbound.length = 0;
      const receiver = spawnCli(PEER_CLI, ['--home', homes.bob!, '--json', 'receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      const sender = spawnCli(PEER_CLI, ['--home', homes.alice!, '--json', 'send', src, '--to', 'bob', mode === 'relay' ? '--relay' : '--direct-only']);
      expect(await sender.exit, sender.stderr()).to.equal(0);
      expect(await receiver.exit, receiver.stderr()).to.equal(0);
      expect(sender.events.find((e) => e.type === 'done')!.transport).to.equal(mode);
      expect(await sha256File(path.join(inbox, name))).to.equal(await sha256File(src));

      const recorded = recordedBytes(rv.inbound);
      const total = recorded.reduce((n, b) => n + b.length, 0);
      if (mode === 'relay') expect(total, 'the relay carried the ciphertext').to.be.greaterThan(content.length);
      expect(rv.inbound.some((r) => r.event === 'signal'), 'signaling was recorded').to.equal(true);
      for (const b of recorded) {
        expect(b.includes(name), 'file name in clear').to.equal(false);
        expect(b.includes(Buffer.from(name).toString('base64')), 'file name in base64').to.equal(false);
      }
      expect(leakedRuns(recorded, content), 'plaintext runs found in what the rendezvous received').to.equal(0);
      // Its logs say what happened and nothing secret: no name, no TOTP secret, no code, no token.
      const logs = rv.logs.join('\n');
      expect(logs).to.include('session.opened');
      expect(logs).to.not.include(name);
      for (const id of ['alice', 'bob']) expect(logs).to.not.include(rv.secrets[id]!);
      for (const r of rv.inbound.filter((e) => e.event === 'handshake')) {
        const auth = r.args[0] as { code?: string; token?: string };
        if (auth.token) expect(logs).to.not.include(auth.token);
        if (auth.code) expect(logs).to.not.match(new RegExp(`\\b${auth.code}\\b`));
      }
      // The detector itself works: 100 bytes of content planted in the record are found.
      expect(leakedRuns([...recorded, content.subarray(5000, 5100)], content)).to.equal(100 - WINDOW + 1);
      await fs.rm(inbox, { recursive: true });
    });
  }
});

/**
 * `sealdrop fingerprint` and `sealdrop trust` through the real CLI: the format a
 * person reads aloud, its stability, and how typed fingerprints are read back.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PEER_CLI, spawnCli, tempDir, type Run } from './helpers/cli.js';

const FINGERPRINT = /^[A-Z2-7]{4}(-[A-Z2-7]{4}){7}$/;

describe('trust: fingerprint and trust commands', function () {
  this.timeout(30_000);
  let home: string;
  const sealdrop = (...args: string[]): Run => spawnCli(PEER_CLI, ['--home', home, ...args]);
  const pins = async () => JSON.parse(await fs.readFile(path.join(home, 'known_peers.json'), 'utf8')).peers;

  beforeEach(async () => { home = await tempDir(); });
  afterEach(async () => { await fs.rm(home, { recursive: true, force: true }); });

  it('`fingerprint --json` prints exactly one {"type":"fingerprint","fingerprint"} line, the same on every run', async () => {
    const first = sealdrop('--json', 'fingerprint');
    expect(await first.exit, first.stderr()).to.equal(0);
    const lines = first.stdout().trim().split('\n');
    expect(lines).to.have.length(1);
    const event = JSON.parse(lines[0]!);
    expect(Object.keys(event)).to.deep.equal(['type', 'fingerprint']);
    expect(event.type).to.equal('fingerprint');
    expect(event.fingerprint).to.match(FINGERPRINT);

    const again = sealdrop('--json', 'fingerprint');
    expect(await again.exit).to.equal(0);
    expect(again.stdout()).to.equal(first.stdout());
    const human = sealdrop('fingerprint');
    expect(await human.exit).to.equal(0);
    expect(human.stdout()).to.equal(`${event.fingerprint}\n`);

    // A different home is a different identity.
    const otherHome = await tempDir();
    const other = spawnCli(PEER_CLI, ['--home', otherHome, '--json', 'fingerprint']);
    expect(await other.exit).to.equal(0);
    expect(other.events[0]!.fingerprint).to.match(FINGERPRINT).and.not.equal(event.fingerprint);
    await fs.rm(otherHome, { recursive: true, force: true });
  });

  it('`trust` reads a fingerprint in any case, with spaces or dashes, and stores it normalized', async () => {
    const fp = 'ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567';
    for (const typed of ['abcd efgh ijkl mnop qrst uvwx yz23 4567', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 'abcd-EFGH-ijkl-MNOP-qrst-UVWX-yz23-4567', fp]) {
      const run = sealdrop('--json', 'trust', 'bob', typed);
      expect(await run.exit, run.stderr()).to.equal(0);
      expect(run.events[0]).to.deep.equal({ type: 'trusted', id: 'bob', fingerprint: fp });
      expect(await pins()).to.deep.equal({ bob: fp });
    }
    // Re-trusting replaces the pin; other peers' pins stay.
    const other = 'QRST-UVWX-YZ23-4567-ABCD-EFGH-IJKL-MNOP';
    expect(await sealdrop('--json', 'trust', 'carol', fp).exit).to.equal(0);
    expect(await sealdrop('--json', 'trust', 'bob', other).exit).to.equal(0);
    expect(await pins()).to.deep.equal({ bob: other, carol: fp });
  });

  it('`trust` refuses malformed fingerprints and IDs, and pins nothing', async () => {
    const bad = [
      'ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-456', // 31 characters
      'ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-45678', // 33
      'ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4560', // 0 is not base32
      'ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4561',
      'ABCD.EFGH.IJKL.MNOP.QRST.UVWX.YZ23.4567',
      '',
    ];
    await Promise.all(bad.map(async (typed) => {
      const run = sealdrop('--json', 'trust', 'bob', typed);
      expect(await run.exit, typed).to.equal(2);
      const err = run.events.find((e) => e.type === 'error')!;
      expect(err.code, typed).to.equal('ERR_BAD_INPUT');
      expect(err.message).to.match(/fingerprint/);
    }));
    const badId = sealdrop('--json', 'trust', '../bob', 'ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567');
    expect(await badId.exit).to.equal(2);
    expect(badId.events.find((e) => e.type === 'error')!.code).to.equal('ERR_BAD_INPUT');
    expect(await fs.stat(path.join(home, 'known_peers.json')).then(() => true, () => false)).to.equal(false);
  });

  it('reads a hand-edited pin file in any case, and refuses a corrupt one clearly', async () => {
    await fs.writeFile(path.join(home, 'known_peers.json'), JSON.stringify({ version: 1, peers: { bob: 'abcd efgh ijkl mnop qrst uvwx yz23 4567' } }));
    expect(await sealdrop('--json', 'trust', 'carol', 'QRST-UVWX-YZ23-4567-ABCD-EFGH-IJKL-MNOP').exit).to.equal(0);
    expect(await pins()).to.deep.equal({ bob: 'ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567', carol: 'QRST-UVWX-YZ23-4567-ABCD-EFGH-IJKL-MNOP' });

    await fs.writeFile(path.join(home, 'known_peers.json'), JSON.stringify({ version: 1, peers: { bob: 'not a fingerprint' } }));
    const run = sealdrop('--json', 'trust', 'carol', 'QRST-UVWX-YZ23-4567-ABCD-EFGH-IJKL-MNOP');
    expect(await run.exit).to.equal(2);
    const err = run.events.find((e) => e.type === 'error')!;
    expect(err.code).to.equal('ERR_CONFIG');
    expect(err.message).to.include('known_peers.json');
  });
});

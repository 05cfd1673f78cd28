/**
 * `--verify` through the real CLI with --json: each side gets a `verify` event with
 * its code and answers with one line on stdin. Nothing is sent or written until every
 * person who was asked said yes; a "no" on either side ends the session for both.
 * Last, the same against a rendezvous that re-encrypts: the codes differ, and a person
 * who compares them stops the transfer before the file list leaves.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FrameType } from '../shared/framing.js';
import { totpCode } from '../shared/totp.js';
import { errorOf, listTree, PEER_CLI, randomFile, type Run, sha256File, spawnCli, tempDir } from './helpers/cli.js';
import { startMitmRendezvous } from './helpers/mitm-rendezvous.js';
import { startWorld, type World } from './helpers/world.js';


describe('--verify: people confirm the verification code first', function () {
  this.timeout(60_000);
  let world: World;
  let file: string;
  let sha: string;

  before(async () => {
    world = await startWorld(['alice', 'bob', 'carol', 'dave']);
    file = path.join(await tempDir(), 'contract.pdf');
    sha = await randomFile(file, 300 * 1024);
  });
  after(async () => { await world?.stop(); });

  async function pair(o: { senderVerifies: boolean; receiverVerifies: boolean }) {
    const inbox = await tempDir();
    const bob = world.peer('bob', [...(o.receiverVerifies ? ['--verify'] : []), 'receive', '--dir', inbox, '--yes', '--once'], {}, { stdin: true });
    await bob.waitFor('ready');
    const alice = world.peer('alice', [...(o.senderVerifies ? ['--verify'] : []), 'send', file, '--to', 'bob'], {}, { stdin: true });
    return { inbox, alice, bob };
  }

  it('both confirm: the same code on both sides, then the transfer', async () => {
    const { inbox, alice, bob } = await pair({ senderVerifies: true, receiverVerifies: true });
    const [a, b] = await Promise.all([alice.waitFor('verify'), bob.waitFor('verify')]);
    expect(a.code).to.match(/^\d{3} \d{3}$/).and.equal(b.code);
    expect(a.peer).to.equal('bob');
    expect(b.peer).to.equal('alice');
    // Nothing moved while they were asked.
    expect(await listTree(inbox)).to.deep.equal([]);
    expect(bob.events.map((e) => e.type)).to.not.include('offer');
    alice.write('yes\n');
    bob.write('yes\n');
    expect(await alice.exit, alice.stderr()).to.equal(0);
    expect(await bob.exit, bob.stderr()).to.equal(0);
    expect(await sha256File(path.join(inbox, 'contract.pdf'))).to.equal(sha);
  });

  for (const who of ['receiver', 'sender'] as const) {
    it(`the ${who} declines: both exit non-zero with words, nothing written`, async () => {
      const { inbox, alice, bob } = await pair({ senderVerifies: true, receiverVerifies: true });
      await Promise.all([alice.waitFor('verify'), bob.waitFor('verify')]);
      const [decliner, other] = who === 'receiver' ? [bob, alice] : [alice, bob];
      decliner.write('no\n');
      expect(await decliner.exit).to.equal(4);
      expect(errorOf(decliner)?.code).to.equal('ERR_REJECTED');
      expect(errorOf(decliner)?.message).to.match(/verification codes were not confirmed.*nothing was sent or written/);
      // The other person is still at its question; it ends without an answer.
      expect(await other.exit).to.equal(4);
      expect(errorOf(other)?.code).to.equal('ERR_REJECTED');
      expect(errorOf(other)?.message).to.match(/other person says the verification codes differ.*nothing was sent or written/);
      expect(await listTree(inbox)).to.deep.equal([]);
      for (const run of [alice, bob]) expect(run.events.map((e) => e.type)).to.not.include.members(['offer', 'progress', 'done']);
    });
  }

  it('only the sender verifies: the receiver shows its code and waits, then takes the files', async () => {
    const { inbox, alice, bob } = await pair({ senderVerifies: true, receiverVerifies: false });
    const asked = await alice.waitFor('verify');
    const shown = await bob.waitFor('secured');
    expect(shown.sas).to.equal(asked.code);
    expect(bob.events.map((e) => e.type)).to.not.include('verify');
    expect(await listTree(inbox)).to.deep.equal([]);
    alice.write('yes\n');
    expect(await alice.exit, alice.stderr()).to.equal(0);
    expect(await bob.exit, bob.stderr()).to.equal(0);
    expect(await sha256File(path.join(inbox, 'contract.pdf'))).to.equal(sha);
  });

  it('"verify": true in config.json makes it the default; an answer that is not "yes", or no answer, declines', async () => {
    const config = path.join(world.homes.alice!, 'config.json');
    const saved = await fs.readFile(config, 'utf8');
    await fs.writeFile(config, JSON.stringify({ ...JSON.parse(saved), verify: true }));
    try {
      const { inbox, alice, bob } = await pair({ senderVerifies: false, receiverVerifies: false });
      await alice.waitFor('verify');
      alice.child.stdin!.end('y\n'); // not "yes"
      expect(await alice.exit).to.equal(4);
      expect(await bob.exit).to.equal(4);
      expect(errorOf(bob)?.message).to.match(/other person says the verification codes differ/);
      expect(await listTree(inbox)).to.deep.equal([]);
    } finally {
      await fs.writeFile(config, saved);
    }
  });

  it('without --json and without a terminal, --verify refuses at once instead of never asking', async () => {
    // world.peer always adds --json: spawn the CLI without it (stdin is not a terminal here).
    const plain = spawnCli(PEER_CLI, ['--home', world.homes.alice!, '--verify', 'send', file, '--to', 'bob']);
    expect(await plain.exit).to.equal(2);
    expect(plain.stderr()).to.match(/--verify asks the person to confirm the code: run it on a terminal, or with --json/);
  });

  it('against a rendezvous that re-encrypts, the codes differ and a "no" stops it before the file list leaves', async () => {
    const mitm = await startMitmRendezvous(world.url, 're-encrypt');
    try {
      const inbox = await tempDir();
      const via = (id: string) => ['--server', mitm.url, '--code', totpCode(world.secrets[id]!, Date.now() + 30_000)];
      const dave = world.peer('dave', [...via('dave'), '--verify', 'receive', '--dir', inbox, '--yes', '--once'], {}, { stdin: true });
      await dave.waitFor('ready');
      const carol = world.peer('carol', [...via('carol'), '--verify', 'send', file, '--to', 'dave', '--timeout', '1'], {}, { stdin: true });
      const [c, d] = await Promise.all([carol.waitFor('verify'), dave.waitFor('verify')]);
      // Version 2: the MITM had one guess at a matching pair of codes (1 in 10⁶).
      expect(c.code).to.not.equal(d.code);
      carol.write('no\n'); // what a person does on hearing a different code
      expect(await carol.exit).to.equal(4);
      expect(await dave.exit).to.not.equal(0);
      expect(await listTree(inbox)).to.deep.equal([]);
      // It read the path messages and the answer, never a file name or byte.
      const read = mitm.read.filter((f) => f.type === FrameType.Control).map((f) => JSON.parse(f.plaintext.toString('utf8')).t);
      expect(read).to.not.include('manifest');
      expect(mitm.read.filter((f) => f.type === FrameType.Chunk)).to.deep.equal([]);
    } finally {
      await mitm.close();
    }
  });
});

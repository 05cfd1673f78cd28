/** Everyday workflows through the spawned CLIs: folders, pull by name, text, free space. */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { listTree, PEER_CLI, randomFile, sha256File, tempDir } from './helpers/cli.js';
import { startWorld, type World } from './helpers/world.js';

/** Structure and SHA-256 of every file under dir, for comparing two trees. */
async function treeDigest(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of await listTree(dir)) out[rel] = rel.endsWith('/') ? 'dir' : await sha256File(path.join(dir, rel));
  return out;
}

describe('everyday workflows', function () {
  this.timeout(90_000);
  let world: World;
  let work: string;

  before(async () => {
    world = await startWorld(['alice', 'bob', 'carol']);
    work = await tempDir();
  });
  after(async () => {
    await world?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('sends a folder tree with nested and empty folders plus loose files, identical, in one send', async () => {
    const photos = path.join(work, 'photos');
    await fs.mkdir(path.join(photos, '2024/summer'), { recursive: true });
    await fs.mkdir(path.join(photos, 'empty/also-empty'), { recursive: true });
    await randomFile(path.join(photos, '2024/summer/beach.jpg'), 300_000);
    await randomFile(path.join(photos, '2024/cover.png'), 1);
    await fs.writeFile(path.join(photos, 'zero.txt'), '');
    await fs.symlink('/etc/passwd', path.join(photos, 'escape'));
    await fs.writeFile(path.join(work, 'a.txt'), 'loose a');
    await fs.writeFile(path.join(work, 'notes.md'), '# notes');
    const inbox = await tempDir();
    const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    const sender = world.peer('alice', ['send', path.join(work, 'a.txt'), photos, path.join(work, 'notes.md'), '--to', 'bob']);
    expect(await sender.exit, sender.stderr()).to.equal(0);
    expect(await receiver.exit, receiver.stderr()).to.equal(0);
    expect(sender.events.filter((e) => e.type === 'skipped')).to.deep.equal([{ type: 'skipped', name: 'photos/escape' }]);
    const offer = receiver.events.find((e) => e.type === 'offer')!;
    expect(offer.files).to.equal(5);
    expect(offer.names).to.have.members(['a.txt', 'photos', 'notes.md']);
    const expected = await treeDigest(work);
    delete expected['photos/escape']; // symbolic links are not followed out of the sent tree
    expect(await treeDigest(inbox)).to.deep.equal(expected);
  });

  it('sends a short text with --text and standard input with -', async () => {
    const inbox = await tempDir();
    const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    const sender = world.peer('alice', ['send', '--text', 'meet at 6', '--to', 'bob']);
    expect(await sender.exit, sender.stderr()).to.equal(0);
    expect(await receiver.exit).to.equal(0);
    // A text is a message: shown to the receiver, never saved as a file.
    expect(JSON.stringify(receiver.events)).to.include('meet at 6');
    expect(await fs.readdir(inbox)).to.deep.equal([]);

    const receiver2 = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver2.waitFor('ready');
    const piped = spawn(process.execPath, [PEER_CLI, '--home', world.homes.alice!, '--quiet', 'send', '-', '--to', 'bob'], { stdio: ['pipe', 'ignore', 'pipe'] });
    piped.stdin.end('from a pipe\n');
    expect(await new Promise((r) => piped.on('exit', r))).to.equal(0);
    expect(await receiver2.exit).to.equal(0);
    expect(await fs.readFile(path.join(inbox, 'stdin'), 'utf8')).to.equal('from a pipe\n');
  });

  describe('pull: receive --share, ls, get', () => {
    let shared: string;
    let sharer: ReturnType<World['peer']>;
    let outsideSecret: string;
    before(async () => {
      shared = path.join(work, 'shared');
      await fs.mkdir(path.join(shared, 'docs/deep'), { recursive: true });
      await randomFile(path.join(shared, 'docs/deep/plan.bin'), 200_000);
      await fs.writeFile(path.join(shared, 'readme.txt'), 'hello from bob');
      outsideSecret = path.join(work, 'outside-secret.txt');
      await fs.writeFile(outsideSecret, 'not shared');
      await fs.symlink(outsideSecret, path.join(shared, 'sneaky'));
      sharer = world.peer('bob', ['receive', '--dir', await tempDir(), '--yes', '--share', shared, '--share-allow', 'alice']);
      await sharer.waitFor('ready');
    });
    after(() => { sharer.child.kill('SIGTERM'); });

    it('lists what a peer shares, without links', async () => {
      const ls = world.peer('alice', ['ls', 'bob']);
      expect(await ls.exit, ls.stderr()).to.equal(0);
      const listing = ls.events.find((e) => e.type === 'listing')!;
      expect(listing.entries).to.deep.equal([
        { name: 'docs', size: 200_000, type: 'dir' },
        { name: 'docs/deep', size: 200_000, type: 'dir' },
        { name: 'docs/deep/plan.bin', size: 200_000, type: 'file' },
        { name: 'readme.txt', size: 14, type: 'file' },
      ]);
    });

    it('gets one file and a whole folder, verified', async () => {
      const dest = path.join(await tempDir(), 'new-folder');
      const one = world.peer('alice', ['get', 'bob', 'readme.txt', '--dir', dest]);
      expect(await one.exit, one.stderr()).to.equal(0);
      expect(await fs.readFile(path.join(dest, 'readme.txt'), 'utf8')).to.equal('hello from bob');
      const folder = world.peer('alice', ['get', 'bob', 'docs', '--dir', dest]);
      expect(await folder.exit, folder.stderr()).to.equal(0);
      expect(await sha256File(path.join(dest, 'docs/deep/plan.bin'))).to.equal(await sha256File(path.join(shared, 'docs/deep/plan.bin')));
    });

    for (const [name, code] of [['../../etc/passwd', 'ERR_BAD_INPUT'], ['/etc/passwd', 'ERR_BAD_INPUT'], ['sneaky', 'ERR_NOT_FOUND'], ['missing.txt', 'ERR_NOT_FOUND']] as const) {
      it(`refuses get ${name}`, async () => {
        const dest = await tempDir();
        const get = world.peer('alice', ['get', 'bob', name, '--dir', dest]);
        expect(await get.exit).to.not.equal(0);
        expect(get.events.find((e) => e.type === 'error')?.code).to.equal(code);
        expect(await listTree(dest)).to.deep.equal([]);
      });
    }

    it('refuses peers not on --share-allow', async () => {
      const ls = world.peer('carol', ['ls', 'bob']);
      expect(await ls.exit).to.not.equal(0);
      expect(ls.events.find((e) => e.type === 'error')?.code).to.equal('ERR_REJECTED');
    });
  });

  it('refuses a transfer that does not fit in the target folder, before writing anything', async function () {
    const mountPoint = await tempDir();
    const probe = spawn('unshare', ['-m', 'sh', '-c', `mount -t tmpfs -o size=1m none ${mountPoint}`]);
    const canMount = await new Promise((r) => { probe.on('exit', (c) => r(c === 0)); probe.on('error', () => r(false)); });
    if (!canMount) {
      console.log('SKIP free-space refusal: cannot mount a tmpfs here (needs root or a user namespace)');
      this.skip();
    }
    const big = path.join(work, 'big.bin');
    await randomFile(big, 3 * 1024 * 1024);
    // The receiver runs in its own mount namespace where the target folder is a 1 MiB tmpfs.
    const script = `mount -t tmpfs -o size=1m none ${mountPoint} && exec ${process.execPath} ${PEER_CLI} --home ${world.homes.bob} --json receive --dir ${mountPoint} --yes --once`;
    const child = spawn('unshare', ['-m', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SEALDROP_LOG: 'silent' } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const exited = new Promise<number>((r) => child.on('exit', (c) => r(c ?? 1)));
    for (let i = 0; i < 200 && !out.includes('"ready"'); i++) await new Promise((r) => setTimeout(r, 50));
    const sender = world.peer('alice', ['send', big, '--to', 'bob']);
    expect(await sender.exit).to.not.equal(0);
    expect(await exited).to.not.equal(0);
    const error = out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'error');
    expect(error.code).to.equal('ERR_SPACE');
    expect(error.message).to.match(/not enough free space/);
    expect(sender.events.find((e) => e.type === 'error')?.code).to.equal('ERR_SPACE');
  });
});

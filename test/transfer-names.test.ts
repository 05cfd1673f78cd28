/**
 * Received names are never trusted. A sender built from the library offers
 * hostile names to the real receiver CLI; each is refused before anything is
 * written, and nothing appears inside or outside the target folder.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Home } from '../peer/session/home.js';
import { resolveAccount } from '../peer/session/login.js';
import { vetReceivedPath } from '../peer/files/safe-names.js';
import { sendFiles } from '../peer/transfer/send.js';
import { listTree, tempDir } from './helpers/cli.js';
import { startWorld, type World } from './helpers/world.js';

const HOSTILE = [
  '../x', '/etc/passwd', 'C:\\x', 'a/../../x', 'CON', 'con.txt', 'LPT1', 'nul\u0000x', 'evil\u001b[31mred', 'a\\..\\b',
  '..', '.', '', 'dir/', 'a//b', 'trailing.', 'trailing ', 'fake\u202egnp.exe', 'x'.repeat(300),
];

describe('hostile names from a sender', function () {
  this.timeout(90_000);

  describe('the name vetting rules', () => {
    for (const name of HOSTILE) {
      it(`refuses ${JSON.stringify(name).slice(0, 40)}`, () => {
        expect(() => vetReceivedPath(name)).to.throw(/refused the received name/);
      });
    }
    it('accepts ordinary names and nested relative paths', () => {
      expect(vetReceivedPath('report.pdf')).to.deep.equal(['report.pdf']);
      expect(vetReceivedPath('photos/2024/beach.jpg')).to.deep.equal(['photos', '2024', 'beach.jpg']);
      expect(vetReceivedPath('.bashrc')).to.deep.equal(['.bashrc']);
      expect(vetReceivedPath('été — notes.txt')).to.deep.equal(['été — notes.txt']);
    });
  });

  describe('through the receiver CLI', () => {
    let world: World;
    let work: string;
    let payload: string;
    before(async () => {
      world = await startWorld(['alice', 'bob']);
      work = await tempDir();
      payload = path.join(work, 'payload.txt');
      await fs.writeFile(payload, 'owned');
    });
    after(async () => {
      await world?.stop();
      await fs.rm(work, { recursive: true, force: true });
    });

    /** Offers `names` (each the same five bytes) from alice to a `receive --once` of bob's. */
    const offer = async (...names: string[]) => {
      const parent = await tempDir();
      const inbox = path.join(parent, 'inbox');
      await fs.mkdir(inbox);
      const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      const home = new Home(world.homes.alice!);
      const result = await sendFiles({
        home, account: await resolveAccount(home, {}), to: 'bob',
        sources: { files: names.map((name) => ({ path: payload, name, size: 5 })), dirs: [], skipped: [] },
      }).then(() => 'sent', (e) => e);
      const code = await receiver.exit;
      return { result, code, receiver, parent, inbox };
    };

    for (const name of ['../x', '/etc/passwd', 'C:\\x', 'a/../../x', 'CON', 'nul\u0000x', 'evil\u001b[31mred']) {
      it(`refuses ${JSON.stringify(name)} and writes nothing anywhere`, async () => {
        const { result, code, receiver, parent } = await offer(name);
        expect(result).to.be.instanceOf(Error);
        expect((result as { code: string }).code).to.equal('ERR_BAD_INPUT');
        expect(code).to.not.equal(0);
        expect(receiver.events.find((e) => e.type === 'error')?.code).to.equal('ERR_BAD_INPUT');
        expect(await listTree(parent)).to.deep.equal(['inbox/']);
        await fs.rm(parent, { recursive: true });
      });
    }

    it('lets a nested relative name land inside the target folder', async () => {
      const { result, code, parent } = await offer('sub/dir/ok.txt');
      expect(result).to.equal('sent');
      expect(code).to.equal(0);
      expect(await listTree(parent)).to.deep.equal(['inbox/', 'inbox/sub/', 'inbox/sub/dir/', 'inbox/sub/dir/ok.txt']);
      expect(await fs.readFile(path.join(parent, 'inbox/sub/dir/ok.txt'), 'utf8')).to.equal('owned');
    });

    for (const [first, second] of [['a', 'a/b'], ['a/b', 'A'], ['x/y/z', 'x/y']]) {
      it(`refuses an offer naming ${JSON.stringify(first!.split('/')[0])} a file and a folder ("${first}" and "${second}"), before writing`, async () => {
        const { result, code, receiver, parent } = await offer(first!, second!);
        expect(code).to.not.equal(0);
        expect((result as { code: string }).code).to.equal('ERR_BAD_INPUT');
        expect(receiver.events.find((e) => e.type === 'error')?.message).to.match(/as a file and as a folder/);
        expect(await listTree(parent)).to.deep.equal(['inbox/']);
        await fs.rm(parent, { recursive: true });
      });
    }

    it('lets an emoji ZWJ sequence and a Persian word with its ZWNJ land under exactly that name', async () => {
      const name = '👨\u200D👩\u200D👧 می\u200Cخواهم.txt';
      const { result, code, parent } = await offer(name);
      expect(result).to.equal('sent');
      expect(code).to.equal(0);
      expect(await listTree(parent)).to.deep.equal(['inbox/', `inbox/${name}`]);
    });

    it('does not follow a symbolic link planted in the target folder', async () => {
      const parent = await tempDir();
      const inbox = path.join(parent, 'inbox');
      const outside = path.join(parent, 'outside');
      await fs.mkdir(inbox);
      await fs.mkdir(outside);
      await fs.symlink(outside, path.join(inbox, 'link'));
      const receiver = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      const home = new Home(world.homes.alice!);
      const result = await sendFiles({
        home, account: await resolveAccount(home, {}), to: 'bob',
        sources: { files: [{ path: payload, name: 'link/escaped.txt', size: 5 }], dirs: [], skipped: [] },
      }).then(() => 'sent', (e) => e);
      expect(result).to.be.instanceOf(Error);
      expect(await receiver.exit).to.not.equal(0);
      expect(await listTree(outside)).to.deep.equal([]);
    });
  });
});

/**
 * One `receive` per account: a second one is refused with words, unless `--replace`,
 * which tells the first (it stops, and says why) and takes the transfers from then on.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errorOf, type Run, tempDir } from './helpers/cli.js';
import { startWorld, type World } from './helpers/world.js';


describe('receive: one per account, unless --replace', function () {
  this.timeout(60_000);
  let world: World;
  let note: string;

  before(async () => {
    world = await startWorld(['alice', 'bob']);
    note = path.join(await tempDir(), 'note.txt');
    await fs.writeFile(note, 'for bob\n');
  });
  after(async () => { await world?.stop(); });

  it('refuses a second receive with words, and the first goes on receiving', async () => {
    const first = world.peer('bob', ['receive', '--dir', await tempDir(), '--yes']);
    await first.waitFor('ready');
    try {
      const second = world.peer('bob', ['receive', '--dir', await tempDir(), '--yes']);
      expect(await second.exit).to.equal(2);
      expect(errorOf(second)?.code).to.equal('ERR_EXISTS');
      expect(errorOf(second)?.message).to.match(/bob is already receiving on another connection.*--replace/);
      // The next step fits this case, not "choose another name" (ERR_EXISTS in general).
      expect(errorOf(second)?.hint).to.equal('stop the other `sealdrop receive` for this ID first, or start this one with --replace to take over from it');
      const send = world.peer('alice', ['send', note, '--to', 'bob']);
      expect(await send.exit, send.stderr()).to.equal(0);
      await first.waitFor('done');
    } finally {
      first.child.kill('SIGINT');
      await first.exit;
    }
  });

  it('--replace takes over: the first is told and stops, the new one receives', async () => {
    const first = world.peer('bob', ['receive', '--dir', await tempDir(), '--yes']);
    await first.waitFor('ready');
    const inbox = await tempDir();
    const second = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--replace']);
    try {
      await second.waitFor('ready');
      expect(await first.exit).to.equal(2);
      expect(errorOf(first)?.code).to.equal('ERR_EXISTS');
      expect(errorOf(first)?.message).to.match(/another `sealdrop receive` for bob took over.*this one stops/);
      expect(errorOf(first)?.hint).to.match(/^the other one receives now/);
      const send = world.peer('alice', ['send', note, '--to', 'bob']);
      expect(await send.exit, send.stderr()).to.equal(0);
      expect(await fs.readFile(path.join(inbox, 'note.txt'), 'utf8')).to.equal('for bob\n');
    } finally {
      second.child.kill('SIGINT');
      await second.exit;
    }
  });
});

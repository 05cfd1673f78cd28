/**
 * A push names its own paths: a `receive` in the home folder would let any sender add
 * .ssh/authorized_keys or .bashrc. receive refuses such a target before it goes online.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pushTargetRefusal } from '../peer/files/push-target.js';
import { errorOf, listTree, tempDir } from './helpers/cli.js';
import { startWorld, type World } from './helpers/world.js';

describe('where pushed files may land', function () {
  this.timeout(60_000);

  it('refuses the home folder, a folder above it and its hidden folders; allows the rest', async () => {
    const home = await fs.realpath(await tempDir('sealdrop-home-'));
    expect(pushTargetRefusal(home, home)).to.equal('it is your home folder');
    expect(pushTargetRefusal(path.dirname(home), home)).to.equal('your home folder is inside it');
    expect(pushTargetRefusal('/', home)).to.equal('your home folder is inside it');
    expect(pushTargetRefusal(path.join(home, '.config'), home)).to.match(/a hidden folder of your home/);
    expect(pushTargetRefusal(path.join(home, '.ssh', 'x'), home)).to.match(/\.ssh, a hidden folder of your home/);
    expect(pushTargetRefusal(path.join(home, 'Downloads'), home)).to.equal(undefined);
    expect(pushTargetRefusal(path.join(home, 'Downloads', '.stash'), home), 'hidden below a visible folder').to.equal(undefined);
    expect(pushTargetRefusal(path.join(path.dirname(home), 'elsewhere'), home)).to.equal(undefined);
  });

  describe('sealdrop receive', () => {
    let world: World;
    let home: string;
    before(async () => {
      world = await startWorld(['alice', 'bob']);
      home = await fs.realpath(await tempDir('sealdrop-home-'));
    });
    after(async () => { await world?.stop(); });

    for (const [what, dir] of [['the home folder', ''], ['a hidden folder in it, not made', '.config/autostart'], ['the root folder', '/']] as const) {
      it(`refuses ${what} before going online, with words and a next step, exit 2`, async () => {
        const target = dir.startsWith('/') ? dir : path.join(home, dir);
        const bob = world.peer('bob', ['receive', '--dir', target, '--yes', '--once'], { HOME: home });
        expect(await bob.exit).to.equal(2);
        expect(bob.events.some((e) => e.type === 'ready'), 'never online').to.equal(false);
        const err = errorOf(bob)!;
        expect(err.code).to.equal('ERR_BAD_INPUT');
        expect(err.message).to.match(/^will not receive into .+: .+, where a sender could add files such as \.ssh\/authorized_keys/);
        expect(err.hint).to.match(/--dir ~\/Downloads/);
        expect(await listTree(home), 'nothing made in the home folder').to.deep.equal([]);
      });
    }

    it('receives into a folder of the home, where even .ssh/authorized_keys stays inside it', async () => {
      const inbox = path.join(home, 'Downloads');
      const bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once'], { HOME: home });
      await bob.waitFor('ready');
      const src = await tempDir();
      await fs.mkdir(path.join(src, '.ssh'));
      await fs.writeFile(path.join(src, '.ssh', 'authorized_keys'), 'ssh-ed25519 AAAA attacker\n');
      const alice = world.peer('alice', ['send', path.join(src, '.ssh'), '--to', 'bob']);
      expect(await alice.exit, alice.stderr()).to.equal(0);
      expect(await bob.exit).to.equal(0);
      expect(await listTree(home)).to.deep.equal(['Downloads/', 'Downloads/.ssh/', 'Downloads/.ssh/authorized_keys']);
    });
  });
});

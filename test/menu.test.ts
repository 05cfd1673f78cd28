/**
 * The interactive menu (`sealdrop` with no command), driven as a person would:
 * the real CLI in a real pseudo-terminal (tmux), keys sent, screen read back.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PEER_CLI, randomFile, sha256File, spawnCli, tempDir } from './helpers/cli.js';
import { hasTmux, TmuxServer, type Pane } from './helpers/tmux.js';
import { enroll, startWorld, type World } from './helpers/world.js';

/** `sealdrop --home HOME [extra]` in a shell that reports the exit status and keeps the pane open. */
function sealdropArgv(home: string, tail = ''): string[] {
  return ['sh', '-c', `SEALDROP_LOG=silent "$0" "$1" --home "$2" ${tail}; echo EXIT=$?; sleep 600`, process.execPath, PEER_CLI, home];
}

const exitStatus = async (pane: Pane) => Number(/EXIT=(\d+)/.exec(await pane.waitFor(/EXIT=\d+/))![1]);

describe('interactive menu', function () {
  this.timeout(60_000);

  it('without a terminal never prompts: says what is missing and exits non-zero', async () => {
    const run = spawnCli(PEER_CLI, ['--home', await tempDir()]);
    expect(await run.exit).to.not.equal(0);
    expect(run.stderr()).to.match(/no command given and not on a terminal: run `sealdrop --help`/);
    expect(run.stdout()).to.equal('');
  });

  describe('on a terminal (tmux)', () => {
    let world: World;
    let tmux: TmuxServer;
    let scratch: string;

    before(async function () {
      if (!hasTmux()) {
        console.log('SKIP interactive menu on a terminal: tmux is not installed (apt-get install tmux)');
        this.skip();
      }
      tmux = new TmuxServer();
      world = await startWorld(['alice', 'bob']);
      scratch = await tempDir('sealdrop-menu-');
    });

    after(async () => {
      tmux?.kill();
      await world?.stop();
      if (scratch) await fs.rm(scratch, { recursive: true, force: true });
    });

    it('sends a file picked with completion to a peer picked from the online list', async () => {
      const files = path.join(scratch, 'files');
      const inbox = path.join(scratch, 'inbox');
      await fs.mkdir(files);
      await fs.mkdir(inbox);
      const sha = await randomFile(path.join(files, 'payload.bin'), 3 << 20);
      await fs.writeFile(path.join(files, 'other.txt'), 'not this one\n');

      const bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await bob.waitFor('ready');

      const pane = tmux.open(sealdropArgv(world.homes.alice!), files);
      await pane.waitFor(/What would you like to do\?[\s\S]*❯ Send/);
      pane.keys('Enter');
      await pane.waitFor(/File or folder to send:[\s\S]*other\.txt/);
      pane.type('pay');
      await pane.waitFor(/File or folder to send: pay\s*\n❯ payload\.bin/); // the list has caught up with the typing
      pane.keys('Tab');
      await pane.waitFor(/File or folder to send: payload\.bin\s*\n❯ payload\.bin/);
      // Enter is ignored while the completed term's listing reloads: press again until it is taken.
      await pane.pressUntil('Enter', /Add another file or folder\?/);
      pane.keys('Enter');
      await pane.waitFor(/Send to:[\s\S]*❯ bob\s+● receiving/);
      pane.keys('Enter');
      await pane.waitFor(/Compare a verification code with bob before anything moves\? \(y\/N\)/);
      pane.keys('Enter');

      // Over the direct path; on a busy machine the data channel may stall for 3 s and the rest go by
      // relay, which the line then says ("over the direct path (… MiB) and the relay path (… MiB)").
      const screen = await pane.waitFor(/✔ sent payload\.bin \(3\.0 MiB\) to bob over the direct path( \([\d.]+ MiB\) and the relay path \([\d.]+ MiB\))?; bob verified it/, 30_000)
        .catch((err: Error) => { throw new Error(`${err.message}\nbob said: ${bob.stdout()}${bob.stderr()}`); });
      expect(screen).to.match(/100% \| 3\.0\/3\.0 MiB \| .* \| done \| payload\.bin/);
      expect(await bob.exit).to.equal(0);
      const done = await bob.waitFor('done');
      expect(done.files).to.deep.equal([{ name: 'payload.bin', bytes: 3 << 20, sha256: sha }]);
      expect(await sha256File(path.join(inbox, 'payload.bin'))).to.equal(sha);

      // Back at the menu; Ctrl-C there leaves cleanly.
      await pane.waitFor(/bob verified it\n[\s\S]*What would you like to do\?/);
      pane.keys('C-c');
      expect(await exitStatus(pane)).to.equal(0);
    });

    it('gets a file from what a receiving peer shares, picked from its listing', async () => {
      const share = path.join(scratch, 'share');
      const into = path.join(scratch, 'got');
      await fs.mkdir(path.join(share, 'photos'), { recursive: true });
      await fs.mkdir(into);
      const sha = await randomFile(path.join(share, 'notes.md'), 200_000);
      await fs.writeFile(path.join(share, 'photos', 'a.jpg'), 'not this one');
      const bob = world.peer('bob', ['receive', '--dir', path.join(scratch, 'inbox'), '--yes', '--share', share]);
      await bob.waitFor('ready');
      try {
        const pane = tmux.open(sealdropArgv(world.homes.alice!), into);
        await pane.waitFor(/What would you like to do\?/);
        pane.keys('Down', 'Down');
        await pane.waitFor(/❯ Get from a peer/);
        pane.keys('Enter');
        await pane.waitFor(/Get from:[\s\S]*❯ bob\s+● receiving/);
        pane.keys('Enter');
        await pane.waitFor(/Compare a verification code with bob before anything moves\? \(y\/N\)/);
        pane.keys('Enter');
        await pane.waitFor(/What to get from bob:[\s\S]*photos\/a\.jpg/);
        pane.type('notes');
        await pane.waitFor(/What to get from bob: notes\s*\n❯ notes\.md/); // filtered, so the list is settled
        pane.keys('Enter');
        await pane.waitFor(/Save in:\s*\n❯ \.\//);
        pane.keys('Enter');
        // Relay start: the bytes go on the relay until the direct path opens, so a small file may be
        // carried by either path or by both; the words name what carried it (pathWords), never a guess.
        await pane.waitFor(/✔ got notes\.md from bob into \.: 1 file\(s\) over (the (direct|relay) path|the direct path \([^)]+\) and the relay path \([^)]+\)), all verified/, 30_000);
        expect(await sha256File(path.join(into, 'notes.md'))).to.equal(sha);
        pane.keys('C-c');
        expect(await exitStatus(pane)).to.equal(0);
      } finally {
        bob.child.kill('SIGINT');
        await bob.exit;
      }
    });

    it('Ctrl-C at the first prompt says goodbye and exits 0, no stack trace', async () => {
      const pane = tmux.open(sealdropArgv(world.homes.alice!), scratch);
      await pane.waitFor(/What would you like to do\?/);
      pane.keys('C-c');
      expect(await exitStatus(pane)).to.equal(0);
      const screen = pane.screen();
      expect(screen).to.match(/Goodbye\./);
      expect(screen).to.not.match(/ExitPromptError|Error:|^\s+at /m);
    });

    it('first run with an empty home walks through login, stores it, then shows the menu', async () => {
      // A fresh account, so this login's TOTP code is not one the world's logins used already.
      const secret = await enroll(world.dataDir, 'carol');
      const home = path.join(scratch, 'home-carol');
      const pane = tmux.open(sealdropArgv(home), scratch);
      await pane.waitFor(/Rendezvous server URL:/);
      pane.type(world.url);
      pane.keys('Enter');
      await pane.waitFor(/Your ID:/);
      pane.type('carol');
      pane.keys('Enter');
      await pane.waitFor(/TOTP secret/);
      pane.type(secret);
      pane.keys('Enter');
      const screen = await pane.waitFor(/logged in to \S+ as carol[\s\S]*What would you like to do\?[\s\S]*Peers online/);
      expect(screen).to.not.include(secret); // typed as a password

      const stored = JSON.parse(await fs.readFile(path.join(home, 'config.json'), 'utf8'));
      expect(stored).to.include({ server: world.url, id: 'carol', secret });
      expect((await fs.stat(path.join(home, 'config.json'))).mode & 0o777).to.equal(0o600);

      pane.keys('C-c');
      expect(await exitStatus(pane)).to.equal(0);
    });

    it('with stdout not a terminal it refuses instead of prompting', async () => {
      const out = path.join(scratch, 'out.txt');
      const pane = tmux.open(sealdropArgv(world.homes.alice!, `> "${out}"`), scratch);
      expect(await exitStatus(pane)).to.not.equal(0);
      expect(pane.screen()).to.match(/no command given and not on a terminal/);
      expect(pane.screen()).to.not.match(/What would you like to do/);
    });
  });
});

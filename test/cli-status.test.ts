/**
 * What each side is told as a transfer moves, through the real CLI: the sender's
 * waiting / declined / busy / accepted / resumed / cancelled lines, the receiver's
 * prompt withdrawn when the sender leaves, a text message shown and never saved,
 * the finish line naming what was saved and under which name, and the progress
 * line at 80 columns. Prompts and progress need a terminal: tmux, as in menu.test.ts.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { listTree, PEER_CLI, randomFile, RENDEZVOUS_CLI, spawnCli, tempDir, type Run } from './helpers/cli.js';
import { hasTmux, Pane, TmuxServer } from './helpers/tmux.js';
import { startWorld, type World } from './helpers/world.js';

/** 2 MiB/s through the relay (paced past the peers' 6 MiB in flight): 16 MiB take long enough to watch, cancel and capture. */
const RELAY_RATE = 2 << 20;

describe('status lines on both sides', function () {
  this.timeout(90_000);
  let world: World;
  let tmux: TmuxServer;
  let scratch: string;
  let panes = 0;

  before(async function () {
    if (!hasTmux()) {
      console.log('SKIP status lines on a terminal: tmux is not installed (apt-get install tmux)');
      this.skip();
    }
    tmux = new TmuxServer();
    world = await startWorld(['alice', 'bob', 'carol'], ['--relay-rate', String(RELAY_RATE)]);
    scratch = await tempDir('sealdrop-status-');
  });
  after(async () => {
    tmux?.kill();
    await world?.stop();
    if (scratch) await fs.rm(scratch, { recursive: true, force: true });
  });

  /** `sealdrop --home HOME args…` in a terminal `columns` wide; the pane stays open after it exits (EXIT=status). */
  function terminal(id: string, args: string[], o: { columns?: number; env?: string; cwd?: string } = {}): Pane {
    const name = `s${++panes}`;
    const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    // The shell survives a Ctrl-C meant for sealdrop (a trap with a command; sealdrop still gets the default).
    const script = `trap 'true' INT; ${o.env ?? 'NO_COLOR=1'} SEALDROP_LOG=silent "$0" "$1" --home "$2" ${quoted}; echo EXIT=$?; sleep 600`;
    tmux.tmux(['new-session', '-d', '-x', String(o.columns ?? 120), '-y', '40', '-s', name, '-c', o.cwd ?? scratch, '--', 'sh', '-c', script, process.execPath, PEER_CLI, world.homes[id]!]);
    return new Pane(tmux, name);
  }
  const exitOf = async (pane: Pane, ms = 30_000) => Number(/EXIT=(\d+)/.exec(await pane.waitFor(/EXIT=\d+/, ms))![1]);
  /** The human CLI (no --json) as a pipe. */
  const human = (id: string, args: string[]) => spawnCli(PEER_CLI, ['--home', world.homes[id]!, ...args], { NO_COLOR: '1' });
  const until = async (run: Run, re: RegExp, ms = 20_000) => {
    const end = Date.now() + ms;
    while (!re.test(run.stderr())) {
      if (Date.now() > end) throw new Error(`never saw ${re}; stderr: ${run.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const file = async (name: string, content: string | number) => {
    const dir = await tempDir();
    const p = path.join(dir, name);
    if (typeof content === 'number') await randomFile(p, content); else await fs.writeFile(p, content);
    return p;
  };

  it('sender: "waiting for bob to accept…", then "bob declined the files" once (exit 4); busy for a third peer meanwhile', async () => {
    const inbox = await tempDir();
    const bob = terminal('bob', ['receive', '--dir', inbox]);
    await bob.waitFor(/online as bob/);
    const alice = human('alice', ['send', await file('report.pdf', 'quarterly'), '--to', 'bob']);
    await until(alice, /› waiting for bob to accept report\.pdf \(9 B\)…/);
    await bob.waitFor(/alice wants to send report\.pdf \(9 B\)\. Accept\? \(y\/N\)/);

    const carol = human('carol', ['send', await file('other.txt', 'x'), '--to', 'bob']);
    expect(await carol.exit).to.equal(4);
    expect(carol.stderr()).to.include('✖ bob is busy with another transfer; try again shortly (ERR_BUSY)').and.match(/→ try again in a minute/);

    bob.type('n');
    bob.keys('Enter');
    expect(await alice.exit).to.equal(4);
    expect(alice.stderr()).to.include('✖ bob declined the files (ERR_REJECTED)').and.not.match(/declined: .*declined/);
    await bob.waitFor(/you declined the transfer/);
    expect(await listTree(inbox)).to.deep.equal([]);
    bob.keys('C-c');
    expect(await exitOf(bob)).to.equal(0);
  });

  it('a sender that quits while the receiver is asked withdraws the offer: the prompt goes away (Ctrl-C, then a killed sender)', async () => {
    const bob = terminal('bob', ['receive', '--dir', await tempDir()]);
    await bob.waitFor(/online as bob/);
    for (const how of ['SIGINT', 'SIGKILL'] as const) {
      const alice = human('alice', ['send', await file(`${how}.txt`, 'hello'), '--to', 'bob']);
      await until(alice, /waiting for bob to accept/);
      await bob.waitFor(new RegExp(`alice wants to send ${how}\\.txt .*Accept\\?`));
      alice.child.kill(how);
      if (how === 'SIGINT') {
        expect(await alice.exit).to.equal(130);
        expect(alice.stderr()).to.include('! cancelled; the offer to bob was withdrawn');
      }
      const screen = await bob.waitFor(how === 'SIGINT' ? /✖ alice stopped before you answered: the sender cancelled the offer \(ERR_PEER_GONE\)\n {2}→ nothing was written/ : new RegExp(`${how}\\.txt[\\s\\S]*✖ alice (left before you answered|ended the session)`), 40_000);
      // The question is gone: the last line that asks is followed by the withdrawal, and typing "y" answers nothing.
      expect(screen.trimEnd().split('\n').at(-1)).to.not.match(/Accept\?/);
    }
    bob.type('y');
    bob.keys('Enter');
    await new Promise((r) => setTimeout(r, 300));
    expect(bob.screen()).to.not.match(/accepting|received/);
    bob.keys('C-c');
    expect(await exitOf(bob)).to.equal(0);
  });

  it('a text message: shown in the prompt as a message, printed on "y", no file written, no progress bar', async () => {
    const inbox = await tempDir();
    const bob = terminal('bob', ['receive', '--dir', inbox, '--once']);
    await bob.waitFor(/online as bob/);
    const alice = human('alice', ['send', '--text', 'the door code is 4711\nsee you at 6', '--to', 'bob']);
    await bob.waitFor(/alice wants to send you a message \(34 B\)\. Show it\? \(y\/N\)/);
    bob.type('y');
    bob.keys('Enter');
    const screen = await bob.waitFor(/alice says: the door code is 4711\n│ see you at 6/);
    expect(await alice.exit, alice.stderr()).to.equal(0);
    expect(alice.stderr()).to.match(/✔ delivered the message to bob over the (direct|relay) path/).and.not.match(/%|ETA/);
    expect(await exitOf(bob)).to.equal(0);
    expect(screen).to.not.match(/message\.txt|%|ETA/);
    expect(await listTree(inbox), 'nothing saved, not even a partial file').to.deep.equal([]);
  });

  it('accepted, cancelled mid-transfer (partial kept), resumed from N bytes, and the finish line names the renamed file', async () => {
    const inbox = await tempDir();
    await fs.writeFile(path.join(inbox, 'report.pdf'), 'an older report');
    const source = await file('report.pdf', 16 << 20);
    const bob = human('bob', ['receive', '--dir', inbox, '--yes']);
    await until(bob, /online as bob/);

    const first = human('alice', ['send', source, '--to', 'bob', '--relay']);
    await until(first, /› bob accepted\n/);
    // Let some chunks land in bob's partial file, then Ctrl-C.
    const partialGrew = async () => {
      for (;;) {
        const sizes = await Promise.all((await fs.readdir(inbox)).filter((n) => n !== 'report.pdf').map(async (n) => (await fs.stat(path.join(inbox, n))).size));
        if (sizes.some((s) => s >= 1 << 20)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await partialGrew();
    first.child.kill('SIGINT');
    expect(await first.exit).to.equal(130);
    expect(first.stderr()).to.include('! cancelled; the partial file is kept, send again to resume');
    await until(bob, /✖ alice (stopped the transfer: the sender cancelled|ended the session|left the transfer)/);
    expect(bob.stderr()).to.match(/→ what arrived is kept: when alice sends the same files again, it resumes/);

    const again = human('alice', ['send', source, '--to', 'bob']);
    expect(await again.exit, again.stderr()).to.equal(0);
    expect(again.stderr()).to.match(/› bob accepted; resuming from \d+\.\d MiB of 16\.0 MiB/);
    expect(again.stderr()).to.match(/✔ sent report\.pdf \(16\.0 MiB\) to bob over the (direct|relay) path; bob verified it; \d+\.\d MiB of it was there from an earlier attempt/);
    await until(bob, /✔ received report\.pdf \(16\.0 MiB\)/);
    expect(bob.stderr()).to.match(/› resuming alice's transfer from \d+\.\d MiB/);
    expect(bob.stderr()).to.match(/✔ received report\.pdf \(16\.0 MiB\) \(\d+\.\d MiB of it from an earlier attempt\) from alice over the (direct|relay) path, verified; saved as report \(1\)\.pdf in .* \(report\.pdf exists there\)/);
    expect(await fs.readFile(path.join(inbox, 'report.pdf'), 'utf8')).to.equal('an older report');
    bob.child.kill('SIGINT');
    await bob.exit;
  });

  it('progress at 80 columns mid-transfer: one line, the name readable, a rate and an ETA; 0 bytes reads sanely', async () => {
    const bob = human('bob', ['receive', '--dir', await tempDir(), '--yes']);
    await until(bob, /online as bob/);
    const long = await file('quarterly-financial-statements-2024-final.pdf', 16 << 20);
    const alice = terminal('alice', ['send', long, '--to', 'bob', '--relay'], { columns: 80 });
    const screen = await alice.waitFor(/ \d{1,2}% \| [\d.]+\/16\.0 MiB \| .*ETA \d+s/, 30_000);
    const bar = screen.split('\n').find((l) => /ETA \d+s/.test(l))!;
    expect(bar.length, bar).to.be.at.most(80);
    expect(bar).to.match(/\| [\d.]+ (KiB|MiB)\/s \| ETA \d+s \| quarterly-fin.*….*\.pdf$/);
    expect(await exitOf(alice)).to.equal(0);

    const empty = terminal('alice', ['send', await file('empty.txt', ''), '--to', 'bob'], { columns: 80 });
    expect(await exitOf(empty)).to.equal(0);
    const shown = empty.screen();
    expect(shown).to.match(/✔ sent empty\.txt \(0 B\) to bob/);
    expect(shown).to.not.match(/NaN|Infinity|ETA NF|ETA -?\d+[a-z]*s? \| empty/);
    bob.child.kill('SIGINT');
    await bob.exit;
  });

  it('enroll on a terminal draws the QR light-on-dark in explicit colors (readable on light and dark themes), the URI beside it', async () => {
    const name = `s${++panes}`;
    const data = await tempDir();
    tmux.tmux(['new-session', '-d', '-x', '120', '-y', '60', '-s', name, '--', 'sh', '-c', `"$0" enroll frank --data "$1"; echo EXIT=$?; sleep 600`, RENDEZVOUS_CLI, data]);
    const pane = new Pane(tmux, name);
    await pane.waitFor(/EXIT=0/);
    const raw = tmux.tmux(['capture-pane', '-p', '-e', '-S', '-100', '-t', name]);
    expect(pane.screen()).to.match(/URI: {4}otpauth:\/\/totp\/sealdrop:frank/);
    const qrRows = raw.split('\n').filter((l) => /[▀▄█]{10}/.test(l));
    expect(qrRows.length).to.be.greaterThan(10);
    // The QR is drawn in its own foreground and background: the terminal's theme plays no part.
    // (tmux writes a color where it changes: at the first row, then never back to the default inside the code.)
    expect(qrRows[0], JSON.stringify(qrRows[0])).to.match(/^\x1b\[(97;40|40;97|97m\x1b\[40|40m\x1b\[97)m/);
    for (const row of qrRows.slice(1, -1)) expect(row, JSON.stringify(row)).to.not.match(/\x1b\[(0|39|49)?m/);
  });

  it('NO_COLOR and --no-color: no color codes on the terminal; colors otherwise', async () => {
    const colored = (pane: Pane) => /\x1b\[(3\d|9\d|1|2)(;\d+)*m/.test(tmux.tmux(['capture-pane', '-p', '-e', '-S', '-100', '-t', pane.name]));
    const plain = terminal('alice', ['fingerprint', '--nope'], { env: 'NO_COLOR=1' });
    const flag = terminal('alice', ['--no-color', 'fingerprint', '--nope'], { env: 'TERM=xterm-256color' });
    const normal = terminal('alice', ['send', '--text', ' ', '--to', 'bob'], { env: 'TERM=xterm-256color' });
    for (const p of [plain, flag, normal]) await p.waitFor(/EXIT=\d+/);
    const noColorSend = terminal('alice', ['send', '--text', ' ', '--to', 'bob'], { env: 'NO_COLOR=1 TERM=xterm-256color' });
    const noColorFlag = terminal('alice', ['--no-color', 'send', '--text', ' ', '--to', 'bob'], { env: 'TERM=xterm-256color' });
    for (const p of [noColorSend, noColorFlag]) await p.waitFor(/✖ the message is empty[\s\S]*EXIT=2/);
    expect(colored(normal), 'colors by default').to.equal(true);
    expect(colored(noColorSend), 'NO_COLOR').to.equal(false);
    expect(colored(noColorFlag), '--no-color').to.equal(false);
  });
});

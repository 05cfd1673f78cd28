/**
 * A hostile peer cannot put raw control characters on anyone's terminal. Every
 * string it controls (an abort or reject reason, a session's close reason, a
 * listed name, a text message) reaches the real, unmodified CLI on the other
 * side; its output, with and without --json, never carries one raw, and --json
 * still decodes to exactly what the peer sent.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Reporter } from '../peer/terminal/cli-output.js';
import { SealdropError } from '../shared/errors.js';
import { jsonLine, printable } from '../shared/printable.js';
import { PEER_CLI, spawnCli, tempDir, type Run } from './helpers/cli.js';
import { hostileOpen, hostileServe, stalledOpen, type HostileServer } from './helpers/hostile-peer.js';
import { hasTmux, TmuxServer } from './helpers/tmux.js';
import { startWorld, type World } from './helpers/world.js';

/** Each retitles the window, clears the screen, turns text red or reorders it, if a terminal gets it raw. */
const PAYLOADS: Record<string, string> = {
  'OSC and CSI escapes': '\x1b]0;PWNED\x07\x1b[2J\x1b[31mFAKE: all verified',
  'U+202E RIGHT-TO-LEFT OVERRIDE': 'invoice\u202egpj.exe',
  'U+009B (a one-byte CSI)': 'x\u009b2J\u009b31mFAKE',
  'line separators and a BOM': 'one\u2028two\u2029\ufeffthree\r\n✔ sent',
};
const ESCAPED: Record<string, string> = {
  'OSC and CSI escapes': '\\u{001B}]0;PWNED\\u{0007}\\u{001B}[2J\\u{001B}[31mFAKE: all verified',
  'U+202E RIGHT-TO-LEFT OVERRIDE': 'invoice\\u{202E}gpj.exe',
  'U+009B (a one-byte CSI)': 'x\\u{009B}2J\\u{009B}31mFAKE',
  'line separators and a BOM': 'one\\u{2028}two\\u{2029}\\u{FEFF}three\\u{000D}\\u{000A}✔ sent',
};

/** Anything a terminal obeys or hides, except the newline that ends each of our lines. */
const RAW = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}]/u;
function expectClean(text: string, where: string): void {
  const found = RAW.exec(text.replace(/\n/g, ''));
  expect(found, `${where} carries raw U+${found?.[0].codePointAt(0)!.toString(16)}: ${JSON.stringify(text)}`).to.equal(null);
}

/** Without --json, as a person runs it: the world's `peer` adds --json. */
function human(world: World, id: string, args: string[]): Run {
  return spawnCli(PEER_CLI, ['--home', world.homes[id]!, ...args], { NO_COLOR: '1' });
}

function until(run: Run, re: RegExp, ms = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`never saw ${re}; stdout=${run.stdout()} stderr=${run.stderr()}`)), ms);
    const check = () => {
      if (!re.test(run.stderr() + run.stdout())) return;
      clearTimeout(timer);
      resolve();
    };
    run.child.stderr!.on('data', check);
    run.child.stdout!.on('data', check);
    check();
  });
}

/** Every stdout line of a --json run parses, and its raw bytes hold no control or invisible character. */
function jsonEvents(run: Run): Array<Record<string, any>> {
  expectClean(run.stdout(), '--json stdout');
  return run.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe('a hostile peer and the terminal', function () {
  this.timeout(60_000);

  describe('the one escaping function', () => {
    for (const [what, payload] of Object.entries(PAYLOADS)) {
      it(`shows ${what} as visible escapes, and --json decodes back to it`, () => {
        expect(printable(payload)).to.equal(ESCAPED[what]);
        expect(printable(printable(payload))).to.equal(ESCAPED[what]); // idempotent
        const line = jsonLine({ message: payload });
        expectClean(line, 'jsonLine');
        expect(JSON.parse(line).message).to.equal(payload);
      });
    }

    it('escapes tags, private-use, lone surrogates and unassigned code points; keeps letters and emoji', () => {
      expect(printable('a\u{E0041}\u{F0000}\ud800\u0378\u3164b')).to.equal('a\\u{E0041}\\u{F0000}\\u{D800}\\u{0378}\\u{3164}b');
      // The joiners of an emoji sequence and of a Persian word are shown as written; elsewhere, escaped.
      expect(printable('👨\u200D👩\u200D👧 می\u200Cخواهم')).to.equal('👨\u200D👩\u200D👧 می\u200Cخواهم');
      expect(printable('pay\u200Dpal pay\u200Cpal \u200D👍 👍\u200D')).to.equal('pay\\u{200D}pal pay\\u{200C}pal \\u{200D}👍 👍\\u{200D}');
      expect(printable('été — 東京 ❤️ שלום')).to.equal('été — 東京 ❤️ שלום');
      const line = jsonLine({ s: 'a\u{E0041}\ud800' });
      expect(line).to.equal('{"s":"a\\udb40\\udc41\\ud800"}');
      expect(JSON.parse(line).s).to.equal('a\u{E0041}\ud800');
    });

    it('the Reporter escapes every line it writes, errors included', () => {
      const written: string[] = [];
      const write = process.stderr.write;
      const out = process.stdout.write;
      process.stderr.write = ((s: string) => { written.push(s); return true; }) as typeof write;
      process.stdout.write = ((s: string) => { written.push(s); return true; }) as typeof out;
      try {
        const r = new Reporter({ json: false, quiet: false });
        for (const p of Object.values(PAYLOADS)) {
          r.info(p); r.success(p); r.warn(p); r.print(p); r.error(new SealdropError('ERR_IO', p));
        }
      } finally {
        process.stderr.write = write;
        process.stdout.write = out;
      }
      expect(written).to.have.length(5 * Object.keys(PAYLOADS).length);
      for (const w of written) expectClean(w.replace(/\u001b\[[0-9;]*m/g, ''), 'a Reporter line'); // chalk's own colors only
      expect(written.join('')).to.include(ESCAPED['OSC and CSI escapes']);
    });
  });

  describe('through the real CLI', () => {
    let world: World;
    let work: string;
    let file: string;
    before(async () => {
      world = await startWorld(['alice', 'bob', 'mallory']);
      work = await tempDir();
      file = path.join(work, 'hello.txt');
      await fs.writeFile(file, 'hello');
    });
    after(async () => {
      await world?.stop();
      await fs.rm(work, { recursive: true, force: true });
    });

    /** A hostile sender aborts with `reason` after bob (running `receive`) accepted its offer. */
    async function abortOnReceive(reason: string, json: boolean): Promise<Run> {
      const inbox = await tempDir();
      const args = ['receive', '--dir', inbox, '--yes', '--once'];
      const bob = json ? world.peer('bob', args) : human(world, 'bob', args);
      await (json ? bob.waitFor('ready') : until(bob, /online as bob/));
      const h = await hostileOpen(world, 'mallory', 'bob');
      try {
        await h.send({ t: 'manifest', files: [{ name: 'a.txt', size: 10 }], dirs: [] });
        expect((await h.next()).t).to.equal('accept');
        await h.send({ t: 'abort', code: 'ERR_IO', message: reason });
        expect(await bob.exit).to.not.equal(0);
      } finally {
        h.close();
      }
      return bob;
    }

    /** mallory plays the receiver or sharer, and refuses whatever it is asked with `reason`. */
    async function refusingPeer(reason: string): Promise<HostileServer> {
      return hostileServe(world, 'mallory', async (h) => {
        await h.next();
        await h.send({ t: 'reject', code: 'ERR_REJECTED', message: reason });
        await h.next().catch(() => {});
      });
    }

    for (const [what, payload] of Object.entries(PAYLOADS)) {
      describe(`with ${what}`, () => {
        it('an abort reason reaches `receive` escaped', async () => {
          const bob = await abortOnReceive(payload, false);
          expectClean(bob.stderr() + bob.stdout(), 'receive');
          expect(bob.stderr()).to.include(`mallory stopped the transfer: ${ESCAPED[what]}`);
        });

        it('an abort reason in `receive --json` parses and decodes to what was sent', async () => {
          const bob = await abortOnReceive(payload, true);
          const error = jsonEvents(bob).find((e) => e.type === 'error');
          expect(error?.message).to.equal(`mallory stopped the transfer: ${payload}`);
          expectClean(bob.stderr(), 'receive --json stderr');
        });

        it('a reject reason reaches `send`, `get` and `ls` escaped, and --json decodes to it', async () => {
          const mallory = await refusingPeer(payload);
          try {
            for (const args of [['send', file, '--to', 'mallory', '--relay'], ['get', 'mallory', 'x.txt', '--dir', work], ['ls', 'mallory']]) {
              const run = human(world, 'alice', args);
              expect(await run.exit, run.stderr()).to.not.equal(0);
              expectClean(run.stderr() + run.stdout(), args[0]!);
              expect(run.stderr(), `${args[0]}: ${run.stderr()}`).to.include(ESCAPED[what]);
              const json = world.peer('alice', args);
              expect(await json.exit).to.not.equal(0);
              expect(jsonEvents(json).find((e) => e.type === 'error')?.message, `${args[0]} --json: ${json.stdout()}${json.stderr()}`).to.include(payload);
            }
          } finally {
            await mallory.close();
          }
        });

        it('a session close reason reaches `receive` escaped', async () => {
          const bob = human(world, 'bob', ['receive', '--dir', await tempDir(), '--yes', '--once']);
          await until(bob, /online as bob/);
          const opener = await stalledOpen(world, 'mallory', 'bob', { hello: true }); // bob is in the session, waiting for a transport
          try {
            opener.session.close(opener.sid, payload.slice(0, 200));
            expect(await bob.exit).to.not.equal(0);
          } finally {
            opener.close();
          }
          expectClean(bob.stderr() + bob.stdout(), 'receive');
          expect(bob.stderr(), bob.stderr()).to.include(`mallory left the transfer (${ESCAPED[what]})`);
        });

        it('a `send --text` message is shown escaped, line by line', async () => {
          const bob = human(world, 'bob', ['receive', '--dir', await tempDir(), '--yes', '--once']);
          await until(bob, /online as bob/);
          const alice = world.peer('alice', ['send', '--text', payload, '--to', 'bob']);
          expect(await alice.exit, alice.stderr()).to.equal(0);
          expect(await bob.exit, bob.stderr()).to.equal(0);
          expectClean(bob.stdout() + bob.stderr(), 'receive');
          const [first, ...more] = payload.split(/\r?\n/);
          expect(bob.stdout()).to.include(`alice says: ${printable(first!)}\n${more.map((l) => `│ ${printable(l)}\n`).join('')}`);
        });
      });
    }

    it('a multi-line message cannot forge a line of ours: each line after the first is marked', async () => {
      const bob = human(world, 'bob', ['receive', '--dir', await tempDir(), '--yes', '--once']);
      await until(bob, /online as bob/);
      const alice = world.peer('alice', ['send', '--text', 'hi\n✔ received 1 file(s) from carol, all verified\n', '--to', 'bob']);
      expect(await alice.exit, alice.stderr()).to.equal(0);
      expect(await bob.exit).to.equal(0);
      expect(bob.stdout()).to.include('alice says: hi\n│ ✔ received 1 file(s) from carol, all verified\n');
      expect(bob.stdout()).to.not.match(/^✔ received 1 file\(s\) from carol/m);
    });

    describe('names a sharer lists', () => {
      const ENTRIES = [
        { name: PAYLOADS['OSC and CSI escapes']!, size: 1, type: 'file' as const },
        { name: 'invoice\u202egpj.exe', size: 2, type: 'file' as const },
        { name: 'x\u009b2J', size: 3, type: 'dir' as const },
        { name: 'notes.md', size: 4, type: 'file' as const },
      ];
      let mallory: HostileServer;
      let asked: string[];
      before(async () => {
        asked = [];
        mallory = await hostileServe(world, 'mallory', async (h) => {
          const ask = await h.next();
          asked.push(ask.t);
          await h.send({ t: 'listing', entries: ENTRIES, truncated: false });
          // As the real sharer does (receive.ts): it stays until the opener has read the listing and closed.
          // With relay start the opener moves to the direct path when it opens; a listing still in flight
          // on the relay then is sent again after `moved`, which only a peer still there can answer.
          await h.channel.ended(5_000);
        });
      });
      after(() => mallory?.close());

      it('`ls` shows them escaped and marks the ones that cannot be fetched, saying why', async () => {
        const ls = human(world, 'alice', ['ls', 'mallory']);
        expect(await ls.exit, ls.stderr()).to.equal(0);
        expectClean(ls.stdout() + ls.stderr(), 'ls');
        const lines = ls.stdout().trim().split('\n');
        expect(lines).to.have.length(4);
        expect(lines[0]).to.include(ESCAPED['OSC and CSI escapes']).and.include('[cannot be fetched: it contains U+001B ESCAPE');
        expect(lines[1]).to.include('invoice\\u{202E}gpj.exe').and.include('U+202E RIGHT-TO-LEFT OVERRIDE');
        expect(lines[2]).to.include('x\\u{009B}2J/').and.include('U+009B CONTROL SEQUENCE INTRODUCER');
        expect(lines[3]).to.match(/notes\.md$/);
      });

      it('`ls --json` decodes to the names as sent, with why each refused one cannot be fetched', async () => {
        const ls = world.peer('alice', ['ls', 'mallory']);
        expect(await ls.exit, ls.stderr()).to.equal(0);
        const listing = jsonEvents(ls).find((e) => e.type === 'listing')!;
        expect(listing.entries.map((e: { name: string }) => e.name)).to.deep.equal(ENTRIES.map((e) => e.name));
        expect(listing.entries[1].refused).to.match(/U\+202E RIGHT-TO-LEFT OVERRIDE/);
        expect(listing.entries[3]).to.deep.equal(ENTRIES[3]);
      });

      it('`get` of such a name says why, and asks the peer nothing', async () => {
        const before = mallory.sessions;
        const get = human(world, 'alice', ['get', 'mallory', 'invoice\u202egpj.exe', '--dir', work]);
        expect(await get.exit).to.equal(2);
        expectClean(get.stderr(), 'get');
        expect(get.stderr()).to.include('cannot get "invoice\\u{202E}gpj.exe" from mallory: it contains U+202E RIGHT-TO-LEFT OVERRIDE');
        expect(mallory.sessions).to.equal(before);
      });

      it('the interactive menu (in tmux) lists them escaped: the screen is not wiped, nothing retitled', async function () {
        if (!hasTmux()) {
          console.log('SKIP the menu on a terminal: tmux is not installed');
          return this.skip();
        }
        const tmux = new TmuxServer(`sealdrop-hostile-${process.pid}`);
        try {
          const argv = ['sh', '-c', `SEALDROP_LOG=silent "$0" "$1" --home "$2"; echo EXIT=$?; sleep 600`, process.execPath, PEER_CLI, world.homes.alice!];
          const pane = tmux.open(argv, work);
          await pane.waitFor(/What would you like to do\?/);
          pane.keys('Down', 'Down');
          await pane.waitFor(/❯ Get from a peer/);
          pane.keys('Enter');
          await pane.waitFor(/Get from:[\s\S]*❯ mallory\s+● receiving/);
          pane.keys('Enter');
          await pane.waitFor(/Compare a verification code with mallory before anything moves\?/);
          pane.keys('Enter');
          const screen = await pane.waitFor(/What to get from mallory:[\s\S]*notes\.md/);
          // Raw, the OSC would have retitled the window and \e[2J wiped the menu off the screen.
          expect(screen).to.include('\\u{001B}]0;PWNED\\u{0007}\\u{001B}[2J\\u{001B}[31mFAKE: all verified');
          expect(screen).to.include('invoice\\u{202E}gpj.exe');
          expect(screen).to.include('sealdrop'); // the menu's first lines are still there
          pane.keys('C-c');
          await pane.waitFor(/EXIT=0/);
        } finally {
          tmux.kill();
        }
      });
    });

    describe('a sharer that never follows a path move', () => {
      let mallory: HostileServer;
      before(async () => {
        // It offers moves, takes the `list` over the relay (relay start) and then never answers the
        // opener's `move` to the direct path, nor anything else: it just stays connected.
        mallory = await hostileServe(world, 'mallory', async (h) => {
          await h.next();
          await h.channel.ended(40_000);
        }, { deafToMoves: true });
      });
      after(() => mallory?.close());

      it('`ls` ends in bounded time with words and a non-zero exit, not hanging on the move', async function () {
        this.timeout(45_000);
        const started = performance.now();
        const ls = human(world, 'alice', ['ls', 'mallory']);
        const code = await ls.exit;
        const seconds = (performance.now() - started) / 1000;
        expect(code, ls.stderr()).to.equal(4);
        expect(ls.stderr(), ls.stderr()).to.match(/did not follow to the direct path within 15 s/);
        expect(ls.stdout()).to.equal('');
        expectClean(ls.stderr(), 'ls');
        // The move's own wait (15 s, MOVED_TIMEOUT_MS), well before the 30 s silence any receiving side allows.
        expect(seconds).to.be.below(25);
      });
    });
  });
});

/**
 * The page's `--verify` confirmation and path moves, against the real CLI: a spawned
 * rendezvous serving the page, headless Debian Chromium, the real `sealdrop`. The page
 * runs the CLI's own agreement (channel.agree, verifyCodes): both people see the same
 * code, and nothing moves until each one asked said yes; a "no" on either side ends the
 * session for both, with words, and nothing is written or stored.
 *
 * Path moves: the page runs the CLI's PathMover. With loopback held back for everything but
 * the rendezvous's port (tc, in the suite's own network namespace) the direct attempt cannot finish, so the transfer starts on
 * a slow relay (--relay-rate); once the relay carries bytes the road opens, the data channel
 * opens during the transfer, and the transfer moves to it and finishes there, verified. And
 * the other way: on a rendezvous without relay start the transfer begins direct; the CLI is
 * held (SIGSTOP) while loopback is held back, so the direct path stalls for certain, and the
 * opener moves the transfer to the relay, where it finishes, verified.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { browserMissing, loggedInPage, shot, startBrowser, type TestBrowser, text } from './helpers/browser.js';
import { listTree, randomFile, sha256File, tempDir, type Run } from './helpers/cli.js';
import { enroll, startWorld, type World } from './helpers/world.js';

/** Screenshots for the note (not the repository), as test/browser-peer.test.ts takes them. */
const MiB = 1024 * 1024;
/** The relay's rate: slow enough that the transfer is still on it when the direct path opens (24 s of relay for the whole file). */
const RELAY_RATE = 1 * MiB;
const MOVE_SIZE = 24 * MiB + 5;

const tc = (...args: string[]) => execFileSync('tc', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/**
 * Holds back every packet on loopback but the rendezvous's own TCP port (the page, the
 * sessions and the relay): WebRTC's UDP and TCP candidates get an htb class of 8 bit/s, and
 * a few packets of our own use up its first burst.
 */
async function holdPaths(rendezvousPort: number): Promise<void> {
  const port = String(rendezvousPort);
  tc('qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '20');
  tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit');
  tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '8bit', 'ceil', '8bit', 'burst', '1b', 'cburst', '1b');
  for (const [prio, dir] of [['1', 'sport'], ['2', 'dport']] as const) {
    tc('filter', 'add', 'dev', 'lo', 'parent', '1:', 'protocol', 'ip', 'prio', prio, 'u32', 'match', 'ip', 'protocol', '6', '0xff', 'match', 'ip', dir, port, '0xffff', 'flowid', '1:10');
  }
  for (const [type, host] of [['udp4', '127.0.0.1'], ['udp6', '::1']] as const) {
    const sock = createSocket(type);
    for (let i = 0; i < 4; i++) await new Promise<void>((resolve) => sock.send(Buffer.alloc(1000), 9, host, () => resolve()));
    sock.close();
  }
}

function releasePaths(): void {
  try { tc('qdisc', 'del', 'dev', 'lo', 'root'); } catch { /* not held */ }
}

/** Why loopback cannot be held back here (the tests then skip with that line), or undefined. */
async function holdMissing(port: number): Promise<string | undefined> {
  if (process.env.SEALDROP_IN_NETNS !== '1') return 'not in the suite\'s own network namespace (bash test/run.sh): loopback is not ours to shape';
  try {
    await holdPaths(port);
    return undefined;
  } catch (err) {
    return `tc cannot hold loopback back here (htb and u32 are needed): ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  } finally {
    releasePaths();
  }
}

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  for (const end = Date.now() + ms; !ok();) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const progressed = (run: Run) => run.events.some((e) => e.type === 'progress' && e.bytes > 0);

describe('browser peer: verification code confirmed, and path moves', function () {
  this.timeout(90_000);
  const missing = browserMissing();
  let world: World;
  let chrome: TestBrowser;
  let work: string;
  let page: Page;
  let file: string;
  let sha: string;

  before(async function () {
    if (missing) { console.log(`SKIP browser verify and moves: ${missing}`); this.skip(); }
    world = await startWorld(['alice'], ['--relay-rate', String(RELAY_RATE)]);
    world.secrets.webby = await enroll(world.dataDir, 'webby');
    work = await tempDir();
    file = path.join(work, 'contract.pdf');
    sha = await randomFile(file, 300 * 1024 + 3);
    chrome = await startBrowser();
    page = await loggedInPage(chrome.context, world.url, world.secrets.webby);
  });
  after(async () => {
    releasePaths();
    await chrome?.stop();
    await world?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await page?.evaluate(() => { document.getElementById('error')!.textContent = ''; });
  });

  /** The page's question, once it shows: its code and whom it names. */
  async function pageAsked(): Promise<{ code: string; peer: string }> {
    await page.waitForSelector('#verify:not([hidden])', { timeout: 30_000 });
    return { code: await text(page, '#verify-sas'), peer: await text(page, '#verify-peer') };
  }

  async function sendFromPage(to: string): Promise<void> {
    await page.fill('#send-to', to);
    await page.setInputFiles('#send-files', file);
    await page.click('#send-button');
  }

  it('page → `sealdrop --verify receive`, the page\'s setting on: the same code on both sides, both confirm, then the file goes', async () => {
    const inbox = await tempDir();
    await page.setChecked('#verify-codes', true);
    const receiver = world.peer('alice', ['--verify', 'receive', '--dir', inbox, '--yes', '--once'], {}, { stdin: true });
    await receiver.waitFor('ready');
    await sendFromPage('alice');
    const [cli, asked] = await Promise.all([receiver.waitFor('verify'), pageAsked()]);
    expect(cli.code).to.match(/^\d{3} \d{3}$/).and.equal(asked.code);
    expect(asked.peer).to.equal('alice');
    expect(cli.peer).to.equal('webby');
    await shot(page, '20-verify-question');
    // Nothing moved while they were asked.
    expect(receiver.events.map((e) => e.type)).to.not.include('offer');
    expect(await listTree(inbox)).to.deep.equal([]);
    await page.click('#verify-yes');
    receiver.write('yes\n');
    expect(await receiver.exit, `${receiver.stderr()} page: ${await text(page, '#error')}`).to.equal(0);
    expect(await sha256File(path.join(inbox, 'contract.pdf'))).to.equal(sha);
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('sent'));
    expect(await text(page, '#transfer-sas')).to.equal(cli.code);
    await fs.rm(inbox, { recursive: true, force: true });
  });

  it('`sealdrop --verify send` → page with its setting off: the page asks all the same, both confirm, the person accepts, the file is stored', async () => {
    await page.setChecked('#verify-codes', false);
    const before = await page.locator('#received a').count();
    const sender = world.peer('alice', ['--verify', 'send', file, '--to', 'webby'], {}, { stdin: true });
    const [cli, asked] = await Promise.all([sender.waitFor('verify'), pageAsked()]);
    expect(cli.code).to.equal(asked.code);
    expect(asked.peer).to.equal('alice');
    expect(await page.locator('#offer').isHidden(), 'no file list before the codes are confirmed').to.equal(true);
    await page.click('#verify-yes');
    sender.write('yes\n');
    await page.waitForSelector('#offer:not([hidden])', { timeout: 30_000 });
    expect(await text(page, '#offer-sas')).to.equal(cli.code);
    await page.click('#offer-accept');
    expect(await sender.exit, sender.stderr()).to.equal(0);
    await page.waitForFunction((n) => document.querySelectorAll('#received a').length === n + 1, before);
    expect(await page.locator('#received a').last().getAttribute('data-sha256')).to.equal(sha);
  });

  it('the page says no: `sealdrop --verify receive` exits non-zero with words, nothing written', async () => {
    const inbox = await tempDir();
    await page.setChecked('#verify-codes', true);
    const receiver = world.peer('alice', ['--verify', 'receive', '--dir', inbox, '--yes', '--once'], {}, { stdin: true });
    await receiver.waitFor('ready');
    await sendFromPage('alice');
    await Promise.all([receiver.waitFor('verify'), pageAsked()]);
    await page.click('#verify-no');
    expect(await receiver.exit).to.not.equal(0);
    const err = receiver.events.find((e) => e.type === 'error')!;
    expect(err.code).to.equal('ERR_REJECTED');
    expect(err.message).to.match(/the other person says the verification codes differ/);
    expect(await listTree(inbox)).to.deep.equal([]);
    await page.waitForFunction(() => document.getElementById('error')!.textContent!.includes('ERR_REJECTED'));
    expect(await text(page, '#error')).to.match(/verification codes were not confirmed.*nothing was sent/);
    await fs.rm(inbox, { recursive: true, force: true });
  });

  it('the page says no though only the CLI verifies: `sealdrop --verify receive` stops at once, before its person answers, with words; nothing written', async () => {
    const inbox = await tempDir();
    await page.setChecked('#verify-codes', false);
    const receiver = world.peer('alice', ['--verify', 'receive', '--dir', inbox, '--yes', '--once'], {}, { stdin: true });
    await receiver.waitFor('ready');
    await sendFromPage('alice');
    const [cli, asked] = await Promise.all([receiver.waitFor('verify'), pageAsked()]);
    expect(asked.code).to.equal(cli.code);
    await page.click('#verify-no');
    // The CLI's person never answers: the page's "no" alone ends its question.
    expect(await receiver.exit).to.not.equal(0);
    const err = receiver.events.find((e) => e.type === 'error')!;
    expect(err.code).to.equal('ERR_REJECTED');
    expect(err.message).to.match(/the other person did not confirm that both sides show the same verification code/);
    expect(await listTree(inbox)).to.deep.equal([]);
    await page.waitForFunction(() => document.getElementById('error')!.textContent!.includes('ERR_REJECTED'));
    await fs.rm(inbox, { recursive: true, force: true });
  });

  it('the CLI says no: the page shows words and stores nothing', async () => {
    await page.setChecked('#verify-codes', true);
    const before = await page.locator('#received li').count();
    const sender = world.peer('alice', ['--verify', 'send', file, '--to', 'webby'], {}, { stdin: true });
    await Promise.all([sender.waitFor('verify'), pageAsked()]);
    sender.write('no\n');
    expect(await sender.exit).to.not.equal(0);
    expect(sender.events.find((e) => e.type === 'error')!.code).to.equal('ERR_REJECTED');
    await page.waitForFunction(() => document.getElementById('error')!.textContent!.includes('ERR_REJECTED'));
    expect(await text(page, '#error')).to.match(/the other person says the verification codes differ/);
    expect(await page.locator('#verify').isHidden(), 'their "no" takes the question away').to.equal(true);
    expect(await page.locator('#offer').isHidden()).to.equal(true);
    expect(await page.locator('#received li').count()).to.equal(before);
  });
  describe('path moves', () => {
    const port = () => Number(new URL(world.url).port);
    let missingTc: string | undefined;
    before(async function () {
      missingTc = await holdMissing(port());
      if (missingTc) { console.log(`SKIP browser path moves: ${missingTc}`); this.skip(); }
    });
    afterEach(() => releasePaths());

    it('page → `sealdrop receive`: starts on the relay at once, moves to the direct path when it opens mid-transfer, finishes there, verified; the page says so', async () => {
      const src = path.join(work, 'moving-up.bin');
      const sent = await randomFile(src, MOVE_SIZE);
      const inbox = await tempDir();
      await page.setChecked('#verify-codes', false);
      await page.setChecked('#send-relay', false);
      await holdPaths(port());
      const receiver = world.peer('alice', ['receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      await page.fill('#send-to', 'alice');
      await page.setInputFiles('#send-files', src);
      await page.click('#send-button');
      expect((await receiver.waitFor('secured', 30_000)).transport, 'relay start').to.equal('relay');
      await until('the relay to carry bytes', () => progressed(receiver));
      expect(await text(page, '#transfer-path')).to.equal('relay');
      expect(await text(page, '#transfer-moves')).to.include('started on the relay');
      expect(receiver.events.some((e) => e.type === 'path'), 'no direct path while it is held back').to.equal(false);
      releasePaths();
      await page.waitForFunction(() => document.getElementById('transfer-moves')!.textContent!.includes('now on the direct path'), undefined, { timeout: 30_000 });
      expect(await text(page, '#transfer-moves')).to.match(/now on the direct path \(a WebRTC data channel between the two devices\): the direct path opened/);
      expect(await text(page, '#transfer-path')).to.equal('direct');
      expect(await receiver.exit, `${receiver.stderr()} page: ${await text(page, '#error')}`).to.equal(0);
      expect((receiver.events.find((e) => e.type === 'path') ?? {}).transport).to.equal('direct');
      const done = receiver.events.find((e) => e.type === 'done')!;
      expect(done.transport).to.equal('direct');
      expect(done.paths.relay, 'the relay carried the start').to.be.above(0);
      expect(done.paths.direct, 'the direct path carried the rest').to.be.above(0);
      expect(done.paths.relay + done.paths.direct).to.equal(MOVE_SIZE);
      console.log(`      page → CLI moved: relay ${(done.paths.relay / MiB).toFixed(1)} MiB, then direct ${(done.paths.direct / MiB).toFixed(1)} MiB`);
      expect(await sha256File(path.join(inbox, 'moving-up.bin'))).to.equal(sent);
      await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('sent'));
      expect(await text(page, '#status')).to.include('(relay, then direct)');
      await shot(page, '21-moved-to-direct');
      await fs.rm(inbox, { recursive: true, force: true });
      await fs.rm(src);
    });

    it('`sealdrop send` → page: the page follows the CLI\'s moves, relay first and then the direct path, and keeps the verified file; the page says so', async () => {
      const src = path.join(work, 'moving-down.bin');
      const sent = await randomFile(src, MOVE_SIZE);
      const before = await page.locator('#received a').count();
      await page.setChecked('#verify-codes', false);
      await holdPaths(port());
      const sender = world.peer('alice', ['send', src, '--to', 'webby']);
      await page.waitForSelector('#offer:not([hidden])', { timeout: 30_000 });
      expect((await sender.waitFor('secured')).transport, 'relay start').to.equal('relay');
      await page.click('#offer-accept');
      await until('the relay to carry bytes', () => progressed(sender));
      expect(await text(page, '#transfer-path')).to.equal('relay');
      expect(sender.events.some((e) => e.type === 'path'), 'no direct path while it is held back').to.equal(false);
      releasePaths();
      expect((await sender.waitFor('path', 30_000)).transport).to.equal('direct');
      await page.waitForFunction(() => document.getElementById('transfer-moves')!.textContent!.includes('now on the direct path'), undefined, { timeout: 30_000 });
      expect(await sender.exit, sender.stderr()).to.equal(0);
      const done = sender.events.find((e) => e.type === 'done')!;
      expect(done.transport).to.equal('direct');
      expect(done.paths.relay).to.be.above(0);
      expect(done.paths.direct).to.be.above(0);
      console.log(`      CLI → page moved: relay ${(done.paths.relay / MiB).toFixed(1)} MiB, then direct ${(done.paths.direct / MiB).toFixed(1)} MiB`);
      await page.waitForFunction((n) => document.querySelectorAll('#received a').length === n + 1, before, { timeout: 30_000 });
      expect(await page.locator('#received a').last().getAttribute('data-sha256')).to.equal(sent);
      expect(await text(page, '#transfer-path')).to.equal('direct');
      expect(await text(page, '#status')).to.include('(relay, then direct)');
      await fs.rm(src);
    });
  });
  describe('a direct path that stalls', () => {
    let direct: World;
    let p: Page;
    const port = () => Number(new URL(direct.url).port);
    before(async function () {
      const why = world ? await holdMissing(Number(new URL(world.url).port)) : 'no world';
      if (why) { console.log(`SKIP browser stalled direct path: ${why}`); this.skip(); }
      direct = await startWorld(['alice'], ['--no-relay-start']);
      direct.secrets.webby = await enroll(direct.dataDir, 'webby');
      p = await loggedInPage(chrome.context, direct.url, direct.secrets.webby);
    });
    after(async () => {
      releasePaths();
      await p?.close().catch(() => {});
      await direct?.stop();
    });
    afterEach(() => releasePaths());

    /** Holds `cli` while loopback is held back: when it goes on, the direct path carries nothing, for certain. */
    async function stallDirect(cli: Run): Promise<void> {
      cli.child.kill('SIGSTOP');
      try {
        await holdPaths(port());
      } finally {
        cli.child.kill('SIGCONT');
      }
    }

    it('page → `sealdrop receive`, direct first: the page sees the data channel stall and moves the transfer to the relay, where it finishes, verified', async () => {
      const src = path.join(work, 'stalling-up.bin');
      const sent = await randomFile(src, MOVE_SIZE);
      const inbox = await tempDir();
      const receiver = direct.peer('alice', ['receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      await p.fill('#send-to', 'alice');
      await p.setInputFiles('#send-files', src);
      await p.click('#send-button');
      expect((await receiver.waitFor('secured', 30_000)).transport, 'direct first').to.equal('direct');
      await until('the direct path to carry bytes', () => progressed(receiver));
      await stallDirect(receiver);
      await p.waitForFunction(() => document.getElementById('transfer-moves')!.textContent!.includes('now on the relay'), undefined, { timeout: 30_000 });
      expect(await text(p, '#transfer-moves')).to.match(/started on the direct path.*now on the relay \(through the rendezvous, still end to end encrypted\): the direct path stalled/s);
      expect(await receiver.exit, `${receiver.stderr()} page: ${await text(p, '#error')}`).to.equal(0);
      expect((await receiver.waitFor('path')).transport).to.equal('relay');
      const done = receiver.events.find((e) => e.type === 'done')!;
      expect(done.transport, 'loopback is still held back: no way back to the direct path').to.equal('relay');
      expect(done.paths.direct).to.be.above(0);
      expect(done.paths.relay).to.be.above(0);
      console.log(`      page → CLI stalled: direct ${(done.paths.direct / MiB).toFixed(1)} MiB, then relay ${(done.paths.relay / MiB).toFixed(1)} MiB`);
      expect(await sha256File(path.join(inbox, 'stalling-up.bin'))).to.equal(sent);
      await p.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('sent'));
      expect(await text(p, '#status')).to.include('(direct, then relay)');
      await shot(p, '22-stalled-to-relay');
      await fs.rm(inbox, { recursive: true, force: true });
      await fs.rm(src);
    });

    it('`sealdrop send` → page, direct first: the CLI moves the stalled transfer to the relay, the page follows and keeps the verified file', async () => {
      const src = path.join(work, 'stalling-down.bin');
      const sent = await randomFile(src, MOVE_SIZE);
      const before = await p.locator('#received a').count();
      const sender = direct.peer('alice', ['send', src, '--to', 'webby']);
      await p.waitForSelector('#offer:not([hidden])', { timeout: 30_000 });
      expect((await sender.waitFor('secured')).transport, 'direct first').to.equal('direct');
      await p.click('#offer-accept');
      // Bytes arrived here over the direct path (what the sender counts for it is only what was credited).
      await p.waitForFunction(() => (document.getElementById('transfer-progress') as HTMLProgressElement).value > 0, undefined, { timeout: 30_000 });
      expect(await text(p, '#transfer-path')).to.equal('direct');
      await stallDirect(sender);
      expect((await sender.waitFor('path', 30_000)).transport).to.equal('relay');
      await p.waitForFunction(() => document.getElementById('transfer-moves')!.textContent!.includes('now on the relay'), undefined, { timeout: 30_000 });
      expect(await text(p, '#transfer-moves')).to.include('the other peer lost the direct path');
      expect(await sender.exit, sender.stderr()).to.equal(0);
      const done = sender.events.find((e) => e.type === 'done')!;
      expect(done.transport).to.equal('relay');
      expect(done.paths.relay).to.be.above(0);
      expect(done.paths.direct + done.paths.relay).to.equal(MOVE_SIZE);
      console.log(`      CLI → page stalled: direct ${(done.paths.direct / MiB).toFixed(1)} MiB, then relay ${(done.paths.relay / MiB).toFixed(1)} MiB`);
      await p.waitForFunction((n) => document.querySelectorAll('#received a').length === n + 1, before, { timeout: 30_000 });
      expect(await p.locator('#received a').last().getAttribute('data-sha256')).to.equal(sent);
      expect(await text(p, '#status')).to.include('(direct, then relay)');
      await fs.rm(src);
    });
  });
});

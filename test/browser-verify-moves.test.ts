/**
 * The page's `--verify` confirmation and path moves, against the real CLI: a spawned
 * rendezvous serving the page, headless Debian Chromium, the real `sealdrop`. The page
 * runs the CLI's own agreement (channel.agree, verifyCodes): both people see the same
 * code, and nothing moves until each one asked said yes; a "no" on either side ends the
 * session for both, with words, and nothing is written or stored.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { totpCode } from '../shared/totp.js';
import { browserMissing, startBrowser, type TestBrowser } from './helpers/browser.js';
import { listTree, randomFile, sha256File, tempDir } from './helpers/cli.js';
import { enroll, startWorld, type World } from './helpers/world.js';

const text = (page: Page, sel: string) => page.locator(sel).textContent().then((t) => t ?? '');

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
    world = await startWorld(['alice']);
    world.secrets.webby = await enroll(world.dataDir, 'webby');
    work = await tempDir();
    file = path.join(work, 'contract.pdf');
    sha = await randomFile(file, 300 * 1024 + 3);
    chrome = await startBrowser();
    page = await chrome.context.newPage();
    page.on('pageerror', (err) => console.log(`      page error: ${err.message}`));
    await page.goto(`${world.url}/`);
    await page.waitForSelector('body[data-ready="1"]');
    await page.fill('#login-id', 'webby');
    await page.fill('#login-code', totpCode(world.secrets.webby, Date.now()));
    await page.click('#login-button');
    await page.waitForSelector('#home:not([hidden])');
  });
  after(async () => {
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
});

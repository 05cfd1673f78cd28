/**
 * Large files in the browser peer, against the real CLI: a spawned rendezvous serving the page,
 * headless Debian Chromium. "Save to…" (web/save-target.ts) streams one loose file into a file
 * the person picks, committed only after its SHA-256 matched: bit-identical from `sealdrop send`,
 * a cancelled picker leaving the prompt up, a cut transfer and a hostile sender's wrong SHA-256
 * each leaving nothing under the picked name; and a 300 MiB push page → `sealdrop receive` with
 * the page's memory measured and bounded.
 *
 * CDP cannot answer a File System Access picker, so the test replaces window.showSaveFilePicker
 * alone (context.addInitScript, test/helpers/page-files.ts): the stub returns a real file handle in the page's Origin
 * Private File System (navigator.storage.getDirectory().getFileHandle(name, { create: true })),
 * which the test reads back from OPFS. Everything after the picker (createWritable, write,
 * close, abort, remove) is the browser's own.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { browserMemory, browserMissing, loggedInPage, type ProcessMemory, shot, startBrowser, type TestBrowser, text } from './helpers/browser.js';
import { randomFile, sha256File, tempDir } from './helpers/cli.js';
import { hostileOpen } from './helpers/hostile-peer.js';
import { opfsSha, opfsSize, opfsSliceShas, picker, PICKER_STUB, sliceShas } from './helpers/page-files.js';
import { enroll, startWorld, type World } from './helpers/world.js';

const MiB = 1024 * 1024;
/** The slow world's relay, bytes per second: a cut transfer is cut while it runs, never after it ended. */
const RELAY_RATE = 1 * MiB;
/** The push measured; SEALDROP_BROWSER_LARGE_MIB makes it larger (2048 for the 2 GiB). */
const PUSH_MIB = Number(process.env.SEALDROP_BROWSER_LARGE_MIB ?? 300);

/** Peaks of the page's memory while `run` runs: the JS heap (CDP) and the browser's processes' anonymous RSS (/proc). */
async function measured(page: Page, chrome: TestBrowser, run: () => Promise<void>): Promise<{ heap: number; all: number; renderer: number; browser: number; where: string; words: string }> {
  const cdp = await chrome.context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const heap = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'JSHeapUsedSize')!.value;
  const anon = (ps: ProcessMemory[], type?: string) => ps.filter((p) => type === undefined || p.type === type).reduce((n, p) => n + p.anon, 0);
  const before = browserMemory();
  let peakHeap = await heap(), peak = before, peakAll = anon(before), peakRenderer = anon(before, 'renderer'), peakBrowser = anon(before, 'browser');
  const sampler = setInterval(() => {
    const now = browserMemory();
    if (anon(now) > peakAll) { peakAll = anon(now); peak = now; }
    peakRenderer = Math.max(peakRenderer, anon(now, 'renderer'));
    peakBrowser = Math.max(peakBrowser, anon(now, 'browser'));
    heap().then((h) => { peakHeap = Math.max(peakHeap, h); }, () => {});
  }, 250);
  try {
    await run();
  } finally {
    clearInterval(sampler);
    await cdp.detach().catch(() => {});
  }
  const m = (n: number) => `${(n / MiB).toFixed(0)} MiB`;
  const out = { heap: peakHeap, all: peakAll - anon(before), renderer: peakRenderer - anon(before, 'renderer'), browser: peakBrowser - anon(before, 'browser') };
  return {
    ...out,
    where: peak.map((p) => `${p.type} ${m(p.anon)}`).join(', '),
    words: `JS heap peak ${(out.heap / MiB).toFixed(1)} MiB; anonymous RSS growth: renderers ${m(out.renderer)}, browser process ${m(out.browser)}, all processes ${m(out.all)} (${m(anon(before))} before)`,
  };
}

/** Bounds from measured runs (docs/BROWSER.md "Measured") with room for a busy machine; none grows with the file. */
const HEAP_BOUND = 48 * MiB;
const RSS_GROWTH_BOUND = 160 * MiB;

describe('browser peer: large files, Save to…, and the page\'s memory', function () {
  this.timeout(120_000);
  const missing = browserMissing();
  let world: World;
  /** A second world whose relay carries RELAY_RATE: for the transfer that is cut while it runs. */
  let slow: World;
  let chrome: TestBrowser;
  let work: string;
  let page: Page;
  let slowPage: Page;

  before(async function () {
    if (missing) { console.log(`SKIP browser large files: ${missing}`); this.skip(); }
    world = await startWorld(['alice']);
    world.secrets.webby = await enroll(world.dataDir, 'webby');
    slow = await startWorld(['alice'], ['--relay-rate', String(RELAY_RATE)]);
    slow.secrets.webby = await enroll(slow.dataDir, 'webby');
    work = await tempDir();
    chrome = await startBrowser();
    await chrome.context.addInitScript(PICKER_STUB);
    page = await loggedInPage(chrome.context, world.url, world.secrets.webby!);
    slowPage = await loggedInPage(chrome.context, slow.url, slow.secrets.webby!);
  });
  after(async () => {
    await chrome?.stop();
    await world?.stop();
    await slow?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  async function offerShown(p: Page, sender: { stderr(): string }): Promise<void> {
    await p.waitForSelector('#offer:not([hidden])', { timeout: 30_000 }).catch(async (err) => {
      throw new Error(`${err.message}; sender: ${sender.stderr()}; page: ${await text(p, '#error')} / ${await text(p, '#status')}`);
    });
  }

  it('Save to…: a 24 MiB file from `sealdrop send` streams into the picked file, bit-identical', async () => {
    const src = path.join(work, 'big-save.bin');
    const sha = await randomFile(src, 24 * MiB + 321);
    await picker(page, 'save', 'picked-a.bin');
    const sender = world.peer('alice', ['send', src, '--to', 'webby', '--relay']);
    await offerShown(page, sender);
    expect(await page.locator('#offer-save').isVisible()).to.equal(true);
    await shot(page, '30-save-to-offer');
    await page.click('#offer-save');
    expect(await sender.exit, sender.stderr()).to.equal(0);
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('received'));
    expect(await text(page, '#status')).to.match(/, saved as picked-a\.bin$/);
    const saved = page.locator('#received .saved-as').last();
    expect(await saved.textContent()).to.equal('picked-a.bin');
    expect(await saved.getAttribute('data-sha256')).to.equal(sha);
    expect(await text(page, '#received li:last-child')).to.match(/^big-save\.bin saved as picked-a\.bin \(24\.0 MiB, from alice, SHA-256 [0-9a-f]{16}…\)$/);
    expect(await opfsSha(page, 'picked-a.bin'), 'the saved file read back').to.equal(sha);
    expect(await opfsSize(page, 'picked-a.bin')).to.equal(24 * MiB + 321);
    await shot(page, '31-saved-as');
    expect(await page.locator('#received li:last-child a').count(), 'no second copy to download').to.equal(0);
  });

  it('a cancelled picker leaves the prompt up: Accept still works', async () => {
    const src = path.join(work, 'after-cancel.bin');
    const sha = await randomFile(src, 3 * MiB + 5);
    await picker(page, 'cancel');
    const picks = await page.evaluate(() => (window as any).sealdropPicks ?? 0);
    const sender = world.peer('alice', ['send', src, '--to', 'webby', '--relay']);
    await offerShown(page, sender);
    await page.click('#offer-save');
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('no file was chosen'));
    expect(await page.evaluate(() => (window as any).sealdropPicks)).to.equal(picks + 1);
    expect(await page.locator('#offer').isVisible(), 'the prompt stays').to.equal(true);
    expect(await text(page, '#error')).to.equal('');
    await page.click('#offer-accept');
    expect(await sender.exit, sender.stderr()).to.equal(0);
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('received'));
    expect(await text(page, '#status')).to.not.include('saved as');
    expect(await page.locator('#received a').last().getAttribute('data-sha256')).to.equal(sha);
  });

  it('a transfer cut while it streams into Save to… says so in words and leaves nothing under the picked name', async () => {
    const src = path.join(work, 'cut.bin');
    await randomFile(src, 16 * MiB); // 16 s at RELAY_RATE: the cut comes while it runs
    await picker(slowPage, 'save', 'picked-c.bin');
    const sender = slow.peer('alice', ['send', src, '--to', 'webby', '--relay']);
    await offerShown(slowPage, sender);
    await slowPage.click('#offer-save');
    await slowPage.waitForFunction(() => (document.getElementById('transfer-progress') as HTMLProgressElement).value >= 2 * 1024 * 1024, undefined, { timeout: 30_000 });
    expect(await opfsSize(slowPage, 'picked-c.bin'), 'nothing is under the picked name while it arrives').to.equal(0);
    sender.child.kill('SIGKILL');
    await sender.exit;
    await slowPage.waitForFunction(() => document.getElementById('error')!.textContent !== '', undefined, { timeout: 30_000 });
    const shown = await text(slowPage, '#error');
    expect(shown).to.match(/; nothing was saved: picked-c\.bin was removed from where you chose to save it \(ERR_[A-Z_]+\)$/);
    expect(await opfsSize(slowPage, 'picked-c.bin'), 'the picked file is gone').to.equal(null);
    expect(await text(slowPage, '#status')).to.not.match(/^received/);
    console.log(`      cut transfer, the page says: ${shown}`);
  });

  it('a sender whose SHA-256 is wrong: ERR_INTEGRITY in words, and the picked file is removed, never committed', async () => {
    await picker(page, 'save', 'picked-d.bin');
    const h = await hostileOpen(world, 'alice', 'webby', { mode: 'relay' });
    try {
      const size = 2 * 128 * 1024 + 1;
      await h.send({ t: 'manifest', files: [{ name: 'liar.bin', size, mtime: 0 }], dirs: [] });
      await page.waitForSelector('#offer:not([hidden])');
      await page.click('#offer-save');
      expect(await h.next()).to.deep.include({ t: 'accept', from: [0] });
      await h.chunk(0, false, Buffer.alloc(128 * 1024, 1));
      await h.chunk(1, false, Buffer.alloc(128 * 1024, 2));
      await h.chunk(2, true, Buffer.alloc(1, 3));
      await page.waitForFunction(() => (document.getElementById('transfer-progress') as HTMLProgressElement).value === 2 * 128 * 1024 + 1);
      expect(await opfsSize(page, 'picked-d.bin'), 'all bytes in, nothing committed before the check').to.equal(0);
      await h.send({ t: 'hashes', sha256: ['0'.repeat(64)] });
      // The page's `abort` comes to the liar as the error nextControl throws.
      const stopped = await (async () => { for (;;) if ((await h.next()).t !== 'credit') return undefined; })().catch((err: { code?: string }) => err);
      expect(stopped?.code, 'the page aborts').to.equal('ERR_INTEGRITY');
    } finally {
      h.close();
    }
    await page.waitForFunction(() => document.getElementById('error')!.textContent !== '');
    expect(await text(page, '#error')).to.equal('liar.bin failed its SHA-256 check: it was not kept; nothing was saved: picked-d.bin was removed from where you chose to save it (ERR_INTEGRITY)');
    expect(await opfsSize(page, 'picked-d.bin')).to.equal(null);
    await shot(page, '32-save-to-wrong-hash');
  });

  it('shows no Save to… for a text message, nor where the browser has no showSaveFilePicker (then OPFS and a download, as before)', async () => {
    await picker(page, 'save', 'picked-f.bin');
    const message = world.peer('alice', ['send', '--text', 'just words', '--to', 'webby', '--relay']);
    await offerShown(page, message);
    expect(await page.locator('#offer-save').isHidden(), 'not for a message').to.equal(true);
    await page.click('#offer-accept');
    expect(await message.exit, message.stderr()).to.equal(0);
    await page.waitForFunction(() => [...document.querySelectorAll('#received .text-message')].some((e) => e.textContent === 'just words'));

    await picker(page, 'none');
    expect(await page.evaluate(() => typeof (window as any).showSaveFilePicker)).to.equal('undefined');
    const src = path.join(work, 'no-picker.bin');
    const sha = await randomFile(src, 200 * 1024);
    const sender = world.peer('alice', ['send', src, '--to', 'webby', '--relay']);
    await offerShown(page, sender);
    expect(await page.locator('#offer-save').isHidden(), 'not without the picker').to.equal(true);
    await page.click('#offer-accept');
    expect(await sender.exit, sender.stderr()).to.equal(0);
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('received'));
    const link = page.locator('#received a').last();
    expect(await link.getAttribute('data-sha256')).to.equal(sha);
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const saved = path.join(work, 'no-picker-downloaded.bin');
    await download.saveAs(saved);
    expect(await sha256File(saved)).to.equal(sha);
    expect(await opfsSize(page, 'picked-f.bin'), 'no picker was used').to.equal(null);
  });

  it('an offer larger than the page may store: refused before asking without Save to…, and when the person picks the page\'s storage', async () => {
    const quota = await page.evaluate(async () => { const e = await navigator.storage.estimate(); return (e.quota ?? 0) - (e.usage ?? 0); });
    const huge = 2 ** 50; // 1 PiB, and a sender need not have it: the refusal comes before any byte
    expect(quota, 'this browser gives the page less than 1 PiB').to.be.within(1, huge - 1);
    const opfsNames = () => page.evaluate(async () => { const out: string[] = []; for await (const k of (await navigator.storage.getDirectory() as any).keys()) out.push(k); return out.sort(); });
    const before = await opfsNames();
    for (const mode of ['none', 'save'] as const) {
      await picker(page, mode, 'never-picked.bin');
      const h = await hostileOpen(world, 'alice', 'webby', { mode: 'relay' });
      try {
        await h.send({ t: 'manifest', files: [{ name: 'petabyte.bin', size: huge, mtime: 0 }], dirs: [] });
        if (mode === 'save') {
          // Save to… could take it, so the person is asked; they choose the page's own storage.
          await page.waitForSelector('#offer:not([hidden])');
          expect(await page.locator('#offer-save').isVisible()).to.equal(true);
          await page.click('#offer-accept');
        }
        const reply = await h.next().catch((err: { code?: string; message?: string }) => ({ t: 'error', ...err }));
        expect(reply, mode).to.deep.include({ t: 'reject', code: 'ERR_SPACE' });
        expect((reply as { message?: string }).message, mode).to.match(/the browser page has room for [\d.]+ (MiB|TiB|bytes), not 1024\.0 TiB/);
      } finally {
        h.close();
      }
      await page.waitForFunction(() => document.getElementById('error')!.textContent !== '');
      const words = await text(page, '#error');
      expect(words, mode).to.match(/^the offer from alice is 1024\.0 TiB, but this browser lets the page store only [\d.]+ (MiB|TiB|bytes) more: nothing was stored/);
      expect(words.includes('Save to…'), mode).to.equal(mode === 'save');
      if (mode === 'none') expect(await page.locator('#offer').isHidden(), 'never asked').to.equal(true);
      await shot(page, `33-no-room-${mode}`);
      expect(await opfsNames(), mode).to.deep.equal(before);
    }
  });

  it(`pushes ${PUSH_MIB} MiB from the page to \`sealdrop receive\` with the page's memory bounded; SHA-256 checked on disk`, async function () {
    this.timeout(Math.max(120_000, PUSH_MIB * 1_000));
    const size = PUSH_MIB * MiB + 11;
    const src = path.join(work, 'push.bin');
    const sha = await randomFile(src, size);
    const inbox = await tempDir();
    const receiver = world.peer('alice', ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    const mem = await measured(page, chrome, async () => {
      await page.fill('#send-to', 'alice');
      await page.setChecked('#send-relay', true);
      await page.setChecked('#send-direct-only', false);
      await page.fill('#send-text', '');
      await page.setInputFiles('#send-files', src);
      const started = performance.now();
      await page.click('#send-button');
      expect(await receiver.exit, `${receiver.stderr()} page: ${await text(page, '#error')}`).to.equal(0);
      await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('sent'), undefined, { timeout: 60_000 });
      const seconds = (performance.now() - started) / 1000;
      console.log(`      page → CLI, relay, ${PUSH_MIB} MiB: ${(size / seconds / MiB).toFixed(1)} MiB/s`);
    });
    await page.setInputFiles('#send-files', []);
    console.log(`      ${mem.words}`);
    expect(mem.heap, 'JS heap').to.be.below(HEAP_BOUND);
    expect(mem.all, `browser anonymous RSS growth (at the peak: ${mem.where})`).to.be.below(RSS_GROWTH_BOUND);
    expect(receiver.events.find((e) => e.type === 'done')!.files).to.deep.equal([{ name: 'push.bin', bytes: size, sha256: sha }]);
    expect(await sha256File(path.join(inbox, 'push.bin'))).to.equal(sha);
    await fs.rm(inbox, { recursive: true, force: true });
    await fs.rm(src);
  });

  it(`takes ${PUSH_MIB} MiB from \`sealdrop send\` through Save to… with the page's memory bounded; the saved file read back`, async function () {
    this.timeout(Math.max(120_000, PUSH_MIB * 1_000));
    const size = PUSH_MIB * MiB + 13;
    const src = path.join(work, 'large-save.bin');
    const sha = await randomFile(src, size);
    await picker(page, 'save', 'picked-large.bin');
    const mem = await measured(page, chrome, async () => {
      const sender = world.peer('alice', ['send', src, '--to', 'webby', '--relay']);
      await offerShown(page, sender);
      const started = performance.now();
      await page.click('#offer-save');
      expect(await sender.exit, sender.stderr()).to.equal(0);
      await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('received'), undefined, { timeout: 60_000 });
      console.log(`      CLI → page, relay, Save to…, ${PUSH_MIB} MiB: ${(size / ((performance.now() - started) / 1000) / MiB).toFixed(1)} MiB/s`);
    });
    console.log(`      ${mem.words}`);
    expect(mem.heap, 'JS heap').to.be.below(HEAP_BOUND);
    expect(mem.all, `browser anonymous RSS growth (at the peak: ${mem.where})`).to.be.below(RSS_GROWTH_BOUND);
    expect(await page.locator('#received .saved-as').last().getAttribute('data-sha256')).to.equal(sha);
    expect(await opfsSize(page, 'picked-large.bin')).to.equal(size);
    // Read back in the page a slice at a time, after the measurement: each slice's SHA-256 against the source's.
    expect(await opfsSliceShas(page, 'picked-large.bin'), 'the saved file read back').to.deep.equal(await sliceShas(src));
    await page.evaluate(async () => (await navigator.storage.getDirectory()).removeEntry('picked-large.bin'));
    await fs.rm(src);
  });
});

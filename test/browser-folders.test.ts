/**
 * Folders and drag and drop in the browser peer, against the real CLI: a spawned rendezvous
 * serving the page, headless Debian Chromium. Page → `sealdrop receive` by the folder picker and
 * by a real drop (CDP Input.dispatchDragEvent with paths on disk: the browser builds the drop's
 * entries, folders included, as for a person's drag); `sealdrop send folder/` → page, the tree
 * read back from OPFS and hashed in the page; hostile names refused by the page with words and
 * nothing stored; a name a receiver would refuse caught in the page before anything is offered.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { browserMissing, loggedInPage, shot, startBrowser, type TestBrowser, text } from './helpers/browser.js';
import { listTree, randomFile, sha256File, tempDir } from './helpers/cli.js';
import { hostileOpen } from './helpers/hostile-peer.js';
import { enroll, startWorld, type World } from './helpers/world.js';


/** Every folder (`x/`) and file (`x sha256`) under `dir`, relative, sorted. */
async function treeOf(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const rel of await listTree(dir)) out.push(rel.endsWith('/') ? rel : `${rel} ${await sha256File(path.join(dir, rel))}`);
  return out.sort();
}

/**
 * The same listing of a folder in the page's OPFS (by its path from the OPFS root), hashed in
 * the page. Plain source text: the test's compiler would add helpers the page does not have.
 */
const OPFS_TREE = `async (name) => {
  const out = [];
  const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
  const walk = async (dir, rel) => {
    for await (const [n, h] of dir.entries()) {
      const r = rel ? rel + '/' + n : n;
      if (h.kind === 'directory') { out.push(r + '/'); await walk(h, r); }
      else out.push(r + ' ' + hex(await crypto.subtle.digest('SHA-256', await (await h.getFile()).arrayBuffer())));
    }
  };
  let dir = await navigator.storage.getDirectory();
  for (const part of name.split('/')) dir = await dir.getDirectoryHandle(part);
  await walk(dir, '');
  return out.sort();
}`;
const opfsTreeOf = (page: Page, folder: string): Promise<string[]> => page.evaluate(`(${OPFS_TREE})(${JSON.stringify(folder)})`);

/** The names at the top of the page's OPFS. */
const opfsTop = (page: Page) => page.evaluate(async () => {
  const names: string[] = [];
  for await (const n of (await navigator.storage.getDirectory() as any).keys()) names.push(n);
  return names.sort();
});

describe('browser peer: folders and drag and drop, with the CLI', function () {
  this.timeout(60_000);
  const missing = browserMissing();
  let world: World;
  let chrome: TestBrowser;
  let work: string;
  let page: Page;
  /** src/tree: nested folders, two empty ones, a file over one chunk; src/loose.txt beside it. */
  let src: string;

  before(async function () {
    if (missing) { console.log(`SKIP browser folders: ${missing}`); this.skip(); }
    world = await startWorld(['alice']);
    world.secrets.webby = await enroll(world.dataDir, 'webby');
    work = await tempDir();
    src = path.join(work, 'src');
    await fs.mkdir(path.join(src, 'tree/sub/deeper'), { recursive: true });
    await fs.mkdir(path.join(src, 'tree/empty'), { recursive: true });
    await fs.mkdir(path.join(src, 'tree/sub/empty2'), { recursive: true });
    await fs.writeFile(path.join(src, 'tree/a.txt'), 'alpha\n');
    await fs.writeFile(path.join(src, 'tree/sub/zero.bin'), '');
    await randomFile(path.join(src, 'tree/sub/b.bin'), 300 * 1024 + 17);
    await randomFile(path.join(src, 'tree/sub/deeper/c.bin'), 128 * 1024);
    await fs.writeFile(path.join(src, 'loose.txt'), 'on its own\n');
    chrome = await startBrowser();
    page = await loggedInPage(chrome.context, world.url, world.secrets.webby!);
    expect(await text(page, '#status')).to.include('this page receives');
  });
  // Each test starts with nothing chosen: a failed one leaves no file behind in the pickers or the drop list.
  afterEach(async () => {
    await page?.evaluate(() => {
      for (const id of ['send-files', 'send-folder']) (document.getElementById(id) as HTMLInputElement).value = '';
      document.getElementById('dropped-clear')!.click();
    }).catch(() => {});
  });
  after(async () => {
    await chrome?.stop();
    await world?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  /** `sealdrop receive --once` into a new folder; the page sends what the test chose, over the relay. */
  async function sendFromPage(choose: () => Promise<void>): Promise<{ inbox: string; done: Record<string, any> }> {
    const inbox = await tempDir();
    const receiver = world.peer('alice', ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    await page.fill('#send-to', 'alice');
    await page.setChecked('#send-relay', true);
    await choose();
    await page.click('#send-button');
    expect(await receiver.exit, `${receiver.stderr()} page: ${await text(page, '#error')}`).to.equal(0);
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('sent'));
    return { inbox, done: receiver.events.find((e) => e.type === 'done')! };
  }

  it('sends a folder from the folder picker and a loose file from the file picker to `sealdrop receive`: the same names and bytes as `sealdrop send tree loose.txt`', async () => {
    const { inbox, done } = await sendFromPage(async () => {
      await page.setInputFiles('#send-folder', path.join(src, 'tree'));
      await page.setInputFiles('#send-files', path.join(src, 'loose.txt'));
    });
    // The folder picker gives files only: the empty folders are the one thing it cannot carry (a drop does).
    const expected = (await treeOf(src)).filter((e) => !/empty2?\/$/.test(e));
    expect(await treeOf(inbox)).to.deep.equal(expected);
    expect(done.files.map((f: { name: string }) => f.name).sort()).to.deep.equal(['loose.txt', 'tree/a.txt', 'tree/sub/b.bin', 'tree/sub/deeper/c.bin', 'tree/sub/zero.bin']);
    await fs.rm(inbox, { recursive: true, force: true });
  });

  it('sends what is dropped on the page (a folder with nested and empty folders, and a loose file) to `sealdrop receive`: the tree identical on disk', async () => {
    const { inbox } = await sendFromPage(async () => {
      // A real drop: the browser turns these paths into the drop's File System entries, as for a person's drag.
      const box = (await page.locator('#drop-zone').boundingBox())!;
      const cdp = await chrome.context.newCDPSession(page);
      const data = { items: [], files: [path.join(src, 'tree'), path.join(src, 'loose.txt')], dragOperationsMask: 1 };
      for (const type of ['dragEnter', 'dragOver', 'drop'] as const) await cdp.send('Input.dispatchDragEvent', { type, x: box.x + 20, y: box.y + 10, data });
      await cdp.detach();
      await page.waitForFunction(() => document.getElementById('drop-zone')!.dataset.count === '7');
      await shot(page, '11-folder-dropped');
      expect(await page.locator('#dropped li').allTextContents()).to.include.members(['tree/empty/ (empty folder)', 'tree/sub/empty2/ (empty folder)', 'loose.txt (11 bytes)']);
    });
    expect(await treeOf(inbox)).to.deep.equal(await treeOf(src));
    expect(await page.locator('#dropped li').count(), 'what was sent leaves the drop list').to.equal(0);
    expect(await text(page, '#status')).to.match(/^sent 5 file\(s\) and 2 empty folder\(s\) to alice/);
    await fs.rm(inbox, { recursive: true, force: true });
  });

  it('sends a drop that carries plain files and no entries (as a script or some apps give) by their own names', async () => {
    const { inbox, done } = await sendFromPage(async () => {
      await page.evaluate(() => {
        const dt = new DataTransfer();
        dt.items.add(new File(['made in the page\n'], 'made.txt', { type: 'text/plain' }));
        document.getElementById('drop-zone')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      });
      await page.waitForFunction(() => document.getElementById('drop-zone')!.dataset.count === '1');
    });
    expect(done.files.map((f: { name: string }) => f.name)).to.deep.equal(['made.txt']);
    expect(await fs.readFile(path.join(inbox, 'made.txt'), 'utf8')).to.equal('made in the page\n');
    await fs.rm(inbox, { recursive: true, force: true });
  });

  it('takes a tree from `sealdrop send tree/` after listing it sanely, keeps it in OPFS under its paths (empty folders too), and saves it as one folder', async () => {
    const sender = world.peer('alice', ['send', path.join(src, 'tree'), '--to', 'webby', '--relay']);
    await page.waitForSelector('#offer:not([hidden])', { timeout: 30_000 });
    const lines = await page.locator('#offer-files li').allTextContents();
    expect(lines[0]).to.equal('folder tree/: 4 file(s), 2 empty folder(s), 428.0 KiB');
    expect(lines).to.include('  tree/sub/b.bin (300.0 KiB)').and.include('  tree/empty/ (empty folder)');
    await shot(page, '12-folder-offer');
    await page.click('#offer-accept');
    expect(await sender.exit, sender.stderr()).to.equal(0);
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('received'));
    const item = page.locator('#received li.received-tree').last();
    const folder = (await item.getAttribute('data-opfs'))!;
    expect(folder).to.match(/^sealdrop-received-tree-/);
    const expected = (await treeOf(src)).filter((e) => e.startsWith('tree/'));
    expect(await opfsTreeOf(page, folder)).to.deep.equal(expected);
    expect(await item.locator('a').count()).to.equal(4);
    // "Save folder…": the person's folder picker is the one thing stood in for (headless has no dialog); it hands over a real folder.
    await page.evaluate(async () => {
      const target = await (await navigator.storage.getDirectory()).getDirectoryHandle('chosen-by-test', { create: true });
      (window as any).showDirectoryPicker = async () => target;
    });
    await item.locator('.save-tree').click();
    await page.waitForSelector('#received li.received-tree[data-saved="4"]');
    expect(await text(page, '#status')).to.equal('saved 4 file(s) into chosen-by-test');
    await shot(page, '13-folder-received');
    expect(await opfsTreeOf(page, 'chosen-by-test')).to.deep.equal(expected);
  });

  it('offers that tree as one zip (client-zip, streamed into OPFS) that unzip reads back as the same tree, empty folders too', async () => {
    const item = page.locator('#received li.received-tree').last();
    const [download] = await Promise.all([page.waitForEvent('download'), item.locator('.zip-tree').click()]);
    expect(download.suggestedFilename()).to.equal('tree.zip');
    const zip = path.join(work, 'tree.zip');
    await download.saveAs(zip);
    const out = path.join(work, 'unzipped');
    await new Promise<void>((resolve, reject) => execFile('unzip', ['-q', zip, '-d', out], (err, _o, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`)) : resolve())));
    expect(await treeOf(out)).to.deep.equal((await treeOf(src)).filter((e) => e.startsWith('tree/')));
  });

  it('takes a lone empty folder from `sealdrop send empty/` (an empty data stream) and makes it in OPFS', async () => {
    const lone = path.join(work, 'lonely');
    await fs.mkdir(lone);
    const sender = world.peer('alice', ['send', lone, '--to', 'webby', '--relay']);
    await page.waitForSelector('#offer:not([hidden])', { timeout: 30_000 });
    expect((await page.locator('#offer-files li').allTextContents())[0]).to.equal('folder lonely/: 0 file(s), 1 empty folder(s), 0 bytes');
    await page.click('#offer-accept');
    expect(await sender.exit, sender.stderr()).to.equal(0);
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('received 0 file(s)'));
    const folder = (await page.locator('#received li.received-tree').last().getAttribute('data-opfs'))!;
    expect(await opfsTreeOf(page, folder)).to.deep.equal(['lonely/']);
  });

  const hostile: Array<[string, { files: Array<{ name: string; size: number }>; dirs: string[] }, RegExp]> = [
    ['a name that climbs out (../x)', { files: [{ name: '../x', size: 1 }], dirs: [] }, /refused the received name "\.\.\/x": "\." and "\.\." are not accepted/],
    ['.. inside a tree', { files: [{ name: 'tree/ok.txt', size: 1 }, { name: 'tree/../../x', size: 1 }], dirs: [] }, /"\." and "\.\." are not accepted/],
    ['an ESC (terminal control) in a folder name', { files: [{ name: 'tree/a\u001b[31mred/x.txt', size: 1 }], dirs: [] }, /tree\/a\\u\{001B\}\[31mred\/x\.txt.*U\+001B ESCAPE/],
    ['a bidi override in an empty folder', { files: [{ name: 'tree/ok.txt', size: 1 }], dirs: ['tree/\u202egnp.exe'] }, /U\+202E RIGHT-TO-LEFT OVERRIDE/],
    ['an ESC and a bidi override in a loose file\'s name', { files: [{ name: 'a\u001b[2J\u202eb.txt', size: 1 }], dirs: [] }, /a\\u\{001B\}\[2J.*U\+001B ESCAPE/],
    ['a loose file\'s name with markup', { files: [{ name: '<b>bold</b>.txt', size: 1 }], dirs: [] }, /not allowed in file names/],
    ['an absolute folder', { files: [], dirs: ['/etc/cron.d'] }, /absolute paths are not accepted/],
    ['a name both a file and a folder', { files: [{ name: 'tree/a', size: 1 }, { name: 'tree/A/b', size: 1 }], dirs: [] }, /names "tree\/a" as a file and as a folder/],
  ];
  for (const [what, manifest, words] of hostile) {
    it(`refuses an offer with ${what} before asking, with words on both sides, and stores nothing`, async () => {
      const before = await opfsTop(page);
      await page.evaluate(() => { document.getElementById('error')!.textContent = ''; });
      const h = await hostileOpen(world, 'alice', 'webby', { mode: 'relay' });
      try {
        await h.send({ t: 'manifest', ...manifest });
        const answer = await h.next();
        expect(answer).to.include({ t: 'reject', code: 'ERR_BAD_INPUT' });
        expect((answer as { message: string }).message).to.match(words);
      } finally {
        h.close();
      }
      await page.waitForFunction(() => document.getElementById('error')!.textContent !== '');
      const shown = await text(page, '#error');
      expect(shown).to.match(/^refused the offer from alice, nothing was stored: /).and.match(words).and.include('(ERR_BAD_INPUT)');
      expect(shown).to.not.match(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/); // made printable
      expect(await page.locator('#offer').isHidden(), 'the person was never asked').to.equal(true);
      expect(await opfsTop(page)).to.deep.equal(before);
    });
  }

  it('lists a large tree offer in a bounded number of lines: totals, each top-level name, the first 20 paths', async () => {
    const files = [...Array.from({ length: 25 }, (_, i) => ({ name: `one/f${String(i).padStart(2, '0')}.txt`, size: 1024 })), { name: 'two/deep/x.bin', size: 5 }];
    const h = await hostileOpen(world, 'alice', 'webby', { mode: 'relay' });
    try {
      await h.send({ t: 'manifest', files, dirs: ['two/void', 'one'] });
      await page.waitForSelector('#offer:not([hidden])');
      const lines = await page.locator('#offer-files li').allTextContents();
      expect(lines.slice(0, 3)).to.deep.equal([
        '26 file(s), 1 empty folder(s), 25.0 KiB in all:',
        'folder one/: 25 file(s), 25.0 KiB',
        'folder two/: 1 file(s), 1 empty folder(s), 5 bytes',
      ]);
      expect(lines.slice(3)).to.have.length(21);
      expect(lines.at(-1)).to.equal('  … and 7 more');
      await page.click('#offer-decline');
      expect(await h.next()).to.include({ t: 'reject', code: 'ERR_REJECTED' });
    } finally {
      h.close();
    }
  });

  it('refuses to send a name a sealdrop receiver would refuse, in words, before offering anything', async () => {
    await page.fill('#send-to', 'alice');
    await page.setInputFiles('#send-files', [{ name: 'con.txt', mimeType: 'text/plain', buffer: Buffer.from('x') }]);
    await page.click('#send-button');
    await page.waitForFunction(() => document.getElementById('error')!.textContent!.includes('cannot send'));
    expect(await text(page, '#error')).to.equal('cannot send "con.txt": "con.txt" is a reserved device name (a sealdrop receiver refuses such a name; rename it) (ERR_BAD_INPUT)');
    expect(await text(page, '#status'), 'no session was opened').to.equal('');
  });
});

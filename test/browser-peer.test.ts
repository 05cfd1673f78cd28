/**
 * The browser peer against the real CLI: a spawned rendezvous serving the page (port 0),
 * headless Debian Chromium driven over CDP, files both ways over the relay, each checked by
 * SHA-256 where it landed. Also: the shared engine pieces give the same bytes in Node and
 * in the page's bundle, a wrong code is refused with words, and the page's script is
 * served under a strict Content-Security-Policy.
 */
import { expect } from 'chai';
import { build } from 'esbuild';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { browserBuild } from '../scripts/build-web.js';
import { deriveTransferKeys, ephemeralFromSeed, fingerprint, identityFromSeed, signHello, helloMessage } from '../shared/crypto.js';
import { CONTROL_STREAM, FrameType, nodeFrameCipher, sealFrame } from '../shared/framing.js';
import { channelCheck } from './helpers/channel-check.js';
import { totpCode } from '../shared/totp.js';
import { browserAnonBytes, browserMemory, browserMissing, shot, startBrowser, text, type TestBrowser } from './helpers/browser.js';
import { PEER_CLI, randomFile, sha256File, spawnCli, tempDir } from './helpers/cli.js';
import { enroll, startServer, startWorld, type World } from './helpers/world.js';

const MiB = 1024 * 1024;

describe('browser peer (headless Chromium) with the CLI', function () {
  this.timeout(120_000);
  const missing = browserMissing();
  let world: World;
  let chrome: TestBrowser;
  let work: string;
  let page: Page;

  before(async function () {
    if (missing) { console.log(`SKIP browser peer: ${missing}`); this.skip(); }
    world = await startWorld(['alice']);
    // The page's account, enrolled on the running server; no CLI logs in with it, so no code step is spent before the page's.
    world.secrets.webby = await enroll(world.dataDir, 'webby');
    work = await tempDir();
    chrome = await startBrowser();
  });
  after(async () => {
    await chrome?.stop();
    await world?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  async function openPage(): Promise<Page> {
    const p = await chrome.context.newPage();
    p.on('pageerror', (err) => console.log(`      page error: ${err.message}`));
    p.on('console', (m) => { if (m.type() === 'error') console.log(`      page console: ${m.text()}`); });
    await p.goto(`${world.url}/`);
    await p.waitForSelector('body[data-ready="1"]');
    return p;
  }

  it('is served at / under a strict Content-Security-Policy', async () => {
    const res = await fetch(`${world.url}/`);
    expect(res.status).to.equal(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).to.include("default-src 'none'").and.include("script-src 'self'").and.include("connect-src 'self' ws://127.0.0.1:");
    expect(csp).to.not.include('unsafe');
    expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(await res.text()).to.not.match(/<script>(?!<\/script>)/); // no inline script
    expect((await fetch(`${world.url}/app.js`)).headers.get('content-type')).to.match(/^text\/javascript/);
    expect((await fetch(`${world.url}/nothing`)).status).to.equal(404);
  });

  it('runs the shared engine pieces (key schedule, frames, the secure channel) in the page with the answers Node gives', async () => {
    const p = await openPage();
    const bundle = await build({ ...browserBuild('web/self-test.ts'), write: false, format: 'iife' });
    await p.evaluate(bundle.outputFiles[0]!.text);
    const sid = '0123456789abcdef0123456789abcdef';
    const alice = identityFromSeed(Buffer.alloc(32, 1)), bob = identityFromSeed(Buffer.alloc(32, 2));
    const ea = ephemeralFromSeed(Buffer.alloc(32, 3)), eb = ephemeralFromSeed(Buffer.alloc(32, 4));
    const transcript = {
      sid, commitment: Buffer.alloc(32, 9), senderId: 'alice', receiverId: 'bob',
      senderIdentity: alice.publicKey, receiverIdentity: bob.publicKey, senderEphemeral: ea.publicKey, receiverEphemeral: eb.publicKey,
    };
    const keys = deriveTransferKeys(ea, eb.publicKey, transcript);
    const signature = signHello(alice.privateKey, { sid, role: 'sender', from: 'alice', to: 'bob', ephemeralKey: ea.publicKey });
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    const got = await p.evaluate((c) => (globalThis as any).sealdropSelfTest(c), {
      sid, identity: hex(alice.publicKey), signature: hex(signature), ephemeralPeer: hex(eb.publicKey),
      lowOrderIdentity: '0100000000000000000000000000000000000000000000000000000000000000',
      transcript: Object.fromEntries(Object.entries(transcript).map(([k, v]) => [k, typeof v === 'string' ? v : hex(v)])),
      keys: { sendKey: hex(keys.senderKey), receiveKey: hex(keys.receiverKey) }, plaintext: '{"t":"list"}',
    });
    const nodeTranscript = createHash('sha256').update((await import('../shared/key-schedule.js')).transcriptInput(transcript)).digest('hex');
    const nodeFrame = sealFrame(keys.senderKey, Buffer.from(sid, 'hex'), { type: FrameType.Control, stream: CONTROL_STREAM, index: 0, last: true }, Buffer.from('{"t":"list"}'));
    expect(helloMessage({ sid, role: 'sender', from: 'alice', to: 'bob', ephemeralKey: ea.publicKey }).length).to.be.above(0);
    expect(got).to.deep.equal({
      fingerprint: fingerprint(alice.publicKey), transcript: nodeTranscript, signatureValid: true, lowOrderRefused: true,
      lowOrderX25519: 'ERR_PROTOCOL', frame: nodeFrame.toString('hex'), reopened: '{"t":"list"}', refused: 'ERR_DECRYPT', misplaced: 'ERR_INTEGRITY',
      channel: await channelCheck(nodeFrameCipher),
    });
    expect(got.channel).to.deep.equal({
      agreed: { verify: false }, inOrder: true, reordered: 'ERR_INTEGRITY', tampered: 'ERR_DECRYPT', frames: [14 + 47 + 16, 131102, 14 + 4 + 16],
      move: { position: { data: 2, control: 1 }, keptAfterDetach: true, opened: { t: 'move', transport: 'direct', data: 0, control: 1 }, copy: 'ERR_INTEGRITY', replayed: 'ERR_INTEGRITY' },
    });
    await p.close();
  });

  it('refuses a wrong code with words', async () => {
    const p = await openPage(); // the same browser as the login below: a refused login leaves nothing behind
    await shot(p, '01-login');
    const right = totpCode(world.secrets.webby!, Date.now());
    await p.fill('#login-id', 'webby');
    await p.fill('#login-code', right === '000000' ? '111111' : '000000');
    await p.click('#login-button');
    await p.waitForFunction(() => document.getElementById('error')!.textContent !== '');
    expect(await text(p, '#error')).to.match(/ERR_AUTH/).and.match(/code|account/i);
    expect(await p.locator('#home').isHidden()).to.equal(true);
    await shot(p, '02-wrong-code');
    await p.close();
  });

  it('logs in to send only while a `sealdrop receive` of the same account runs, taking nothing over from it', async () => {
    const p = await openPage();
    const secret = world.secrets.alice!;
    const receiver = world.peer('alice', ['receive', '--dir', work, '--yes', '--once']);
    try {
      await receiver.waitFor('ready');
      await p.fill('#login-id', 'alice');
      await p.fill('#login-code', totpCode(secret, Date.now() + 30_000)); // the next step's: the CLI spent this one (±1 step is taken)
      await p.click('#login-button');
      await p.waitForSelector('#home:not([hidden])');
      expect(await text(p, '#status')).to.include('to send only: another sealdrop is receiving for alice');
      expect(receiver.events.some((e) => e.type === 'error'), 'the CLI receiver is still there').to.equal(false);
      expect(receiver.child.exitCode).to.equal(null);
    } finally {
      receiver.child.kill('SIGTERM');
      await receiver.exit;
      await p.close();
    }
  });

  it('logs in with ID and code and lists who is online', async () => {
    page = await openPage();
    await page.fill('#login-id', 'webby');
    await page.fill('#login-code', totpCode(world.secrets.webby!, Date.now()));
    await page.click('#login-button');
    await page.waitForFunction(() => !document.getElementById('home')!.hidden || document.getElementById('error')!.textContent !== '');
    expect(await text(page, '#error')).to.equal('');
    expect(await text(page, '#who')).to.match(/^webby · key [A-Z2-7]{4}(-[A-Z2-7]{4}){7}$/);
    const receiver = world.peer('alice', ['receive', '--dir', work, '--yes', '--once']); // online, receiving
    await receiver.waitFor('ready');
    await page.click('#peers-refresh');
    await page.waitForFunction(() => document.getElementById('peers')!.textContent!.includes('alice receiving'));
    await shot(page, '03-home-peers');
    receiver.child.kill('SIGTERM');
    await receiver.exit;
  });

  for (const via of ['relay', 'direct'] as const) {
    it(`receives a file from \`sealdrop send\` over the ${via} path after the person accepts; same code on both sides; SHA-256 checked`, async () => {
      const src = path.join(work, `from-cli-${via}.bin`);
      const sha = await randomFile(src, 24 * MiB + 123);
      // One path named for the whole transfer (no relay start, no move): test/browser-verify-moves.test.ts moves.
      const sender = world.peer('alice', ['send', src, '--to', 'webby', via === 'relay' ? '--relay' : '--direct-only']);
      await page.waitForSelector('#offer:not([hidden])', { timeout: 30_000 }).catch(async (err) => {
        throw new Error(`${err.message}; sender: ${sender.stderr()}; page: ${await text(page, '#error')} / ${await text(page, '#status')}`);
      });
      const secured = await sender.waitFor('secured');
      expect(await text(page, '#offer-sas')).to.equal(secured.sas);
      expect(await text(page, '#offer-files')).to.include(path.basename(src));
      if (via === 'relay') await shot(page, '04-offer');
      const started = performance.now();
      await page.click('#offer-accept');
      expect(await sender.exit, sender.stderr()).to.equal(0);
      await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('received'));
      const seconds = (performance.now() - started) / 1000;
      console.log(`      CLI → page, ${via}: ${(24 * MiB / seconds / MiB).toFixed(1)} MiB/s (${seconds.toFixed(2)} s for 24 MiB, from accept to verified)`);
      const link = page.locator('#received a').last();
      expect(await link.getAttribute('data-sha256')).to.equal(sha);
      const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
      const saved = path.join(work, `downloaded-${via}.bin`);
      await download.saveAs(saved);
      expect(await sha256File(saved)).to.equal(sha);
      expect(sender.events.find((e) => e.type === 'done')!.transport).to.equal(via);
      expect(await text(page, '#status')).to.include(`(${via})`);
      const cdp = await chrome.context.newCDPSession(page);
      await cdp.send('Performance.enable');
      const heap = await cdp.send('Performance.getMetrics').catch(() => undefined);
      const used = heap?.metrics.find((m) => m.name === 'JSHeapUsedSize')?.value;
      if (used) console.log(`      page JS heap after receiving 24 MiB: ${(used / MiB).toFixed(1)} MiB`);
      await shot(page, `05-received-${via}`);
    });

    it(`sends a file from the file picker to \`sealdrop receive\` over the ${via} path; SHA-256 checked on disk`, async () => {
      const src = path.join(work, `from-page-${via}.bin`);
      const sha = await randomFile(src, 24 * MiB + 7);
      const inbox = await tempDir();
      const receiver = world.peer('alice', ['receive', '--dir', inbox, '--yes', '--once']);
      await receiver.waitFor('ready');
      await page.fill('#send-to', 'alice');
      await page.setChecked('#send-relay', via === 'relay');
      await page.setChecked('#send-direct-only', via === 'direct');
      await page.setInputFiles('#send-files', src);
      const started = performance.now();
      await page.click('#send-button');
      const code = await receiver.exit;
      expect(code, `${receiver.stderr()} page: ${await text(page, '#error')}`).to.equal(0);
      await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('sent'));
      const seconds = (performance.now() - started) / 1000;
      console.log(`      page → CLI, ${via}: ${(24 * MiB / seconds / MiB).toFixed(1)} MiB/s (${seconds.toFixed(2)} s for 24 MiB, from the click to verified)`);
      const done = receiver.events.find((e) => e.type === 'done')!;
      expect(done.transport).to.equal(via);
      expect(done.files).to.deep.equal([{ name: path.basename(src), bytes: 24 * MiB + 7, sha256: sha }]);
      expect(await sha256File(path.join(inbox, path.basename(src)))).to.equal(sha);
      expect(await text(page, '#transfer-sas')).to.equal(receiver.events.find((e) => e.type === 'secured')!.sas);
      await shot(page, `06-sent-${via}`);
      await fs.rm(inbox, { recursive: true, force: true });
    });
  }

  it('takes a 300 MiB file from `sealdrop send` onto disk (OPFS) with the page\'s memory flat', async function () {
    this.timeout(120_000);
    const size = 300 * MiB + 5;
    const src = path.join(work, 'large.bin');
    const sha = await randomFile(src, size);
    const cdp = await chrome.context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const heap = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'JSHeapUsedSize')!.value;
    const rssBefore = browserAnonBytes();
    let peakHeap = await heap(), peakRss = rssBefore;
    let atPeak = browserMemory();
    const sampler = setInterval(() => {
      const now = browserMemory();
      const anon = now.reduce((n, p) => n + p.anon, 0);
      if (anon > peakRss) { peakRss = anon; atPeak = now; }
      heap().then((h) => { peakHeap = Math.max(peakHeap, h); }, () => {});
    }, 250);
    try {
      const sender = world.peer('alice', ['send', src, '--to', 'webby', '--relay']);
      await page.waitForSelector('#offer:not([hidden])', { timeout: 30_000 });
      const started = performance.now();
      await page.click('#offer-accept');
      expect(await sender.exit, sender.stderr()).to.equal(0);
      await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('received'), undefined, { timeout: 60_000 });
      const seconds = (performance.now() - started) / 1000;
      console.log(`      CLI → page, relay, 300 MiB: ${(size / seconds / MiB).toFixed(1)} MiB/s; page JS heap peak ${(peakHeap / MiB).toFixed(1)} MiB; browser anonymous RSS ${(rssBefore / MiB).toFixed(0)} → peak ${(peakRss / MiB).toFixed(0)} MiB (all its processes)`);
    } finally {
      clearInterval(sampler);
    }
    expect(peakHeap, 'JS heap').to.be.below(64 * MiB);
    const where = atPeak.map((p) => `${p.type} ${(p.anon / MiB).toFixed(0)} MiB`).join(', ');
    expect(peakRss - rssBefore, `browser anonymous RSS growth (at the peak: ${where})`).to.be.below(128 * MiB);
    const link = page.locator('#received a').last();
    expect(await link.getAttribute('data-sha256')).to.equal(sha);
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const saved = path.join(work, 'large-downloaded.bin');
    await download.saveAs(saved);
    expect(await sha256File(saved)).to.equal(sha);
    await fs.rm(saved);
    await fs.rm(src);
  });

  it('shows a text message from `sealdrop send --text` as text: markup in it stays characters', async () => {
    const message = 'hi <img src=x onerror="document.title=1"> <b>bold</b>\nsecond line';
    const sender = world.peer('alice', ['send', '--text', message, '--to', 'webby', '--relay']);
    await page.waitForSelector('#offer:not([hidden])', { timeout: 30_000 });
    expect(await text(page, '#offer-files')).to.include('a message');
    await page.click('#offer-accept');
    expect(await sender.exit, sender.stderr()).to.equal(0);
    const shown = page.locator('#received .text-message').last();
    await shown.waitFor();
    expect(await shown.textContent()).to.equal(message);
    expect(await shown.evaluate((el) => el.children.length)).to.equal(0); // no element was made from it
    expect(await page.title()).to.equal('sealdrop');
    await shot(page, '07-text-message');
  });

  it('sends several files at the edges of the chunk size (one chunk, empty, one byte over, one under) in one transfer ending on a chunk boundary', async () => {
    // 3 × 128 KiB in all: the stream's last chunk is full and must carry LAST.
    const files = [['exact.bin', 128 * 1024], ['empty.bin', 0], ['over.bin', 128 * 1024 + 1], ['under.bin', 128 * 1024 - 1]] as const;
    const shas: string[] = [];
    for (const [name, size] of files) shas.push(await randomFile(path.join(work, name), size));
    const inbox = await tempDir();
    const receiver = world.peer('alice', ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    await page.fill('#send-to', 'alice');
    await page.setChecked('#send-relay', true);
    await page.setInputFiles('#send-files', files.map(([name]) => path.join(work, name)));
    await page.click('#send-button');
    expect(await receiver.exit, `${receiver.stderr()} page: ${await text(page, '#error')}`).to.equal(0);
    for (const [i, [name]] of files.entries()) expect(await sha256File(path.join(inbox, name)), name).to.equal(shas[i]);
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('sent 4 file(s)'));
    await page.setInputFiles('#send-files', []);
    await fs.rm(inbox, { recursive: true, force: true });
  });

  it('sends a typed message to `sealdrop receive`, which gets it as a message', async () => {
    const inbox = await tempDir();
    const receiver = world.peer('alice', ['receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    const message = 'see you at 6\nbring the <cake>';
    await page.fill('#send-to', 'alice');
    await page.setInputFiles('#send-files', []);
    await page.fill('#send-text', message);
    await page.setChecked('#send-relay', true);
    await page.click('#send-button');
    expect(await receiver.exit, `${receiver.stderr()} page: ${await text(page, '#error')}`).to.equal(0);
    expect(receiver.events.find((e) => e.type === 'message')).to.deep.include({ from: 'webby', text: message });
    const done = receiver.events.find((e) => e.type === 'done')!;
    expect(done.files).to.have.length(1);
    expect(done.files[0].sha256).to.equal(createHash('sha256').update(message).digest('hex'));
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('sent the message'));
    await page.fill('#send-text', '');
    await fs.rm(inbox, { recursive: true, force: true });
  });

  it('refuses a peer whose key changed since it was pinned, with words on both sides', async () => {
    // alice again, with another identity key: her home copied (so her session token still logs in) and a new key.
    const home = path.join(work, 'alice-new-key');
    await fs.cp(world.homes.alice!, home, { recursive: true });
    await fs.writeFile(path.join(home, 'identity.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
    const src = path.join(work, 'after-key-change.txt');
    await fs.writeFile(src, 'who am I');
    const sender = spawnCli(PEER_CLI, ['--home', home, '--json', 'send', src, '--to', 'webby', '--relay']);
    try {
      await page.waitForFunction(() => document.getElementById('error')!.textContent!.includes('ERR_KEY_CHANGED'), undefined, { timeout: 30_000 });
      expect(await text(page, '#error')).to.match(/the key of alice changed: pinned [A-Z2-7-]+, now [A-Z2-7-]+/);
      expect(await page.locator('#offer').isHidden()).to.equal(true);
      expect(await sender.exit).to.not.equal(0);
      expect(JSON.stringify(sender.events.find((e) => e.type === 'error'))).to.match(/ERR_KEY_CHANGED|changed/);
      await shot(page, '08-key-changed');
    } finally {
      sender.child.kill('SIGKILL');
      await sender.exit;
    }
  });

  it('comes back by itself with its session token after the rendezvous restarts, and receives again', async () => {
    const port = new URL(world.url).port;
    world.server.child.kill('SIGTERM');
    await world.server.exit;
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.includes('reconnecting'));
    world.server = (await startServer(world.dataDir, ['--port', port])).server;
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('back online'), undefined, { timeout: 20_000 });
    expect(await text(page, '#error')).to.not.include('log in again');
    const sender = world.peer('alice', ['send', '--text', 'still there?', '--to', 'webby', '--relay']);
    await page.waitForSelector('#offer:not([hidden])', { timeout: 30_000 });
    await page.click('#offer-accept');
    expect(await sender.exit, sender.stderr()).to.equal(0);
    await page.waitForFunction(() => [...document.querySelectorAll('#received .text-message')].some((e) => e.textContent === 'still there?'));
  });

  it('a decline in the page stops `sealdrop send` with words, and nothing is received', async () => {
    const src = path.join(work, 'unwanted.txt');
    await fs.writeFile(src, 'no thanks');
    const before = await page.locator('#received li').count();
    const sender = world.peer('alice', ['send', src, '--to', 'webby', '--relay']);
    await page.waitForSelector('#offer:not([hidden])', { timeout: 30_000 });
    expect(await text(page, '#offer-files')).to.equal('unwanted.txt (9 bytes)');
    // Earlier transfers ended at 100 %: a new one starts from nothing.
    expect(await text(page, '#transfer-rate')).to.equal('waiting for the first bytes…');
    expect(await page.locator('#transfer-progress').evaluate((bar) => bar.hasAttribute('value'))).to.equal(false);
    await page.click('#offer-decline');
    expect(await sender.exit).to.not.equal(0);
    const err = sender.events.find((e) => e.type === 'error')!;
    expect(err.code).to.equal('ERR_REJECTED');
    await page.waitForFunction(() => document.getElementById('error')!.textContent!.includes('declined'));
    expect(await page.locator('#received li').count()).to.equal(before);
  });

  it('refuses a file name `sealdrop receive` would refuse, before asking: markup in it is shown as characters', async () => {
    const name = '<img src=x onerror="document.title=2">unwanted.txt';
    const src = path.join(work, name);
    await fs.writeFile(src, 'no thanks');
    const before = await page.locator('#received li').count();
    const sender = world.peer('alice', ['send', src, '--to', 'webby', '--relay']);
    expect(await sender.exit).to.not.equal(0);
    const err = sender.events.find((e) => e.type === 'error')!;
    expect(err.code, sender.stdout()).to.equal('ERR_BAD_INPUT');
    expect(err.message).to.include('<img');
    await page.waitForFunction(() => document.getElementById('error')!.textContent!.includes('nothing was stored'));
    expect(await text(page, '#error')).to.include(name);
    expect(await page.locator('#error img').count()).to.equal(0);
    expect(await page.title()).to.equal('sealdrop');
    expect(await page.locator('#offer:not([hidden])').count(), 'the person is never asked').to.equal(0);
    expect(await page.locator('#received li').count()).to.equal(before);
  });

});

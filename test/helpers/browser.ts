/**
 * Debian's Chromium, headless, driven over CDP by playwright-core (which downloads no
 * browser). It starts inside the suite's network namespace (test/run.sh), with every
 * background service it would call turned off, and loopback WebRTC allowed. `stop()`
 * ends it and removes its profile; each test file calls stop in its `after` hook, and
 * Playwright also ends the browser if the test process exits first.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { totpCode } from '../../shared/totp.js';

export const CHROMIUM = process.env.SEALDROP_CHROMIUM ?? '/usr/lib/chromium/chromium';

/** Quiet: no first run, no update, sync, or background networking (the namespace is the guarantee; these keep it silent). */
const QUIET_FLAGS = [
  '--no-first-run', '--no-default-browser-check', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-default-apps', '--disable-extensions', '--disable-domain-reliability',
  '--disable-client-side-phishing-detection', '--metrics-recording-only', '--no-pings', '--disable-breakpad',
  '--password-store=basic', '--use-mock-keychain',
  // Direct WebRTC on loopback: host candidates on 127.0.0.1, not hidden behind mDNS names.
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns,Translate,OptimizationHints,MediaRouter',
];

export interface TestBrowser {
  /**
   * One person's browser, with a profile on disk: a private (incognito) context keeps OPFS and
   * IndexedDB in memory, which would make every received byte count as page memory.
   */
  context: BrowserContext;
  stop(): Promise<void>;
}

/** Whether the tests can run here; the reason otherwise (printed as one SKIP line). */
export function browserMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install chromium)`;
}

export async function startBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'sealdrop-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), ...QUIET_FLAGS],
      acceptDownloads: true,
      timeout: 30_000,
    });
    return {
      context,
      async stop() {
        await context.close().catch(() => {});
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}

export interface ProcessMemory { pid: number; type: string; anon: number; file: number; shmem: number }

/**
 * Resident memory of the browser this process launched, per process (browser, renderers, GPU,
 * network…), from /proc: the launched chromium is a child of this process. `anon` is what the
 * processes hold themselves; `file` and `shmem` are mapped files and shared memory.
 */
export function browserMemory(): ProcessMemory[] {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      parent.set(Number(entry), Number(stat.slice(close + 2).split(' ')[1]));
      comm.set(Number(entry), stat.slice(stat.indexOf('(') + 1, close));
    } catch { /* gone meanwhile */ }
  }
  const roots = [...parent].filter(([pid, ppid]) => ppid === process.pid && /chrom/.test(comm.get(pid) ?? '')).map(([pid]) => pid);
  const tree = new Set(roots);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parent) if (tree.has(ppid) && !tree.has(pid)) { tree.add(pid); grew = true; }
  }
  const out: ProcessMemory[] = [];
  for (const pid of tree) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
      const type = /--type=([a-z-]+)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))?.[1] ?? 'browser';
      out.push({ pid, type, anon: kb('RssAnon'), file: kb('RssFile'), shmem: kb('RssShmem') });
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** What the browser's processes hold themselves (RssAnon), all together. */
export function browserAnonBytes(): number {
  return browserMemory().reduce((n, p) => n + p.anon, 0);
}

/** An element's text, '' when it has none. */
export const text = (page: Page, sel: string): Promise<string> => page.locator(sel).textContent().then((t) => t ?? '');

/**
 * A screenshot of the page for a person to look at, only when SEALDROP_SCREENS names a folder
 * (the screens go in a session's note, not the repo); a failed screenshot fails no test.
 */
export async function shot(page: Page, name: string): Promise<void> {
  const folder = process.env.SEALDROP_SCREENS;
  if (!folder) return;
  await mkdir(folder, { recursive: true }).catch(() => {});
  await page.screenshot({ path: join(folder, `${name}.png`), fullPage: true }).catch(() => {});
}

/** A new page of `context` at the rendezvous `url`, logged in as `id` with the current code of `secret`; page errors are printed. */
export async function loggedInPage(context: BrowserContext, url: string, secret: string, id = 'webby'): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => console.log(`      page error: ${err.message}`));
  await page.goto(`${url}/`);
  await page.waitForSelector('body[data-ready="1"]');
  await page.fill('#login-id', id);
  await page.fill('#login-code', totpCode(secret, Date.now()));
  await page.click('#login-button');
  await page.waitForSelector('#home:not([hidden])');
  return page;
}

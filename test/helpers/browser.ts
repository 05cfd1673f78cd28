/**
 * Debian's Chromium, headless, driven over CDP by playwright-core (which downloads no
 * browser). It starts inside the suite's network namespace (test/run.sh), with every
 * background service it would call turned off, and loopback WebRTC allowed. `stop()`
 * ends it; `startBrowser` registers nothing global, so each test file calls stop in
 * its `after` hook, and a failed start ends what it started.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

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
  browser: Browser;
  /** A fresh profile (its own IndexedDB and localStorage): one person's browser. */
  context(): Promise<BrowserContext>;
  stop(): Promise<void>;
}

/** Whether the tests can run here; the reason otherwise (printed as one SKIP line). */
export function browserMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install chromium)`;
}

export async function startBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), ...QUIET_FLAGS],
    timeout: 30_000,
  });
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async context() {
      const c = await browser.newContext({ acceptDownloads: true });
      contexts.push(c);
      return c;
    },
    async stop() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close().catch(() => {});
    },
  };
}

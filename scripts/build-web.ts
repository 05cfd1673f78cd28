/**
 * Builds the browser peer into dist/web/ (run by `npm run build`): web/main.ts and the
 * shared modules it imports, bundled by esbuild for the browser, with the page and its
 * style sheet beside it. The shared modules use Node's Buffer and EventEmitter APIs;
 * in the page those come from the `buffer` and `events` packages, and the direct path's
 * simple-peer runs on the browser's own WebRTC.
 */
import { build, type BuildOptions } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout: this file runs as dist/scripts/build-web.js or, under tsx, as scripts/build-web.ts. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), fileURLToPath(import.meta.url).includes('/dist/') ? '../..' : '..');

export function browserBuild(entry: string): BuildOptions {
  return {
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'chrome120',
    inject: [join(ROOT, 'web/buffer-shim.ts'), join(ROOT, 'web/process-shim.ts')],
    // simple-peer in the page runs on the browser's WebRTC (web/browser-rtc.ts), not Node's binary.
    alias: { 'node:events': 'events', '@roamhq/wrtc': join(ROOT, 'web/browser-rtc.ts') },
    define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
    legalComments: 'none',
    logLevel: 'warning',
  };
}

export async function buildWeb(out = join(ROOT, 'dist/web')): Promise<void> {
  mkdirSync(out, { recursive: true });
  await build({ ...browserBuild('web/main.ts'), outfile: join(out, 'app.js'), minify: true, sourcemap: false });
  await build({ ...browserBuild('web/hash-worker.ts'), format: 'iife', outfile: join(out, 'hash-worker.js'), minify: true, sourcemap: false });
  for (const f of ['index.html', 'app.css']) copyFileSync(join(ROOT, 'web', f), join(out, f));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildWeb();

/**
 * Builds the browser peer into dist/web/ (run by `npm run build`): web/main.ts and the
 * shared modules it imports, bundled by esbuild for the browser, with the page and its
 * style sheet beside it. The shared modules use Node's Buffer and EventEmitter APIs;
 * in the page those come from the `buffer` and `events` packages.
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
    inject: [join(ROOT, 'web/buffer-shim.ts')],
    alias: { 'node:events': 'events' },
    define: { 'process.env.NODE_ENV': '"production"' },
    legalComments: 'none',
    logLevel: 'warning',
  };
}

export async function buildWeb(out = join(ROOT, 'dist/web')): Promise<void> {
  mkdirSync(out, { recursive: true });
  await build({ ...browserBuild('web/main.ts'), outfile: join(out, 'app.js'), minify: true, sourcemap: false });
  for (const f of ['index.html', 'app.css']) copyFileSync(join(ROOT, 'web', f), join(out, f));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildWeb();

/**
 * Bundles the `sealdrop` command into one file, dist/bundle/sealdrop.js (run by `npm run build`;
 * bin/sealdrop.js starts it). Node spends most of a short command's start resolving, reading and
 * compiling the ~260 modules of the CLI and its dependencies one by one; one file read and compiled
 * once starts in about a third of the CPU time (measured with `sealdrop fingerprint`, bench/README.md).
 * The same tsc output is bundled: nothing is compiled differently. Native modules stay outside and
 * load from node_modules as before; CommonJS dependencies get a real `require` from the banner.
 * The file sits two folders below the checkout, as dist/peer/cli.js does, so the paths the CLI
 * finds from its own location (package.json) are the same.
 */
import { build } from 'esbuild';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './build-web.js';

export const CLI_BUNDLE = join(ROOT, 'dist/bundle/sealdrop.js');

export async function buildCli(): Promise<void> {
  await build({
    entryPoints: [join(ROOT, 'dist/peer/cli.js')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: CLI_BUNDLE,
    external: ['@roamhq/wrtc', 'bufferutil', 'utf-8-validate'],
    banner: { js: "import { createRequire as __sealdropRequire } from 'node:module'; const require = __sealdropRequire(import.meta.url);" },
    legalComments: 'none',
    logLevel: 'warning',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildCli();

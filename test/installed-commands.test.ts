/**
 * The two commands as npm installs them (package.json "bin"): run straight from
 * a shell, through a symlink like node_modules/.bin, each starts node with
 * exactly the flags of shared/node-flags.ts and works.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { NODE_FLAGS } from '../shared/node-flags.js';
import { ROOT, tempDir } from './helpers/cli.js';

const pkg = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };

/** Runs `file` directly, with a preload that reports the node flags it got. */
async function runDirect(file: string, args: string[]): Promise<{ code: number | null; out: string; flags: string[] }> {
  const dir = await tempDir();
  const hook = path.join(dir, 'report-flags.mjs');
  const report = path.join(dir, 'flags.json');
  await fs.writeFile(hook, `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(report)}, JSON.stringify(process.execArgv));\n`);
  const child = spawn(file, args, { env: { ...process.env, NODE_OPTIONS: `--import ${hook}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const flags = JSON.parse(await fs.readFile(report, 'utf8').catch(() => '[]')) as string[];
  return { code, out, flags };
}

describe('installed commands', () => {
  for (const [name, file] of Object.entries(pkg.bin)) {
    it(`${name} runs from a shell through a symlink, under node with the flags of shared/node-flags.ts`, async () => {
      const link = path.join(await tempDir(), name);
      await fs.symlink(path.join(ROOT, file), link);
      const run = await runDirect(link, ['--help']);
      expect(run.code, run.out).to.equal(0);
      expect(run.out).to.match(new RegExp(`Usage: ${name} `));
      expect(run.flags).to.deep.equal([...NODE_FLAGS]); // execArgv: the command line's flags, not NODE_OPTIONS
    });
  }
});

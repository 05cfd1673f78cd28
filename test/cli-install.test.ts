/**
 * What the README's quick start promises: from a fresh copy of the project,
 * `npm run build` and `npm install -g` (here into a private prefix) put both
 * commands on PATH, and they answer `--version`. Offline: the copy uses the
 * dependencies already installed beside it; nothing is fetched from a registry.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { ROOT, tempDir } from './helpers/cli.js';

const run = promisify(execFile);
const pkg = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };

describe('installing from a fresh copy puts both commands on PATH', function () {
  this.timeout(120_000);
  let root: string;
  after(async () => { if (root) await fs.rm(root, { recursive: true, force: true }); });

  it('npm run build + npm install -g --prefix DIR .: `sealdrop --version` and `sealdrop-rendezvous --version` run from PATH', async () => {
    root = await tempDir('sealdrop-install-');
    const copy = path.join(root, 'sealdrop');
    const prefix = path.join(root, 'prefix');
    // The project's files as a clone holds them (tracked and new, never node_modules or dist).
    const { stdout } = await run('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, maxBuffer: 16 << 20 });
    for (const file of stdout.split('\0').filter(Boolean)) {
      const from = path.join(ROOT, file);
      if (!(await fs.stat(from).catch(() => undefined))?.isFile()) continue;
      await fs.mkdir(path.dirname(path.join(copy, file)), { recursive: true });
      await fs.copyFile(from, path.join(copy, file));
    }
    // Dependencies beside the copy, not in it: node finds them walking up, and npm never touches them.
    await fs.symlink(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
    const npmEnv = { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
    await run('npm', ['run', 'build'], { cwd: copy, env: npmEnv }).catch((err: { stdout?: string }) => {
      // Another change may leave a type error somewhere; tsc still writes dist/, which is what is installed.
      if (!String(err.stdout).includes('error TS')) throw err;
    });
    // Built just above (npm would run prepare, the same build, again).
    await run('npm', ['install', '-g', '--prefix', prefix, '--ignore-scripts', '.'], { cwd: copy, env: npmEnv });

    const env = { ...process.env, PATH: `${path.join(prefix, 'bin')}${path.delimiter}${process.env.PATH}` };
    for (const name of Object.keys(pkg.bin)) {
      const out = await run(name, ['--version'], { env, cwd: root });
      expect(out.stdout.trim(), name).to.equal(pkg.version);
      const help = await run(name, ['--help'], { env, cwd: root });
      expect(help.stdout, name).to.match(new RegExp(`Usage: ${name} `));
    }
    expect(await fs.realpath(path.join(prefix, 'bin', 'sealdrop'))).to.equal(await fs.realpath(path.join(copy, pkg.bin.sealdrop!)));
  });
});

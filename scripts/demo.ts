/**
 * `npm run demo`: the whole product on one machine, on embedded defaults. Starts
 * a rendezvous on a free local port, enrolls alice and bob in temporary homes,
 * and sends a sample file from alice to bob with the real CLI; then cleans up.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import chalk from 'chalk';
import { createRendezvous, silentLogger } from '../rendezvous/index.js';
import { NODE_FLAGS } from '../shared/node-flags.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../bin/sealdrop.js');
const SAMPLE_BYTES = 48 * 1024 * 1024;

const step = (text: string) => process.stdout.write(`${chalk.bold.cyan('demo')} ${text}\n`);

function sealdrop(home: string, args: string[], stdio: 'inherit' | 'pipe' = 'pipe'): Promise<{ code: number; out: string }> {
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, '--home', home, ...args], { stdio: ['ignore', 'pipe', stdio === 'inherit' ? 'inherit' : 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; if (stdio === 'inherit') process.stdout.write(d); });
  child.stderr?.on('data', (d) => { out += d; });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code: code ?? 1, out })));
}

async function main(): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'sealdrop-demo-'));
  const rv = createRendezvous({ dataDir: path.join(root, 'rendezvous'), logger: silentLogger });
  try {
    const url = await rv.listen(0, '127.0.0.1');
    step(`rendezvous listening on ${url} (no ICE servers: nothing leaves this machine)`);
    const homes: Record<string, string> = {};
    for (const id of ['alice', 'bob']) {
      const { secret } = rv.accounts.enroll(id);
      homes[id] = path.join(root, id);
      const login = await sealdrop(homes[id]!, ['login', '--server', url, '--id', id, '--secret', secret]);
      if (login.code !== 0) throw new Error(`login failed: ${login.out}`);
      step(`enrolled ${chalk.bold(id)} with a fresh TOTP secret and logged in (home ${homes[id]})`);
    }
    const sample = path.join(root, 'sample.bin');
    const content = randomBytes(SAMPLE_BYTES);
    await fs.writeFile(sample, content);
    const sha = createHash('sha256').update(content).digest('hex');
    step(`made ${SAMPLE_BYTES / 1024 / 1024} MiB of random data, sha256 ${sha.slice(0, 16)}…`);

    const inbox = path.join(root, 'bob-inbox');
    await fs.mkdir(inbox);
    step(`bob: sealdrop receive --dir ${inbox} --yes --once`);
    const receiver = spawn(process.execPath, [...NODE_FLAGS, CLI, '--home', homes.bob!, '--json', 'receive', '--dir', inbox, '--yes', '--once'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let receiverOut = '';
    receiver.stdout.on('data', (d) => { receiverOut += d; });
    const receiverExit = new Promise<number>((resolve) => receiver.on('exit', (c) => resolve(c ?? 1)));
    for (let i = 0; i < 100 && !receiverOut.includes('"ready"'); i++) await new Promise((r) => setTimeout(r, 50));

    step('alice: sealdrop send sample.bin --to bob');
    const sent = await sealdrop(homes.alice!, ['send', sample, '--to', 'bob'], 'inherit');
    const got = await receiverExit;
    if (sent.code !== 0 || got !== 0) throw new Error(`transfer failed (sender ${sent.code}, receiver ${got}): ${receiverOut}`);
    const arrived = createHash('sha256').update(await fs.readFile(path.join(inbox, 'sample.bin'))).digest('hex');
    if (arrived !== sha) throw new Error('the received file differs');
    step(chalk.green(`bob has sample.bin, sha256 verified (${arrived.slice(0, 16)}…)`));
  } finally {
    await rv.close();
    await fs.rm(root, { recursive: true, force: true });
    step('cleaned up');
  }
}

main().catch((err) => {
  process.stderr.write(`${chalk.red('demo failed:')} ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

/**
 * The harness's small world: a data folder with enrolled accounts, a spawned
 * `sealdrop-rendezvous serve` (fresh per measurement, so its peak RSS belongs to
 * that measurement), and peers run through the real `sealdrop` CLI.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeAccounts } from './accounts-file.js';
import { PEER_CLI, RENDEZVOUS_CLI, spawnNode, stop, tempDir, type Proc } from './measure.js';

export interface Rendezvous { proc: Proc; url: string }

export async function startRendezvous(dataDir: string, nodeArgs: string[] = [], serveArgs: string[] = [], netns?: string): Promise<Rendezvous> {
  const proc = spawnNode(RENDEZVOUS_CLI, ['serve', '--port', '0', '--data', dataDir, ...serveArgs], { nodeArgs, netns });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const m = /listening on (\S+)/.exec(proc.stdout());
    if (m) return { proc, url: m[1]! };
    if (proc.child.exitCode !== null || Date.now() > deadline) {
      await stop(proc, 'SIGKILL');
      throw new Error(`the rendezvous did not start: ${proc.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export class BenchWorld {
  private constructor(readonly root: string, readonly dataDir: string, private readonly secrets: Record<string, string>) {}

  static async create(ids: string[]): Promise<BenchWorld> {
    const root = await tempDir('sealdrop-bench-world-');
    const dataDir = path.join(root, 'rendezvous');
    return new BenchWorld(root, dataDir, await writeAccounts(dataDir, ids));
  }

  /** The account's TOTP secret: for a login that is not a CLI's (the browser page, bench/browser.ts). */
  secret(id: string): string {
    return this.secrets[id]!;
  }

  home(id: string): string {
    return path.join(this.root, `home-${id}`);
  }

  /** `sealdrop --home H [--server URL] --id ID --json ...args`, the secret from the environment. */
  peer(url: string | undefined, id: string, args: string[], nodeArgs: string[] = [], netns?: string): Proc {
    return spawnNode(PEER_CLI, ['--home', this.home(id), ...(url ? ['--server', url] : []), '--id', id, '--json', ...args], {
      env: { SEALDROP_TOTP_SECRET: this.secrets[id]! }, nodeArgs, netns,
    });
  }

  async dispose(): Promise<void> {
    await fs.rm(this.root, { recursive: true, force: true });
  }
}

/**
 * A small world for end-to-end tests: a spawned `sealdrop-rendezvous serve` on
 * port 0 with enrolled accounts, and a logged-in home folder per peer.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PEER_CLI, RENDEZVOUS_CLI, spawnCli, tempDir, type Run } from './cli.js';

export interface World {
  url: string;
  dataDir: string;
  /** The running rendezvous; a test that restarts it puts the new one here. */
  server: Run;
  homes: Record<string, string>;
  secrets: Record<string, string>;
  /** Runs `sealdrop --home <home of id> --json ...args`. */
  peer: (id: string, args: string[], env?: Record<string, string>, o?: { stdin?: boolean }) => Run;
  stop: () => Promise<void>;
}

export async function enroll(dataDir: string, id: string): Promise<string> {
  const run = spawnCli(RENDEZVOUS_CLI, ['enroll', id, '--data', dataDir, '--json']);
  const code = await run.exit;
  if (code !== 0) throw new Error(`enroll ${id} failed: ${run.stderr()}`);
  return JSON.parse(run.stdout().trim()).secret;
}

export async function startServer(dataDir: string, extra: string[] = []): Promise<{ server: Run; url: string }> {
  const server = spawnCli(RENDEZVOUS_CLI, ['serve', '--port', '0', '--data', dataDir, ...extra]);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rendezvous did not start: ${server.stderr()}`)), 10_000);
    const check = setInterval(() => {
      const m = /listening on (\S+)/.exec(server.stdout());
      if (m) { clearInterval(check); clearTimeout(timer); resolve(m[1]!); }
    }, 20);
    server.exit.then((c) => { clearInterval(check); clearTimeout(timer); reject(new Error(`rendezvous exited ${c}: ${server.stderr()}`)); });
  });
  return { server, url };
}

export async function startWorld(ids: string[], serveArgs: string[] = []): Promise<World> {
  const root = await tempDir('sealdrop-world-');
  const dataDir = path.join(root, 'rendezvous');
  const secrets: Record<string, string> = {};
  for (const id of ids) secrets[id] = await enroll(dataDir, id);
  const { server, url } = await startServer(dataDir, serveArgs);
  const homes: Record<string, string> = {};
  const running = new Set<Run>();
  const peer = (id: string, args: string[], env: Record<string, string> = {}, o: { stdin?: boolean } = {}) => {
    const run = spawnCli(PEER_CLI, ['--home', homes[id]!, '--json', ...args], env, o);
    running.add(run);
    run.exit.then(() => running.delete(run));
    return run;
  };
  for (const id of ids) {
    homes[id] = path.join(root, `home-${id}`);
    const login = peer(id, ['login', '--server', url, '--id', id, '--secret', secrets[id]!]);
    if ((await login.exit) !== 0) throw new Error(`login ${id} failed: ${login.stderr()}`);
  }
  const world: World = {
    url, dataDir, server, homes, secrets, peer,
    stop: async () => {
      for (const run of running) run.child.kill('SIGKILL');
      // `world.server`, not the first one: a test may have restarted it.
      world.server.child.kill('SIGTERM');
      await world.server.exit;
      await fs.rm(root, { recursive: true, force: true });
    },
  };
  return world;
}

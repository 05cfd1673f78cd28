/**
 * A real redis-server (Debian's package) for cluster tests: on a free loopback port,
 * in a temp folder, without persistence unless a stop asks for it, stopped after.
 * No mock: the nodes under test talk to this process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const REDIS_SERVER = '/usr/bin/redis-server';

export function redisAvailable(): boolean {
  return existsSync(REDIS_SERVER);
}

/** A port that was free a moment ago (redis-server cannot take port 0 and tell us which it got). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export class TestRedis {
  private child: ChildProcess | undefined;
  private constructor(readonly port: number, readonly dir: string) {}

  static async start(): Promise<TestRedis> {
    const redis = new TestRedis(await freePort(), mkdtempSync(join(tmpdir(), 'sealdrop-redis-')));
    await redis.run();
    return redis;
  }

  get url(): string { return `redis://127.0.0.1:${this.port}`; }

  /** A plain client for the test itself (inspecting or corrupting keys); the caller closes it. */
  client(): Redis {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
    client.on('error', () => {}); // a test that stops the server sees the refusals in its own checks
    return client;
  }

  /** Stops the server; with `save`, its data is written first and comes back on restart(). */
  async stop(opts: { save?: boolean } = {}): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = new Promise((r) => child.once('exit', r));
    if (opts.save) {
      const c = this.client();
      await c.call('SHUTDOWN', 'SAVE').catch(() => undefined); // the connection ends with the server
      c.disconnect();
    } else {
      child.kill('SIGKILL');
    }
    await exited;
  }

  /** Starts it again on the same port (and folder: a saved dump is loaded). */
  async restart(): Promise<void> {
    await this.run();
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async run(): Promise<void> {
    const child = spawn(REDIS_SERVER, [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--save', '', '--appendonly', 'no', '--protected-mode', 'yes',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
      child.stdout!.on('data', (d) => {
        out += d;
        if (/Ready to accept connections/.test(out)) { clearTimeout(timer); resolve(); }
      });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited ${code}: ${out}`)); });
    });
    child.removeAllListeners('exit');
  }
}

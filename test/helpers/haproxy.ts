/**
 * A real haproxy (Debian's package) in front of cluster nodes for tests: HTTP mode
 * (WebSocket upgrades pass through as tunnels; X-Forwarded-For for the nodes'
 * --trust-proxy), round-robin, health-checked on /readyz, on a free loopback port, in
 * the foreground (-db) so the test owns the process; stop() ends it and removes its folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis.js';

export const HAPROXY = '/usr/sbin/haproxy';

export function haproxyAvailable(): boolean {
  return existsSync(HAPROXY);
}

/** The config the tests use, and docs/OPERATING.md shows: any node may take any connection, no stickiness. */
export function haproxyConfig(port: number, nodes: Array<{ host: string; port: number }>): string {
  return [
    'global',
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  option forwardfor',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout tunnel 1h',
    '  retries 3',
    '  option redispatch',
    'frontend rendezvous',
    `  bind 127.0.0.1:${port}`,
    '  default_backend nodes',
    'backend nodes',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    ...nodes.map((n, i) => `  server node${i} ${n.host}:${n.port} check inter 500 fall 2 rise 1`),
    '',
  ].join('\n');
}

export class TestHaproxy {
  private exited: Promise<void>;
  private constructor(private readonly child: ChildProcess, readonly port: number, private readonly dir: string, private readonly output: () => string) {
    this.exited = new Promise((r) => child.once('exit', () => r()));
  }

  /** Starts haproxy before `urls` (http://127.0.0.1:PORT) and resolves once it accepts connections. */
  static async start(urls: string[]): Promise<TestHaproxy> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'sealdrop-haproxy-'));
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(port, urls.map((u) => { const { hostname, port: p } = new URL(u); return { host: hostname, port: Number(p) }; })));
    const child = spawn(HAPROXY, ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { out += d; });
    const proxy = new TestHaproxy(child, port, dir, () => out);
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await proxy.stop();
        throw new Error(`haproxy did not start: ${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return proxy;
  }

  get url(): string { return `http://127.0.0.1:${this.port}`; }

  get log(): string { return this.output(); }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

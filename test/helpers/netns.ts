/**
 * Separate hosts for multi-host tests: Linux network namespaces joined by veth
 * pairs, with the rendezvous on its own host between two peers.
 *
 *   a: eth0 10.231.1.2 ─── 10.231.1.1 to-a ┐
 *                                          rv (the rendezvous)
 *   b: eth0 10.231.2.2 ─── 10.231.2.1 to-b ┘
 *
 * Isolated: rv does not forward and a, b know only their own link, so A and B
 * can reach rv but not each other. Routed: rv forwards and a, b route the other
 * link through it. The addresses exist only inside these namespaces; none has a
 * route anywhere else, so nothing can leave the machine.
 */
import { execFileSync, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PEER_CLI, RENDEZVOUS_CLI, tempDir, type Run } from './cli.js';
import { enroll } from './world.js';

/** Names carry this prefix and the test's pid, so parallel runs never collide and leftovers can be told apart. */
const PREFIX = 'sdt-';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why namespaces cannot be built here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root (run the suite as root, as CI does)';
  const probe = `${PREFIX}${process.pid}-probe`;
  try {
    ip('netns', 'add', probe);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    return e.code === 'ENOENT' ? 'the `ip` command (iproute2) is not installed' : `\`ip netns add\` failed: ${String(e.stderr ?? e.message).trim()}`;
  }
  ip('netns', 'del', probe);
  return undefined;
}

/** Deletes namespaces left by runs of this helper whose process is gone (a crashed or killed test). */
function sweepLeftovers(): void {
  for (const line of ip('netns', 'list').split('\n')) {
    const m = new RegExp(`^(${PREFIX}(\\d+)-\\S+)`).exec(line);
    if (!m || Number(m[2]) === process.pid) continue;
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      try { ip('netns', 'del', m[1]!); } catch { /* someone else got there first */ }
    }
  }
}

export interface Hosts {
  rv: string;
  a: string;
  b: string;
  /** The rendezvous host's address as seen from each peer host. */
  rvAddress: { a: string; b: string };
  peerAddress: { a: string; b: string };
  destroy(): void;
}

export function createHosts(tag: string, opts: { routed: boolean }): Hosts {
  sweepLeftovers();
  const name = (host: string) => `${PREFIX}${process.pid}-${tag}-${host}`;
  const hosts: Hosts = {
    rv: name('rv'), a: name('a'), b: name('b'),
    rvAddress: { a: '10.231.1.1', b: '10.231.2.1' },
    peerAddress: { a: '10.231.1.2', b: '10.231.2.2' },
    destroy: () => {
      for (const ns of [hosts.rv, hosts.a, hosts.b]) {
        try { ip('netns', 'del', ns); } catch { /* never created */ }
      }
    },
  };
  try {
    for (const ns of [hosts.rv, hosts.a, hosts.b]) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    for (const side of ['a', 'b'] as const) {
      const n = side === 'a' ? 1 : 2;
      ip('-n', hosts.rv, 'link', 'add', `to-${side}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', hosts[side]);
      ip('-n', hosts.rv, 'addr', 'add', `10.231.${n}.1/24`, 'dev', `to-${side}`);
      ip('-n', hosts.rv, 'link', 'set', `to-${side}`, 'up');
      ip('-n', hosts[side], 'addr', 'add', `10.231.${n}.2/24`, 'dev', 'eth0');
      ip('-n', hosts[side], 'link', 'set', 'eth0', 'up');
    }
    if (opts.routed) {
      execFileSync('ip', ['netns', 'exec', hosts.rv, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      ip('-n', hosts.a, 'route', 'add', '10.231.2.0/24', 'via', '10.231.1.1');
      ip('-n', hosts.b, 'route', 'add', '10.231.1.0/24', 'via', '10.231.2.1');
    }
  } catch (err) {
    hosts.destroy();
    throw err;
  }
  return hosts;
}

/**
 * Turns the rendezvous host's forwarding off or on (routed hosts): off, A and B still reach
 * the rendezvous but no longer each other, so a direct path breaks and the relay stays.
 */
export function setForwarding(hosts: Hosts, on: boolean): void {
  execFileSync('ip', ['netns', 'exec', hosts.rv, 'sysctl', '-qw', `net.ipv4.ip_forward=${on ? 1 : 0}`]);
}

/** Whether `from` has any route to `to` (without sending a packet). */
export function hasRoute(ns: string, to: string): boolean {
  try {
    ip('-n', ns, 'route', 'get', to);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `node cli args` inside a namespace. `ip netns exec` execs in place, so the
 * child's pid is node's own (signals reach it directly). Same shape as spawnCli.
 */
export function spawnIn(ns: string, cli: string, args: string[], env: Record<string, string> = {}): Run {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, cli, ...args], {
    env: { ...process.env, SEALDROP_LOG: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '', err = '', partial = '';
  const events: Array<Record<string, any>> = [];
  const watchers: Array<() => boolean> = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      try { events.push(JSON.parse(line)); } catch { /* not JSON */ }
    }
    for (let i = watchers.length - 1; i >= 0; i--) if (watchers[i]!()) watchers.splice(i, 1);
  });
  child.stderr!.on('data', (d: Buffer) => { err += d; });
  const exit = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  const waitFor = (type: string, timeoutMs = 20_000) => new Promise<Record<string, any>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${type}" event within ${timeoutMs} ms in ${ns}; stdout=${out} stderr=${err}`)), timeoutMs);
    const check = () => {
      const ev = events.find((e) => e.type === type);
      if (ev) { clearTimeout(timer); resolve(ev); }
      return ev !== undefined;
    };
    if (check()) return;
    watchers.push(check);
    void exit.then(() => setTimeout(() => { if (!check()) { clearTimeout(timer); reject(new Error(`exited before "${type}" in ${ns}; stdout=${out} stderr=${err}`)); } }, 50));
  });
  return { child, events, stdout: () => out, stderr: () => err, exit, waitFor };
}

export interface NetWorld {
  hosts: Hosts;
  server: Run;
  /** Runs `sealdrop --home <home> --json ...args` on the peer's own host: alice on a, bob on b. */
  peer: (id: 'alice' | 'bob', args: string[]) => Run;
  stop: () => Promise<void>;
}

/**
 * The rendezvous on rv (listening on every address of rv), alice logged in from
 * host a and bob from host b, each through the address of rv on its own link.
 */
export async function startNetWorld(tag: string, opts: { routed: boolean; serveArgs?: string[] }): Promise<NetWorld> {
  const hosts = createHosts(tag, opts);
  const root = await tempDir('sealdrop-netns-');
  const running = new Set<Run>();
  const track = (run: Run) => { running.add(run); void run.exit.then(() => running.delete(run)); return run; };
  const stop = async () => {
    for (const run of running) run.child.kill('SIGKILL');
    await Promise.all([...running].map((r) => r.exit));
    hosts.destroy();
    await fs.rm(root, { recursive: true, force: true });
  };
  try {
    const dataDir = path.join(root, 'rendezvous');
    const secrets = { alice: await enroll(dataDir, 'alice'), bob: await enroll(dataDir, 'bob') };
    const server = track(spawnIn(hosts.rv, RENDEZVOUS_CLI, ['serve', '--host', '0.0.0.0', '--port', '0', '--data', dataDir, ...(opts.serveArgs ?? [])]));
    const port = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`rendezvous did not start in ${hosts.rv}: ${server.stderr()}`)), 10_000);
      server.child.stdout!.on('data', () => {
        const m = /listening on \S+:(\d+)\n/.exec(server.stdout());
        if (m) { clearTimeout(timer); resolve(m[1]!); }
      });
      void server.exit.then((c) => { clearTimeout(timer); reject(new Error(`rendezvous exited ${c}: ${server.stderr()}`)); });
    });
    const hostOf = { alice: 'a', bob: 'b' } as const;
    const home = (id: 'alice' | 'bob') => path.join(root, `home-${id}`);
    const peer = (id: 'alice' | 'bob', args: string[]) => track(spawnIn(hosts[hostOf[id]], PEER_CLI, ['--home', home(id), '--json', ...args]));
    await Promise.all((['alice', 'bob'] as const).map(async (id) => {
      const url = `http://${hosts.rvAddress[hostOf[id]]}:${port}`;
      const login = peer(id, ['login', '--server', url, '--id', id, '--secret', secrets[id]]);
      if ((await login.exit) !== 0) throw new Error(`login ${id} from ${hosts[hostOf[id]]} to ${url} failed: ${login.stderr()}`);
    }));
    return { hosts, server, peer, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Two peer hosts and a router for the switched-paths measurement: Linux network
 * namespaces joined by veth pairs (as test/helpers/netns.ts builds them for the tests),
 * the rendezvous on the router. With forwarding off the peers reach the rendezvous but
 * not each other, so a transfer starts on the relay; turned on, the direct path opens.
 *
 *   a: 10.232.1.2 ─── 10.232.1.1 ┐ rv ┌ 10.232.2.1 ─── 10.232.2.2 :b
 *
 * The addresses exist only inside these namespaces; nothing can leave the machine.
 * Needs root (inside the harness's own namespace, as `unshare -n` gives it).
 */
import { execFileSync } from 'node:child_process';

const PREFIX = 'sdb-';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface BenchHosts {
  rv: string; a: string; b: string;
  /** The router's address on each peer's link (where that peer finds the rendezvous). */
  rvAddress: { a: string; b: string };
  forwarding(on: boolean): void;
  destroy(): void;
}

/** Why the hosts cannot be built here, or undefined when they can. */
export function hostsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces for two hosts need root';
  const probe = `${PREFIX}${process.pid}-probe`;
  try { ip('netns', 'add', probe); } catch (err) { return `\`ip netns add\` failed: ${String((err as { stderr?: string }).stderr ?? err).trim()}`; }
  ip('netns', 'del', probe);
  return undefined;
}

export function createBenchHosts(): BenchHosts {
  const name = (h: string) => `${PREFIX}${process.pid}-${h}`;
  const hosts: BenchHosts = {
    rv: name('rv'), a: name('a'), b: name('b'),
    rvAddress: { a: '10.232.1.1', b: '10.232.2.1' },
    forwarding: (on) => { execFileSync('ip', ['netns', 'exec', hosts.rv, 'sysctl', '-qw', `net.ipv4.ip_forward=${on ? 1 : 0}`]); },
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
    for (const [side, n] of [['a', 1], ['b', 2]] as const) {
      ip('-n', hosts.rv, 'link', 'add', `to-${side}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', hosts[side]);
      ip('-n', hosts.rv, 'addr', 'add', `10.232.${n}.1/24`, 'dev', `to-${side}`);
      ip('-n', hosts.rv, 'link', 'set', `to-${side}`, 'up');
      ip('-n', hosts[side], 'addr', 'add', `10.232.${n}.2/24`, 'dev', 'eth0');
      ip('-n', hosts[side], 'link', 'set', 'eth0', 'up');
    }
    ip('-n', hosts.a, 'route', 'add', '10.232.2.0/24', 'via', '10.232.1.1');
    ip('-n', hosts.b, 'route', 'add', '10.232.1.0/24', 'via', '10.232.2.1');
    hosts.forwarding(false);
  } catch (err) {
    hosts.destroy();
    throw err;
  }
  return hosts;
}

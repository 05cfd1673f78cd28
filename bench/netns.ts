/**
 * Runs the harness inside a private network namespace with only loopback, as
 * test/run.sh does for the tests, so nothing can reach another host: root gets
 * `unshare -n`, others a user namespace (`unshare -rn`). The re-exec shell brings
 * `lo` up and raises the open-file limit for the load test's 10,000 sockets.
 */
import { spawnSync } from 'node:child_process';

const ENV = 'SEALDROP_BENCH_NETNS';
const VETH_ENV = 'SEALDROP_BENCH_VETH';

/** True inside the namespace when it has an address beside loopback (see enterNamespace). */
export const hasNonLoopbackAddress = (): boolean => process.env[VETH_ENV] === '1';
const OPEN_FILES = 65536;

export type Isolation = 'unshare -n' | 'unshare -rn' | 'none';

/** In the namespace: which kind. Outside: re-executes this process inside one and exits with its status. */
export function enterNamespace(): Isolation {
  const inside = process.env[ENV];
  if (inside) return inside as Isolation;
  const root = process.getuid?.() === 0;
  const tries: Array<[Isolation, string[]]> = [];
  if (root) tries.push(['unshare -n', ['-n']]);
  tries.push(['unshare -rn', ['-rn']]);
  for (const [kind, flags] of tries) {
    if (spawnSync('unshare', [...flags, 'true']).status !== 0) continue;
    // A veth pair inside the namespace gives libdatachannel (node-datachannel, compared in the
    // direct ceiling) an address to gather: it skips loopback. Without veth it is not measured.
    const veth = `ip link add sdbench0 type veth peer name sdbench1 2>/dev/null && ip addr add 10.201.0.1/24 dev sdbench0 && ip link set sdbench0 up && ip link set sdbench1 up && export ${VETH_ENV}=1`;
    const script = `ulimit -n ${OPEN_FILES} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ip link set lo up && { ${veth} || true; } && exec "$@"`;
    const run = spawnSync('unshare', [...flags, 'bash', '-c', script, 'bash', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit', env: { ...process.env, [ENV]: kind },
    });
    process.exit(run.status ?? 1);
  }
  process.stderr.write('SKIP network isolation: this system does not allow network namespaces; the benchmark uses loopback only (no ICE servers)\n');
  process.env[ENV] = 'none';
  return 'none';
}

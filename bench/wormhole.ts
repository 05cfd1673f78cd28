/**
 * magic-wormhole beside sealdrop, on the same loopback namespace and the same file:
 * Debian's `wormhole` CLI (magic-wormhole), a mailbox server and a transit relay
 * (`twist3 wormhole-mailbox`, `twist3 transitrelay`), all started here on 127.0.0.1.
 *
 * Nothing is installed: `available()` says whether the three packages are there
 * (magic-wormhole, python3-magic-wormhole-mailbox-server, magic-wormhole-transit-relay);
 * without them the run measures sealdrop alone and says so.
 *
 * "direct" lets both sides listen (wormhole connects straight over TCP on loopback);
 * "relay" passes `--no-listen` to both, so the bytes go through the transit relay.
 * Each run is timed from the spawn of both sides to the exit of both, and the file is
 * compared afterwards. It is wormhole's whole wall time, as sealdrop's end-to-end time is.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { now, tempDir, track } from './measure.js';
import { mbps } from './stats.js';
import type { Path } from './transfer.js';

const HOST = '127.0.0.1';

/** True when Debian's three packages are installed (wormhole, its mailbox server and transit relay). */
export function available(): boolean {
  const ok = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 }).status === 0;
  return ok('wormhole', ['--version']) && ok('twist3', ['wormhole-mailbox', '--help']) && ok('twist3', ['transitrelay', '--help']);
}

export interface WormholeRun { path: Path; bytes: number; wallMs: number; mbps: number }

export class WormholeServers {
  private constructor(private readonly procs: ChildProcess[], readonly relayUrl: string, readonly transit: string, private readonly dir: string) {}

  static async start(): Promise<WormholeServers> {
    const dir = await tempDir('sealdrop-bench-wormhole-');
    const [mailboxPort, transitPort] = [await freePort(), await freePort()];
    const procs = [
      track(spawn('twist3', ['wormhole-mailbox', `--port=tcp:${mailboxPort}:interface=${HOST}`, `--channel-db=${path.join(dir, 'channel.sqlite')}`], { stdio: 'ignore', cwd: dir })),
      track(spawn('twist3', ['transitrelay', `--port=tcp:${transitPort}:interface=${HOST}`], { stdio: 'ignore', cwd: dir })),
    ];
    const servers = new WormholeServers(procs, `ws://${HOST}:${mailboxPort}/v1`, `tcp:${HOST}:${transitPort}`, dir);
    try {
      await Promise.all([listening(mailboxPort), listening(transitPort)]);
    } catch (err) {
      await servers.stop();
      throw err;
    }
    return servers;
  }

  /** One `wormhole send` → `wormhole receive` of `file`; throws unless the received copy is identical. */
  async transfer(file: string, bytes: number, p: Path, run: number): Promise<WormholeRun> {
    const out = await tempDir('sealdrop-bench-wormhole-inbox-');
    const code = `${1000 + run}-sealdrop-bench`;
    const common = ['--relay-url', this.relayUrl, '--transit-helper', this.transit];
    const listen = p === 'relay' ? ['--no-listen'] : [];
    try {
      const started = now();
      const receiver = wormhole([...common, 'receive', '--hide-progress', '--accept-file', ...listen, code], out);
      const sender = wormhole([...common, 'send', '--hide-progress', ...listen, '--code', code, file], path.dirname(file));
      const timeout = 60_000 + (bytes / 5e6) * 1000;
      const timer = setTimeout(() => { receiver.child.kill('SIGKILL'); sender.child.kill('SIGKILL'); }, timeout);
      const [sent, got] = await Promise.all([sender.exit, receiver.exit]);
      clearTimeout(timer);
      const wallMs = now() - started;
      if (sent !== 0 || got !== 0) throw new Error(`wormhole ${p} failed (send ${sent}, receive ${got}): ${sender.output()} ${receiver.output()}`);
      const via = /Receiving \(->(\S+)\)/.exec(receiver.output())?.[1] ?? '';
      if ((p === 'relay') !== via.startsWith('relay:')) throw new Error(`wormhole was to go ${p} but went ${via || 'an unknown way'}`);
      const copy = path.join(out, path.basename(file));
      if (!(await sameFile(file, copy))) throw new Error(`wormhole ${p}: the received file differs`);
      return { path: p, bytes, wallMs, mbps: mbps(bytes, wallMs) };
    } finally {
      await fs.rm(out, { recursive: true, force: true });
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    })));
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

function wormhole(args: string[], cwd: string): { child: ChildProcess; exit: Promise<number>; output: () => string } {
  const child = track(spawn('wormhole', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
  let text = '';
  child.stdout!.on('data', (d: Buffer) => { text += d; });
  child.stderr!.on('data', (d: Buffer) => { text += d; });
  const exit = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  return { child, exit, output: () => text.slice(-2000) };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject).listen(0, HOST, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function listening(port: number, ms = 20_000): Promise<void> {
  for (const until = Date.now() + ms; ;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, HOST).once('connect', () => { s.destroy(); resolve(true); }).once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`a wormhole server did not listen on ${HOST}:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const [fa, fb] = await Promise.all([fs.open(a), fs.open(b)]);
  try {
    const [sa, sb] = await Promise.all([fa.stat(), fb.stat()]);
    if (sa.size !== sb.size) return false;
    const [ba, bb] = [Buffer.alloc(4 << 20), Buffer.alloc(4 << 20)];
    for (let at = 0; at < sa.size;) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, ba.length, at), fb.read(bb, 0, bb.length, at)]);
      if (ra.bytesRead !== rb.bytesRead || !ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
      at += ra.bytesRead;
    }
    return true;
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

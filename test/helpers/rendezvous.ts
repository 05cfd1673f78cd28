/**
 * Test helpers: a real rendezvous on port 0 with a temp data folder and enrolled
 * accounts, a controllable clock, and real socket.io clients that log in.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as ioClient, type Socket } from 'socket.io-client';
import { AccountStore } from '../../rendezvous/store/accounts.js';
import { createLogger } from '../../rendezvous/log.js';
import { createRendezvous, type Rendezvous, type RendezvousOptions } from '../../rendezvous/server.js';
import type { ClientToServer, ServerToClient, Welcome } from '../../shared/schemas.js';
import { totpCode } from '../../shared/totp.js';

export type Client = Socket<ServerToClient, ClientToServer>;
/** A client socket without the typed event maps, for sending what a hostile client would. */
export type RawClient = Socket;

/** 15 s into a 30 s TOTP step, so ±few-second moves stay inside the step. */
export const T0 = 1_700_000_025_000;

export class TestClock {
  constructor(public t = T0) {}
  readonly now = (): number => this.t;
  advance(ms: number): void { this.t += ms; }
}

export interface Refused { message: string; code?: string; retryAfter?: number }

export function tempDir(prefix = 'sealdrop-rv-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Connects and resolves once the server's `welcome` arrives; rejects with the connect_error. */
export function connect(url: string, auth: object): Promise<{ socket: Client; welcome: Welcome }> {
  const socket: Client = ioClient(url, { transports: ['websocket'], auth, reconnection: false, forceNew: true, timeout: 5000 });
  return new Promise((resolve, reject) => {
    socket.once('welcome', (welcome) => resolve({ socket, welcome }));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** Expects the login to be refused; resolves to the refusal as the client sees it. */
export async function refusal(url: string, auth: object): Promise<Refused> {
  try {
    const { socket } = await connect(url, auth);
    socket.close();
  } catch (err) {
    const data = (err as { data?: { code?: string; retryAfter?: number } }).data ?? {};
    return { message: (err as Error).message, code: data.code, retryAfter: data.retryAfter };
  }
  throw new Error(`login ${JSON.stringify(auth)} was accepted but should have been refused`);
}

/** Resolves with the next `event` on a socket, or rejects after `ms`. */
export function next<T = unknown>(socket: Client | RawClient, event: string, ms = 2000): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    (socket as RawClient).once(event, (...args: T[]) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

/** Emits with an ack and waits at most `ms` for it. */
export function ask(socket: Client | RawClient, event: string, ...args: unknown[]): Promise<any> {
  return (socket as RawClient).timeout(3000).emitWithAck(event, ...args);
}

export interface TestRendezvous {
  rv: Rendezvous;
  url: string;
  dataDir: string;
  /** A second handle on the same file, as the operator CLI would use it. */
  store: AccountStore;
  secrets: Record<string, string>;
  clock: TestClock;
  /** Everything any client sent, as recorded by the server's inbound hook. */
  inbound: Array<{ event: string; args: unknown[] }>;
  /** Every line the server logged. */
  logs: string[];
  /** Logs in with the current code (or `auth` overrides); the socket is closed by stop(). */
  login(id: string, auth?: object): Promise<{ socket: Client; welcome: Welcome }>;
  code(id: string, offsetMs?: number): string;
  /** Tracks a socket so stop() closes it. */
  track<S extends Client | RawClient>(socket: S): S;
  stop(): Promise<void>;
}

export async function startRendezvous(
  opts: { accounts?: string[] } & Partial<RendezvousOptions> = {},
): Promise<TestRendezvous> {
  const clock = new TestClock();
  const dataDir = tempDir();
  const store = new AccountStore(dataDir, { now: clock.now });
  const secrets: Record<string, string> = {};
  for (const id of opts.accounts ?? []) secrets[id] = store.enroll(id).secret;
  const inbound: TestRendezvous['inbound'] = [];
  const logLines: string[] = [];
  const rv = createRendezvous({
    now: clock.now,
    logger: createLogger({ level: process.env.SEALDROP_TEST_LOG ? 'debug' : 'info', write: (line) => logLines.push(line) }),
    onInbound: (event, args) => inbound.push({ event, args }),
    ...opts,
    dataDir,
  });
  const url = await rv.listen(0, '127.0.0.1');
  const sockets: Array<Client | RawClient> = [];
  const t: TestRendezvous = {
    rv, url, dataDir, store, secrets, clock, inbound, logs: logLines,
    code: (id, offsetMs = 0) => totpCode(secrets[id] ?? store.get(id)!.secret, clock.now() + offsetMs),
    track: (socket) => { sockets.push(socket); return socket; },
    async login(id, auth) {
      const res = await connect(url, { id, code: t.code(id), ...auth });
      sockets.push(res.socket);
      return res;
    },
    async stop() {
      for (const s of sockets) s.close();
      await rv.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (process.env.SEALDROP_TEST_LOG) process.stderr.write(logLines.join('\n') + '\n');
    },
  };
  return t;
}

/** The built operator CLI, run as a user would: `node dist/rendezvous/cli.js …`. */
export const RENDEZVOUS_CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/sealdrop-rendezvous.js');

export interface CliRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Exit code (or the signal's name). */
  exit: Promise<number | string>;
}

export function spawnRendezvousCli(args: string[], env: Record<string, string | undefined> = {}): CliRun {
  const child = spawn(RENDEZVOUS_CLI, args, {
    env: { ...process.env, SEALDROP_RENDEZVOUS_DATA: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exit = new Promise<number | string>((done) => child.on('close', (code, signal) => done(code ?? signal ?? -1)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** Runs the CLI to completion. */
export async function runRendezvousCli(args: string[], env: Record<string, string | undefined> = {}) {
  const run = spawnRendezvousCli(args, env);
  const code = await run.exit;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** Starts `serve` and resolves once it printed its `listening on URL` line. */
export async function startServe(args: string[], env: Record<string, string | undefined> = {}): Promise<{ run: CliRun; url: string }> {
  const run = spawnRendezvousCli(['serve', '--port', '0', ...args], env);
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${run.stderr()}`)), 10_000);
    run.child.stdout!.on('data', () => {
      const m = /^listening on (\S+)\n/.exec(run.stdout());
      if (m) { clearTimeout(timer); resolveUrl(m[1]!); }
    });
    void run.exit.then((code) => { clearTimeout(timer); reject(new Error(`serve exited ${code}: ${run.stderr()}`)); });
  });
  return { run, url };
}

#!/usr/bin/env node
/**
 * sealdrop-rendezvous: the server and its operator commands. Thin on purpose:
 * parse flags, call the library, print, exit. The only place that calls process.exit.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, type Option } from 'commander';
import qrcode from 'qrcode-terminal';
import { DEFAULT_HOST, DEFAULT_PORT } from '../shared/constants.js';
import { SealdropError, toSealdropError } from '../shared/errors.js';
import { describeIssues, IceServers } from '../shared/schemas.js';
import { otpauthUri } from '../shared/totp.js';
import { AccountStore, defaultDataDir } from './store/accounts.js';
import { AccountSeal } from './cluster/account-seal.js';
import { createLogger, silentLogger } from './log.js';
import { RedisAccountStore } from './cluster/redis-accounts.js';
import { RedisLink } from './cluster/redis-link.js';
import { applyConfigFile, type ConfigType } from './serve-config.js';

const PROGRAM = 'sealdrop-rendezvous';
/** Closing (after the drain) that takes longer than this is cut short. */
const SHUTDOWN_MS = 10_000;
/** How long a SIGTERM waits for active relays by default (--drain-timeout). */
const DRAIN_TIMEOUT_S = 30;

function dataDirOf(flag: string | undefined): string {
  return flag ?? process.env.SEALDROP_RENDEZVOUS_DATA ?? defaultDataDir();
}

function count(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number');
  return n;
}

function port(value: string): number {
  const n = count(value);
  if (n > 65535) throw new InvalidArgumentError('a port is 0 to 65535');
  return n;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SealdropError('ERR_CONFIG', `cannot read TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

function parseIceServers(json: string | undefined) {
  if (json === undefined) return [];
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new SealdropError('ERR_CONFIG', '--ice-servers is not valid JSON (expected e.g. [{"urls":"stun:stun.example.org:3478"}])');
  }
  const parsed = IceServers.safeParse(value);
  if (!parsed.success) throw new SealdropError('ERR_CONFIG', `--ice-servers: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

interface ServeFlags {
  host: string; port: number; data?: string; iceServers?: string; tlsCert?: string; tlsKey?: string;
  maxRelaySessions?: number; relayQuota?: number; relayRate?: number; relayStart?: boolean;
  allowOrigin: string[]; trustProxy?: boolean; tokenTtl?: number; maxThrottle?: number;
  accountThrottleAfter?: number; accountLockAfter?: number; accountLock?: number;
  addressThrottleAfter?: number; addressLockAfter?: number; addressLock?: number;
  maxConnectionsPerAddress?: number; maxPendingPerAddress?: number; maxPending?: number; connectTimeout?: number;
  maxRelaySessionsPerAccount?: number; relayIdle?: number; metrics?: boolean; web?: boolean; config?: string;
  drainTimeout: number; redis?: string;
}

/** Loopback only: what a host-local scraper (or an operator's ssh tunnel) can reach. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const seconds = (s: number | undefined) => (s === undefined ? undefined : s * 1000);

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positive(value: string): number {
  const n = count(value);
  if (n === 0) throw new InvalidArgumentError('expected a whole number above 0');
  return n;
}

async function serve(flags: ServeFlags): Promise<void> {
  if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey)) throw new SealdropError('ERR_CONFIG', '--tls-cert and --tls-key go together');
  const { createRendezvous } = await import('./server.js'); // only `serve` needs Socket.IO
  const rendezvous = createRendezvous({
    dataDir: dataDirOf(flags.data),
    redis: flags.redis,
    iceServers: parseIceServers(flags.iceServers),
    // People read a terminal; services and log collectors get one JSON object per line.
    logger: createLogger({ format: process.stderr.isTTY ? 'human' : 'json' }),
    maxRelaySessions: flags.maxRelaySessions,
    relayBytesPerDay: flags.relayQuota,
    relayRateBytesPerSec: flags.relayRate,
    relayStart: flags.relayStart,
    maxRelaySessionsPerAccount: flags.maxRelaySessionsPerAccount,
    relayIdleMs: seconds(flags.relayIdle),
    admission: {
      maxConnectionsPerAddress: flags.maxConnectionsPerAddress, maxPendingPerAddress: flags.maxPendingPerAddress,
      maxPending: flags.maxPending, connectTimeoutMs: seconds(flags.connectTimeout),
    },
    allowOrigins: flags.allowOrigin,
    trustProxy: flags.trustProxy,
    // /metrics tells anyone who can reach it how busy the server is: on by default only where only this host can ask.
    metrics: flags.metrics ?? isLoopback(flags.host),
    // The browser peer needs a secure context (WebCrypto): https, or http on loopback.
    webDir: (flags.web ?? (Boolean(flags.tlsCert) || isLoopback(flags.host))) ? fileURLToPath(new URL('../web', import.meta.url)) : undefined,
    tokenTtlMs: seconds(flags.tokenTtl),
    accountLockout: {
      throttleAfter: flags.accountThrottleAfter, lockAfter: flags.accountLockAfter,
      lockMs: seconds(flags.accountLock), maxThrottleMs: seconds(flags.maxThrottle),
    },
    addressLockout: {
      throttleAfter: flags.addressThrottleAfter, lockAfter: flags.addressLockAfter,
      lockMs: seconds(flags.addressLock), maxThrottleMs: seconds(flags.maxThrottle),
    },
    tlsCert: flags.tlsCert ? readPem(flags.tlsCert, 'certificate') : undefined,
    tlsKey: flags.tlsKey ? readPem(flags.tlsKey, 'key') : undefined,
  });
  const url = await rendezvous.listen(flags.port, flags.host);
  let stopping = false;
  // The first signal drains: no new logins or sessions, peers told, relays given --drain-timeout to finish.
  // A second one exits at once (after writing spent steps and tokens, which takes milliseconds).
  const stop = () => {
    if (stopping) {
      rendezvous.flush();
      fail(new SealdropError('ERR_TIMEOUT', 'stopped by a second signal before the drain ended'));
    }
    stopping = true;
    rendezvous.drain(flags.drainTimeout * 1000)
      .then(() => {
        setTimeout(() => fail(new SealdropError('ERR_TIMEOUT', `did not shut down within ${SHUTDOWN_MS / 1000} s; exiting anyway`)), SHUTDOWN_MS).unref();
        return rendezvous.close();
      })
      .then(() => process.exit(0), (err) => fail(err));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Only now: whoever reads this line may signal at once, and must find the handlers in place.
  process.stdout.write(`listening on ${url}\n`);
}

/** Which data folder, and where that choice came from: a server started with another --data does not know these accounts. */
function dataFolderLine(flag: string | undefined): string {
  const from = flag ? '--data' : process.env.SEALDROP_RENDEZVOUS_DATA ? '$SEALDROP_RENDEZVOUS_DATA' : 'the default; `serve` must use the same folder';
  return `data folder ${dataDirOf(flag)} (${from})`;
}

/**
 * The QR code drawn light modules on a dark ground in explicit colors, so it reads the same on light
 * and dark terminals (uncolored, a light theme inverts it), with a wider light margin for scanners.
 * Uncolored when stdout is no terminal or NO_COLOR is set.
 */
function drawQr(uri: string): void {
  qrcode.generate(uri, { small: true }, (qr) => {
    const rows = qr.replace(/\n+$/, '').split('\n');
    const width = [...rows[0]!].length;
    if (/^▄+$/.test(rows[0]!)) rows[0] = '█'.repeat(width);
    const framed = ['█'.repeat(width), ...rows, '█'.repeat(width)].map((r) => `██${r}██`);
    const colored = process.stdout.isTTY && !process.env.NO_COLOR;
    process.stdout.write(framed.map((r) => (colored ? `\x1b[97;40m${r}\x1b[0m` : r)).join('\n') + '\n');
  });
}

interface AccountFlags { data?: string; json?: boolean; force?: boolean; lockWait: number; redis?: string }

/** With --redis: runs `fn` on the cluster's accounts, then disconnects. */
async function withRedisAccounts<T>(flags: AccountFlags, needsKey: boolean, fn: (store: RedisAccountStore) => Promise<T>): Promise<T> {
  const link = new RedisLink(flags.redis!, silentLogger, undefined, false);
  const seal = needsKey ? AccountSeal.open(dataDirOf(flags.data), true) : undefined;
  await link.connect();
  try {
    return await fn(new RedisAccountStore(link, seal));
  } finally {
    link.close();
  }
}

async function enroll(id: string, flags: AccountFlags): Promise<void> {
  if (flags.redis) new AccountStore(dataDirOf(flags.data)).ensureDir(); // the account key is kept there
  const account = flags.redis
    ? await withRedisAccounts(flags, true, (store) => store.enroll(id, { force: flags.force }))
    : new AccountStore(dataDirOf(flags.data), { lockWaitMs: flags.lockWait * 1000 }).enroll(id, { force: flags.force });
  const uri = otpauthUri(account.id, account.secret);
  if (flags.json) {
    process.stdout.write(JSON.stringify({ id: account.id, secret: account.secret, uri }) + '\n');
    return;
  }
  const where = flags.redis ? `cluster's Redis (the account key is in ${dataDirOf(flags.data)}: every node needs a copy)` : dataFolderLine(flags.data);
  process.stdout.write(`Enrolled ${account.id} in the ${where}.\n\nSecret: ${account.secret}\nURI:    ${uri}\n\n`);
  process.stdout.write('Scan with an authenticator app (or type the URI or secret into it), or give the secret to `sealdrop login --secret`:\n');
  drawQr(uri);
}

async function revoke(id: string, flags: AccountFlags): Promise<void> {
  if (flags.redis) await withRedisAccounts(flags, false, (store) => store.revoke(id));
  else new AccountStore(dataDirOf(flags.data), { lockWaitMs: flags.lockWait * 1000 }).revoke(id);
  process.stdout.write(`Revoked ${id}: it can no longer log in, and its sessions end${flags.redis ? ' on every node' : ''}.\n`);
}

async function list(flags: AccountFlags): Promise<void> {
  const { accounts, malformed } = flags.redis
    ? await withRedisAccounts(flags, false, (store) => store.list())
    : { accounts: new AccountStore(dataDirOf(flags.data)).list(), malformed: 0 };
  if (malformed) process.stderr.write(`${PROGRAM}: ${malformed} malformed account record(s) in Redis left out\n`);
  if (flags.json) {
    process.stdout.write(JSON.stringify(accounts) + '\n');
    return;
  }
  const where = flags.redis ? "cluster's Redis" : dataFolderLine(flags.data);
  // The folder goes to stderr: stdout stays one `ID<TAB>createdAt` line per account.
  if (accounts.length === 0) process.stdout.write(`No accounts in the ${where}. Add one with \`sealdrop-rendezvous enroll ID\`.\n`);
  else process.stderr.write(`${accounts.length} account(s) in the ${where}:\n`);
  for (const a of accounts) process.stdout.write(`${a.id}\t${a.createdAt}\n`);
}

function fail(err: unknown): never {
  const e = toSealdropError(err);
  process.stderr.write(`${PROGRAM}: ${e.message} [${e.code}]\n`);
  process.exit(e.code === 'ERR_BAD_INPUT' || e.code === 'ERR_CONFIG' ? 2 : 1);
}

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const program = new Command(PROGRAM)
  .description('sealdrop rendezvous: TOTP-authenticated introductions, signaling and encrypted relay')
  .version(VERSION, '-V, --version', 'print the version and exit')
  // Bad options exit 2 (docs/OPERATING.md), not commander's 1.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
const dataOption = ['--data <dir>', 'account data folder (env SEALDROP_RENDEZVOUS_DATA)'] as const;
const lockWaitOption = ['--lock-wait <seconds>', 'how long to wait for another command holding the store', count, 10] as const;
const redisOption = ['--redis <url>', 'cluster mode: the accounts are in this Redis, e.g. redis://127.0.0.1:6379 (--data holds the account key)'] as const;

/** What each serve option takes in a --config file (undefined: not a config key), from the option's own parser. */
function configType(option: Option): ConfigType | undefined {
  if (option.long === '--config') return undefined;
  if (option.isBoolean() || option.negate) return 'boolean';
  if (option.long === '--ice-servers') return 'json';
  if (option.parseArg === collect) return 'strings';
  if (option.parseArg === count || option.parseArg === positive || option.parseArg === port) return 'number';
  return 'string';
}

program.command('serve').description('serve until SIGINT/SIGTERM')
  .option('--config <file>', 'a JSON file of serve\'s flags by long name, e.g. {"port": 50000, "trust-proxy": true}; flags given here win')
  .option('--host <host>', 'address to listen on', DEFAULT_HOST)
  .option('--port <port>', 'port to listen on (0: any free port)', port, DEFAULT_PORT)
  .option(...dataOption)
  .option(...redisOption)
  .option('--ice-servers <json>', 'ICE servers handed to peers, as JSON (default: none)')
  .option('--tls-cert <file>', 'PEM certificate: serve https')
  .option('--tls-key <file>', 'PEM private key for --tls-cert')
  .option('--max-relay-sessions <n>', 'sessions relaying at once', count)
  .option('--relay-quota <bytes>', 'relay bytes per account per day', count)
  .option('--relay-rate <bytes>', 'relay bytes per second per session', count)
  .option('--no-relay-start', 'the relay only as a fallback: peers wait for the direct path before the first byte, never start on the relay')
  .option('--max-relay-sessions-per-account <n>', 'relaying sessions one account may be in (default: --max-relay-sessions / 8)', positive)
  .option('--relay-idle <seconds>', 'a relaying session that sends nothing this long gives its slot back (default 30)', positive)
  .option('--max-connections-per-address <n>', 'connections from one client address (default 64)', positive)
  .option('--max-pending-per-address <n>', 'connections from one address not logged in yet (default 8)', positive)
  .option('--max-pending <n>', 'connections not logged in yet, from all addresses (default 256)', positive)
  .option('--connect-timeout <seconds>', 'time a connection has to log in (default 5)', positive)
  .option('--allow-origin <origin>', 'a browser origin allowed to connect, e.g. https://example.org (repeatable; default: none)', collect, [])
  .option('--trust-proxy', 'take the client address from X-Forwarded-For\'s last hop (only behind a reverse proxy)')
  .option('--token-ttl <seconds>', 'session token lifetime (default 3600)', positive)
  .option('--account-throttle-after <n>', 'failed code logins for one account before attempts are spaced out (default 5)', positive)
  .option('--account-lock-after <n>', 'failed code logins for one account before it locks (default 20)', positive)
  .option('--account-lock <seconds>', 'how long an account locks (default 900)', positive)
  .option('--address-throttle-after <n>', 'failed code logins from one address before it is spaced out (default 10)', positive)
  .option('--address-lock-after <n>', 'failed code logins from one address before it locks (default 30)', positive)
  .option('--address-lock <seconds>', 'how long an address locks (default 900)', positive)
  .option('--max-throttle <seconds>', 'longest wait between attempts before a lock (default 60)', positive)
  .option('--drain-timeout <seconds>', `on SIGTERM, how long active relays get to finish before the server exits (default ${DRAIN_TIMEOUT_S})`, count, DRAIN_TIMEOUT_S)
  .option('--metrics', 'serve Prometheus metrics at /metrics (default: on when --host is loopback)')
  .option('--no-metrics', 'do not serve /metrics')
  .option('--web', 'serve the browser peer at / (default: on with TLS or when --host is loopback)')
  .option('--no-web', 'do not serve the browser peer')
  .action((flags: ServeFlags, command: Command) => {
    if (flags.config) applyConfigFile(command, flags.config, configType);
    return serve(command.opts<ServeFlags>());
  });

program.command('enroll').description('create an account with a fresh TOTP secret').argument('<id>')
  .option(...dataOption).option('--json', 'print {"id","secret","uri"} only').option('--force', 'replace an existing account\'s secret')
  .option(...lockWaitOption).option(...redisOption).action(enroll);

program.command('revoke').description('delete an account; it can no longer log in').argument('<id>')
  .option(...dataOption).option(...lockWaitOption).option(...redisOption).action(revoke);

program.command('list').description('list accounts (never their secrets)')
  .option(...dataOption).option('--json', 'print a JSON array of {"id","createdAt"}').option(...redisOption).action(list);

program.parseAsync(process.argv).catch(fail);

#!/usr/bin/env node
/**
 * sealdrop-rendezvous: the server and its operator commands. Thin on purpose:
 * parse flags, call the library, print, exit. The only place that calls process.exit.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import qrcode from 'qrcode-terminal';
import { DEFAULT_HOST, DEFAULT_PORT } from '../shared/constants.js';
import { SealdropError, toSealdropError } from '../shared/errors.js';
import { describeIssues, IceServers } from '../shared/schemas.js';
import { otpauthUri } from '../shared/totp.js';
import { AccountStore, defaultDataDir } from './accounts.js';
import { createLogger } from './log.js';

const PROGRAM = 'sealdrop-rendezvous';
/** A graceful shutdown that takes longer than this is cut short. */
const SHUTDOWN_MS = 10_000;

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
  maxRelaySessions?: number; relayQuota?: number; relayRate?: number;
}

async function serve(flags: ServeFlags): Promise<void> {
  if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey)) throw new SealdropError('ERR_CONFIG', '--tls-cert and --tls-key go together');
  const { createRendezvous } = await import('./server.js'); // only `serve` needs Socket.IO
  const rendezvous = createRendezvous({
    dataDir: dataDirOf(flags.data),
    iceServers: parseIceServers(flags.iceServers),
    logger: createLogger(),
    maxRelaySessions: flags.maxRelaySessions,
    relayBytesPerDay: flags.relayQuota,
    relayRateBytesPerSec: flags.relayRate,
    tlsCert: flags.tlsCert ? readPem(flags.tlsCert, 'certificate') : undefined,
    tlsKey: flags.tlsKey ? readPem(flags.tlsKey, 'key') : undefined,
  });
  const url = await rendezvous.listen(flags.port, flags.host);
  process.stdout.write(`listening on ${url}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => fail(new SealdropError('ERR_TIMEOUT', `did not shut down within ${SHUTDOWN_MS / 1000} s; exiting anyway`)), SHUTDOWN_MS).unref();
    rendezvous.close().then(() => process.exit(0), (err) => fail(err));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function enroll(id: string, flags: { data?: string; json?: boolean; force?: boolean }): void {
  const account = new AccountStore(dataDirOf(flags.data)).enroll(id, { force: flags.force });
  const uri = otpauthUri(account.id, account.secret);
  if (flags.json) {
    process.stdout.write(JSON.stringify({ id: account.id, secret: account.secret, uri }) + '\n');
    return;
  }
  process.stdout.write(`Enrolled ${account.id}.\n\nSecret: ${account.secret}\nURI:    ${uri}\n\n`);
  process.stdout.write('Scan with an authenticator app, or give the secret to `sealdrop login --secret`:\n');
  qrcode.generate(uri, { small: true }, (qr) => process.stdout.write(qr + '\n'));
}

function revoke(id: string, flags: { data?: string }): void {
  new AccountStore(dataDirOf(flags.data)).revoke(id);
  process.stdout.write(`Revoked ${id}: it can no longer log in, and its sessions end.\n`);
}

function list(flags: { data?: string; json?: boolean }): void {
  const accounts = new AccountStore(dataDirOf(flags.data)).list();
  if (flags.json) {
    process.stdout.write(JSON.stringify(accounts) + '\n');
    return;
  }
  if (accounts.length === 0) process.stdout.write('No accounts. Add one with `sealdrop-rendezvous enroll ID`.\n');
  for (const a of accounts) process.stdout.write(`${a.id}\t${a.createdAt}\n`);
}

function fail(err: unknown): never {
  const e = toSealdropError(err);
  process.stderr.write(`${PROGRAM}: ${e.message} [${e.code}]\n`);
  process.exit(e.code === 'ERR_BAD_INPUT' || e.code === 'ERR_CONFIG' ? 2 : 1);
}

const program = new Command(PROGRAM)
  .description('sealdrop rendezvous: TOTP-authenticated introductions, signaling and encrypted relay');
const dataOption = ['--data <dir>', 'account data folder (env SEALDROP_RENDEZVOUS_DATA)'] as const;

program.command('serve').description('serve until SIGINT/SIGTERM')
  .option('--host <host>', 'address to listen on', DEFAULT_HOST)
  .option('--port <port>', 'port to listen on (0: any free port)', port, DEFAULT_PORT)
  .option(...dataOption)
  .option('--ice-servers <json>', 'ICE servers handed to peers, as JSON (default: none)')
  .option('--tls-cert <file>', 'PEM certificate: serve https')
  .option('--tls-key <file>', 'PEM private key for --tls-cert')
  .option('--max-relay-sessions <n>', 'sessions relaying at once', count)
  .option('--relay-quota <bytes>', 'relay bytes per account per day', count)
  .option('--relay-rate <bytes>', 'relay bytes per second per session', count)
  .action((flags: ServeFlags) => serve(flags));

program.command('enroll').description('create an account with a fresh TOTP secret').argument('<id>')
  .option(...dataOption).option('--json', 'print {"id","secret","uri"} only').option('--force', 'replace an existing account\'s secret')
  .action(enroll);

program.command('revoke').description('delete an account; it can no longer log in').argument('<id>')
  .option(...dataOption).action(revoke);

program.command('list').description('list accounts (never their secrets)')
  .option(...dataOption).option('--json', 'print a JSON array of {"id","createdAt"}').action(list);

program.parseAsync(process.argv).catch(fail);

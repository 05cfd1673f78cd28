/**
 * Accounts in Redis (cluster mode), for the operator commands (`enroll`, `revoke`,
 * `list` with `--redis`) and the nodes. The hash `sealdrop:accounts` maps each ID to
 * {sealed, createdAt}: the TOTP secret sealed under the cluster's account key
 * (account-seal.ts), never in clear. Every change is published on
 * `sealdrop:accounts:changed` (the ID), so every node applies it at once
 * (redis-live-accounts.ts). Enroll is HSETNX (or HSET with --force): two operators
 * enrolling one ID at once cannot both win.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { SealdropError } from '../../shared/errors.js';
import { AccountId } from '../../shared/schemas.js';
import { isBase32Secret, secretFromBytes } from '../../shared/totp.js';
import type { Account, AccountSummary } from '../store/accounts.js';
import type { AccountSeal } from './account-seal.js';
import { corruptReply, KEY_PREFIX, type RedisLink } from './redis-link.js';

export const ACCOUNTS_KEY = `${KEY_PREFIX}accounts`;
export const ACCOUNTS_CHANNEL = `${KEY_PREFIX}accounts:changed`;
const KEY_FINGERPRINT_KEY = `${KEY_PREFIX}account-key-fingerprint`;
const SECRET_BYTES = 20;

const StoredAccount = z.object({ sealed: z.string().max(1024), createdAt: z.string().max(64) }).strict();
const Fingerprint = z.string().regex(/^[0-9a-f]{32}$/);

export class RedisAccountStore {
  constructor(private readonly link: RedisLink, private readonly seal?: AccountSeal) {}

  /** Where the accounts are, for messages. */
  get where(): string { return `Redis at ${this.link.target}`; }

  /**
   * Compares this host's account key with the cluster's (the first enroll records it).
   * Throws ERR_CONFIG when they differ: accounts sealed with one key cannot be opened with the other.
   */
  async checkKey(record: boolean): Promise<void> {
    const mine = this.seal!.fingerprint;
    const theirs = await this.link.run('accounts', (r) => (record ? r.set(KEY_FINGERPRINT_KEY, mine, 'NX', 'GET') : r.get(KEY_FINGERPRINT_KEY)));
    if (theirs === null || theirs === mine) return;
    const what = Fingerprint.safeParse(theirs).success ? 'another account key' : 'a malformed account-key fingerprint';
    throw new SealdropError('ERR_CONFIG', `${this.where} holds accounts sealed with ${what} than ${this.seal!.file}; copy the cluster's key file to this host's data folder`);
  }

  /** Whether Redis holds the cluster's key fingerprint: false for a Redis that lost its data (or never had accounts). */
  async keyRecorded(): Promise<boolean> {
    return (await this.link.run('accounts', (r) => r.exists(KEY_FINGERPRINT_KEY))) === 1;
  }

  async enroll(id: string, opts: { force?: boolean; random?: (n: number) => Uint8Array; now?: () => number } = {}): Promise<Account> {
    const parsed = AccountId.safeParse(id);
    if (!parsed.success) throw new SealdropError('ERR_BAD_INPUT', `invalid account ID ${JSON.stringify(id)}: ${parsed.error.issues[0]!.message}`);
    await this.checkKey(true);
    const secret = secretFromBytes((opts.random ?? randomBytes)(SECRET_BYTES));
    const createdAt = new Date((opts.now ?? Date.now)()).toISOString();
    const entry = JSON.stringify({ sealed: this.seal!.seal(secret, id, createdAt), createdAt });
    const added = await this.link.run('accounts', (r) => (opts.force ? r.hset(ACCOUNTS_KEY, id, entry) : r.hsetnx(ACCOUNTS_KEY, id, entry)));
    if (!opts.force && added === 0) throw new SealdropError('ERR_EXISTS', `account ${id} already exists in ${this.where} (use --force to replace its secret)`);
    await this.link.run('accounts', (r) => r.publish(ACCOUNTS_CHANNEL, id));
    return { id, secret, createdAt };
  }

  async revoke(id: string): Promise<void> {
    const removed = await this.link.run('accounts', (r) => r.hdel(ACCOUNTS_KEY, id));
    if (removed === 0) throw new SealdropError('ERR_NOT_FOUND', `no account ${JSON.stringify(id)} in ${this.where}`);
    await this.link.run('accounts', (r) => r.publish(ACCOUNTS_CHANNEL, id));
  }

  /** Every account's ID and enrollment time (entries that do not parse are left out and counted). */
  async list(): Promise<{ accounts: AccountSummary[]; malformed: number }> {
    const raw = await this.link.run('accounts', (r) => r.hgetall(ACCOUNTS_KEY));
    const accounts: AccountSummary[] = [];
    let malformed = 0;
    for (const [id, text] of Object.entries(raw)) {
      const entry = parseEntry(id, text);
      if (entry) accounts.push({ id, createdAt: entry.createdAt });
      else malformed++;
    }
    return { accounts: accounts.sort((a, b) => a.id.localeCompare(b.id)), malformed };
  }

  /** The account, or undefined; a record that does not open with this key throws ERR_STORE (the login is refused). */
  async get(id: string): Promise<Account | undefined> {
    const text = await this.link.run('accounts', (r) => r.hget(ACCOUNTS_KEY, id));
    if (text === null) return undefined;
    const account = this.openEntry(id, text);
    if (!account) throw corruptReply(`account record for ${id}`);
    return account;
  }

  /** Every account that opens; the IDs of those that do not. */
  async all(): Promise<{ accounts: Map<string, Account>; bad: string[] }> {
    const raw = await this.link.run('accounts', (r) => r.hgetall(ACCOUNTS_KEY));
    const accounts = new Map<string, Account>();
    const bad: string[] = [];
    for (const [id, text] of Object.entries(raw)) {
      const account = this.openEntry(id, text);
      if (account) accounts.set(id, account);
      else bad.push(id.slice(0, 64));
    }
    return { accounts, bad };
  }

  private openEntry(id: string, text: string): Account | undefined {
    const entry = parseEntry(id, text);
    if (!entry) return undefined;
    const secret = this.seal!.open(entry.sealed, id, entry.createdAt);
    return secret !== undefined && isBase32Secret(secret) ? { id, secret, createdAt: entry.createdAt } : undefined;
  }
}

function parseEntry(id: string, text: string): z.infer<typeof StoredAccount> | undefined {
  if (!AccountId.safeParse(id).success) return undefined;
  try {
    const parsed = StoredAccount.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

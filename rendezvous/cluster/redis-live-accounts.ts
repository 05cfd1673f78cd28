/**
 * The accounts a cluster node enforces (cluster mode), like live-accounts.ts for the
 * file: a copy in force, and listeners told which accounts are gone or re-enrolled so
 * the server drops their connections and tokens.
 *
 * - A login reads its account from Redis itself (get), so an enrollment is seen at
 *   once, and a difference from the copy in force is applied and told on the spot.
 * - Every change an operator makes is published (redis-accounts.ts): each node re-reads
 *   the accounts and applies the difference, so a revocation disconnects the account's
 *   connections on every node within a round trip. A poll (POLL_MS) and every
 *   reconnection to Redis re-read too, for a message missed while Redis was away.
 * - While Redis is away the copy in force stays (connected peers stay); logins fail
 *   with ERR_STORE. Accounts whose records do not open are left out and logged.
 * - A Redis that comes back without the cluster's data (no key fingerprint: restarted
 *   without persistence, flushed) is not taken as "every account revoked": the copy in
 *   force stays and an error is logged, so connected peers stay while the operator
 *   restores it. Logins read Redis and fail until then.
 */
import type { Account } from '../store/accounts.js';
import { accountsChange, type AccountsChange } from '../store/live-accounts.js';
import type { AccountsInForce } from '../login/login-state.js';
import type { Logger } from '../log.js';
import { ACCOUNTS_CHANNEL, type RedisAccountStore } from './redis-accounts.js';
import type { RedisLink } from './redis-link.js';

/** Bounds how late a missed change message is made up for. */
export const POLL_MS = 5_000;

export class RedisLiveAccounts implements AccountsInForce {
  private inForce = new Map<string, Account>();
  private readonly listeners: Array<(change: AccountsChange) => void> = [];
  private reading: Promise<void> | undefined;
  private again = false;
  /** Accounts a login read, by when (a counter): newer than a full read that was already under way. */
  private readonly touched = new Map<string, number>();
  private seq = 0;

  constructor(private readonly link: RedisLink, private readonly store: RedisAccountStore, private readonly logger: Logger) {}

  async load(): Promise<void> {
    await this.link.connect();
    await this.store.checkKey(false);
    await this.reread();
  }

  async get(id: string): Promise<Account | undefined> {
    const account = await this.store.get(id);
    // Gone from a Redis that lost everything is not a revocation (see above).
    if (!account && this.inForce.has(id) && !(await this.store.keyRecorded())) return undefined;
    this.apply(id, account);
    return account;
  }

  holds(account: Account): boolean {
    const now = this.inForce.get(account.id);
    return now !== undefined && now.secret === account.secret && now.createdAt === account.createdAt;
  }

  onChange(listener: (change: AccountsChange) => void): void {
    this.listeners.push(listener);
  }

  watch(): () => void {
    const sub = this.link.subscriber!;
    // messageBuffer, not message: with a `message` listener ioredis decodes every message on this connection to a
    // string, relay frames between nodes too (node-bus.ts).
    const onMessage = (channel: Buffer) => { if (channel.toString() === ACCOUNTS_CHANNEL) this.refresh(); };
    sub.on('messageBuffer', onMessage);
    const stopRegained = this.link.onRegained(() => this.refresh());
    sub.subscribe(ACCOUNTS_CHANNEL).catch((err: Error) => this.logger.error('redis.subscribe-failed', { error: err.message }));
    const poll = setInterval(() => this.refresh(), POLL_MS).unref();
    return () => {
      clearInterval(poll);
      sub.off('messageBuffer', onMessage);
      stopRegained();
    };
  }

  /** Re-reads every account and applies the difference; never throws (a failure is logged; the copy in force stays). */
  refresh(): void {
    if (this.reading) { this.again = true; return; }
    this.reading = this.reread()
      .catch((err: Error) => this.logger.warn('accounts.refresh-failed', { error: err.message }))
      .finally(() => {
        this.reading = undefined;
        if (this.again) { this.again = false; this.refresh(); }
      });
  }

  private async reread(): Promise<void> {
    const since = this.seq;
    if (this.inForce.size > 0 && !(await this.store.keyRecorded())) {
      this.logger.error('accounts.redis-empty', { error: 'Redis holds none of the cluster\'s accounts (restarted without persistence, or flushed?); the accounts in force stay; restore Redis from a backup, or enroll again' });
      return;
    }
    const { accounts, bad } = await this.store.all();
    // What a login read while this read was under way is at least as new: keep it.
    for (const [id, at] of this.touched) {
      if (at <= since) { this.touched.delete(id); continue; }
      const current = this.inForce.get(id);
      if (current) accounts.set(id, current);
      else accounts.delete(id);
    }
    if (bad.length) this.logger.error('accounts.unreadable', { error: `${bad.length} account record(s) in Redis do not open with this node's account key: ${bad.slice(0, 5).join(', ')}` });
    const change = accountsChange(this.inForce, accounts);
    this.inForce = accounts;
    this.tell(change);
  }

  /** One account as just read by a login. */
  private apply(id: string, account: Account | undefined): void {
    const was = this.inForce.get(id);
    this.touched.set(id, ++this.seq);
    const change: AccountsChange = { gone: [], reenrolled: [] };
    if (was && !account) change.gone.push(id);
    else if (was && account && (was.secret !== account.secret || was.createdAt !== account.createdAt)) change.reenrolled.push(id);
    if (account) this.inForce.set(id, account);
    else this.inForce.delete(id);
    this.tell(change);
  }

  private tell(change: AccountsChange): void {
    if (change.gone.length || change.reenrolled.length) for (const l of this.listeners) l(change);
  }
}

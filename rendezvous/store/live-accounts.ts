/**
 * The accounts a running server enforces: the last good copy of accounts.json.
 *
 * Revocation is driven by content, not by who noticed the change: every read of the
 * file (a login, the folder watch, the poll) goes through check(), which compares the
 * accounts it now holds with the copy in force and tells listeners which accounts are
 * gone or re-enrolled. So a login that happens to re-read the file first cannot
 * swallow a revocation.
 *
 * A file that disappears or stops parsing while serving does not empty the store: the
 * last good copy stays in force (connected peers stay, known accounts keep logging
 * in), and an error is logged when it happens and then at most once a minute until the
 * file is good again. Only a store that was never read cannot answer (ERR_STORE).
 */
import { watch } from 'node:fs';
import type { SealdropError } from '../../shared/errors.js';
import { type Account, type AccountStore, STORE_FILE } from './accounts.js';
import type { Logger } from '../log.js';

/** The folder watch can miss events (some file systems); this poll bounds the delay. */
export const POLL_MS = 1_000;
/** While the store is missing or corrupt, the error is logged at most this often. */
export const STORE_ERROR_EVERY_MS = 60_000;
/** Coalesces the burst of watch events one rename makes. */
const WATCH_DELAY_MS = 20;

/** What a change did: accounts removed, and accounts whose secret or enrollment changed. */
export interface AccountsChange { gone: string[]; reenrolled: string[] }

/** What became of the accounts in force: gone from `next`, or there with another secret or enrollment. */
export function accountsChange(inForce: ReadonlyMap<string, Account>, next: ReadonlyMap<string, Account>): AccountsChange {
  const change: AccountsChange = { gone: [], reenrolled: [] };
  for (const [id, was] of inForce) {
    const now = next.get(id);
    if (!now) change.gone.push(id);
    else if (now.secret !== was.secret || now.createdAt !== was.createdAt) change.reenrolled.push(id);
  }
  return change;
}

export class LiveAccounts {
  private inForce = new Map<string, Account>();
  private seen = -1;
  private loadedOnce = false;
  /** Once the file existed, its disappearance is an error, not an empty store. */
  private everPresent = false;
  private failing: { reason: string; loggedAt: number } | undefined;
  private readonly listeners: Array<(change: AccountsChange) => void> = [];

  constructor(readonly store: AccountStore, private readonly logger: Logger, private readonly now: () => number = Date.now) {}

  /** First read, at start: a corrupt store throws (the server must not start on it). */
  load(): void {
    this.store.refresh();
    this.adopt();
    this.loadedOnce = true;
  }

  /** The account as in force now (re-checking the file first), or undefined. Throws ERR_STORE if never loaded. */
  get(id: string): Account | undefined {
    this.check();
    if (!this.loadedOnce) throw this.failingError();
    return this.inForce.get(id);
  }

  /** Whether `account` (as a socket logged in with it) is still enrolled the same way. */
  holds(account: Account): boolean {
    const now = this.inForce.get(account.id);
    return now !== undefined && now.secret === account.secret && now.createdAt === account.createdAt;
  }

  onChange(listener: (change: AccountsChange) => void): void {
    this.listeners.push(listener);
  }

  /** Re-reads the file if it changed and applies any difference. Never throws. */
  check(): void {
    try {
      this.store.refresh();
    } catch (err) {
      this.fail((err as SealdropError).message);
      return;
    }
    if (!this.store.present && this.everPresent) {
      this.fail(`account store ${this.store.file} is missing (moved or deleted?); restore it`);
      return;
    }
    if (this.failing) {
      this.logger.info('store.recovered', { file: this.store.file });
      this.failing = undefined;
    }
    this.adopt();
    this.loadedOnce = true;
  }

  /** Watches the folder and polls; returns a function that stops both. */
  watch(): () => void {
    this.store.ensureDir();
    let timer: NodeJS.Timeout | undefined;
    const soon = () => { timer ??= setTimeout(() => { timer = undefined; this.check(); }, WATCH_DELAY_MS).unref(); };
    let watcher: ReturnType<typeof watch> | undefined;
    try {
      watcher = watch(this.store.dataDir, { persistent: false }, (_type, name) => { if (name === null || name === STORE_FILE) soon(); });
      watcher.on('error', () => watcher?.close());
    } catch {
      // Some file systems cannot be watched; the poll still works.
    }
    const poll = setInterval(() => this.check(), POLL_MS).unref();
    return () => {
      watcher?.close();
      clearInterval(poll);
      if (timer) clearTimeout(timer);
    };
  }

  /** Takes the store's copy if it is new, and tells listeners what it removed or replaced. */
  private adopt(): void {
    if (this.store.present) this.everPresent = true;
    if (this.store.generation === this.seen) return;
    this.seen = this.store.generation;
    const next = this.store.snapshot();
    const change = accountsChange(this.inForce, next);
    this.inForce = next;
    if (change.gone.length || change.reenrolled.length) for (const l of this.listeners) l(change);
  }

  private fail(reason: string): void {
    const now = this.now();
    if (this.failing && this.failing.reason === reason && now - this.failing.loggedAt < STORE_ERROR_EVERY_MS) return;
    this.failing = { reason, loggedAt: now };
    this.logger.error('store.unreadable', { error: reason, inForce: this.inForce.size });
  }

  private failingError(): Error {
    return new Error(this.failing?.reason ?? 'account store not loaded');
  }
}

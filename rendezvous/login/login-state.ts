/**
 * What the login gate (auth.ts) needs from the state behind it, as interfaces, so the
 * one-process stores (files and memory) and the cluster's (Redis) stand side by side:
 *
 *   AccountsInForce  the accounts enforced now, and who was revoked or re-enrolled
 *   StepLedger       the last TOTP step each account logged in with ("spend if later")
 *   GuessBudget      failed-code limits per address and per account
 *   TokenBook        session tokens, kept hashed
 *
 * Methods may answer at once or later (Redis); the gate awaits them all. Each "check
 * and record" is one atomic step of the store, never a read followed by a write, so
 * the same code raced at two nodes is accepted once.
 */
import type { Account } from '../store/accounts.js';
import type { AccountsChange } from '../store/live-accounts.js';
import type { AuthThrottle, Refusal } from './throttle.js';
import type { IssuedToken } from './tokens.js';

export type Awaitable<T> = T | Promise<T>;

export interface AccountsInForce {
  /** First read, at start; throws ERR_STORE when the store cannot be read. */
  load(): Awaitable<void>;
  /** The account as enrolled now, or undefined; throws ERR_STORE when the store cannot answer. */
  get(id: string): Awaitable<Account | undefined>;
  /** Whether `account` (as a socket logged in with it) is still enrolled the same way, by the copy in force. */
  holds(account: Account): boolean;
  onChange(listener: (change: AccountsChange) => void): void;
  /** Starts following changes; returns a function that stops. */
  watch(): () => void;
}

export interface StepLedger {
  /** Records `step` as the account's last; false when it is not after the last one accepted. Atomic. */
  spend(id: string, step: number): Awaitable<boolean>;
}

export interface GuessBudget {
  /**
   * Whether a code login for `id` from `addr` may try now (null) or why not. A store
   * shared by several nodes counts the attempt as failed here, in the same atomic
   * step, so parallel guesses at several nodes cannot all pass; passed() takes it back.
   */
  begin(id: string, addr: string, now: number): Awaitable<Refusal | null>;
  /** The code was wrong or replayed; `enrolled`: the ID has an account. */
  failed(id: string, addr: string, now: number, enrolled: boolean): Awaitable<void>;
  /** The code was right: the account's failures are cleared. */
  passed(id: string, addr: string, now: number): Awaitable<void>;
}

export interface TokenBook {
  issue(account: Account, now: number): Awaitable<IssuedToken>;
  /** True when the token was issued to this enrollment of the account and has not expired. */
  verify(account: Account, token: string, now: number): Awaitable<boolean>;
  revokeAccount(id: string): Awaitable<void>;
}

/** The one-process budget: AuthThrottle's check, then its failure or success. */
export class LocalGuessBudget implements GuessBudget {
  constructor(readonly throttle: AuthThrottle) {}
  begin(id: string, addr: string, now: number): Refusal | null { return this.throttle.check(id, addr, now); }
  failed(id: string, addr: string, now: number, enrolled: boolean): void { this.throttle.failure(id, addr, now, enrolled); }
  passed(id: string): void { this.throttle.success(id); }
}

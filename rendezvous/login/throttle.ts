/**
 * Rate limits on guessing codes, in two layers, kept on the server (so reconnecting
 * does not reset them):
 *
 * 1. Per client address, checked first: failures from one address throttle, then
 *    lock, that address only. The count is forgotten after a quiet spell. So one
 *    address cannot burn an account's allowance at full speed.
 * 2. Per account ID: consecutive failures (from anywhere) throttle, then lock the
 *    account's *code* logins; a success clears them. Session-token logins never pass
 *    through either layer (a 256-bit token is not guessable), so an owner who holds a
 *    token is never locked out by someone else's guesses.
 *
 * A 6-digit code with ±1 step of skew has 3 winning values in a million; after
 * throttleAfter failures each further attempt waits exponentially longer (capped at
 * maxThrottleMs), and after lockAfter it is locked for lockMs. The account count is not
 * reset when a lock expires, so every further failure locks again: an attacker gets one
 * guess per lock period, not lockAfter.
 */
import type { ErrorCode } from '../../shared/errors.js';

export interface LockoutPolicy {
  /** Failures before attempts are spaced out (1 s, 2 s, 4 s … up to maxThrottleMs). */
  throttleAfter: number;
  /** Failures before each attempt is blocked for lockMs. */
  lockAfter: number;
  lockMs: number;
  maxThrottleMs: number;
}

export const THROTTLE_AFTER = 5;
export const LOCK_AFTER = 20;
export const LOCK_MS = 15 * 60_000;
export const MAX_THROTTLE_MS = 60_000;
export const ACCOUNT_POLICY: LockoutPolicy = { throttleAfter: THROTTLE_AFTER, lockAfter: LOCK_AFTER, lockMs: LOCK_MS, maxThrottleMs: MAX_THROTTLE_MS };
/** Per address: roomier (several people may share one NAT), and forgotten after FORGET_ADDRESS_MS without a failure. */
export const ADDRESS_POLICY: LockoutPolicy = { throttleAfter: 10, lockAfter: 30, lockMs: 15 * 60_000, maxThrottleMs: MAX_THROTTLE_MS };
export const FORGET_ADDRESS_MS = 60 * 60_000;
/** IDs with no account, and addresses, tracked at most (least recently failed forgotten first), so they cannot grow memory. */
export const MAX_UNKNOWN_TRACKED = 10_000;
export const MAX_ADDRESSES_TRACKED = 10_000;

export interface Refusal { code: ErrorCode; message: string; retryAfter?: number }

interface Failures { count: number; blockedUntil: number; last: number }

/** Account IDs and addresses whose code logins are spaced out or locked now (for metrics). */
export interface BlockedCounts {
  account: { throttled: number; locked: number };
  address: { throttled: number; locked: number };
}

export function blockFor(count: number, policy: LockoutPolicy = ACCOUNT_POLICY): number {
  if (count >= policy.lockAfter) return policy.lockMs;
  if (count >= policy.throttleAfter) return Math.min(1000 * 2 ** (count - policy.throttleAfter), policy.maxThrottleMs);
  return 0;
}

export interface AuthThrottleOptions {
  account?: Partial<LockoutPolicy>;
  address?: Partial<LockoutPolicy>;
  forgetAddressMs?: number;
  maxUnknown?: number;
  maxAddresses?: number;
}

export class AuthThrottle {
  /** Enrolled accounts: bounded by the store. */
  private readonly known = new Map<string, Failures>();
  /** IDs with no account, in least-recently-failed order. */
  private readonly unknown = new Map<string, Failures>();
  /** Client addresses, in least-recently-failed order. */
  private readonly addresses = new Map<string, Failures>();
  readonly account: LockoutPolicy;
  readonly address: LockoutPolicy;
  private readonly forgetAddressMs: number;
  private readonly maxUnknown: number;
  private readonly maxAddresses: number;

  constructor(opts: AuthThrottleOptions = {}) {
    this.account = { ...ACCOUNT_POLICY, ...defined(opts.account) };
    this.address = { ...ADDRESS_POLICY, ...defined(opts.address) };
    this.forgetAddressMs = opts.forgetAddressMs ?? FORGET_ADDRESS_MS;
    this.maxUnknown = opts.maxUnknown ?? MAX_UNKNOWN_TRACKED;
    this.maxAddresses = opts.maxAddresses ?? MAX_ADDRESSES_TRACKED;
  }

  /** Why a code login for `id` from `addr` may not try now, or null when it may. The address is checked first. */
  check(id: string, addr: string, now: number): Refusal | null {
    const a = this.addressRecord(addr, now);
    if (a && now < a.blockedUntil) return addressRefusal(a.count, a.blockedUntil, now, this.address);
    const f = this.known.get(id) ?? this.unknown.get(id);
    if (!f || now >= f.blockedUntil) return null;
    return accountRefusal(id, f.count, f.blockedUntil, now, this.account);
  }

  failure(id: string, addr: string, now: number, enrolled: boolean): void {
    const table = enrolled ? this.known : this.unknown;
    const f = this.known.get(id) ?? this.unknown.get(id) ?? { count: 0, blockedUntil: 0, last: 0 };
    this.known.delete(id);
    this.unknown.delete(id);
    bump(f, now, this.account);
    table.set(id, f);
    if (this.unknown.size > this.maxUnknown) this.unknown.delete(this.unknown.keys().next().value!);

    const a = this.addressRecord(addr, now) ?? { count: 0, blockedUntil: 0, last: 0 };
    this.addresses.delete(addr);
    bump(a, now, this.address);
    this.addresses.set(addr, a);
    if (this.addresses.size > this.maxAddresses) this.addresses.delete(this.addresses.keys().next().value!);
  }

  /** Clears the account's count. The address's count stays: a login on one account says nothing about guesses at others. */
  success(id: string): void {
    this.known.delete(id);
    this.unknown.delete(id);
  }

  /** Consecutive failures on record for an ID (for tests and logs). */
  failures(id: string): number {
    return (this.known.get(id) ?? this.unknown.get(id))?.count ?? 0;
  }

  /** Failures on record for an address (for tests and logs). */
  addressFailures(addr: string, now: number): number {
    return this.addressRecord(addr, now)?.count ?? 0;
  }

  /** How many IDs and addresses are blocked now; a walk over at most the tracked tables (20,000 entries). */
  blocked(now: number): BlockedCounts {
    const tally = (tables: Array<Map<string, Failures>>, policy: LockoutPolicy) => {
      const out = { throttled: 0, locked: 0 };
      for (const table of tables) {
        for (const f of table.values()) if (now < f.blockedUntil) out[f.count >= policy.lockAfter ? 'locked' : 'throttled'] += 1;
      }
      return out;
    };
    return { account: tally([this.known, this.unknown], this.account), address: tally([this.addresses], this.address) };
  }

  private addressRecord(addr: string, now: number): Failures | undefined {
    const a = this.addresses.get(addr);
    if (a && now >= a.blockedUntil && now - a.last >= this.forgetAddressMs) {
      this.addresses.delete(addr);
      return undefined;
    }
    return a;
  }
}

/** What a client hears while its address is blocked until `blockedUntil` after `count` failures. */
export function addressRefusal(count: number, blockedUntil: number, now: number, policy: LockoutPolicy): Refusal {
  const retryAfter = Math.ceil((blockedUntil - now) / 1000);
  return {
    code: count >= policy.lockAfter ? 'ERR_LOCKED' : 'ERR_THROTTLED', retryAfter,
    message: `too many failed logins from this address; wait ${retryAfter} s before trying again`,
  };
}

/** What a client hears while account `id` is blocked until `blockedUntil` after `count` failures. */
export function accountRefusal(id: string, count: number, blockedUntil: number, now: number, policy: LockoutPolicy): Refusal {
  const retryAfter = Math.ceil((blockedUntil - now) / 1000);
  if (count >= policy.lockAfter) {
    return {
      code: 'ERR_LOCKED', retryAfter,
      message: `account ${id} is locked after ${count} failed logins; try again in ${Math.ceil(retryAfter / 60)} min, log in with a session token, or ask the operator`,
    };
  }
  return { code: 'ERR_THROTTLED', retryAfter, message: `too many failed logins for ${id}; wait ${retryAfter} s before trying again` };
}

function bump(f: Failures, now: number, policy: LockoutPolicy): void {
  f.count += 1;
  f.last = now;
  f.blockedUntil = now + blockFor(f.count, policy);
}

function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

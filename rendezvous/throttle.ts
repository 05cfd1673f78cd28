/**
 * Rate limit on guessing: consecutive failed logins per account ID, kept on the
 * server (so reconnecting does not reset them) and cleared by a success.
 *
 * A 6-digit code with ±1 step of skew has 3 winning values in a million; after
 * THROTTLE_AFTER failures each further attempt waits exponentially longer, and after
 * LOCK_AFTER the account locks for LOCK_MS. The counter is not reset when a lock
 * expires, so every further failure locks again: an attacker gets one guess per
 * lock period, not LOCK_AFTER.
 */
import type { ErrorCode } from '../shared/errors.js';

export const THROTTLE_AFTER = 5;
export const LOCK_AFTER = 20;
export const LOCK_MS = 15 * 60_000;
export const MAX_THROTTLE_MS = 60_000;
/** Unknown account IDs tracked at most (least recently failed forgotten first), so random IDs cannot grow memory. */
export const MAX_UNKNOWN_TRACKED = 10_000;

export interface Refusal { code: ErrorCode; message: string; retryAfter?: number }

interface Failures { count: number; blockedUntil: number }

export function blockFor(count: number): number {
  if (count >= LOCK_AFTER) return LOCK_MS;
  if (count >= THROTTLE_AFTER) return Math.min(1000 * 2 ** (count - THROTTLE_AFTER), MAX_THROTTLE_MS);
  return 0;
}

export class AuthThrottle {
  /** Enrolled accounts: bounded by the store. */
  private readonly known = new Map<string, Failures>();
  /** IDs with no account, in least-recently-failed order. */
  private readonly unknown = new Map<string, Failures>();

  constructor(private readonly maxUnknown = MAX_UNKNOWN_TRACKED) {}

  /** Why the ID may not try now, or null when it may. */
  check(id: string, now: number): Refusal | null {
    const f = this.known.get(id) ?? this.unknown.get(id);
    if (!f || now >= f.blockedUntil) return null;
    const retryAfter = Math.ceil((f.blockedUntil - now) / 1000);
    if (f.count >= LOCK_AFTER) {
      return {
        code: 'ERR_LOCKED', retryAfter,
        message: `account ${id} is locked after ${f.count} failed logins; try again in ${Math.ceil(retryAfter / 60)} min, or ask the operator`,
      };
    }
    return { code: 'ERR_THROTTLED', retryAfter, message: `too many failed logins for ${id}; wait ${retryAfter} s before trying again` };
  }

  failure(id: string, now: number, enrolled: boolean): void {
    const table = enrolled ? this.known : this.unknown;
    const f = this.known.get(id) ?? this.unknown.get(id) ?? { count: 0, blockedUntil: 0 };
    this.known.delete(id);
    this.unknown.delete(id);
    f.count += 1;
    f.blockedUntil = now + blockFor(f.count);
    table.set(id, f);
    if (this.unknown.size > this.maxUnknown) this.unknown.delete(this.unknown.keys().next().value!);
  }

  success(id: string): void {
    this.known.delete(id);
    this.unknown.delete(id);
  }

  /** Consecutive failures on record for an ID (for tests and logs). */
  failures(id: string): number {
    return (this.known.get(id) ?? this.unknown.get(id))?.count ?? 0;
  }
}

/**
 * The failed-code budget in Redis (cluster mode), with the single node's rules
 * (throttle.ts): per client address first, then per account ID; after throttleAfter
 * failures attempts are spaced out, after lockAfter each one locks for lockMs.
 *
 * On one node a login is checked and counted without a pause between; across nodes
 * the check and the count must be one atomic step, or parallel guesses at three nodes
 * would all pass the same check. So begin() is one Lua script that checks both
 * records and, if the attempt may go ahead, already counts it as a failure; a right
 * code then takes it back (passed()): the account's count is cleared (as on one node),
 * and the address's is lowered by one with its previous block restored.
 *
 * Records are hashes `sealdrop:guess:address:ADDR` and `sealdrop:guess:account:ID`
 * (c: count, b: blocked until, l: last failure, p: block before the last count). They
 * expire: an address after a quiet FORGET_ADDRESS_MS (as on one node), an account a
 * day after its last failure (on one node it stays until a success). A field that is
 * not a number makes the script fail: the login is refused, never let through.
 */
import { z } from 'zod';
import type { GuessBudget } from '../login/login-state.js';
import { corruptReply, KEY_PREFIX, type RedisLink } from './redis-link.js';
import { accountRefusal, addressRefusal, type LockoutPolicy, type Refusal } from '../login/throttle.js';

const ACCOUNT_KEEP_MS = 24 * 60 * 60_000;

const LUA_HELPERS = `
local function num(key, field)
  local v = redis.call('HGET', key, field)
  if not v then return 0 end
  local n = tonumber(v)
  if n == nil then error('corrupt guess record') end
  return n
end
local function blockFor(c, after, lockAfter, lockMs, maxMs)
  if c >= lockAfter then return lockMs end
  if c >= after then return math.min(1000 * 2 ^ (c - after), maxMs) end
  return 0
end
-- The new "blocked until": only a block moves it. Setting it to 'now' when there is none would block an attempt
-- that took its 'now' a moment earlier and reached Redis later (parallel logins from one address, other nodes).
local function blockedUntil(now, was, block)
  if block > 0 then return math.floor(now + block) end
  return was
end`;

/** KEYS: address, account. ARGV: now, forgetMs, accountKeepMs, then each policy (throttleAfter, lockAfter, lockMs, maxThrottleMs): address, account. */
const BEGIN = `${LUA_HELPERS}
local now, forget, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ac, ab, al = num(KEYS[1], 'c'), num(KEYS[1], 'b'), num(KEYS[1], 'l')
if now >= ab and now - al >= forget then ac = 0 end
if now < ab then return {'address', ac, ab} end
local xc, xb = num(KEYS[2], 'c'), num(KEYS[2], 'b')
if now < xb then return {'account', xc, xb} end
ac = ac + 1
redis.call('HSET', KEYS[1], 'c', ac, 'b', blockedUntil(now, ab, blockFor(ac, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]))), 'l', now, 'p', ab)
redis.call('PEXPIRE', KEYS[1], math.floor(forget + tonumber(ARGV[6])))
xc = xc + 1
redis.call('HSET', KEYS[2], 'c', xc, 'b', blockedUntil(now, xb, blockFor(xc, tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]))), 'l', now, 'p', xb)
redis.call('PEXPIRE', KEYS[2], keep)
return {'ok', 0, 0}`;

/** KEYS: address, account. Takes the attempt back from the address; clears the account. */
const PASSED = `
redis.call('DEL', KEYS[2])
local c = tonumber(redis.call('HGET', KEYS[1], 'c'))
if c == nil then return 0 end
if c <= 1 then redis.call('DEL', KEYS[1]) return 0 end
redis.call('HSET', KEYS[1], 'c', c - 1, 'b', redis.call('HGET', KEYS[1], 'p') or 0)
return 0`;

const Verdict = z.tuple([z.enum(['ok', 'address', 'account']), z.number().int().nonnegative(), z.number().int().nonnegative()]);

export interface RedisGuessBudgetOptions { account: LockoutPolicy; address: LockoutPolicy; forgetAddressMs: number }

export class RedisGuessBudget implements GuessBudget {
  constructor(private readonly link: RedisLink, private readonly opts: RedisGuessBudgetOptions) {}

  async begin(id: string, addr: string, now: number): Promise<Refusal | null> {
    const { account, address, forgetAddressMs } = this.opts;
    const policy = (p: LockoutPolicy) => [p.throttleAfter, p.lockAfter, p.lockMs, p.maxThrottleMs].map(String);
    const raw = await this.link.run('guesses', (r) => r.eval(BEGIN, 2, this.addressKey(addr), this.accountKey(id),
      String(now), String(forgetAddressMs), String(ACCOUNT_KEEP_MS), ...policy(address), ...policy(account)))
      .catch((err: Error) => { throw /corrupt guess record/.test(err.message) ? corruptReply(`failed-login record for ${id}`) : err; });
    const verdict = Verdict.safeParse(raw);
    if (!verdict.success) throw corruptReply(`failed-login record for ${id}`);
    const [subject, count, blockedUntil] = verdict.data;
    if (subject === 'ok') return null;
    return subject === 'address' ? addressRefusal(count, blockedUntil, now, address) : accountRefusal(id, count, blockedUntil, now, account);
  }

  /** Already counted by begin(). */
  failed(): void {}

  async passed(id: string, addr: string): Promise<void> {
    await this.link.run('guesses', (r) => r.eval(PASSED, 2, this.addressKey(addr), this.accountKey(id)));
  }

  /** Failures on record for an ID (tests, logs). */
  async failures(id: string): Promise<number> {
    const raw = await this.link.run('guesses', (r) => r.hget(this.accountKey(id), 'c'));
    return raw === null ? 0 : Number(raw);
  }

  private accountKey(id: string): string { return `${KEY_PREFIX}guess:account:${id}`; }
  private addressKey(addr: string): string { return `${KEY_PREFIX}guess:address:${addr}`; }
}

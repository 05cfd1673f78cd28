/**
 * Session tokens in Redis (cluster mode), so a token issued at one node logs in at
 * any other. As in tokens.ts only the token's SHA-256 is kept: `sealdrop:token:HASH`
 * holds {hash, id, expiresAt, binding} and expires with the token; `sealdrop:tokens:ID`
 * is a sorted set of an account's hashes by expiry, for revocation and for the cap of
 * MAX_TOKENS_PER_ACCOUNT live tokens (the oldest go first, as in tokens.ts). A record
 * that does not parse, or that names another account or enrollment, is no token.
 */
import { randomBytes } from 'node:crypto';
import type { Account } from '../store/accounts.js';
import type { TokenBook } from '../login/login-state.js';
import { KEY_PREFIX, type RedisLink } from './redis-link.js';
import { bindingOf, digest, type IssuedToken, TOKEN_BYTES, TOKEN_TTL_MS, TokenRecord } from '../login/tokens.js';

/** Live tokens kept per account; the oldest go first. */
const MAX_TOKENS_PER_ACCOUNT = 32;

/** KEYS: token record, account's set. ARGV: record JSON, hash, ttl ms, expiresAt, now, cap, token key prefix. */
const ISSUE = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[6])
if over > 0 then
  for _, h in ipairs(redis.call('ZPOPMIN', KEYS[2], over)) do
    if _ % 2 == 1 then redis.call('DEL', ARGV[7] .. h) end
  end
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1`;

/** KEYS: account's set. ARGV: token key prefix. Deletes every token of the account. */
const REVOKE = `
local hashes = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, h in ipairs(hashes) do redis.call('DEL', ARGV[1] .. h) end
redis.call('DEL', KEYS[1])
return #hashes`;

export class RedisTokens implements TokenBook {
  private readonly ttlMs: number;

  constructor(private readonly link: RedisLink, opts: { ttlMs?: number; random?: (n: number) => Uint8Array } = {}) {
    this.ttlMs = opts.ttlMs ?? TOKEN_TTL_MS;
    this.random = opts.random ?? randomBytes;
  }

  private readonly random: (n: number) => Uint8Array;

  async issue(account: Account, now: number): Promise<IssuedToken> {
    const token = Buffer.from(this.random(TOKEN_BYTES)).toString('base64url');
    const expiresAt = now + this.ttlMs;
    const hash = digest(token);
    const record: TokenRecord = { hash, id: account.id, expiresAt, binding: bindingOf(account) };
    await this.link.run('token', (r) => r.eval(ISSUE, 2, tokenKey(hash), listKey(account.id),
      JSON.stringify(record), hash, String(this.ttlMs), String(expiresAt), String(now), String(MAX_TOKENS_PER_ACCOUNT), `${KEY_PREFIX}token:`));
    return { token, expiresAt };
  }

  async verify(account: Account, token: string, now: number): Promise<boolean> {
    const hash = digest(token);
    const raw = await this.link.run('token', (r) => r.get(tokenKey(hash)));
    if (raw === null) return false;
    let json: unknown;
    try { json = JSON.parse(raw); } catch { return false; }
    const rec = TokenRecord.safeParse(json);
    return rec.success && rec.data.hash === hash && rec.data.id === account.id && rec.data.expiresAt > now && rec.data.binding === bindingOf(account);
  }

  async revokeAccount(id: string): Promise<void> {
    await this.link.run('token', (r) => r.eval(REVOKE, 1, listKey(id), `${KEY_PREFIX}token:`));
  }
}

const tokenKey = (hash: string) => `${KEY_PREFIX}token:${hash}`;
const listKey = (id: string) => `${KEY_PREFIX}tokens:${id}`;

/**
 * Session tokens: a valid TOTP code buys a short-lived token, so a peer can
 * reconnect (even within the same 30 s step, when its code is already spent)
 * without a fresh code. Tokens live only in this process's memory.
 *
 * A token is bound to the account as enrolled: revoking the account or
 * re-enrolling it with a new secret invalidates every token issued before.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Account } from './accounts.js';

export const TOKEN_TTL_MS = 60 * 60_000;
const TOKEN_BYTES = 32;
/** Live tokens kept per account; the oldest go first. */
const MAX_TOKENS_PER_ACCOUNT = 32;

export interface IssuedToken { token: string; expiresAt: number }

interface TokenRecord { id: string; expiresAt: number; binding: string }

const digest = (text: string) => createHash('sha256').update(text).digest('hex');
/** What a token stays valid for: this enrollment of this account. */
const bindingOf = (a: Account) => digest(`${a.id}\n${a.createdAt}\n${a.secret}`);

export class SessionTokens {
  /** Keyed by the token's hash, so lookups do not compare secrets directly. */
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly byAccount = new Map<string, Set<string>>();

  constructor(
    private readonly ttlMs = TOKEN_TTL_MS,
    private readonly random: (n: number) => Uint8Array = randomBytes,
  ) {}

  issue(account: Account, now: number): IssuedToken {
    const token = Buffer.from(this.random(TOKEN_BYTES)).toString('base64url');
    const key = digest(token);
    const expiresAt = now + this.ttlMs;
    const mine = this.byAccount.get(account.id) ?? new Set<string>();
    for (const k of mine) {
      if (mine.size < MAX_TOKENS_PER_ACCOUNT && (this.tokens.get(k)?.expiresAt ?? 0) > now) continue;
      mine.delete(k);
      this.tokens.delete(k);
    }
    mine.add(key);
    this.byAccount.set(account.id, mine);
    this.tokens.set(key, { id: account.id, expiresAt, binding: bindingOf(account) });
    return { token, expiresAt };
  }

  /** True when the token was issued to this enrollment of the account and has not expired. */
  verify(account: Account, token: string, now: number): boolean {
    const rec = this.tokens.get(digest(token));
    return rec !== undefined && rec.id === account.id && rec.expiresAt > now && rec.binding === bindingOf(account);
  }

  revokeAccount(id: string): void {
    for (const k of this.byAccount.get(id) ?? []) this.tokens.delete(k);
    this.byAccount.delete(id);
  }
}

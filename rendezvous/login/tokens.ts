/**
 * Session tokens: a valid TOTP code buys a short-lived token, so a peer can
 * reconnect (even within the same 30 s step, when its code is already spent)
 * without a fresh code.
 *
 * Only SHA-256 hashes of tokens are kept, in memory and in `session-tokens.json`
 * in the data folder (0600, atomic, batched like the spent steps), so a restart
 * costs no peer a code. A token is bound to the account as enrolled: revoking the
 * account or re-enrolling it with a new secret invalidates every token issued before.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AccountId } from '../../shared/schemas.js';
import type { Account } from '../store/accounts.js';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { silentLogger, type Logger } from '../log.js';

export const TOKEN_TTL_MS = 60 * 60_000;
export const TOKENS_FILE = 'session-tokens.json';
export const TOKEN_BYTES = 32;
/** Live tokens kept per account; the oldest go first. */
const MAX_TOKENS_PER_ACCOUNT = 32;
const FLUSH_DELAY_MS = 1_000;

export interface IssuedToken { token: string; expiresAt: number }

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);
export const TokenRecord = z.object({ hash: Hex64, id: AccountId, expiresAt: z.number().int(), binding: Hex64 }).strict();
const TokensFile = z.object({ version: z.literal(1), tokens: z.array(TokenRecord) }).strict();
export type TokenRecord = z.infer<typeof TokenRecord>;

export const digest = (text: string) => createHash('sha256').update(text).digest('hex');
/** What a token stays valid for: this enrollment of this account. */
export const bindingOf = (a: Account) => digest(`${a.id}\n${a.createdAt}\n${a.secret}`);

export interface SessionTokensOptions {
  /** Where session-tokens.json lives; without it tokens are kept in memory only. */
  dataDir?: string;
  ttlMs?: number;
  random?: (n: number) => Uint8Array;
  logger?: Logger;
  /** Clock for dropping expired tokens when writing. */
  now?: () => number;
}

export class SessionTokens {
  /** Keyed by the token's hash, so lookups do not compare secrets directly. */
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly byAccount = new Map<string, Set<string>>();
  private readonly ttlMs: number;
  private readonly random: (n: number) => Uint8Array;
  private readonly logger: Logger;
  private readonly file: string | undefined;
  private readonly now: () => number;
  private timer?: NodeJS.Timeout;

  constructor(opts: SessionTokensOptions = {}) {
    this.ttlMs = opts.ttlMs ?? TOKEN_TTL_MS;
    this.random = opts.random ?? randomBytes;
    this.logger = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.file = opts.dataDir === undefined ? undefined : join(opts.dataDir, TOKENS_FILE);
    this.load();
  }

  issue(account: Account, now: number): IssuedToken {
    const token = Buffer.from(this.random(TOKEN_BYTES)).toString('base64url');
    const expiresAt = now + this.ttlMs;
    const mine = this.byAccount.get(account.id);
    for (const k of mine ?? []) {
      if (mine!.size < MAX_TOKENS_PER_ACCOUNT && (this.tokens.get(k)?.expiresAt ?? 0) > now) continue;
      mine!.delete(k);
      this.tokens.delete(k);
    }
    this.add({ hash: digest(token), id: account.id, expiresAt, binding: bindingOf(account) });
    this.changed();
    return { token, expiresAt };
  }

  /** True when the token was issued to this enrollment of the account and has not expired. */
  verify(account: Account, token: string, now: number): boolean {
    const rec = this.tokens.get(digest(token));
    return rec !== undefined && rec.id === account.id && rec.expiresAt > now && rec.binding === bindingOf(account);
  }

  revokeAccount(id: string): void {
    if (!this.byAccount.has(id)) return;
    for (const k of this.byAccount.get(id)!) this.tokens.delete(k);
    this.byAccount.delete(id);
    this.changed();
  }

  /** Writes the live tokens (hashes only); called on a timer and on close. */
  flush(): void {
    const now = this.now();
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.file) return;
    for (const [k, rec] of this.tokens) {
      if (rec.expiresAt > now) continue;
      this.tokens.delete(k);
      this.byAccount.get(rec.id)?.delete(k);
    }
    try {
      writeFileAtomic(this.file, JSON.stringify({ version: 1, tokens: [...this.tokens.values()] }));
    } catch (err) {
      this.logger.error('tokens.write-failed', { error: (err as Error).message });
    }
  }

  private add(rec: TokenRecord): void {
    const mine = this.byAccount.get(rec.id) ?? new Set<string>();
    mine.add(rec.hash);
    this.byAccount.set(rec.id, mine);
    this.tokens.set(rec.hash, rec);
  }

  private changed(): void {
    if (!this.file) return;
    this.timer ??= setTimeout(() => this.flush(), FLUSH_DELAY_MS);
    this.timer.unref();
  }

  /** A missing file is no tokens; a corrupt one is logged and replaced (it costs peers a code, nothing more). */
  private load(): void {
    if (!this.file) return;
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.error('tokens.unreadable', { error: `cannot read ${this.file}: ${(err as NodeJS.ErrnoException).code}` });
      return;
    }
    let parsed: z.SafeParseReturnType<unknown, z.infer<typeof TokensFile>>;
    try {
      parsed = TokensFile.safeParse(JSON.parse(text));
    } catch {
      parsed = { success: false } as never;
    }
    if (!parsed.success) {
      this.logger.error('tokens.unreadable', { error: `${this.file} is corrupt; its tokens are dropped (peers log in with a code)` });
      return;
    }
    for (const rec of parsed.data.tokens) this.add(rec);
  }
}

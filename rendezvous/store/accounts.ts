/**
 * The account store: one JSON file, `accounts.json`, in the rendezvous data folder.
 *
 *   {"version":1,"accounts":{"alice":{"secret":"BASE32…","createdAt":"2024-…Z"}}}
 *
 * The operator CLI and the running server are separate processes sharing this file:
 * writes are atomic (temp file, fsync, rename), and readers re-read it whenever a cheap
 * stat says it changed, so `enroll` and `revoke` take effect without a restart.
 * Changes hold the store's lock (shared/file-lock.ts) from the read to the rename, so
 * concurrent operator commands never lose each other's updates.
 * A file that cannot be parsed is an error naming the file, never a silent reset.
 * The running server reads it through LiveAccounts (live-accounts.ts).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { SealdropError } from '../../shared/errors.js';
import { AccountId, describeIssues } from '../../shared/schemas.js';
import { isBase32Secret, secretFromBytes } from '../../shared/totp.js';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { LOCK_WAIT_MS, withFileLock } from '../../shared/file-lock.js';

export const STORE_FILE = 'accounts.json';
const SECRET_BYTES = 20;
const CORRUPT_HINT = ' (left unchanged: fix it or restore it from a backup)';

const StoredAccount = z.object({
  secret: z.string().refine(isBase32Secret, 'not a base32 TOTP secret'),
  createdAt: z.string(),
}).strict();
const StoreFile = z.object({ version: z.literal(1), accounts: z.record(AccountId, StoredAccount) }).strict();

export interface Account { id: string; secret: string; createdAt: string }
export type AccountSummary = Omit<Account, 'secret'>;
type Entry = z.infer<typeof StoredAccount>;

export interface AccountStoreOptions {
  /** Random bytes for new secrets (tests may pass a fixed source). */
  randomBytes?: (n: number) => Uint8Array;
  now?: () => number;
  /** How long enroll and revoke wait for another command's lock (default 10 s). */
  lockWaitMs?: number;
}

/** `$XDG_DATA_HOME/sealdrop-rendezvous`, else `~/.local/share/sealdrop-rendezvous`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_DATA_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'share'), 'sealdrop-rendezvous');
}

export class AccountStore {
  readonly file: string;
  private accounts = new Map<string, Entry>();
  /** stat identity of the file last read; rename gives every write a new inode. */
  private loaded: string | undefined;
  private readonly random: (n: number) => Uint8Array;
  private readonly now: () => number;
  private readonly lockWaitMs: number;
  /** Bumped whenever the in-memory copy is replaced (read or written), however that was noticed. */
  private version = 0;

  constructor(readonly dataDir: string, opts: AccountStoreOptions = {}) {
    this.file = join(dataDir, STORE_FILE);
    this.random = opts.randomBytes ?? randomBytes;
    this.now = opts.now ?? Date.now;
    this.lockWaitMs = opts.lockWaitMs ?? LOCK_WAIT_MS;
  }

  /** Increases whenever the copy in memory was replaced; compare to notice any change. */
  get generation(): number { return this.version; }

  /** Whether the file existed at the last read. */
  get present(): boolean { return this.loaded !== undefined && this.loaded !== 'absent'; }

  /** Every account of the copy last read, without re-reading. */
  snapshot(): Map<string, Account> {
    return new Map([...this.accounts].map(([id, e]) => [id, { id, ...e }]));
  }

  /** Re-reads the file if it changed since the last read; true when it did. Throws ERR_STORE. */
  refresh(): boolean {
    const signature = this.signature();
    if (signature === this.loaded) return false;
    this.accounts = signature === 'absent' ? new Map() : this.read();
    this.loaded = signature;
    this.version++;
    return true;
  }

  get(id: string): Account | undefined {
    this.refresh();
    const entry = this.accounts.get(id);
    return entry && { id, ...entry };
  }

  list(): AccountSummary[] {
    this.refresh();
    return [...this.accounts].map(([id, e]) => ({ id, createdAt: e.createdAt })).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Creates the account with a fresh secret (or replaces it with `force`); returns it. */
  enroll(id: string, opts: { force?: boolean } = {}): Account {
    const parsed = AccountId.safeParse(id);
    if (!parsed.success) throw new SealdropError('ERR_BAD_INPUT', `invalid account ID ${JSON.stringify(id)}: ${parsed.error.issues[0].message}`);
    return this.change(() => {
      if (this.accounts.has(id) && !opts.force) {
        throw new SealdropError('ERR_EXISTS', `account ${id} already exists (use --force to replace its secret)`);
      }
      const entry: Entry = { secret: secretFromBytes(this.random(SECRET_BYTES)), createdAt: new Date(this.now()).toISOString() };
      this.write(new Map(this.accounts).set(id, entry));
      return { id, ...entry };
    });
  }

  revoke(id: string): void {
    this.change(() => {
      if (!this.accounts.has(id)) throw new SealdropError('ERR_NOT_FOUND', `no account ${JSON.stringify(id)} in ${this.file}`);
      const next = new Map(this.accounts);
      next.delete(id);
      this.write(next);
    });
  }

  /** Read-modify-write under the store's lock, always from a fresh read. */
  private change<T>(fn: () => T): T {
    this.ensureDir();
    return withFileLock(`${this.file}.lock`, () => {
      this.loaded = undefined; // never trust a cached copy inside the lock
      this.refresh();
      return fn();
    }, this.lockWaitMs);
  }

  private signature(): string {
    try {
      const s = statSync(this.file);
      return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
      throw storeError(`cannot read ${this.file}`, err);
    }
  }

  private read(): Map<string, Entry> {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      throw storeError(`cannot read ${this.file}`, err);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw storeError(`account store ${this.file} is not valid JSON`, err, CORRUPT_HINT);
    }
    const parsed = StoreFile.safeParse(json);
    if (!parsed.success) {
      throw new SealdropError('ERR_STORE', `account store ${this.file} is corrupt: ${describeIssues(parsed.error)}${CORRUPT_HINT}`);
    }
    return new Map(Object.entries(parsed.data.accounts));
  }

  private write(accounts: Map<string, Entry>): void {
    this.ensureDir();
    const sorted = [...accounts].sort(([a], [b]) => a.localeCompare(b));
    const body = JSON.stringify({ version: 1, accounts: Object.fromEntries(sorted) }, null, 2) + '\n';
    try {
      writeFileAtomic(this.file, body);
    } catch (err) {
      throw storeError(`cannot write ${this.file}`, err);
    }
    this.accounts = accounts;
    this.loaded = this.signature();
    this.version++;
  }

  ensureDir(): void {
    try {
      const created = mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
      if (created !== undefined) chmodSync(this.dataDir, 0o700);
    } catch (err) {
      throw storeError(`cannot create data folder ${this.dataDir}`, err);
    }
  }
}

function storeError(what: string, err: unknown, hint = ''): SealdropError {
  const reason = (err as NodeJS.ErrnoException)?.code ?? (err instanceof Error ? err.message : String(err));
  return new SealdropError('ERR_STORE', `${what}: ${reason}${hint}`, { cause: err });
}

/**
 * The peer's home folder: credentials, identity key, cached session token and
 * pinned peer keys. Every file is written atomically with mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { identityFromSeed, type KeyPair } from '../../shared/crypto.js';
import { SealdropError } from '../../shared/errors.js';
import { LOCK_WAIT_MS, withFileLock } from '../../shared/file-lock.js';
import { AccountId } from '../../shared/schemas.js';

export const Credentials = z.object({
  server: z.string().url().optional(),
  id: AccountId.optional(),
  secret: z.string().regex(/^[A-Z2-7]{16,128}=*$/, 'secret must be base32').optional(),
  strict: z.boolean().optional(),
  /** `--verify` by default: every transfer waits until the person confirms the verification code. */
  verify: z.boolean().optional(),
  /** A PEM file of CA certificates to trust for an https rendezvous (a private CA); like `--ca FILE`. */
  ca: z.string().optional(),
}).strict();
export type Credentials = z.infer<typeof Credentials>;

const CachedToken = z.object({ server: z.string(), id: AccountId, token: z.string(), expiresAt: z.number() }).strict();
type CachedToken = z.infer<typeof CachedToken>;

export function defaultHome(): string {
  if (process.env.SEALDROP_HOME) return process.env.SEALDROP_HOME;
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'sealdrop');
}

export class Home {
  constructor(readonly dir: string) {}

  private file(name: string): string { return path.join(this.dir, name); }

  async readCredentials(): Promise<Credentials> {
    return (await this.readJson('config.json', Credentials)) ?? {};
  }

  async writeCredentials(c: Credentials): Promise<void> {
    await this.writeAtomic('config.json', JSON.stringify(Credentials.parse(c), null, 2));
  }

  /** The long-term Ed25519 identity, created on first use. */
  async identity(): Promise<KeyPair> {
    const file = this.file('identity.key');
    try {
      const seed = Buffer.from((await fs.readFile(file, 'utf8')).trim(), 'base64');
      if (seed.length !== 32) throw new SealdropError('ERR_CONFIG', `${file} is not a sealdrop identity key; move it away to create a new identity`);
      return identityFromSeed(seed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const seed = randomBytes(32);
      // Two first runs at once (a `receive` and a `send` started together) must end with one
      // identity: the one whose file got there first. The loser reads it instead of its own.
      if (!await this.createOnce('identity.key', seed.toString('base64') + '\n')) return this.identity();
      return identityFromSeed(seed);
    }
  }

  async readToken(server: string, id: string, nowMs: number): Promise<string | undefined> {
    const t = await this.readJson('session.json', CachedToken).catch(() => undefined);
    return t && t.server === server && t.id === id && t.expiresAt > nowMs + 5_000 ? t.token : undefined;
  }

  async writeToken(t: CachedToken): Promise<void> {
    await this.writeAtomic('session.json', JSON.stringify(t));
  }

  async clearToken(): Promise<void> {
    await fs.rm(this.file('session.json'), { force: true });
  }

  async readJson<T>(name: string, schema: z.ZodType<T>): Promise<T | undefined> {
    const file = this.file(name);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SealdropError('ERR_CONFIG', `cannot read ${file}: ${(err as Error).message}`);
    }
    return parseJson(file, text, schema);
  }

  /**
   * Read-modify-write of one JSON file under its lock (shared/file-lock.ts), from a fresh read,
   * written atomically (shared/atomic-file.ts): two processes changing it at once (a `receive` and a `send`, each
   * pinning a peer) never lose a change, and never both decide on a value that is not yet there.
   * `change` gets the current content and gives the next one and its result.
   */
  changeJson<T, R>(name: string, schema: z.ZodType<T>, change: (current: T | undefined) => { next: T; result: R }): R {
    const file = this.file(name);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    return withFileLock(`${file}.lock`, () => {
      let text: string | undefined;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SealdropError('ERR_CONFIG', `cannot read ${file}: ${(err as Error).message}`);
      }
      const { next, result } = change(text === undefined ? undefined : parseJson(file, text, schema));
      writeFileAtomic(file, JSON.stringify(next, null, 2));
      return result;
    }, LOCK_WAIT_MS, `${file}`);
  }

  /** Write to a temporary file, fsync, rename: a crash never leaves a half-written file. */
  async writeAtomic(name: string, content: string): Promise<void> {
    const tmp = await this.writeTemporary(name, content);
    await fs.rename(tmp, this.file(name));
  }

  /**
   * Like writeAtomic, but only if `name` does not exist yet, decided atomically (a hard link
   * fails when the name is taken, where a check before a rename would let both writers in).
   * False: another writer's file is there, and stays.
   */
  async createOnce(name: string, content: string): Promise<boolean> {
    const tmp = await this.writeTemporary(name, content);
    try {
      await fs.link(tmp, this.file(name));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  private async writeTemporary(name: string, content: string): Promise<string> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file(name)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const handle = await fs.open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } catch (err) {
      await handle.close().catch(() => {});
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await handle.close();
    return tmp;
  }
}

function parseJson<T>(file: string, text: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try { json = JSON.parse(text); } catch { throw new SealdropError('ERR_CONFIG', `${file} is not valid JSON; fix or remove it`); }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new SealdropError('ERR_CONFIG', `${file} is malformed: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

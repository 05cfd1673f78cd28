/**
 * PartialFile: where received bytes land until their SHA-256 verifies. Only a
 * verified file takes its final name, by hard link, which never overwrites: if
 * the name exists, the next free "name (n).ext" is taken.
 */
import { createHash, type Hash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SealdropError } from '../shared/errors.js';
import { numberedName } from './safe-names.js';

const MAX_RENAME_TRIES = 1000;

/** Creates the folders of a vetted relative path inside root, refusing any symlink on the way. */
export async function ensureFolders(root: string, parts: string[]): Promise<string> {
  let dir = root;
  for (const part of parts) {
    dir = path.join(dir, part);
    try {
      await fs.mkdir(dir, { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(err, dir);
      const st = await fs.lstat(dir);
      if (!st.isDirectory()) throw new SealdropError('ERR_BAD_INPUT', `${dir} exists and is not a folder (symbolic links are never followed)`);
    }
  }
  return dir;
}

export class PartialFile {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  private constructor(private readonly handle: fs.FileHandle, readonly partialPath: string, private readonly dir: string, private readonly base: string) {}

  /** parts: a vetted relative path (see safe-names.ts). */
  static async create(root: string, parts: string[], tag: string): Promise<PartialFile> {
    const dir = await ensureFolders(root, parts.slice(0, -1));
    const base = parts[parts.length - 1]!;
    const partialPath = path.join(dir, `.${tag}.sealdrop-part`);
    const handle = await fs.open(partialPath, 'wx', 0o600).catch((err) => { throw ioError(err, partialPath); });
    return new PartialFile(handle, partialPath, dir, base);
  }

  async write(data: Buffer): Promise<void> {
    this.hash.update(data);
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await this.handle.write(data, off, data.length - off, null).catch((err) => { throw ioError(err, this.partialPath); });
      off += bytesWritten;
    }
    this.bytes += data.length;
  }

  /** Verifies the digest, then gives the file its final (never existing) name. Returns the path. */
  async commit(expectedSha256: string): Promise<{ path: string; sha256: string }> {
    const sha256 = this.hash.digest('hex');
    if (sha256 !== expectedSha256) {
      await this.discard();
      throw new SealdropError('ERR_INTEGRITY', `SHA-256 mismatch for ${this.base}: the file was altered in transit or changed while sent; nothing was saved under its name`);
    }
    await this.handle.sync();
    await this.handle.close();
    await fs.chmod(this.partialPath, 0o644);
    for (let n = 0; n < MAX_RENAME_TRIES; n++) {
      const final = path.join(this.dir, n === 0 ? this.base : numberedName(this.base, n));
      try {
        await fs.link(this.partialPath, final);
        await fs.unlink(this.partialPath);
        return { path: final, sha256 };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(err, final);
      }
    }
    throw new SealdropError('ERR_IO', `no free name for ${this.base} after ${MAX_RENAME_TRIES} tries`);
  }

  async discard(): Promise<void> {
    await this.handle.close().catch(() => {});
    await fs.rm(this.partialPath, { force: true });
  }
}

function ioError(err: unknown, file: string): SealdropError {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOSPC') return new SealdropError('ERR_SPACE', `no space left writing ${file}`);
  return new SealdropError('ERR_IO', `${file}: ${e.message}`, { cause: err });
}

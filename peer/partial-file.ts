/**
 * PartialFile: where received bytes land until their SHA-256 verifies. Only a
 * verified file takes its final name, by hard link, which never overwrites: if
 * the name exists, the next free "name (n).ext" is taken.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { SealdropError } from '../shared/errors.js';
import { numberedName } from './safe-names.js';

const MAX_RENAME_TRIES = 1000;
/** Received chunks are written in batches of about this size: one write call per MiB, not per chunk. */
const WRITE_BATCH = 1024 * 1024;

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
  private digest?: string;
  /** Bytes taken so far (written, or waiting in `batch` to be written). */
  bytes = 0;
  /** Chunks taken but not yet written, in order: the last `batchBytes` of `bytes`. */
  private batch: Buffer[] = [];
  private batchBytes = 0;

  private constructor(private readonly handle: fs.FileHandle, readonly partialPath: string, private readonly dir: string, private readonly base: string) {}

  /**
   * Opens the partial file for a vetted relative path. `key` names it: the same
   * sender offering the same file again finds it and resumes.
   */
  static async open(root: string, parts: string[], key: string): Promise<PartialFile> {
    const dir = await ensureFolders(root, parts.slice(0, -1));
    const base = parts[parts.length - 1]!;
    const partialPath = path.join(dir, `.${key}.sealdrop-part`);
    // O_NOFOLLOW: a symlink planted under the partial's name is refused, never written through.
    const flags = fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW;
    const handle = await fs.open(partialPath, flags, 0o600).catch((err) => { throw ioError(err, partialPath); });
    return new PartialFile(handle, partialPath, dir, base);
  }

  /**
   * How many whole chunks an earlier attempt left in the partial file for this
   * key (at most maxChunks); 0 if there is none. Reads nothing but its size.
   */
  static async existingChunks(root: string, parts: string[], key: string, chunkSize: number, maxChunks: number): Promise<number> {
    const partialPath = path.join(root, ...parts.slice(0, -1), `.${key}.sealdrop-part`);
    const st = await fs.lstat(partialPath).catch(() => undefined);
    if (!st || !st.isFile()) return 0;
    return Math.max(0, Math.min(Math.floor(st.size / chunkSize), maxChunks));
  }

  /** Keeps the first `bytes` of an earlier attempt (cutting the rest) and hashes them, so the final SHA-256 covers every byte. */
  async resumeAt(bytes: number): Promise<void> {
    const { size } = await this.handle.stat();
    if (size < bytes) throw new SealdropError('ERR_IO', `${this.partialPath} shrank before it could be resumed`);
    await this.handle.truncate(bytes);
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    for (let pos = 0; pos < bytes;) {
      const { bytesRead } = await this.handle.read(buffer, 0, Math.min(buffer.length, bytes - pos), pos);
      if (bytesRead === 0) throw new SealdropError('ERR_IO', `${this.partialPath} shrank while resuming`);
      this.hash.update(buffer.subarray(0, bytesRead));
      pos += bytesRead;
    }
    this.bytes = bytes;
  }

  /** Takes the next bytes of the file; they reach the disk in batches (see flush). `data` must not change afterwards. */
  async write(data: Buffer): Promise<void> {
    this.hash.update(data);
    this.batch.push(data);
    this.batchBytes += data.length;
    this.bytes += data.length;
    if (this.batchBytes >= WRITE_BATCH) await this.flush();
  }

  /** Writes every byte taken so far. */
  private async flush(): Promise<void> {
    let pieces = this.batch;
    let left = this.batchBytes;
    let at = this.bytes - left;
    this.batch = [];
    this.batchBytes = 0;
    while (left > 0) {
      const { bytesWritten } = await this.handle.writev(pieces, at).catch((err) => { throw ioError(err, this.partialPath); });
      at += bytesWritten;
      left -= bytesWritten;
      pieces = dropBytes(pieces, bytesWritten); // a short write: the rest goes again
    }
  }

  /** All bytes are in: flush them to disk and close, keeping the digest for commit. */
  async finish(): Promise<void> {
    if (this.digest) return;
    this.digest = this.hash.digest('hex');
    await this.flush();
    await this.handle.sync().catch((err) => { throw ioError(err, this.partialPath); });
    await this.handle.close();
  }

  /** Verifies the digest, then gives the file its final (never existing) name. Returns the path. */
  async commit(expectedSha256: string): Promise<{ path: string; sha256: string }> {
    await this.finish();
    const sha256 = this.digest!;
    if (sha256 !== expectedSha256) {
      await this.discard();
      throw new SealdropError('ERR_INTEGRITY', `SHA-256 mismatch for ${this.base}: the file was altered in transit or changed while sent; nothing was saved under its name`);
    }
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

  /** Leaves the verified prefix on disk for a later attempt to resume from. */
  async keep(): Promise<void> {
    if (this.digest) return;
    await this.flush().catch(() => {});
    await this.handle.sync().catch(() => {});
    await this.handle.close().catch(() => {});
  }

  async discard(): Promise<void> {
    if (!this.digest) await this.handle.close().catch(() => {});
    await fs.rm(this.partialPath, { force: true });
  }
}

function ioError(err: unknown, file: string): SealdropError {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOSPC') return new SealdropError('ERR_SPACE', `no space left writing ${file}`);
  return new SealdropError('ERR_IO', `${file}: ${e.message}`, { cause: err });
}

/** `pieces` without their first `n` bytes. */
function dropBytes(pieces: Buffer[], n: number): Buffer[] {
  const rest = [...pieces];
  while (n > 0 && rest.length > 0) {
    const first = rest[0]!;
    if (first.length <= n) { n -= first.length; rest.shift(); } else { rest[0] = first.subarray(n); n = 0; }
  }
  return rest;
}

/**
 * PartialFile: where received bytes land until their SHA-256 verifies. Only a
 * verified file takes its final name, by hard link, which never overwrites: if
 * the name exists, the next free "name (n).ext" is taken.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants as C, promises as fs } from 'node:fs';
import { SealdropError } from '../../shared/errors.js';
import { fsError, type ReceiveFolder, type VerifiedFolder } from './receive-folder.js';
import { numberedName } from './safe-names.js';

const MAX_RENAME_TRIES = 1000;
/** Received chunks are written in batches of about this size: one write call per MiB, not per chunk. */
const WRITE_BATCH = 1024 * 1024;
// O_NOFOLLOW: a symlink planted under the partial's name is refused, never written through.
// O_NONBLOCK: a FIFO planted there cannot hold the open; the fstat check below then refuses it.
const OPEN_PARTIAL = C.O_RDWR | C.O_NOFOLLOW | C.O_NONBLOCK;
const LOOK_AT_PARTIAL = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;

/**
 * The partial file's name for `key`. It holds ':', which every received name
 * is refused for (safe-names.ts), so no name a peer sends can ever be it.
 */
export function partialName(key: string): string {
  return `.${key}:sealdrop-part`;
}

/** Creates the folders of a vetted relative path inside the target folder, refusing any link on the way. */
export async function ensureFolders(folder: ReceiveFolder, parts: string[]): Promise<void> {
  await folder.within(parts, true, async () => {});
}

export class PartialFile {
  private readonly hash: Hash = createHash('sha256');
  private digest?: string;
  /** Bytes taken so far (written, or waiting in `batch` to be written). */
  bytes = 0;
  /** Chunks taken but not yet written, in order: the last `batchBytes` of `bytes`. */
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private readonly name: string;
  /** For messages only. */
  private readonly shown: string;

  private constructor(
    private readonly handle: fs.FileHandle,
    /** Which file it is: only this inode is ever linked to the final name. */
    private readonly identity: { dev: number; ino: number },
    private readonly folder: ReceiveFolder,
    private readonly folderParts: string[],
    private readonly base: string,
    key: string,
  ) {
    this.name = partialName(key);
    this.shown = folder.showPath(folderParts, this.name);
  }

  /**
   * Opens the partial file for a vetted relative path, inside the verified
   * folder. `key` names it: the same sender offering the same file again finds it and resumes.
   */
  static async open(folder: ReceiveFolder, parts: string[], key: string): Promise<PartialFile> {
    const folderParts = parts.slice(0, -1);
    const name = partialName(key);
    const shown = folder.showPath(folderParts, name);
    return folder.within(folderParts, true, async (dir) => {
      const at = dir!.at(name);
      let made = true;
      let handle = await fs.open(at, OPEN_PARTIAL | C.O_CREAT | C.O_EXCL, 0o600).catch((err) => {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, `cannot create ${shown}`);
        return undefined;
      });
      if (!handle) {
        made = false; // an earlier attempt's partial: resumed from
        handle = await fs.open(at, OPEN_PARTIAL).catch((err) => { throw fsError(err, `cannot open ${shown}`); });
      }
      try {
        const st = await handle.stat();
        if (!st.isFile() || st.nlink !== 1) {
          throw new SealdropError('ERR_IO', `${shown} is not a plain file of its own (a special file or a second link is in the way); it was left as it is`);
        }
        await dir!.verify();
        return new PartialFile(handle, { dev: st.dev, ino: st.ino }, folder, folderParts, parts[parts.length - 1]!, key);
      } catch (err) {
        await handle.close().catch(() => {});
        if (made) await fs.unlink(at).catch(() => {}); // ours, wherever its folder went: take it back
        throw fsError(err, `cannot use ${shown}`);
      }
    });
  }

  /**
   * How many whole chunks an earlier attempt left in the partial file for this
   * key (at most maxChunks); 0 if there is none. Creates nothing and reads
   * nothing but its size, through a descriptor that refuses links and special files.
   */
  static async existingChunks(folder: ReceiveFolder, parts: string[], key: string, chunkSize: number, maxChunks: number): Promise<number> {
    const size = await folder.within(parts.slice(0, -1), false, async (dir) => {
      if (!dir) return 0;
      const handle = await fs.open(dir.at(partialName(key)), LOOK_AT_PARTIAL).catch(() => undefined);
      if (!handle) return 0;
      try {
        const st = await handle.stat();
        return st.isFile() && st.nlink === 1 ? st.size : 0;
      } finally {
        await handle.close().catch(() => {});
      }
    });
    return Math.max(0, Math.min(Math.floor(size / chunkSize), maxChunks));
  }

  /** Keeps the first `bytes` of an earlier attempt (cutting the rest) and hashes them, so the final SHA-256 covers every byte. */
  async resumeAt(bytes: number): Promise<void> {
    const { size } = await this.handle.stat();
    if (size < bytes) throw new SealdropError('ERR_IO', `${this.shown} shrank before it could be resumed`);
    await this.handle.truncate(bytes).catch((err) => { throw fsError(err, `cannot resume ${this.shown}`); });
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    for (let pos = 0; pos < bytes;) {
      const { bytesRead } = await this.handle.read(buffer, 0, Math.min(buffer.length, bytes - pos), pos).catch((err) => { throw fsError(err, `cannot resume ${this.shown}`); });
      if (bytesRead === 0) throw new SealdropError('ERR_IO', `${this.shown} shrank while resuming`);
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
      const { bytesWritten } = await this.handle.writev(pieces, at).catch((err) => { throw fsError(err, `cannot write ${this.shown}`); });
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
    await this.handle.sync().catch((err) => { throw fsError(err, `cannot write ${this.shown}`); });
    await this.handle.close().catch(() => {});
  }

  /**
   * Verifies the digest, then gives the file its final (never existing) name by
   * hard link inside the verified folder. Returns the path the person knows it by.
   */
  async commit(expectedSha256: string): Promise<{ path: string; sha256: string }> {
    await this.finish();
    const sha256 = this.digest!;
    if (sha256 !== expectedSha256) {
      await this.discard();
      const words = `SHA-256 mismatch for ${this.base}: the file was altered in transit or changed while sent; nothing was saved under its name`;
      throw new SealdropError('ERR_INTEGRITY', words, { peerMessage: words });
    }
    const final = await this.folder.within(this.folderParts, false, async (dir) => {
      if (!dir) throw new SealdropError('ERR_IO', `the folder of ${this.shown} was removed before the file could take its name`);
      return this.link(dir);
    });
    return { path: this.folder.showPath(this.folderParts, final), sha256 };
  }

  private async link(dir: VerifiedFolder): Promise<string> {
    const partial = dir.at(this.name);
    // Only our own inode may take the name: a file swapped in under the partial's name is refused.
    const handle = await fs.open(partial, LOOK_AT_PARTIAL).catch((err) => { throw fsError(err, `cannot open ${this.shown}`); });
    try {
      if (!this.isOurs(await handle.stat())) throw new SealdropError('ERR_IO', `${this.shown} was replaced by another file before it could take its name`);
      await handle.chmod(0o644).catch((err) => { throw fsError(err, `cannot set the mode of ${this.shown}`); });
    } finally {
      await handle.close().catch(() => {});
    }
    for (let n = 0; n < MAX_RENAME_TRIES; n++) {
      const name = n === 0 ? this.base : numberedName(this.base, n);
      await dir.verify();
      const linked = await fs.link(partial, dir.at(name)).then(() => true, (err) => {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw fsError(err, `cannot save ${this.folder.showPath(this.folderParts, name)}`);
      });
      if (!linked) continue;
      // The name is ours now; it stays only if it is still inside and is our file.
      const st = await fs.lstat(dir.at(name)).catch(() => undefined);
      const stillInside = await dir.verify().then(() => true, () => false);
      if (!st || !this.isOurs(st) || !stillInside) {
        if (st && this.isOurs(st)) await fs.unlink(dir.at(name)).catch(() => {});
        if (!stillInside) await dir.verify(); // throws the words for it
        throw new SealdropError('ERR_IO', `${this.shown} changed while it took its name; nothing was saved`);
      }
      await fs.unlink(partial).catch(() => {}); // the file is saved; a partial name left behind is only clutter
      return name;
    }
    throw new SealdropError('ERR_IO', `no free name for ${this.base} after ${MAX_RENAME_TRIES} tries`, { peerMessage: `the receiver has no free name for ${this.base}` });
  }

  private isOurs(st: { dev: number; ino: number }): boolean {
    return st.dev === this.identity.dev && st.ino === this.identity.ino;
  }

  /** Leaves the verified prefix on disk for a later attempt to resume from. */
  async keep(): Promise<void> {
    if (this.digest) return;
    await this.flush().catch(() => {});
    await this.handle.sync().catch(() => {});
    await this.handle.close().catch(() => {});
  }

  /** Removes the partial file (if it is still ours and where it was). Never throws. */
  async discard(): Promise<void> {
    if (!this.digest) await this.handle.close().catch(() => {});
    await this.folder.within(this.folderParts, false, async (dir) => {
      if (!dir) return;
      const st = await fs.lstat(dir.at(this.name)).catch(() => undefined);
      if (st && this.isOurs(st)) await fs.unlink(dir.at(this.name)).catch(() => {});
    }).catch(() => {});
  }
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

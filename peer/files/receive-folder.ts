/**
 * ReceiveFolder: the target folder of one transfer, opened once, and every
 * folder below it reached from a verified folder descriptor without following
 * a link. Containment is a property of how things are opened, not of a string
 * check done earlier: a local process that swaps a folder for a symbolic link
 * mid-transfer can make the transfer fail, never make it write outside.
 *
 * On Linux, `/proc/self/fd/N/name` resolves `name` inside the folder that
 * descriptor N holds (openat semantics), whatever happened to the path that
 * led there. Every open, mkdir, link, unlink below goes through such a path,
 * with O_NOFOLLOW where the call would otherwise follow a link (mkdir, link and
 * unlink never follow the last component). After each folder is opened
 * (O_DIRECTORY | O_NOFOLLOW) its real path (readlink of its descriptor) must be
 * exactly where it was asked for, inside the target folder; what was created
 * just before a failed check is removed again.
 *
 * Left: a folder already verified and then moved out of the target folder by a
 * local process is followed by its descriptor until the next check (Go's
 * os.Root has the same limit). Every create is checked again right after, so
 * what lands there is removed.
 */
import { constants as C, promises as fs } from 'node:fs';
import path from 'node:path';
import { SealdropError } from '../../shared/errors.js';

/** Folder descriptors kept open at once (the target folder itself is extra): a 1,000-folder transfer holds no more. */
const MAX_OPEN_FOLDERS = 8;
const OPEN_FOLDER = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;

/** One folder inside the target folder, verified where it is. `at(name)` names an entry in it for any fs call. */
export interface VerifiedFolder {
  /** Where the person sees it (for local messages only). */
  readonly shown: string;
  at(name: string): string;
  /** Fails with ERR_IO unless the folder is still exactly where it was opened. */
  verify(): Promise<void>;
}

interface Entry { folder: Promise<Folder | undefined>; users: number }

export class ReceiveFolder {
  private readonly open = new Map<string, Entry>();

  private constructor(private readonly top: Folder, readonly shown: string) {}

  /**
   * Opens `dir` once: its real path, then a descriptor that refuses a link, checked to be that same folder.
   * `dir` itself must not be a link (callers resolve the folder a person named once, when they start), so
   * a link swapped in at its path between two transfers is refused, never followed.
   */
  static async open(dir: string): Promise<ReceiveFolder> {
    const st = await fs.lstat(dir).catch((err) => { throw fsError(err, `cannot use the folder ${dir}`); });
    if (st.isSymbolicLink()) throw new SealdropError('ERR_IO', `the folder ${dir} was replaced by a symbolic link; nothing is written through it`);
    const real = await fs.realpath(dir).catch((err) => { throw fsError(err, `cannot use the folder ${dir}`); });
    const top = await Folder.openTop(real, dir);
    return new ReceiveFolder(top, dir);
  }

  /** Free bytes on the target folder's file system. */
  async freeBytes(): Promise<number> {
    const st = await fs.statfs(this.top.self()).catch((err) => { throw fsError(err, `cannot use the folder ${this.shown}`); });
    return st.bavail * st.bsize;
  }

  /** The local path of `name` in the folder at `parts`, for messages and results (never for opening). */
  showPath(parts: string[], name?: string): string {
    return path.join(this.shown, ...parts, ...(name === undefined ? [] : [name]));
  }

  /**
   * Runs `use` with the verified folder at vetted `parts` (each created, mode
   * 0755, when `create`). Without `create`, a folder that does not exist gives
   * `use` undefined. Anything in the way that is not a real folder fails ERR_IO.
   */
  async within<T>(parts: string[], create: boolean, use: (folder: VerifiedFolder | undefined) => Promise<T>): Promise<T> {
    if (parts.length === 0) return use(this.top);
    const key = parts.join('/');
    let entry = this.open.get(key);
    if (entry) {
      this.open.delete(key); // re-inserted below: the Map's order is the least recently used first
    } else {
      entry = { folder: this.walk(parts, create), users: 0 };
      entry.folder.catch(() => {});
    }
    this.open.set(key, entry);
    entry.users++;
    try {
      let folder = await entry.folder.catch((err) => {
        if (this.open.get(key) === entry) this.open.delete(key); // a failed walk is not kept
        throw err;
      });
      if (!folder && create) {
        // Looked up before (missing) and now wanted: walk again, creating.
        entry.folder = this.walk(parts, true);
        folder = await entry.folder.catch((err) => { this.open.delete(key); throw err; });
      }
      return await use(folder);
    } finally {
      entry.users--;
      await this.trim();
    }
  }

  /** Closes every descriptor. */
  async close(): Promise<void> {
    const entries = [...this.open.values()];
    this.open.clear();
    await Promise.all(entries.map((e) => e.folder.then((f) => f?.close(), () => {})));
    await this.top.close();
  }

  private async trim(): Promise<void> {
    for (const [key, entry] of this.open) {
      if (this.open.size <= MAX_OPEN_FOLDERS) return;
      if (entry.users > 0) continue;
      this.open.delete(key);
      await entry.folder.then((f) => f?.close(), () => {});
    }
  }

  /** Opens (creating if asked) each part below the target folder in turn, from descriptor to descriptor. */
  private async walk(parts: string[], create: boolean): Promise<Folder | undefined> {
    let current = this.top;
    for (let i = 0; i < parts.length; i++) {
      const parent = current;
      const next = await parent.child(parts[i]!, create, this.showPath(parts.slice(0, i + 1))).finally(async () => {
        if (parent !== this.top) await parent.close(); // only the folder asked for stays open
      });
      if (!next) return undefined;
      current = next;
    }
    return current;
  }
}

/**
 * A folder held by its descriptor (Linux), or — where /proc/self/fd does not
 * exist — by its real path, checked with lstat and realpath at each step. That
 * fallback narrows the window a racing process has but cannot close it; only
 * the descriptor does.
 */
class Folder implements VerifiedFolder {
  private constructor(
    private readonly handle: fs.FileHandle | undefined,
    /** Where its real path must be. */
    private readonly real: string,
    readonly shown: string,
  ) {}

  static async openTop(real: string, shown: string): Promise<Folder> {
    const handle = await fs.open(real, OPEN_FOLDER).catch((err) => { throw fsError(err, `cannot use the folder ${shown}`); });
    const folder = new Folder(handle, real, shown);
    const seen = await fs.readlink(folder.self()).catch(() => undefined);
    if (seen === undefined) {
      await handle.close(); // no /proc/self/fd: the lstat-checked path walk
      const fallback = new Folder(undefined, real, shown);
      await fallback.verify();
      return fallback;
    }
    if (seen !== real) {
      await handle.close();
      throw new SealdropError('ERR_IO', `the folder ${shown} changed while it was being opened; try again`);
    }
    return folder;
  }

  /** A path that names this folder itself. */
  self(): string {
    return this.handle ? `/proc/self/fd/${this.handle.fd}` : this.real;
  }

  at(name: string): string {
    return `${this.self()}/${name}`;
  }

  async verify(): Promise<void> {
    let where: string | undefined;
    if (this.handle) {
      where = await fs.readlink(this.self()).catch(() => undefined);
    } else {
      const st = await fs.lstat(this.real).catch(() => undefined);
      where = st?.isDirectory() ? await fs.realpath(this.real).catch(() => undefined) : undefined;
    }
    if (where !== this.real) {
      throw new SealdropError('ERR_IO', `the folder ${this.shown} was moved, removed or replaced while receiving; nothing was saved outside the target folder`);
    }
  }

  /** The folder `name` in this one: created if asked (then undefined never comes back), undefined if missing. */
  async child(name: string, create: boolean, shown: string): Promise<Folder | undefined> {
    let made = false;
    if (create) {
      made = await fs.mkdir(this.at(name), { mode: 0o755 }).then(() => true, (err) => {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw fsError(err, `cannot create the folder ${shown}`);
      });
    }
    const real = path.join(this.real, name);
    let child: Folder;
    if (this.handle) {
      const handle = await fs.open(this.at(name), OPEN_FOLDER).catch((err) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !create) return undefined;
        throw fsError(err, `cannot open the folder ${shown}`);
      });
      if (!handle) return undefined;
      child = new Folder(handle, real, shown);
    } else {
      const st = await fs.lstat(real).catch((err) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !create) return undefined;
        throw fsError(err, `cannot open the folder ${shown}`);
      });
      if (!st) return undefined;
      if (!st.isDirectory()) throw new SealdropError('ERR_IO', `cannot open the folder ${shown}: ${words('ENOTDIR')}`);
      child = new Folder(undefined, real, shown);
    }
    try {
      await this.verify();
      await child.verify();
    } catch (err) {
      await child.close();
      if (made) await fs.rmdir(this.at(name)).catch(() => {}); // ours, wherever the parent went: take it back
      throw err;
    }
    return child;
  }

  async close(): Promise<void> {
    await this.handle?.close().catch(() => {});
  }
}

/** A file system failure as ERR_IO (or ERR_SPACE) in words, naming only the local path the person knows. */
export function fsError(err: unknown, what: string): SealdropError {
  if (err instanceof SealdropError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new SealdropError('ERR_SPACE', `${what}: ${words(code)}`, { cause: err, peerMessage: 'the receiver ran out of space' });
  }
  return new SealdropError('ERR_IO', `${what}: ${words(code)}`, { cause: err });
}

function words(code: string | undefined): string {
  switch (code) {
    case 'ENOENT': return 'it does not exist (or was removed)';
    case 'ENOTDIR': case 'ELOOP': return 'something that is not a folder is in the way (symbolic links are never followed)';
    case 'EEXIST': return 'something else already has that name';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EROFS': return 'the file system is read-only';
    case 'ENOSPC': return 'no space left on the device';
    case 'EDQUOT': return 'the disk quota is used up';
    case 'EMLINK': return 'too many links';
    case 'ENAMETOOLONG': return 'the path is too long';
    case 'EXDEV': return 'it moved to another file system';
    default: return code ? `the file system said ${code}` : 'an unexpected file system error';
  }
}

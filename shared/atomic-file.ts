/**
 * Replaces a file so that readers see either the old or the new contents, never a
 * mix, and a crash cannot leave it half-written: temp file beside it (created
 * with `mode`), write, fsync, rename over the target, fsync the folder.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, promises as fsp, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function writeFileAtomic(path: string, contents: string | Uint8Array, mode = 0o600): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode);
    writeFileSync(fd, contents);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try { unlinkSync(tmp); } catch { /* never created */ }
    throw err;
  }
  syncDir(dir);
}

/** Makes the rename itself durable. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** writeFileAtomic without blocking the event loop: the same steps, each awaited. */
export async function writeFileAtomicAsync(path: string, contents: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let file: fsp.FileHandle | undefined;
  try {
    file = await fsp.open(tmp, 'wx', mode);
    await file.writeFile(contents);
    await file.sync();
    await file.close();
    file = undefined;
    await fsp.rename(tmp, path);
  } catch (err) {
    await file?.close().catch(() => {});
    await fsp.unlink(tmp).catch(() => { /* never created */ });
    throw err;
  }
  const folder = await fsp.open(dir, 'r');
  try { await folder.sync(); } finally { await folder.close(); }
}


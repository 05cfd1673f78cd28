/**
 * What the sender will send: the files and folders named on the command line,
 * walked into a flat list of relative names. Symbolic links inside a folder are
 * skipped, never followed out of the tree.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SealdropError } from '../../shared/errors.js';

export interface SourceFile { path: string; name: string; size: number; mtime?: number; text?: boolean }
export interface SourceSet { files: SourceFile[]; dirs: string[]; skipped: string[] }

export async function collectSources(inputs: string[]): Promise<SourceSet> {
  const set: SourceSet = { files: [], dirs: [], skipped: [] };
  const taken = new Set<string>();
  for (const input of inputs) {
    const st = await fs.stat(input).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        throw new SealdropError('ERR_NOT_FOUND', `cannot read ${input}: no such file or folder`,
          { hint: 'check the path: it names a file or folder on this computer (relative to the folder you are in)' });
      }
      throw new SealdropError('ERR_IO', `cannot read ${input}: ${err.message}`);
    });
    const name = path.basename(path.resolve(input));
    if (taken.has(name)) throw new SealdropError('ERR_BAD_INPUT', `two inputs are both named "${name}"; rename one or send them separately`);
    taken.add(name);
    if (st.isDirectory()) await walk(path.resolve(input), name, set);
    else if (st.isFile()) set.files.push({ path: path.resolve(input), name, size: st.size, mtime: Math.floor(st.mtimeMs) });
    else throw new SealdropError('ERR_BAD_INPUT', `${input} is not a regular file or folder`);
  }
  return set;
}

async function walk(dir: string, rel: string, set: SourceSet): Promise<void> {
  const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  let hasChildren = false;
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    const childRel = `${rel}/${entry.name}`;
    if (entry.isSymbolicLink()) { set.skipped.push(childRel); continue; }
    if (entry.isDirectory()) { hasChildren = true; await walk(full, childRel, set); continue; }
    if (entry.isFile()) {
      hasChildren = true;
      const st = await fs.stat(full);
      set.files.push({ path: full, name: childRel, size: st.size, mtime: Math.floor(st.mtimeMs) });
      continue;
    }
    set.skipped.push(childRel);
  }
  if (!hasChildren) set.dirs.push(rel);
}

export function totalBytes(files: Array<{ size: number }>): number {
  return files.reduce((sum, f) => sum + f.size, 0);
}

/**
 * SharedFolder: what `receive --share DIR` serves to peers that ask. Read-only;
 * nothing outside DIR is ever listed or sent, and symbolic links are refused.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SealdropError } from '../../shared/errors.js';
import type { ShareEntry } from '../link/control-messages.js';
import { vetReceivedPath } from '../files/safe-names.js';
import { collectSources, type SourceSet } from './source-files.js';

const MAX_LISTED = 10_000;

export class SharedFolder {
  private constructor(readonly root: string) {}

  static async open(dir: string): Promise<SharedFolder> {
    const root = await fs.realpath(dir).catch(() => { throw new SealdropError('ERR_NOT_FOUND', `cannot share ${dir}: no such folder`); });
    if (!(await fs.stat(root)).isDirectory()) throw new SealdropError('ERR_BAD_INPUT', `cannot share ${dir}: not a folder`);
    return new SharedFolder(root);
  }

  /** Every file and folder under the root (symlinks left out), up to MAX_LISTED entries. */
  async list(): Promise<{ entries: ShareEntry[]; truncated: boolean }> {
    const entries: ShareEntry[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      const items = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
      for (const item of items) {
        if (entries.length >= MAX_LISTED) return;
        const name = rel ? `${rel}/${item.name}` : item.name;
        const full = path.join(dir, item.name);
        if (item.isDirectory()) {
          const at = entries.push({ name, size: 0, type: 'dir' }) - 1;
          const before = entries.length;
          await walk(full, name);
          entries[at]!.size = entries.slice(before).reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
        } else if (item.isFile()) {
          entries.push({ name, size: (await fs.stat(full)).size, type: 'file' });
        }
      }
    };
    await walk(this.root, '');
    return { entries, truncated: entries.length >= MAX_LISTED };
  }

  /**
   * The files behind a requested name, which must stay inside the root without
   * passing a link. Every refusal's peer-facing words quote only the name asked for.
   */
  async resolve(name: string): Promise<SourceSet> {
    const shown = JSON.stringify(name);
    const notFound = (why: string) => new SealdropError('ERR_NOT_FOUND', why, { peerMessage: why });
    let parts: string[];
    try {
      parts = vetReceivedPath(name);
    } catch (err) {
      const e = err as SealdropError; // its words quote only the name asked for
      throw new SealdropError(e.code, e.message, { peerMessage: e.message });
    }
    let current = this.root;
    for (const part of parts) {
      current = path.join(current, part);
      const st = await fs.lstat(current).catch(() => undefined);
      if (!st) throw notFound(`nothing named ${shown} is shared`);
      if (st.isSymbolicLink()) throw notFound(`${shown} is a symbolic link, which is never shared`);
    }
    const real = await fs.realpath(current).catch(() => { throw notFound(`nothing named ${shown} is shared`); });
    if (real !== this.root && !real.startsWith(this.root + path.sep)) throw notFound(`${shown} is outside the shared folder`);
    const sources = await collectSources([real]).catch((err) => {
      throw new SealdropError('ERR_IO', `cannot read ${real} to share it: ${(err as Error).message}`, { cause: err, peerMessage: `the sharer cannot read ${shown}` });
    });
    if (sources.files.length === 0 && sources.dirs.length === 0) throw notFound(`${shown} holds nothing to send`);
    return sources;
  }
}

/** Parses `--share-allow a,b`: undefined means any authenticated peer whose key checks out may ask. */
export function parseAllowList(text: string | undefined): Set<string> | undefined {
  if (!text) return undefined;
  return new Set(text.split(',').map((s) => s.trim()).filter(Boolean));
}

/**
 * Where pushed files may land. A push names its own paths, so a sender to a `receive` running
 * in the home folder could add `.ssh/authorized_keys`, `.bashrc` or `.config/autostart/…`
 * (names never overwrite, but these often do not exist yet). So `receive` refuses, before it
 * goes online, a target that is the home folder, a folder above it (which holds it), or a
 * hidden folder in it (settings and keys). A `get` is not affected: there the person names
 * what comes, and the sharer can send nothing else.
 */
import { realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SealdropError } from '../../shared/errors.js';

/** Why pushed files may not land in `dir` (a real path), or undefined when they may. */
export function pushTargetRefusal(dir: string, home = os.homedir()): string | undefined {
  if (!home) return undefined;
  let realHome: string;
  try { realHome = realpathSync(home); } catch { realHome = path.resolve(home); }
  if (dir === realHome) return 'it is your home folder';
  if (isBelow(realHome, dir)) return 'your home folder is inside it';
  if (isBelow(dir, realHome)) {
    const top = path.relative(realHome, dir).split(path.sep)[0]!;
    if (top.startsWith('.')) return `it is in ${path.join(realHome, top)}, a hidden folder of your home (settings and keys live there)`;
  }
  return undefined;
}

/** Throws ERR_BAD_INPUT with words and a next step when pushes may not land in `dir`. */
export function checkPushTarget(dir: string): void {
  const why = pushTargetRefusal(dir);
  if (!why) return;
  throw new SealdropError('ERR_BAD_INPUT',
    `will not receive into ${dir}: ${why}, where a sender could add files such as .ssh/authorized_keys or .bashrc`,
    { hint: 'receive into a folder of its own, e.g. --dir ~/Downloads (it is made if missing)' });
}

function isBelow(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

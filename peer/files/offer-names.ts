/**
 * Vets the names of a whole offer (a manifest's files and folders) by the rules of
 * docs/PROTOCOL.md "Receiver file handling", step 1: every name by safe-names.ts, no two
 * files the same after NFC and lower-casing, no path both a file and a folder. The CLI's
 * receiver and the browser page run this same function on what they receive, and the page
 * runs it on what it is about to send, so its person hears of a bad name before the offer.
 */
import { SealdropError } from '../../shared/errors.js';
import { vetReceivedPath } from './safe-names.js';

export interface OfferNames { files: ReadonlyArray<{ name: string }>; dirs: readonly string[] }

/** Each file's vetted parts, in order; or ERR_BAD_INPUT saying which name and why. */
export function vetOfferNames(m: OfferNames): string[][] {
  const keyOf = (parts: string[]) => parts.join('/').normalize('NFC').toLowerCase();
  /** Every folder the offer needs: its folders, and every file's parents. */
  const folders = new Set<string>();
  const addFolders = (parts: string[], upTo: number) => { for (let i = 1; i <= upTo; i++) folders.add(keyOf(parts.slice(0, i))); };
  for (const dir of m.dirs) { const parts = vetReceivedPath(dir); addFolders(parts, parts.length); }
  const seen = new Set<string>();
  const vetted = m.files.map((f) => {
    const parts = vetReceivedPath(f.name);
    const key = keyOf(parts);
    if (seen.has(key)) throw new SealdropError('ERR_BAD_INPUT', `the file list names ${JSON.stringify(f.name)} twice`);
    seen.add(key);
    addFolders(parts, parts.length - 1);
    return parts;
  });
  // A name cannot be a file and a folder at once ("a" and "a/b"): refused before anything is written.
  const both = m.files.find((f, i) => folders.has(keyOf(vetted[i]!)));
  if (both) throw new SealdropError('ERR_BAD_INPUT', `the file list names ${JSON.stringify(both.name)} as a file and as a folder`);
  return vetted;
}

/**
 * Vets names that arrive from a peer. Its only job: a received name can never
 * leave the target folder, hide control sequences, or name a device. A name is
 * a relative path with '/' separators; every part is checked on its own.
 */
import { SealdropError } from '../shared/errors.js';

const MAX_PART_BYTES = 255;
const MAX_DEPTH = 64;
// Characters Windows forbids, plus backslash so "C:\x" or "..\x" cannot act as a path anywhere.
const FORBIDDEN = /[<>:"\\|?*]/;
// C0 and C1 controls, DEL, and Unicode bidi/format characters that disguise names on screen.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;

/** Splits an untrusted relative path into safe parts, or throws ERR_BAD_INPUT saying why. */
export function vetReceivedPath(name: string): string[] {
  const shown = JSON.stringify(name).slice(0, 120);
  const refuse = (why: string) => new SealdropError('ERR_BAD_INPUT', `refused the received name ${shown}: ${why}`);
  if (typeof name !== 'string' || name.length === 0) throw refuse('empty name');
  if (CONTROL.test(name)) throw refuse('it contains control or invisible formatting characters');
  if (name.startsWith('/')) throw refuse('absolute paths are not accepted');
  if (FORBIDDEN.test(name)) throw refuse('it contains a character that is not allowed in file names (< > : " \\ | ? *)');
  const parts = name.split('/');
  if (parts.length > MAX_DEPTH) throw refuse(`more than ${MAX_DEPTH} folder levels`);
  for (const part of parts) {
    if (part === '' ) throw refuse('empty path segment');
    if (part === '.' || part === '..') throw refuse('"." and ".." are not accepted');
    if (/[. ]$/.test(part)) throw refuse('a name may not end with a dot or a space');
    if (RESERVED.test(part)) throw refuse(`"${part}" is a reserved device name`);
    if (Buffer.byteLength(part, 'utf8') > MAX_PART_BYTES) throw refuse(`a name part is longer than ${MAX_PART_BYTES} bytes`);
  }
  return parts;
}

/** "name.ext" → "name (n).ext"; ".hidden" → ".hidden (n)". */
export function numberedName(base: string, n: number): string {
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return `${base} (${n})`;
  return `${base.slice(0, dot)} (${n})${base.slice(dot)}`;
}

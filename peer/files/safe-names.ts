/**
 * Vets names that arrive from a peer. Its only job: a received name can never
 * leave the target folder, hide or disguise itself on screen, or name a device.
 * A name is a relative path with '/' separators; every part is checked on its own.
 * The rules are written down in docs/PROTOCOL.md ("Names").
 */
import { SealdropError } from '../../shared/errors.js';
import { describeCodePoint, printable, withoutMeantJoiners } from '../../shared/printable.js';

const MAX_PART_BYTES = 255;
const MAX_DEPTH = 64;
/** Code points of a refused name shown in its refusal, before escaping. */
const SHOWN_MAX = 100;
// Characters Windows forbids, plus backslash so "C:\x" or "..\x" cannot act as a path anywhere.
// ':' stays refused: other code relies on a vetted name never holding one.
const FORBIDDEN = /[<>:"\\|?*]/;
/**
 * What a terminal obeys or a person cannot see: controls, format characters (bidi,
 * zero-width, soft hyphen, tags), separators, private-use, lone surrogates,
 * unassigned code points, and letters that draw nothing (Hangul fillers, the blank
 * braille cell, the Mongolian vowel separator, the combining grapheme joiner,
 * Khmer's invisible vowels).
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Cn}\p{Zl}\p{Zp}\u115F\u1160\u3164\uFFA0\u2800\u180E\u034F\u17B4\u17B5]/u;
/** Any space but the plain one (no-break, ideographic, en/em, narrow…): they pass for it on screen. */
const ODD_SPACE = /[^\P{Zs} ]/u;
/** Characters drawn like a path separator, so "a∕..∕b" cannot pass for a path on screen. */
const SLASH_LIKE = /[\u2044\u2215\u2216\u29F5\u29F8\u29F9\uFE68\uFF0F\uFF3C]/u;
const VARIATION_SELECTOR = /[\uFE00-\uFE0F\u180B-\u180D\u180F\u{E0100}-\u{E01EF}]/u;
/** A variation selector or combining mark with nothing visible before it. */
const DANGLING = /(?:^|[\p{M}\p{Z}])[\uFE00-\uFE0F\u180B-\u180D\u180F\u{E0100}-\u{E01EF}]|^\p{M}/u;
/** A part with nothing a person can see: only spaces, marks and selectors. */
const BLANK = /^[\p{Z}\p{M}]*$/u;
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;

/** Splits an untrusted relative path into safe parts, or throws ERR_BAD_INPUT saying why. */
export function vetReceivedPath(name: string): string[] {
  const why = refusal(name);
  if (why) {
    const cut = typeof name === 'string' ? Array.from(name) : [];
    const shown = printable(cut.slice(0, SHOWN_MAX).join('')) + (cut.length > SHOWN_MAX ? '…' : '');
    throw new SealdropError('ERR_BAD_INPUT', `refused the received name "${shown}": ${why}`);
  }
  return name.split('/');
}

/** Why `name` is refused, or undefined when it is safe. */
export function refusal(name: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'empty name';
  // A joiner inside an emoji sequence or a Persian word is writing, not hiding (shared/printable.ts).
  const hidden = HIDDEN.exec(withoutMeantJoiners(name)) ?? ODD_SPACE.exec(name);
  if (hidden) return `it contains ${describeCodePoint(hidden[0])}: a name may hold no control, invisible, separator, private-use or unassigned character, nor any space but U+0020`;
  if (name.startsWith('/')) return 'absolute paths are not accepted';
  if (FORBIDDEN.test(name)) return 'it contains a character that is not allowed in file names (< > : " \\ | ? *)';
  const slash = SLASH_LIKE.exec(name);
  if (slash) return `it contains ${describeCodePoint(slash[0])}, which looks like a path separator`;
  const parts = name.split('/');
  if (parts.length > MAX_DEPTH) return `more than ${MAX_DEPTH} folder levels`;
  for (const part of parts) {
    if (part === '') return 'empty path segment';
    if (part === '.' || part === '..') return '"." and ".." are not accepted';
    if (BLANK.test(part)) return 'a name part shows as blank (only spaces or combining marks)';
    const dangling = DANGLING.exec(part);
    if (dangling) {
      const c = VARIATION_SELECTOR.exec(dangling[0])?.[0] ?? Array.from(dangling[0])[0]!;
      return `${describeCodePoint(c)} stands alone, with no visible character before it`;
    }
    if (/[. ]$/.test(part)) return 'a name may not end with a dot or a space';
    if (RESERVED.test(part)) return `"${part}" is a reserved device name`;
    if (Buffer.byteLength(part, 'utf8') > MAX_PART_BYTES) return `a name part is longer than ${MAX_PART_BYTES} bytes`;
  }
  return undefined;
}

/** "name.ext" → "name (n).ext"; ".hidden" → ".hidden (n)". */
export function numberedName(base: string, n: number): string {
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return `${base} (${n})`;
  return `${base.slice(0, dot)} (${n})${base.slice(dot)}`;
}

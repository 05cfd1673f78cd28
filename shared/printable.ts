/**
 * The one place that turns text from outside (a peer, the rendezvous, a file
 * name) into text that is safe to put on a terminal or in a --json line.
 * A terminal obeys control characters (ESC starts a sequence that can clear the
 * screen, retitle the window or forge a line; U+009B is a one-byte CSI), and
 * bidi, format and separator characters reorder or hide what a person reads.
 * None of them is ever passed through: each is shown as a visible \u{…} escape,
 * but for a joiner inside an emoji sequence or a Persian word (MEANT_JOINER_SOURCE).
 */

/**
 * Code points never shown raw: controls (Cc, C0 and C1), format characters (Cf:
 * bidi controls and marks, zero-width characters, soft hyphen, tags, BOM), line
 * and paragraph separators, private-use, lone surrogates, unassigned code points,
 * and the Hangul fillers, letters that draw nothing.
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}\p{Cn}\u115F\u1160\u3164\uFFA0]/gu;
const HIDDEN_ONE = new RegExp(HIDDEN.source, 'u');
/**
 * The two joiners where they are part of how a name is written, not a way to hide
 * something: U+200D inside an emoji sequence (👨‍👩‍👧, 🏳️‍🌈: between two pictographs,
 * after an optional VS16 or skin tone), and U+200C between two letters of the Arabic
 * script (Persian writes می‌خواهم with it). Anywhere else both are hidden characters.
 */
const MEANT_JOINER_SOURCE = '(?<=\\p{Extended_Pictographic}[\\uFE0F\\u{1F3FB}-\\u{1F3FF}]?)\\u200D(?=\\p{Extended_Pictographic})'
  + '|(?<=\\p{Script=Arabic}\\p{M}*)\\u200C(?=\\p{Script=Arabic})';
const MEANT_JOINERS = new RegExp(MEANT_JOINER_SOURCE, 'gu');
const MEANT_JOINER_AT = new RegExp(MEANT_JOINER_SOURCE, 'uy');

/** `text` without its meant joiners, for checks that refuse every other hidden character. */
export function withoutMeantJoiners(text: string): string {
  return text.replace(MEANT_JOINERS, '');
}

function isMeantJoiner(text: string, index: number): boolean {
  MEANT_JOINER_AT.lastIndex = index;
  return MEANT_JOINER_AT.test(text);
}

const hex = (cp: number) => cp.toString(16).toUpperCase().padStart(4, '0');

/** Whether `text` holds anything `printable` would escape. */
export function hasHidden(text: string): boolean {
  return HIDDEN_ONE.test(withoutMeantJoiners(text));
}

/**
 * `text` as a person may safely see it: every hidden or control code point as
 * `\u{XXXX}`. Idempotent (a backslash is left alone), so text escaped once can
 * pass through again unchanged.
 */
export function printable(text: string): string {
  const s = String(text);
  return s.replace(HIDDEN, (c, at: number) => (isMeantJoiner(s, at) ? c : `\\u{${hex(c.codePointAt(0)!)}}`));
}

/**
 * One --json line. JSON.stringify escapes C0 controls but keeps C1 controls,
 * U+2028/U+2029, bidi and other format characters raw; here each of those is
 * written as \uXXXX too (a surrogate pair for code points above U+FFFF). The
 * line stays valid JSON and decodes to exactly the same strings, but its bytes
 * never carry a control or invisible character. What a decoded string holds is
 * still the peer's: a consumer escapes it before showing it (docs/PROTOCOL.md).
 */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(HIDDEN, (c) =>
    Array.from({ length: c.length }, (_, i) => `\\u${hex(c.charCodeAt(i)).toLowerCase()}`).join(''));
}

/** A few code points by name, for refusal messages a person can act on; the rest by number and class. */
const NAMES: Record<number, string> = {
  0x00: 'NULL', 0x07: 'BELL', 0x08: 'BACKSPACE', 0x09: 'TAB', 0x0a: 'LINE FEED', 0x0d: 'CARRIAGE RETURN', 0x1b: 'ESCAPE', 0x7f: 'DELETE',
  0x9b: 'CONTROL SEQUENCE INTRODUCER', 0x9d: 'OPERATING SYSTEM COMMAND', 0xa0: 'NO-BREAK SPACE', 0xad: 'SOFT HYPHEN',
  0x034f: 'COMBINING GRAPHEME JOINER', 0x115f: 'HANGUL CHOSEONG FILLER', 0x1160: 'HANGUL JUNGSEONG FILLER', 0x180e: 'MONGOLIAN VOWEL SEPARATOR',
  0x200b: 'ZERO WIDTH SPACE', 0x200c: 'ZERO WIDTH NON-JOINER', 0x200d: 'ZERO WIDTH JOINER', 0x200e: 'LEFT-TO-RIGHT MARK', 0x200f: 'RIGHT-TO-LEFT MARK',
  0x2028: 'LINE SEPARATOR', 0x2029: 'PARAGRAPH SEPARATOR', 0x202a: 'LEFT-TO-RIGHT EMBEDDING', 0x202b: 'RIGHT-TO-LEFT EMBEDDING',
  0x202c: 'POP DIRECTIONAL FORMATTING', 0x202d: 'LEFT-TO-RIGHT OVERRIDE', 0x202e: 'RIGHT-TO-LEFT OVERRIDE', 0x2060: 'WORD JOINER',
  0x2066: 'LEFT-TO-RIGHT ISOLATE', 0x2067: 'RIGHT-TO-LEFT ISOLATE', 0x2068: 'FIRST STRONG ISOLATE', 0x2069: 'POP DIRECTIONAL ISOLATE',
  0x2044: 'FRACTION SLASH', 0x2215: 'DIVISION SLASH', 0x2216: 'SET MINUS', 0x29f5: 'REVERSE SOLIDUS OPERATOR', 0x29f8: 'BIG SOLIDUS',
  0x29f9: 'BIG REVERSE SOLIDUS', 0xfe68: 'SMALL REVERSE SOLIDUS', 0xff0f: 'FULLWIDTH SOLIDUS', 0xff3c: 'FULLWIDTH REVERSE SOLIDUS',
  0x2800: 'BRAILLE PATTERN BLANK', 0x3000: 'IDEOGRAPHIC SPACE', 0x3164: 'HANGUL FILLER', 0xfeff: 'ZERO WIDTH NO-BREAK SPACE', 0xffa0: 'HALFWIDTH HANGUL FILLER',
};

const CLASSES: Array<[RegExp, string]> = [
  [/\p{Cc}/u, 'a control character'], [/\p{Cf}/u, 'an invisible formatting character'], [/[\p{Zl}\p{Zp}]/u, 'a line or paragraph separator'],
  [/\p{Zs}/u, 'a space other than the plain space'], [/\p{Co}/u, 'a private-use character'], [/\p{Cs}/u, 'a lone surrogate'],
  [/\p{Cn}/u, 'an unassigned code point'], [/\p{M}/u, 'a combining mark'],
];

/** "U+2060 WORD JOINER", or "U+E0041 (an invisible formatting character)" for one without a name here. */
export function describeCodePoint(c: string): string {
  const cp = c.codePointAt(0)!;
  const name = NAMES[cp]
    ?? (cp >= 0xe0000 && cp <= 0xe007f ? 'TAG CHARACTER' : undefined)
    ?? (cp >= 0xfe00 && cp <= 0xfe0f ? `VARIATION SELECTOR-${cp - 0xfe00 + 1}` : undefined)
    ?? (cp >= 0xe0100 && cp <= 0xe01ef ? `VARIATION SELECTOR-${cp - 0xe0100 + 17}` : undefined);
  if (name) return `U+${hex(cp)} ${name}`;
  const kind = CLASSES.find(([re]) => re.test(c))?.[1];
  return kind ? `U+${hex(cp)} (${kind})` : `U+${hex(cp)}`;
}

/**
 * Received names that hide or disguise themselves are refused, in words that
 * name the code point. A hostile sender runs the real handshake and offers each
 * name to the real receiver CLI; each is refused before anything is written.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { vetReceivedPath } from '../peer/files/safe-names.js';
import { listTree, tempDir, type Run } from './helpers/cli.js';
import { hostileOpen } from './helpers/hostile-peer.js';
import { startWorld, type World } from './helpers/world.js';

/** [what, name, words the refusal must hold]. */
const REFUSED: Array<[string, string, RegExp]> = [
  ['a word joiner (Cf)', 'pay\u2060roll.pdf', /U\+2060 WORD JOINER/],
  ['a soft hyphen (Cf)', 'soft\u00adhyphen.txt', /U\+00AD SOFT HYPHEN/],
  ['a tag character (Cf)', 'flag\u{E0067}\u{E0062}.txt', /U\+E0067 TAG CHARACTER/],
  ['a right-to-left mark (Cf, bidi)', 'x\u200f.txt', /U\+200F RIGHT-TO-LEFT MARK/],
  ['a first-strong isolate (Cf, bidi)', '\u2068abc.txt', /U\+2068 FIRST STRONG ISOLATE/],
  ['a zero-width space (Cf)', 'a\u200bb', /U\+200B ZERO WIDTH SPACE/],
  ['a bell (Cc)', 'bell\u0007.txt', /U\+0007 BELL/],
  ['a C1 control (Cc)', 'next\u0085line', /U\+0085 \(a control character\)/],
  ['a one-byte CSI (Cc)', 'x\u009b2J', /U\+009B CONTROL SEQUENCE INTRODUCER/],
  ['a private-use character (Co)', '\uE000.txt', /U\+E000 \(a private-use character\)/],
  ['a supplementary private-use character (Co)', 'x\u{F0000}', /U\+F0000 \(a private-use character\)/],
  ['a lone surrogate (Cs)', 'lone\ud800.txt', /U\+D800 \(a lone surrogate\)/],
  ['a line separator (Zl)', 'one\u2028two', /U\+2028 LINE SEPARATOR/],
  ['a paragraph separator (Zp)', 'one\u2029two', /U\+2029 PARAGRAPH SEPARATOR/],
  ['an ideographic space (Zs)', 'a\u3000b', /U\+3000 IDEOGRAPHIC SPACE/],
  ['a no-break space (Zs)', 'a\u00a0b', /U\+00A0 NO-BREAK SPACE/],
  ['a thin space (Zs)', 'a\u2009b', /U\+2009 \(a space other than the plain space\)/],
  ['an unassigned code point (Cn)', 'x\u0378.txt', /U\+0378 \(an unassigned code point\)/],
  ['a noncharacter (Cn)', 'x\uFFFF', /U\+FFFF \(an unassigned code point\)/],
  ['the Hangul choseong filler', '\u115F.txt', /U\+115F HANGUL CHOSEONG FILLER/],
  ['the Hangul jungseong filler', 'a\u1160', /U\+1160 HANGUL JUNGSEONG FILLER/],
  ['the Hangul filler', '\u3164', /U\+3164 HANGUL FILLER/],
  ['the halfwidth Hangul filler', 'a\uFFA0b', /U\+FFA0 HALFWIDTH HANGUL FILLER/],
  ['the blank braille cell', '\u2800', /U\+2800 BRAILLE PATTERN BLANK/],
  ['the Mongolian vowel separator', 'a\u180Eb', /U\+180E MONGOLIAN VOWEL SEPARATOR/],
  ['the combining grapheme joiner', 'a\u034Fb', /U\+034F COMBINING GRAPHEME JOINER/],
  ['a variation selector alone', '\uFE0F.txt', /U\+FE0F VARIATION SELECTOR-16 stands alone/],
  ['a variation selector after a space', 'a \uFE0Fb', /U\+FE0F VARIATION SELECTOR-16 stands alone/],
  ['a supplementary variation selector alone', 'dir/\u{E0100}x', /U\+E0100 VARIATION SELECTOR-17 stands alone/],
  ['a part of combining marks only', 'dir/\u0301\u0301', /shows as blank/],
  ['a part of a space and a mark', ' \u0301', /shows as blank/],
  ['a part starting with a combining mark', '\u0301x.txt', /U\+0301 \(a combining mark\) stands alone/],
  ['a division slash posing as a folder', 'docs\u2215..\u2215x', /U\+2215 DIVISION SLASH, which looks like a path separator/],
  ['a fullwidth solidus', 'a\uFF0Fb', /U\+FF0F FULLWIDTH SOLIDUS/],
  ['a zero-width joiner between letters', 'pay\u200Dpal.txt', /U\+200D ZERO WIDTH JOINER/],
  ['a zero-width joiner before an emoji with nothing before it', '\u200D👍.txt', /U\+200D ZERO WIDTH JOINER/],
  ['a zero-width joiner after an emoji with no emoji after it', '👍\u200D.txt', /U\+200D ZERO WIDTH JOINER/],
  ['two joiners between emoji', '👍\u200D\u200D👍.txt', /U\+200D ZERO WIDTH JOINER/],
  ['a zero-width non-joiner in a Latin word', 'pay\u200Cpal.txt', /U\+200C ZERO WIDTH NON-JOINER/],
  ['a zero-width non-joiner after an Arabic letter, before a Latin one', 'ب\u200Cx.txt', /U\+200C ZERO WIDTH NON-JOINER/],
  ['a colon (still)', 'a:b', /not allowed in file names/],
  ['a backslash (still)', 'a\\b', /not allowed in file names/],
];

const ACCEPTED = ['été — notes.txt', '❤️.txt', '東京/ファイル.txt', 'a b.txt', 'résumé (1).pdf', 'שלום.txt', 'e\u0301te\u0301.txt', 'नमस्ते.txt', '1️⃣.md',
  // Joiners that are writing, not hiding: emoji ZWJ sequences, and Persian's ZWNJ.
  '👨\u200D👩\u200D👧.jpg', '🏳️\u200D🌈.png', '👩🏽\u200D💻 notes.txt', 'album/❤️\u200D🔥', 'می\u200Cخواهم.txt'];

describe('names that hide or disguise themselves', function () {
  this.timeout(90_000);

  describe('the vetting rules', () => {
    for (const [what, name, words] of REFUSED) {
      it(`refuses ${what}, naming it`, () => {
        expect(() => vetReceivedPath(name)).to.throw(words);
      });
    }
    for (const name of ACCEPTED) {
      it(`accepts ${JSON.stringify(name)}`, () => {
        expect(vetReceivedPath(name)).to.deep.equal(name.split('/'));
      });
    }
    it('shows the refused name escaped, never raw', () => {
      expect(() => vetReceivedPath('\x1b]0;PWNED\x07x')).to.throw('refused the received name "\\u{001B}]0;PWNED\\u{0007}x": it contains U+001B ESCAPE');
      expect(() => vetReceivedPath(`\u202e${'x'.repeat(500)}`)).to.throw(/name "\\u\{202E\}x{99}…"/);
    });
  });

  describe('offered by a hostile sender to the real receiver CLI', () => {
    let world: World;
    let parent: string;
    let bob: Run;
    before(async () => {
      world = await startWorld(['bob', 'mallory']);
      parent = await tempDir();
      await fs.mkdir(path.join(parent, 'inbox'));
      // One receiver for every offer: each refusal ends that session only.
      bob = world.peer('bob', ['receive', '--dir', path.join(parent, 'inbox'), '--yes']);
      await bob.waitFor('ready');
    });
    after(async () => {
      bob?.child.kill('SIGTERM');
      await world?.stop();
      await fs.rm(parent, { recursive: true, force: true });
    });

    for (const [what, name, words] of REFUSED) {
      it(`refuses ${what} with words, and writes nothing`, async () => {
        const errorsBefore = bob.events.filter((e) => e.type === 'error').length;
        const h = await hostileOpen(world, 'mallory', 'bob');
        try {
          await h.send({ t: 'manifest', files: [{ name, size: 5 }], dirs: [] });
          const answer = await h.next();
          expect(answer.t).to.equal('reject');
          expect(answer.t === 'reject' && answer.code).to.equal('ERR_BAD_INPUT');
          expect(answer.t === 'reject' && answer.message).to.match(words);
        } finally {
          h.close();
        }
        const error = await errorAfter(bob, errorsBefore);
        expect(error.message).to.match(words).and.match(/refused the received name/);
        expect(bob.events.some((e) => e.type === 'offer' && e.names.includes(name))).to.equal(false); // never offered to the person
        expect(await listTree(parent)).to.deep.equal(['inbox/']);
      });
    }

    it('refuses such a name among the folders of a manifest too', async () => {
      const h = await hostileOpen(world, 'mallory', 'bob');
      try {
        await h.send({ t: 'manifest', files: [{ name: 'ok.txt', size: 5 }], dirs: ['fine', 'hid\u2060den'] });
        const answer = await h.next();
        expect(answer.t === 'reject' && answer.message).to.match(/U\+2060 WORD JOINER/);
      } finally {
        h.close();
      }
      expect(await listTree(parent)).to.deep.equal(['inbox/']);
    });
  });
});

/** The receiver's next --json error event after the first `seen` ones. */
function errorAfter(run: Run, seen: number, ms = 10_000): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { run.child.stdout!.off('data', check); reject(new Error(`no error event; stdout=${run.stdout()}`)); }, ms);
    function check() {
      const errors = run.events.filter((e) => e.type === 'error');
      if (errors.length <= seen) return;
      clearTimeout(timer);
      run.child.stdout!.off('data', check);
      resolve(errors.at(-1)!);
    }
    run.child.stdout!.on('data', check); // after spawnCli's own listener, so events are parsed first
    check();
  });
}

/**
 * SpentSteps: the last TOTP step each account logged in with. A code is accepted
 * only for a step after that one (RFC 6238 §5.2), so a code is never accepted twice,
 * nor an older code once a newer one was used (three logins from one ±1 window).
 *
 * Kept on disk too (`spent-steps.json`, 0600, atomic), so a restart does not
 * re-open a used step. Writes are batched (at most one a second) to keep logins
 * cheap. A file that is there but cannot be read or parsed is an error that stops
 * the server from starting: starting empty would silently re-allow used codes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SealdropError } from '../shared/errors.js';
import { AccountId } from '../shared/schemas.js';
import { stepAt } from '../shared/totp.js';
import { writeFileAtomic } from './atomic-file.js';
import type { Logger } from './log.js';

export const SPENT_STEPS_FILE = 'spent-steps.json';
const FLUSH_DELAY_MS = 1_000;
/** Entries older than this many steps (a day) are dropped; far beyond any skew or clock fix. */
const KEEP_STEPS = 2 * 60 * 24;

const Step = z.number().int().nonnegative();
const CurrentFile = z.object({ version: z.literal(2), last: z.record(AccountId, Step) }).strict();
/** Version 1 kept every spent step: `{"ID":[step,…]}`. Its largest step is the last one. */
const Version1File = z.record(AccountId, z.array(Step));

export class SpentSteps {
  private readonly last = new Map<string, number>();
  readonly file: string;
  private timer?: NodeJS.Timeout;

  /** Reads the file; throws ERR_STORE when it exists but is unreadable or corrupt. */
  constructor(dataDir: string, private readonly now: () => number, private readonly logger: Logger) {
    this.file = join(dataDir, SPENT_STEPS_FILE);
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new SealdropError('ERR_STORE', `cannot read ${this.file}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw corrupt(this.file, 'not valid JSON', err);
    }
    const current = CurrentFile.safeParse(json);
    if (current.success) {
      for (const [id, step] of Object.entries(current.data.last)) this.last.set(id, step);
      return;
    }
    const old = Version1File.safeParse(json);
    if (!old.success) throw corrupt(this.file, 'not a spent-steps file');
    for (const [id, steps] of Object.entries(old.data)) if (steps.length) this.last.set(id, Math.max(...steps));
  }

  /** Records `step` as the account's last; false when it is not after the last one accepted. */
  spend(id: string, step: number): boolean {
    const last = this.last.get(id);
    if (last !== undefined && step <= last) return false;
    this.last.set(id, step);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_DELAY_MS);
    this.timer.unref();
    return true;
  }

  /** The last step accepted for the account, if any (tests, logs). */
  lastStep(id: string): number | undefined {
    return this.last.get(id);
  }

  /** Writes the record; called on a timer and on close. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const oldest = stepAt(this.now()) - KEEP_STEPS;
    for (const [id, step] of this.last) if (step < oldest) this.last.delete(id);
    const sorted = [...this.last].sort(([a], [b]) => a.localeCompare(b));
    try {
      writeFileAtomic(this.file, JSON.stringify({ version: 2, last: Object.fromEntries(sorted) }));
    } catch (err) {
      this.logger.error('spent-steps.write-failed', { error: (err as Error).message });
    }
  }
}

function corrupt(file: string, what: string, cause?: unknown): SealdropError {
  return new SealdropError('ERR_STORE',
    `${file} is ${what}; fix it, or delete it to start over (that re-allows codes of the last 90 s)`, { cause });
}

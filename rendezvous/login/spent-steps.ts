/**
 * SpentSteps: the last TOTP step each account logged in with. A code is accepted
 * only for a step after that one (RFC 6238 §5.2), so a code is never accepted twice,
 * nor an older code once a newer one was used (three logins from one ±1 window).
 *
 * Kept on disk too (`spent-steps.json`, 0600, atomic), so a restart does not
 * re-open a used step, not even a crash: a login by code is answered only once its
 * step is on disk. Writes never block the event loop and never overlap: the logins
 * that arrive while one is on its way share the next, so a burst costs a few
 * writes, not one each. A file that is there but cannot be read or parsed is an error that stops
 * the server from starting: starting empty would silently re-allow used codes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SealdropError } from '../../shared/errors.js';
import { AccountId } from '../../shared/schemas.js';
import { stepAt } from '../../shared/totp.js';
import { writeFileAtomic, writeFileAtomicAsync } from '../../shared/atomic-file.js';
import type { Logger } from '../log.js';

export const SPENT_STEPS_FILE = 'spent-steps.json';
/** Entries older than this many steps (a day) are dropped; far beyond any skew or clock fix. */
const KEEP_STEPS = 2 * 60 * 24;

const Step = z.number().int().nonnegative();
const CurrentFile = z.object({ version: z.literal(2), last: z.record(AccountId, Step) }).strict();
/** Version 1 kept every spent step: `{"ID":[step,…]}`. Its largest step is the last one. */
const Version1File = z.record(AccountId, z.array(Step));

export class SpentSteps {
  private readonly last = new Map<string, number>();
  readonly file: string;
  /** The write that steps spent now will be in, not begun yet. */
  private queued?: Promise<void>;
  /** The write on its way to disk. */
  private writing?: Promise<void>;

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

  /**
   * Records `step` as the account's last, at once (a second login with the same code is refused
   * even while the first one waits), and resolves true once it is on disk; false when it is not
   * after the last one accepted. Rejects with ERR_STORE when it cannot be written: a login the
   * next start could not remember is refused.
   */
  async spend(id: string, step: number): Promise<boolean> {
    const last = this.last.get(id);
    if (last !== undefined && step <= last) return false;
    this.last.set(id, step);
    await this.persisted();
    return true;
  }

  /**
   * The write that will hold every step spent so far: the one not yet begun, or a new one after
   * the write in progress. Writes never overlap, and never block the event loop, so logins go on
   * arriving while one is on its way and share the next.
   */
  private persisted(): Promise<void> {
    if (this.queued) return this.queued;
    const after = this.writing ?? Promise.resolve();
    const write: Promise<void> = after.catch(() => {}).then(async () => {
      this.queued = undefined; // steps spent from now on wait for the write after this one
      this.writing = write;
      try {
        await writeFileAtomicAsync(this.file, this.contents());
      } catch (err) {
        this.logger.error('spent-steps.write-failed', { error: (err as Error).message });
        throw new SealdropError('ERR_STORE', `cannot write ${this.file}: ${(err as Error).message}`,
          { cause: err, peerMessage: 'the rendezvous cannot record used codes; tell its operator' });
      } finally {
        if (this.writing === write) this.writing = undefined;
      }
    });
    this.queued = write;
    return write;
  }

  /** Resolves once no write is queued or in progress (close waits for it, then flushes). */
  async settled(): Promise<void> {
    while (this.queued ?? this.writing) await (this.queued ?? this.writing)!.catch(() => {});
  }

  /** The last step accepted for the account, if any (tests, logs). */
  lastStep(id: string): number | undefined {
    return this.last.get(id);
  }

  /** Writes the record now (on close, and on an exit that cannot wait); a failure is logged. */
  flush(): void {
    try {
      writeFileAtomic(this.file, this.contents());
    } catch (err) {
      this.logger.error('spent-steps.write-failed', { error: (err as Error).message });
    }
  }

  /** The record as written, without entries older than a day. */
  private contents(): string {
    const oldest = stepAt(this.now()) - KEEP_STEPS;
    for (const [id, step] of this.last) if (step < oldest) this.last.delete(id);
    const sorted = [...this.last].sort(([a], [b]) => a.localeCompare(b));
    return JSON.stringify({ version: 2, last: Object.fromEntries(sorted) });
  }

}

function corrupt(file: string, what: string, cause?: unknown): SealdropError {
  return new SealdropError('ERR_STORE',
    `${file} is ${what}; fix it, or delete it to start over (that re-allows codes of the last 90 s)`, { cause });
}

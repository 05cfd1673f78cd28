/**
 * SpentSteps: the TOTP steps each account has used, so a code is accepted only
 * once. Kept on disk too (`spent-steps.json`, 0600), so a restart does not let a
 * code be used a second time while it is still inside the skew window. Writes
 * are batched (at most one a second) to keep logins cheap under load.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOTP_WINDOW } from '../shared/constants.js';
import { stepAt } from '../shared/totp.js';
import { writeFileAtomic } from './atomic-file.js';
import type { Logger } from './log.js';

const FLUSH_DELAY_MS = 1_000;

export class SpentSteps {
  private readonly spent = new Map<string, Set<number>>();
  private readonly file: string;
  private timer?: NodeJS.Timeout;

  constructor(dataDir: string, private readonly now: () => number, private readonly logger: Logger) {
    this.file = join(dataDir, 'spent-steps.json');
    try {
      const saved = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, unknown>;
      for (const [id, steps] of Object.entries(saved)) {
        if (Array.isArray(steps)) this.spent.set(id, new Set(steps.filter((s): s is number => Number.isInteger(s))));
      }
    } catch {
      // No file yet, or unreadable: start empty (a corrupt file only loses replay memory of the last ~90 s).
    }
  }

  /** Marks a step used; false when it already was. */
  spend(id: string, step: number): boolean {
    const used = this.spent.get(id) ?? new Set<number>();
    const oldest = stepAt(this.now()) - TOTP_WINDOW;
    for (const s of used) if (s < oldest) used.delete(s);
    if (used.has(step)) return false;
    this.spent.set(id, used.add(step));
    this.timer ??= setTimeout(() => this.flush(), FLUSH_DELAY_MS);
    this.timer.unref();
    return true;
  }

  /** Writes what is still inside the window; called on a timer and on close. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const oldest = stepAt(this.now()) - TOTP_WINDOW;
    const live: Record<string, number[]> = {};
    for (const [id, used] of this.spent) {
      const steps = [...used].filter((s) => s >= oldest);
      if (steps.length) live[id] = steps; else this.spent.delete(id);
    }
    try {
      writeFileAtomic(this.file, JSON.stringify(live));
    } catch (err) {
      this.logger.error('spent-steps.write-failed', { error: (err as Error).message });
    }
  }
}

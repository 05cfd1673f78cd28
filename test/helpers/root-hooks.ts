/**
 * Mocha root hooks for the whole suite: after the last test, any CLI a test left running is
 * ended and named (with where it was spawned), so a leak shows in the output and can never keep
 * the test run, or CI, waiting on a live child.
 */
import { endLeftoverClis } from './cli.js';

export const mochaHooks = {
  afterAll(): void {
    const left = endLeftoverClis();
    for (const what of left) process.stderr.write(`test left a CLI running (ended now): ${what}\n`);
  },
};

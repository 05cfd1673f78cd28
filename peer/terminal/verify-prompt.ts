/**
 * How `--verify` asks its person whether both sides show the same code: a yes/no
 * prompt on a terminal, or with --json a `verify` event and one line on stdin
 * (`yes` confirms, anything else, or the end of input, declines).
 */
import { createInterface, type Interface } from 'node:readline';
import { SealdropError } from '../../shared/errors.js';
import type { Reporter } from './cli-output.js';
import type { ConfirmCode } from '../link/verification.js';

let lines: Interface | undefined;
const waiting: Array<(line: string | undefined) => void> = [];
const unread: string[] = [];
let ended = false;

/** The next line of standard input (undefined once it ended); one reader for the whole process. */
function nextLine(): Promise<string | undefined> {
  if (!lines) {
    lines = createInterface({ input: process.stdin, terminal: false });
    lines.on('line', (l) => { const w = waiting.shift(); if (w) w(l); else if (unread.length < 16) unread.push(l); });
    lines.on('close', () => { ended = true; for (const w of waiting.splice(0)) w(undefined); });
  }
  if (unread.length > 0) return Promise.resolve(unread.shift());
  if (ended) return Promise.resolve(undefined);
  return new Promise((resolve) => waiting.push(resolve));
}

/** Asks the person the way this run can (--json: stdin lines; otherwise a terminal prompt). */
export function confirmCodeFor(r: Reporter, json: boolean): ConfirmCode {
  if (json) {
    return async (sas, signal, peer) => {
      r.event('verify', { peer, code: sas });
      const answer = await Promise.race([nextLine(), new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }))]);
      return answer?.trim().toLowerCase() === 'yes';
    };
  }
  if (!process.stdin.isTTY) throw new SealdropError('ERR_BAD_INPUT', '--verify asks the person to confirm the code: run it on a terminal, or with --json and the answer ("yes") on standard input');
  return async (sas, signal, peer) => {
    const { confirm } = await import('@inquirer/prompts'); // loaded only to ask
    r.info(`read the code to ${peer} and compare: this side shows ${sas}`);
    return confirm({ message: `Does ${peer} see the verification code ${sas}?`, default: false }, { signal });
  };
}

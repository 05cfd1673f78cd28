/**
 * How the CLI speaks: colored lines and a live progress bar on a terminal,
 * one JSON object per line with --json, nothing but errors with --quiet.
 * Human text goes to stderr so stdout stays clean for --json and pipes.
 *
 * Every string the Reporter writes is escaped by `printable` (shared/printable.ts)
 * first, wherever it came from: a peer's reason, a file name, an error message.
 * Only `Styled` text, built by `line` and the style helpers below from our own
 * words with every value escaped, keeps its colors.
 */
import chalk from 'chalk';
import cliProgress from 'cli-progress';
import type { ErrorCode, SealdropError } from '../../shared/errors.js';
import { jsonLine, printable } from '../../shared/printable.js';
import type { ProgressEvent } from './progress.js';
import { nextStepFor } from './error-words.js';
import { bytes, layout, RateMeter, type LineParts } from './progress-line.js';

export { bytes, printable };

export interface OutputMode { json: boolean; quiet: boolean }

const JSON_PROGRESS_EVERY_MS = 250;

/** Terminal text that is already safe: our words and colors around escaped values. Only `line` and the helpers make one. */
export class Styled {
  private constructor(readonly text: string) {}
  /** @internal for this module's helpers */
  static of(text: string): Styled { return new Styled(text); }
}

type Shown = string | number | Styled;
const shown = (v: Shown): string => (v instanceof Styled ? v.text : printable(String(v)));

/** A tagged template: line`${bold(id)} says ${text}` — the literal parts are ours, every value is escaped or Styled. */
export function line(parts: TemplateStringsArray, ...values: Shown[]): Styled {
  return Styled.of(parts.reduce((out, part, i) => out + printable(part) + (i < values.length ? shown(values[i]!) : ''), ''));
}

const styler = (paint: (s: string) => string) => (v: Shown): Styled => Styled.of(paint(shown(v)));
export const bold = styler(chalk.bold);
export const dim = styler(chalk.dim);
export const cyan = styler(chalk.cyan);
export const green = styler(chalk.green);

/** The person stopped it (Ctrl-C): `message` says what became of it and what to do next. */
export class Cancelled extends Error {
  constructor(message: string) { super(message); this.name = 'Cancelled'; }
}

export class Reporter {
  private bar?: cliProgress.SingleBar;
  private lastJson = 0;
  private meter?: RateMeter;
  constructor(private readonly mode: OutputMode) {}

  info(text: Shown): void {
    if (this.mode.json || this.mode.quiet) return;
    this.clearBar();
    process.stderr.write(`${chalk.cyan('›')} ${shown(text)}\n`);
  }

  success(text: Shown): void {
    if (this.mode.json || this.mode.quiet) return;
    process.stderr.write(`${chalk.green('✔')} ${shown(text)}\n`);
  }

  warn(text: Shown): void {
    if (this.mode.json || this.mode.quiet) return;
    this.clearBar();
    process.stderr.write(`${chalk.yellow('!')} ${shown(text)}\n`);
  }

  /** Emits a JSON event (with --json) — the machine-readable twin of the human lines. */
  event(type: string, fields: Record<string, unknown>): void {
    if (this.mode.json) process.stdout.write(jsonLine({ type, ...fields }) + '\n');
  }

  /** Plain result output (lists, fingerprints): always shown unless --json. */
  print(text: Shown): void {
    if (!this.mode.json) process.stdout.write(shown(text) + '\n');
  }

  progress(p: ProgressEvent): void {
    const now = Date.now();
    if (this.mode.json) {
      if (now - this.lastJson < JSON_PROGRESS_EVERY_MS && p.bytes < p.total) return;
      this.lastJson = now;
      this.event('progress', { bytes: p.bytes, total: p.total, file: p.name, fileIndex: p.file, files: p.files });
      return;
    }
    if (this.mode.quiet || !process.stderr.isTTY) return;
    this.meter ??= new RateMeter(p.bytes, now); // from the first bytes of this run: a resumed prefix is no burst
    const rate = p.bytes >= p.total ? this.meter.average(p.bytes, now) : this.meter.sample(p.bytes, now);
    const files = p.files > 1 ? `${p.file + 1}/${p.files} ` : '';
    const parts = layout({ bytes: p.bytes, total: p.total, name: `${files}${printable(p.name)}`, rate, eta: this.meter.eta(p.bytes, p.total, now) }, process.stderr.columns || 80);
    if (!this.bar) {
      this.bar = new cliProgress.SingleBar({
        // Our own layout (progress-line.ts); cli-progress draws it and the bar.
        format: (options, params, payload: LineParts) => {
          const bar = payload.barWidth > 0 ? `${chalk.cyan(cliProgress.Format.BarFormat(params.progress, { ...options, barsize: payload.barWidth }))} ` : '';
          return `${bar}${payload.percent} | ${payload.amount} | ${payload.rate} | ${payload.eta} | ${payload.name}`;
        },
        stream: process.stderr, hideCursor: true, barsize: 28, fps: 8, linewrap: false,
      }, cliProgress.Presets.shades_classic);
      this.bar.start(Math.max(p.total, 1), 0, parts);
    }
    this.bar.update(p.total === 0 ? 1 : Math.min(p.bytes, p.total), parts);
  }

  endProgress(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.meter = undefined;
  }

  /** One line for what went wrong, and one for what to do about it (docs/ERRORS.md). */
  error(err: SealdropError): void {
    this.clearBar();
    const hint = nextStepFor(err);
    if (this.mode.json) this.event('error', { code: err.code, message: err.message, hint });
    else process.stderr.write(`${chalk.red('✖')} ${printable(err.message)} ${chalk.dim(`(${printable(err.code)})`)}\n  ${chalk.dim('→')} ${printable(hint)}\n`);
  }

  private clearBar(): void {
    if (this.bar) { this.bar.stop(); this.bar = undefined; }
  }
}

/**
 * A received text message, line by line: each line escaped, and every line
 * after the first marked, so a message cannot forge a line of ours.
 */
export function printMessage(r: Reporter, from: string, text: string): void {
  const lines = text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n');
  r.print(line`${bold(from)} says: ${lines[0]!}`);
  for (const more of lines.slice(1)) r.print(line`${dim('│')} ${more}`);
}

/**
 * Resolves once everything written to stdout and stderr has left the process.
 * process.exit() drops what a pipe has not taken yet: a large --json `done`
 * line was cut off at the pipe's pace.
 */
export async function flushOutput(): Promise<void> {
  await Promise.all([process.stdout, process.stderr].map((stream) => new Promise<void>((resolve) => {
    if (stream.writableLength === 0 || stream.destroyed) return resolve();
    stream.once('error', () => resolve());
    stream.write('', () => resolve());
  })));
}

/** Exit status by error family, so scripts can tell "try again" from "something is wrong". */
export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'ERR_AUTH': case 'ERR_AUTH_REPLAY': case 'ERR_THROTTLED': case 'ERR_LOCKED': return 3;
    case 'ERR_PEER_OFFLINE': case 'ERR_REJECTED': case 'ERR_BUSY': case 'ERR_PEER_GONE': case 'ERR_TIMEOUT': case 'ERR_NO_DIRECT': case 'ERR_CONNECT': case 'ERR_RELAY_LIMIT': return 4;
    case 'ERR_DECRYPT': case 'ERR_INTEGRITY': case 'ERR_KEY_CHANGED': case 'ERR_UNTRUSTED': case 'ERR_PROTOCOL': return 5;
    case 'ERR_IO': case 'ERR_SPACE': return 6;
    case 'ERR_BAD_INPUT': case 'ERR_CONFIG': case 'ERR_NOT_FOUND': case 'ERR_EXISTS': return 2;
    default: return 1;
  }
}

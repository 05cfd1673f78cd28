/**
 * How the CLI speaks: colored lines and a live progress bar on a terminal,
 * one JSON object per line with --json, nothing but errors with --quiet.
 * Human text goes to stderr so stdout stays clean for --json and pipes.
 */
import chalk from 'chalk';
import cliProgress from 'cli-progress';
import type { ErrorCode, SealdropError } from '../shared/errors.js';
import type { ProgressEvent } from './progress.js';

export interface OutputMode { json: boolean; quiet: boolean }

const JSON_PROGRESS_EVERY_MS = 250;

export class Reporter {
  private bar?: cliProgress.SingleBar;
  private lastJson = 0;
  private started = 0;
  constructor(private readonly mode: OutputMode) {}

  info(text: string): void {
    if (this.mode.json || this.mode.quiet) return;
    this.clearBar();
    process.stderr.write(`${chalk.cyan('›')} ${text}\n`);
  }

  success(text: string): void {
    if (this.mode.json || this.mode.quiet) return;
    process.stderr.write(`${chalk.green('✔')} ${text}\n`);
  }

  warn(text: string): void {
    if (this.mode.json || this.mode.quiet) return;
    this.clearBar();
    process.stderr.write(`${chalk.yellow('!')} ${text}\n`);
  }

  /** Emits a JSON event (with --json) — the machine-readable twin of the human lines. */
  event(type: string, fields: Record<string, unknown>): void {
    if (this.mode.json) process.stdout.write(JSON.stringify({ type, ...fields }) + '\n');
  }

  /** Plain result output (lists, fingerprints): always shown unless --json. */
  print(text: string): void {
    if (!this.mode.json) process.stdout.write(text + '\n');
  }

  progress(p: ProgressEvent): void {
    const now = Date.now();
    if (!this.started) this.started = now;
    if (this.mode.json) {
      if (now - this.lastJson < JSON_PROGRESS_EVERY_MS && p.bytes < p.total) return;
      this.lastJson = now;
      this.event('progress', { bytes: p.bytes, total: p.total, file: p.name, fileIndex: p.file, files: p.files });
      return;
    }
    if (this.mode.quiet || !process.stderr.isTTY) return;
    if (!this.bar) {
      this.bar = new cliProgress.SingleBar({
        format: `${chalk.cyan('{bar}')} {percentage}% | {done}/{size} | {rate} | ETA {eta_formatted} | {name}`,
        stream: process.stderr, hideCursor: true, barsize: 28, etaBuffer: 40, fps: 8,
      }, cliProgress.Presets.shades_classic);
      this.bar.start(Math.max(p.total, 1), 0, { done: bytes(0), size: bytes(p.total), rate: '', name: '' });
    }
    const seconds = (now - this.started) / 1000;
    const files = p.files > 1 ? ` (${p.file + 1}/${p.files})` : '';
    this.bar.update(Math.min(p.bytes, Math.max(p.total, 1)), {
      done: bytes(p.bytes), size: bytes(p.total), rate: seconds > 0 ? `${bytes(p.bytes / seconds)}/s` : '', name: `${p.name}${files}`,
    });
  }

  endProgress(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.started = 0;
  }

  error(err: SealdropError): void {
    this.clearBar();
    if (this.mode.json) this.event('error', { code: err.code, message: err.message });
    else process.stderr.write(`${chalk.red('✖')} ${err.message} ${chalk.dim(`(${err.code})`)}\n`);
  }

  private clearBar(): void {
    if (this.bar) { this.bar.stop(); this.bar = undefined; }
  }
}

/** A peer's text as it may reach a terminal: control and invisible formatting characters shown as \uXXXX, never obeyed. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
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

/**
 * A tiny structured logger: one JSON object per line on stderr.
 *
 * What the rendezvous logs is deliberately narrow: events, account IDs, session IDs,
 * codes and byte counts. Never secrets, TOTP codes, session tokens, signaling
 * contents or relay frames; callers pass only those fields.
 *
 * Two properties hold whatever a caller passes, because some fields carry what a
 * client chose (an unknown event's name, a close reason):
 * - `time`, `level` and `event` are the logger's own: a field of the same name is
 *   written as `field.time` etc., never over them, so a client cannot forge an event.
 * - every string is made printable (`shared/printable.ts`: control, format, separator and
 *   unassigned characters become `\u{…}` text), so a line cannot carry terminal escapes or fake line breaks.
 *
 * Repeated events are rate-limited: past `repeat.lines` lines of one level and event
 * within `repeat.windowMs`, further ones are counted, not written, and one
 * `log.suppressed` line says how many there were ("… 1,234 more like this in the last 10 s").
 */
import { printable } from '../shared/printable.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };
const OWN_FIELDS = new Set(['time', 'level', 'event']);

/** Lines per level and event written in one window before the rest are only counted. */
export const DEFAULT_REPEAT_LINES = 100;
export const DEFAULT_REPEAT_WINDOW_MS = 10_000;

export interface LoggerOptions {
  /** Lowest level written; defaults to env SEALDROP_LOG, else 'info'. */
  level?: LogLevel;
  /** Shorthand for level 'silent'. */
  quiet?: boolean;
  /** Where lines go; defaults to stderr. */
  write?: (line: string) => void;
  /** Clock for the timestamp and the repeat windows. */
  now?: () => number;
  /** Repeat limit per level and event (default 100 lines per 10 s); `lines: Infinity` turns it off. */
  repeat?: { lines: number; windowMs: number };
  /** `json` (one object per line, the default) or `human` (`12:00:01 info  connect id=alice …`, for a terminal). */
  format?: 'json' | 'human';
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && value in RANK;
}


interface Window { start: number; written: number; suppressed: number }

export function createLogger(opts: LoggerOptions = {}): Logger {
  const envLevel = process.env.SEALDROP_LOG;
  const level: LogLevel = opts.quiet ? 'silent' : opts.level ?? (isLogLevel(envLevel) ? envLevel : 'info');
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.now ?? Date.now;
  const repeat = opts.repeat ?? { lines: DEFAULT_REPEAT_LINES, windowMs: DEFAULT_REPEAT_WINDOW_MS };
  /** `level event` → its current window. Keys are the code's own event names, so the table is small. */
  const windows = new Map<string, Window>();
  let summaryTimer: NodeJS.Timeout | undefined;

  const emit = (lvl: Exclude<LogLevel, 'silent'>, event: string, fields: LogFields) => {
    try {
      const line: Record<string, unknown> = { time: new Date(now()).toISOString(), level: lvl, event: printable(event) };
      for (const [key, value] of Object.entries(fields)) {
        if (value === undefined) continue;
        const name = OWN_FIELDS.has(key) ? `field.${key}` : printable(key);
        line[name] = typeof value === 'string' ? printable(value) : value;
      }
      write(opts.format === 'human' ? humanLine(line) : JSON.stringify(line));
    } catch {
      // A logger must never take the server down (closed stderr, bad clock).
    }
  };

  /** Writes a summary for every window that has ended with lines suppressed. */
  const summarize = (force = false) => {
    const t = now();
    for (const [key, w] of windows) {
      if (!force && t - w.start < repeat.windowMs) continue;
      windows.delete(key);
      if (w.suppressed === 0) continue;
      const [lvl, event] = [key.slice(0, key.indexOf(' ')), key.slice(key.indexOf(' ') + 1)] as [Exclude<LogLevel, 'silent'>, string];
      const seconds = Math.round((t - w.start) / 1000);
      emit(lvl, 'log.suppressed', {
        of: event, count: w.suppressed, seconds,
        message: `… ${w.suppressed.toLocaleString('en-US')} more like this in the last ${seconds} s`,
      });
    }
    if (summaryTimer && [...windows.values()].every((w) => w.suppressed === 0)) {
      clearInterval(summaryTimer);
      summaryTimer = undefined;
    }
  };

  const at = (lvl: Exclude<LogLevel, 'silent'>) => (event: string, fields: LogFields = {}) => {
    if (RANK[lvl] < RANK[level]) return;
    if (Number.isFinite(repeat.lines)) {
      const key = `${lvl} ${event}`;
      const t = now();
      let w = windows.get(key);
      if (w && t - w.start >= repeat.windowMs) {
        summarize();
        w = undefined;
      }
      if (!w) windows.set(key, w = { start: t, written: 0, suppressed: 0 });
      if (w.written >= repeat.lines) {
        w.suppressed += 1;
        // The summary must come even if the flood stops and nothing else is logged.
        summaryTimer ??= setInterval(() => summarize(), Math.max(100, repeat.windowMs / 4)).unref();
        return;
      }
      w.written += 1;
    }
    emit(lvl, event, fields);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const silentLogger: Logger = createLogger({ level: 'silent' });

/** One log line for a person: time, level, event, then `key=value` (values JSON-quoted only when they need it). */
function humanLine(line: Record<string, unknown>): string {
  const { time, level, event, ...rest } = line;
  const fields = Object.entries(rest).map(([k, v]) => {
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    return `${k}=${typeof v === 'string' && /^[^\s"=]+$/.test(v) ? text : JSON.stringify(text)}`;
  });
  return [String(time).slice(11, 19), String(level).padEnd(5), event, ...fields].join(' ');
}

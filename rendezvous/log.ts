/**
 * A tiny structured logger: one JSON object per line on stderr.
 *
 * What the rendezvous logs is deliberately narrow: events, account IDs, session IDs,
 * codes and byte counts. Never secrets, TOTP codes, session tokens, signaling
 * contents or relay frames; callers pass only those fields.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export interface LoggerOptions {
  /** Lowest level written; defaults to env SEALDROP_LOG, else 'info'. */
  level?: LogLevel;
  /** Shorthand for level 'silent'. */
  quiet?: boolean;
  /** Where lines go; defaults to stderr. */
  write?: (line: string) => void;
  /** Clock for the timestamp. */
  now?: () => number;
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && value in RANK;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const envLevel = process.env.SEALDROP_LOG;
  const level: LogLevel = opts.quiet ? 'silent' : opts.level ?? (isLogLevel(envLevel) ? envLevel : 'info');
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.now ?? Date.now;
  const at = (lvl: Exclude<LogLevel, 'silent'>) => (event: string, fields: LogFields = {}) => {
    if (RANK[lvl] < RANK[level]) return;
    try {
      write(JSON.stringify({ time: new Date(now()).toISOString(), level: lvl, event, ...fields }));
    } catch {
      // A logger must never take the server down (closed stderr, bad clock).
    }
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const silentLogger: Logger = createLogger({ level: 'silent' });

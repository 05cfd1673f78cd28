/** Stable error codes. The CLI maps them to exit status and words; libraries never exit. */
export const ERROR_CODES = [
  'ERR_AUTH', 'ERR_AUTH_REPLAY', 'ERR_THROTTLED', 'ERR_LOCKED', 'ERR_CONFIG', 'ERR_BAD_INPUT',
  'ERR_PEER_OFFLINE', 'ERR_REJECTED', 'ERR_BUSY', 'ERR_PEER_GONE', 'ERR_TIMEOUT', 'ERR_NO_DIRECT',
  'ERR_PROTOCOL', 'ERR_DECRYPT', 'ERR_INTEGRITY', 'ERR_KEY_CHANGED', 'ERR_UNTRUSTED',
  'ERR_IO', 'ERR_SPACE', 'ERR_STORE', 'ERR_RELAY_LIMIT', 'ERR_NOT_FOUND', 'ERR_EXISTS', 'ERR_CONNECT',
  'ERR_INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class SealdropError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SealdropError';
    this.code = code;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Any thrown value as a SealdropError, keeping a code when it has one. */
export function toSealdropError(err: unknown, fallback: ErrorCode = 'ERR_INTERNAL'): SealdropError {
  if (err instanceof SealdropError) return err;
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  return new SealdropError(isErrorCode(code) ? code : fallback, message, { cause: err });
}

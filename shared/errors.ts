/** Stable error codes. The CLI maps them to exit status and words; libraries never exit. */
export const ERROR_CODES = [
  'ERR_AUTH', 'ERR_AUTH_REPLAY', 'ERR_THROTTLED', 'ERR_LOCKED', 'ERR_CONFIG', 'ERR_BAD_INPUT',
  'ERR_PEER_OFFLINE', 'ERR_REJECTED', 'ERR_BUSY', 'ERR_PEER_GONE', 'ERR_TIMEOUT', 'ERR_NO_DIRECT',
  'ERR_PROTOCOL', 'ERR_DECRYPT', 'ERR_INTEGRITY', 'ERR_KEY_CHANGED', 'ERR_UNTRUSTED',
  'ERR_IO', 'ERR_SPACE', 'ERR_STORE', 'ERR_RELAY_LIMIT', 'ERR_NOT_FOUND', 'ERR_EXISTS', 'ERR_CONNECT',
  'ERR_INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface SealdropErrorOptions {
  cause?: unknown;
  /**
   * What the other peer may be told (reject, abort). `message` is for the local
   * person and may name local paths; this never does. Without it the peer gets
   * the generic words for the code (see messageForPeer).
   */
  peerMessage?: string;
  /** What the local person can do about it, when it is more precise than the CLI's words for the code (docs/ERRORS.md). */
  hint?: string;
}

export class SealdropError extends Error {
  readonly code: ErrorCode;
  readonly peerMessage?: string;
  readonly hint?: string;
  constructor(code: ErrorCode, message: string, options?: SealdropErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SealdropError';
    this.code = code;
    if (options?.peerMessage !== undefined) this.peerMessage = options.peerMessage;
    if (options?.hint !== undefined) this.hint = options.hint;
  }
}

/** Words for the other peer when an error says nothing more that is safe to send: they name no local path. */
// Partial: a code added without words here still gets the fallback below.
const PEER_WORDS: Partial<Record<ErrorCode, string>> = {
  ERR_AUTH: 'the other side could not log in to the rendezvous',
  ERR_AUTH_REPLAY: 'the other side could not log in to the rendezvous',
  ERR_THROTTLED: 'the other side could not log in to the rendezvous',
  ERR_LOCKED: 'the other side could not log in to the rendezvous',
  ERR_CONFIG: 'the other side has a problem with its own setup',
  ERR_BAD_INPUT: 'the other side refused the request as invalid',
  ERR_PEER_OFFLINE: 'a peer is not online',
  ERR_REJECTED: 'the other side declined',
  ERR_BUSY: 'the other side is busy with another transfer; try again shortly',
  ERR_PEER_GONE: 'the connection to a peer was lost',
  ERR_TIMEOUT: 'the other side timed out waiting',
  ERR_NO_DIRECT: 'no direct path was found',
  ERR_PROTOCOL: 'the other side received a message it did not expect',
  ERR_DECRYPT: 'the other side could not decrypt the data (it was altered in transit)',
  ERR_INTEGRITY: 'the other side could not verify the data',
  ERR_KEY_CHANGED: 'the other side does not trust this peer key',
  ERR_UNTRUSTED: 'the other side does not trust this peer key',
  ERR_IO: 'the other side could not read or write its files',
  ERR_SPACE: 'the other side does not have enough free space',
  ERR_STORE: 'the other side has a problem with its own storage',
  ERR_RELAY_LIMIT: 'the relay refused the transfer (an operator limit)',
  ERR_NOT_FOUND: 'the other side has nothing by that name',
  ERR_EXISTS: 'the other side already has that',
  ERR_CONNECT: 'the other side lost its connection',
  ERR_INTERNAL: 'the other side failed unexpectedly',
};

/** The message a reject or abort carries: the error's peer-facing words, or the generic ones for its code. */
export function messageForPeer(err: SealdropError): string {
  return err.peerMessage ?? PEER_WORDS[err.code] ?? 'the other side failed';
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

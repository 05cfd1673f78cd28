/**
 * What the rendezvous's services report as it happens, for metrics: a small interface
 * so no service imports prom-client. Every label is from a fixed small set here, never
 * an account ID, address, code or token (a client chooses those).
 */
import type { LimitedEvent } from './admission/event-limits.js';

/** How a login ended. */
export const AUTH_RESULTS = [
  'ok_code', 'ok_token', 'bad_code', 'unknown_account', 'replay', 'throttled', 'locked',
  'bad_token', 'bad_handshake', 'origin_refused', 'store_error', 'internal_error', 'draining',
] as const;
export type AuthResult = (typeof AUTH_RESULTS)[number];

/** Which bucket refused an event: the connection's, the account's, or the (opener, receiver) pair's. */
export const LIMIT_SCOPES = ['connection', 'account', 'pair'] as const;
export type LimitScope = (typeof LIMIT_SCOPES)[number];

/** What a Redis round trip was for (cluster mode). */
export const REDIS_OPS = ['spend', 'guesses', 'token', 'accounts', 'presence', 'relay-usage'] as const;
export type RedisOp = (typeof REDIS_OPS)[number];

export interface Telemetry {
  authResult(result: AuthResult): void;
  rateLimited(scope: LimitScope, event: LimitedEvent): void;
  /** A connection ran out of strikes and was disconnected. */
  connectionCut(): void;
  /** One Redis operation took `seconds` and succeeded or failed (cluster mode). */
  redisCommand(op: RedisOp, seconds: number, ok: boolean): void;
}

/** When metrics are off. */
export const NO_TELEMETRY: Telemetry = { authResult() {}, rateLimited() {}, connectionCut() {}, redisCommand() {} };

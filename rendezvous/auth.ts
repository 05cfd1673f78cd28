/**
 * The gate every connection passes before it can see or send anything: Socket.IO
 * middleware that accepts a fresh TOTP code or a session token issued on one.
 *
 * - A code is checked with ±1 step of skew, and each step is accepted at most once
 *   per account: a replayed code is refused (ERR_AUTH_REPLAY).
 * - Failed codes count per account ID (see throttle.ts); unknown IDs count too and
 *   get the same answer as a wrong code, so probing does not reveal accounts.
 * - Tokens are 256-bit random values, so guessing them is hopeless and they are not
 *   throttled: an attacker hammering an account with codes cannot lock out a peer
 *   that already holds a token. Every success issues a new token (sent in `welcome`).
 *
 * A refusal reaches the client as `connect_error` with a message a person can act
 * on and `err.data = { code, retryAfter? }`.
 */
import { TOTP_STEP_SECONDS } from '../shared/constants.js';
import { AccountId, describeIssues, HandshakeAuth } from '../shared/schemas.js';
import { matchStep } from '../shared/totp.js';
import type { Account, AccountStore } from './accounts.js';
import type { Logger } from './log.js';
import type { SpentSteps } from './spent-steps.js';
import type { Refusal, AuthThrottle } from './throttle.js';
import type { IssuedToken, SessionTokens } from './tokens.js';
import type { PeerSocket } from './types.js';

export interface GatekeeperOptions {
  accounts: AccountStore;
  tokens: SessionTokens;
  throttle: AuthThrottle;
  spent: SpentSteps;
  now: () => number;
  logger: Logger;
  /** Sees every handshake's auth object as received (test hook). */
  onHandshake?: (auth: unknown) => void;
}

interface Admitted { account: Account; receiving: boolean; issued: IssuedToken; via: 'code' | 'token' }

export class Gatekeeper {
  /** What each admitted socket authenticated as, and the token it has yet to be told. */
  private readonly admitted = new WeakMap<PeerSocket, Admitted>();

  constructor(private readonly opts: GatekeeperOptions) {}

  /** For `io.use`. */
  readonly middleware = (socket: PeerSocket, next: (err?: Error) => void): void => {
    let result: Admitted | Refusal;
    try {
      this.opts.onHandshake?.(socket.handshake.auth);
      result = this.authenticate(socket.handshake.auth);
    } catch (err) {
      this.opts.logger.error('auth.error', { error: err instanceof Error ? err.message : String(err) });
      result = { code: 'ERR_INTERNAL', message: 'the rendezvous failed while checking the login; try again' };
    }
    if ('code' in result) {
      this.opts.logger.warn('auth.failed', { id: idOf(socket.handshake.auth), code: result.code, addr: socket.handshake.address });
      const err = new Error(result.message) as Error & { data: unknown };
      err.data = { code: result.code, ...(result.retryAfter !== undefined && { retryAfter: result.retryAfter }) };
      return next(err);
    }
    socket.data = { id: result.account.id, receiving: result.receiving };
    this.admitted.set(socket, result);
    this.opts.logger.info('auth.ok', { id: result.account.id, via: result.via, socket: socket.id, addr: socket.handshake.address });
    next();
  };

  /** The token issued to this socket's login, for its `welcome`. */
  tokenOf(socket: PeerSocket): IssuedToken | undefined {
    return this.admitted.get(socket)?.issued;
  }

  /** False once the account a socket logged in as was revoked or re-enrolled with a new secret. */
  stillEnrolled(socket: PeerSocket): boolean {
    const was = this.admitted.get(socket)?.account;
    const now = was && this.opts.accounts.get(was.id);
    return now !== undefined && now.secret === was!.secret && now.createdAt === was!.createdAt;
  }

  authenticate(raw: unknown): Admitted | Refusal {
    const parsed = HandshakeAuth.safeParse(raw);
    if (!parsed.success) {
      return { code: 'ERR_BAD_INPUT', message: `bad login handshake (expected {id, code} or {id, token}): ${describeIssues(parsed.error)}` };
    }
    const auth = parsed.data;
    const { accounts, tokens, throttle, now: clock } = this.opts;
    const now = clock();
    const receiving = auth.receiving ?? false;
    let account: Account | undefined;
    try {
      account = accounts.get(auth.id);
    } catch (err) {
      this.opts.logger.error('store.unreadable', { error: (err as Error).message });
      return { code: 'ERR_STORE', message: 'the rendezvous cannot read its account store; tell its operator' };
    }

    if ('token' in auth) {
      if (!account || !tokens.verify(account, auth.token, now)) {
        return { code: 'ERR_AUTH', message: `session token for ${auth.id} is invalid, expired or revoked; log in with a fresh code` };
      }
      return { account, receiving, issued: tokens.issue(account, now), via: 'token' };
    }

    const blocked = throttle.check(auth.id, now);
    if (blocked) return blocked;
    const step = account ? matchStep(account.secret, auth.code, now) : null;
    if (!account || step === null) {
      throttle.failure(auth.id, now, account !== undefined);
      return { code: 'ERR_AUTH', message: `login failed for ${auth.id}: wrong code or unknown account (is the authenticator's clock right?)` };
    }
    if (!this.opts.spent.spend(account.id, step)) {
      throttle.failure(auth.id, now, true);
      return { code: 'ERR_AUTH_REPLAY', message: `that code for ${auth.id} was already used; wait for the next one (at most ${TOTP_STEP_SECONDS} s)` };
    }
    throttle.success(auth.id);
    return { account, receiving, issued: tokens.issue(account, now), via: 'code' };
  }
}

/** The claimed account ID of a handshake, only if well-formed (never logs raw input). */
function idOf(auth: unknown): string | undefined {
  const id = (auth as { id?: unknown } | null)?.id;
  return AccountId.safeParse(id).success ? (id as string) : undefined;
}

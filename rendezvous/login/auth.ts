/**
 * The gate every connection passes before it can see or send anything: Socket.IO
 * middleware that accepts a fresh TOTP code or a session token issued on one.
 *
 * - First, a browser Origin not on the allow-list is refused (origin.ts), before
 *   anything is parsed or counted.
 * - A code is checked with ±1 step of skew, and only for a step after the last one
 *   accepted for the account: a replayed or older code is refused (ERR_AUTH_REPLAY).
 * - Failed codes count per client address, then per account ID (see throttle.ts);
 *   unknown IDs count too and get the same answer as a wrong code, so probing does
 *   not reveal accounts.
 * - Tokens are 256-bit random values, so guessing them is hopeless and they are not
 *   throttled: an attacker hammering an account with codes cannot lock out a peer
 *   that already holds a token. Every success issues a new token (sent in `welcome`).
 * - Accounts come from the copy in force (live-accounts.ts, or redis-live-accounts.ts
 *   in a cluster); the server drops live connections of accounts that copy loses or
 *   re-enrolls.
 * - The stores behind the gate (login-state.ts) may be remote (Redis), so a login is
 *   checked asynchronously; Socket.IO waits for `next`. No decision is a read followed
 *   by a write: spending a step and counting a guess are each one atomic store step.
 *   A store that cannot answer refuses the login (ERR_STORE), never admits it.
 *
 * A refusal reaches the client as `connect_error` with a message a person can act
 * on and `err.data = { code, retryAfter? }`.
 */
import { TOTP_STEP_SECONDS } from '../../shared/constants.js';
import { AccountId, describeIssues, HandshakeAuth } from '../../shared/schemas.js';
import { matchStep } from '../../shared/totp.js';
import type { Account } from '../store/accounts.js';
import { addressKey, clientAddress } from '../admission/client-address.js';
import type { AccountsInForce, GuessBudget, StepLedger, TokenBook } from './login-state.js';
import type { Logger } from '../log.js';
import type { OriginPolicy } from '../admission/origin.js';
import type { Refusal } from './throttle.js';
import type { IssuedToken } from './tokens.js';
import { SealdropError } from '../../shared/errors.js';
import { LARGE_BATCH_FRAMES, MAX_BATCH_FRAMES } from '../../shared/relay-batch.js';
import { NO_TELEMETRY, type AuthResult, type Telemetry } from '../telemetry.js';
import type { PeerSocket } from '../types.js';

export interface GatekeeperOptions {
  accounts: AccountsInForce;
  origins: OriginPolicy;
  /** Take the client address from X-Forwarded-For's last hop (behind a reverse proxy). */
  trustProxy?: boolean;
  tokens: TokenBook;
  guesses: GuessBudget;
  spent: StepLedger;
  now: () => number;
  logger: Logger;
  /** Sees every handshake's auth object as received (test hook). */
  onHandshake?: (auth: unknown) => void;
  /** Hears how each login ended (metrics). */
  telemetry?: Telemetry;
}

/** A refusal, and how the metrics count it. */
type Counted = Refusal & { result: AuthResult };

interface Admitted { account: Account; receiving: boolean; relayBatch: boolean; issued: IssuedToken; via: 'code' | 'token' }

export class Gatekeeper {
  /** What each admitted socket authenticated as, and the token it has yet to be told. */
  private readonly admitted = new WeakMap<PeerSocket, Admitted>();

  constructor(private readonly opts: GatekeeperOptions) {}

  /** For `io.use`. */
  readonly middleware = (socket: PeerSocket, next: (err?: Error) => void): void => {
    const addr = clientAddress(socket.handshake, this.opts.trustProxy ?? false);
    this.decide(socket, addr).then((result) => this.finish(socket, addr, result, next)).catch((err: Error) => {
      this.opts.logger.error('auth.error', { error: err.message });
      next(new Error('the rendezvous failed while checking the login; try again'));
    });
  };

  private async decide(socket: PeerSocket, addr: string): Promise<Admitted | Counted> {
    try {
      this.opts.onHandshake?.(socket.handshake.auth);
      const origin = socket.handshake.headers.origin;
      if (!this.opts.origins.admits(origin)) {
        return { code: 'ERR_AUTH', result: 'origin_refused', message: `this rendezvous does not accept connections from web pages at ${String(origin).slice(0, 100)} (its operator can allow them with --allow-origin)` };
      }
      return await this.authenticate(socket.handshake.auth, addr);
    } catch (err) {
      if (err instanceof SealdropError && err.code === 'ERR_STORE') {
        this.opts.logger.error('store.unreadable', { error: err.message });
        return { code: 'ERR_STORE', result: 'store_error', message: err.peerMessage ?? STORE_UNREADABLE };
      }
      this.opts.logger.error('auth.error', { error: err instanceof Error ? err.message : String(err) });
      return { code: 'ERR_INTERNAL', result: 'internal_error', message: 'the rendezvous failed while checking the login; try again' };
    }
  }

  private finish(socket: PeerSocket, addr: string, result: Admitted | Counted, next: (err?: Error) => void): void {
    const telemetry = this.opts.telemetry ?? NO_TELEMETRY;
    if ('code' in result) {
      telemetry.authResult(result.result);
      this.opts.logger.warn('auth.failed', { id: idOf(socket.handshake.auth), code: result.code, addr });
      const err = new Error(result.message) as Error & { data: unknown };
      err.data = { code: result.code, ...(result.retryAfter !== undefined && { retryAfter: result.retryAfter }) };
      return next(err);
    }
    telemetry.authResult(result.via === 'code' ? 'ok_code' : 'ok_token');
    socket.data = { id: result.account.id, receiving: result.receiving, relayBatch: result.relayBatch, batchFrames: batchFramesOf(socket.handshake.query, result.relayBatch) };
    this.admitted.set(socket, result);
    this.opts.logger.info('auth.ok', { id: result.account.id, via: result.via, socket: socket.id, addr });
    next();
  }

  /** The token issued to this socket's login, for its `welcome`. */
  tokenOf(socket: PeerSocket): IssuedToken | undefined {
    return this.admitted.get(socket)?.issued;
  }

  /** False once the account a socket logged in as was revoked or re-enrolled with a new secret. */
  stillEnrolled(socket: PeerSocket): boolean {
    const was = this.admitted.get(socket)?.account;
    return was !== undefined && this.opts.accounts.holds(was);
  }

  /** `addr` is the client address the failure limits count under. Throws ERR_STORE when a store cannot answer. */
  async authenticate(raw: unknown, addr = 'unknown'): Promise<Admitted | Counted> {
    const parsed = HandshakeAuth.safeParse(raw);
    if (!parsed.success) {
      return { code: 'ERR_BAD_INPUT', result: 'bad_handshake', message: `bad login handshake (expected {id, code} or {id, token}): ${describeIssues(parsed.error)}` };
    }
    const auth = parsed.data;
    const { accounts, tokens, guesses, now: clock } = this.opts;
    const now = clock();
    const receiving = auth.receiving ?? false;
    const relayBatch = auth.relayBatch ?? false;
    let account: Account | undefined;
    try {
      account = await accounts.get(auth.id);
    } catch (err) {
      if (err instanceof SealdropError && err.code === 'ERR_STORE') throw err;
      throw new SealdropError('ERR_STORE', (err as Error).message, { cause: err });
    }

    if ('token' in auth) {
      if (!account || !(await tokens.verify(account, auth.token, now))) {
        return { code: 'ERR_AUTH', result: 'bad_token', message: `session token for ${auth.id} is invalid, expired or revoked; log in with a fresh code` };
      }
      return { account, receiving, relayBatch, issued: await tokens.issue(account, now), via: 'token' };
    }

    const where = addressKey(addr);
    const blocked = await guesses.begin(auth.id, where, now);
    if (blocked) return { ...blocked, result: blocked.code === 'ERR_LOCKED' ? 'locked' : 'throttled' };
    const step = account ? matchStep(account.secret, auth.code, now) : null;
    if (!account || step === null) {
      await guesses.failed(auth.id, where, now, account !== undefined);
      return { code: 'ERR_AUTH', result: account ? 'bad_code' : 'unknown_account', message: `login failed for ${auth.id}: wrong code or unknown account (is the authenticator's clock right?)` };
    }
    if (!(await this.opts.spent.spend(account.id, step))) {
      await guesses.failed(auth.id, where, now, true);
      return { code: 'ERR_AUTH_REPLAY', result: 'replay', message: `that code for ${auth.id} was already used, or a newer one was; wait for the next one (at most ${TOTP_STEP_SECONDS} s)` };
    }
    await guesses.passed(auth.id, where, now);
    return { account, receiving, relayBatch, issued: await tokens.issue(account, now), via: 'code' };
  }
}

/**
 * Large batches are asked for in the login's query (`batchFrames=16`), not in `auth`: a server
 * that predates them refuses unknown `auth` keys but ignores the query, so a new peer logs in
 * to an old server alike.
 */
function batchFramesOf(query: Record<string, unknown>, relayBatch: boolean): number {
  return relayBatch && query.batchFrames === String(LARGE_BATCH_FRAMES) ? LARGE_BATCH_FRAMES : MAX_BATCH_FRAMES;
}

/** What a client hears when the account file cannot be read (the operator's log has the details; Redis errors bring their own words). */
const STORE_UNREADABLE = 'the rendezvous cannot read its account store; tell its operator';

/** The claimed account ID of a handshake, only if well-formed (never logs raw input). */
function idOf(auth: unknown): string | undefined {
  const id = (auth as { id?: unknown } | null)?.id;
  return AccountId.safeParse(id).success ? (id as string) : undefined;
}

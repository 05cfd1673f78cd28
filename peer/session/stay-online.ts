/**
 * StayOnline: keeps one peer connected to the rendezvous for as long as it is
 * wanted (`sealdrop receive`). When the connection drops — a restart, a network
 * blip — it connects again with backoff and jitter (a cached session token first,
 * then a code from the stored secret: connect() does both) and hands each new
 * session to `onSession`. It gives up only when coming back cannot work: the
 * account was revoked or the secret is wrong (ERR_AUTH), the account is locked,
 * or there is no way to log in (ERR_CONFIG), or another `receive` took over (`--replace`).
 */
import { SealdropError, toSealdropError } from '../../shared/errors.js';
import type { Home } from './home.js';
import { connect, type Account } from './login.js';
import type { RendezvousSession } from './rendezvous-session.js';

/** First wait before reconnecting, and the longest: doubled on each failure, ±25 % jitter. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 15_000;
/** Failures after which coming back cannot work: say why and stop. */
const FATAL = new Set(['ERR_AUTH', 'ERR_LOCKED', 'ERR_CONFIG']);

export interface StayOnlineOptions {
  home: Home;
  account: Account;
  receiving: boolean;
  /** The first connection takes over from another receiving one (`--replace`); coming back always does (it is our own). */
  replace?: boolean;
  /** Each session, the first and every one after a reconnect. */
  onSession: (session: RendezvousSession, again: boolean) => void;
  /** The connection dropped; the next attempt is in `retryMs`. */
  onReconnecting?: (why: string, retryMs: number) => void;
  /** Coming back failed for good (revoked, wrong secret…). */
  onGiveUp: (err: SealdropError) => void;
}

export class StayOnline {
  private current?: RendezvousSession;
  private stopped = false;
  private timer?: NodeJS.Timeout;

  private constructor(private readonly o: StayOnlineOptions) {}

  /** Connects once (a failure here is the caller's, as for any command), then stays online. */
  static async start(o: StayOnlineOptions): Promise<StayOnline> {
    const online = new StayOnline(o);
    online.attach(await connect(o.home, o.account, { receiving: o.receiving, replace: o.replace }), false);
    return online;
  }

  get session(): RendezvousSession | undefined { return this.current; }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.current?.disconnect();
  }

  private attach(session: RendezvousSession, again: boolean): void {
    this.current = session;
    session.on('replaced', () => {
      if (this.stopped) return;
      this.stop();
      this.o.onGiveUp(new SealdropError('ERR_EXISTS', `another \`sealdrop receive\` for ${session.id} took over (it was started with --replace); this one stops`,
        { hint: 'the other one receives now; to receive here again, stop it, or start this one with --replace' }));
    });
    session.on('disconnect', (reason) => {
      if (this.stopped || reason === 'io client disconnect') return;
      this.retry(session.restarting ? 'the rendezvous is restarting' : words(reason), 0);
    });
    this.o.onSession(session, again);
  }

  private retry(why: string, attempt: number): void {
    const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
    const wait = Math.round(base * (0.75 + Math.random() * 0.5));
    this.o.onReconnecting?.(why, wait);
    this.timer = setTimeout(() => {
      if (this.stopped) return;
      // `replace`: the rendezvous may not have noticed yet that our old connection is gone.
      connect(this.o.home, this.o.account, { receiving: this.o.receiving, replace: true }).then(
        (session) => {
          if (this.stopped) { session.disconnect(); return; }
          this.attach(session, true);
        },
        (err) => {
          const e = toSealdropError(err);
          if (FATAL.has(e.code)) {
            this.stopped = true;
            this.o.onGiveUp(new SealdropError(e.code, `cannot come back online: ${e.message}`));
          } else {
            this.retry(e.message, attempt + 1);
          }
        },
      );
    }, wait);
  }
}

/** Socket.IO's reasons, in words. */
function words(reason: string): string {
  if (reason === 'io server disconnect') return 'the rendezvous closed the connection';
  if (reason === 'transport close' || reason === 'transport error') return 'the connection to the rendezvous was lost';
  if (reason === 'ping timeout') return 'the rendezvous stopped answering';
  return `lost the rendezvous (${reason})`;
}

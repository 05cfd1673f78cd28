/**
 * Continuation: a transfer whose rendezvous connection was lost (a restart, a network
 * loss) while its data went over the relay goes on by itself. The opener (send, get)
 * reconnects with backoff, opens a new session to the same peer, runs a new handshake
 * (new keys), insists on the identity the first session proved, and runs the transfer
 * again: the receiving side's partial files make it resume from the last verified chunk
 * (PROTOCOL.md "Continuation after a lost rendezvous"). Bounded: without the rendezvous
 * (or the peer back on it) for `withinMs`, it gives up with words; what arrived is kept.
 */
import { SealdropError, toSealdropError } from '../../shared/errors.js';
import { isLostRendezvous } from '../link/peer-link.js';

/** How long a transfer waits, from a loss, for the rendezvous and the peer to be back (SEALDROP_CONTINUE_WITHIN). */
export const DEFAULT_CONTINUE_WITHIN_MS = 60_000;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 5_000;
/** Losses one transfer survives; a rendezvous that keeps going away ends it after this many. */
const MAX_LOSSES = 5;
/** While coming back: the rendezvous still down or draining (ERR_CONNECT, ERR_BUSY), the peer not back yet or still winding down. */
const NOT_BACK_YET = new Set(['ERR_CONNECT', 'ERR_BUSY', 'ERR_PEER_OFFLINE', 'ERR_TIMEOUT', 'ERR_PEER_GONE']);

export interface ContinuationOptions {
  /** Who the transfer is with, for the words. */
  peer: string;
  withinMs?: number;
  /** The rendezvous was lost: the next attempt is in `retryMs`. */
  onReconnecting?: (why: string, retryMs: number) => void;
  /** Logged in again, about to ask the peer to continue. */
  onOnline?: () => void;
  /** Aborting stops the waiting at once (Ctrl-C). */
  signal?: AbortSignal;
}

/** What one attempt is told: whether it continues an earlier one that was cut. */
export interface Attempt { again: boolean; onConnected: () => void }

export async function withContinuation<T>(o: ContinuationOptions, attempt: (a: Attempt) => Promise<T>): Promise<T> {
  const withinMs = o.withinMs ?? DEFAULT_CONTINUE_WITHIN_MS;
  let deadline: number | undefined;
  let losses = 0;
  let wait = FIRST_RETRY_MS;
  for (;;) {
    try {
      return await attempt({
        again: deadline !== undefined,
        onConnected: () => { if (deadline !== undefined) o.onOnline?.(); },
      });
    } catch (err) {
      const e = toSealdropError(err);
      if (o.signal?.aborted) throw e;
      if (isLostRendezvous(e)) {
        // Each loss gets its own bound, counted from when it happened.
        if (++losses > MAX_LOSSES) throw new SealdropError(e.code, `the rendezvous was lost ${MAX_LOSSES} times during this transfer; stopped (${e.message})`, { hint: 'what arrived is kept: run the same command again to resume' });
        deadline = Date.now() + withinMs;
        wait = FIRST_RETRY_MS;
      } else if (deadline === undefined || !NOT_BACK_YET.has(e.code)) {
        throw e;
      }
      // The last attempt is at the deadline; after it, words.
      const left = deadline - Date.now();
      if (left <= 0) throw gaveUp(o.peer, e, withinMs);
      const retryMs = Math.min(left, Math.round(wait * (0.75 + Math.random() * 0.5)));
      o.onReconnecting?.(reason(e, isLostRendezvous(e)), retryMs);
      await sleep(retryMs, o.signal);
      if (o.signal?.aborted) throw e;
      wait = Math.min(MAX_RETRY_MS, wait * 2);
    }
  }
}

function reason(e: SealdropError, lost: boolean): string {
  return lost && !/rendezvous/.test(e.message) ? `lost the rendezvous (${e.message})` : e.message;
}

/** The last thing that kept the transfer from continuing, in words, and that it can still be resumed. */
function gaveUp(peer: string, e: SealdropError, withinMs: number): SealdropError {
  const s = Math.round(withinMs / 1000);
  const hint = 'what arrived is kept: run the same command again to resume from there';
  if (e.code === 'ERR_PEER_OFFLINE' || e.code === 'ERR_BUSY' && !/restarting/.test(e.message)) {
    return new SealdropError('ERR_PEER_GONE', `${peer} did not come back within ${s} s after the rendezvous was lost (${e.message}); the transfer stopped`, { cause: e, hint });
  }
  return new SealdropError('ERR_CONNECT', `the rendezvous did not come back within ${s} s (${e.message}); the transfer stopped`, { cause: e, hint });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve(); }
    signal?.addEventListener('abort', done, { once: true });
  });
}

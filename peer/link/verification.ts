/**
 * `--verify`: before anything is sent or written, the people on both ends confirm
 * that they see the same verification code. Each side said in its `path` message
 * whether its person will be asked; a side that asks sends `verified {ok}` with the
 * answer, and both wait for every answer that was announced. A "no" on either side
 * ends the session for both. See docs/PROTOCOL.md "Verification".
 */
import { CONSENT_TIMEOUT_MS, PEER_VERIFY_TIMEOUT_MS } from '../../shared/constants.js';
import { SealdropError } from '../../shared/errors.js';
import type { SecureChannel } from './secure-channel.js';

/** Asks this side's person whether `peer` shows `sas` too; `signal` aborts the question. */
export type ConfirmCode = (sas: string, signal: AbortSignal, peer: string) => Promise<boolean>;

export interface VerifyOptions {
  sas: string;
  peer: string;
  /** This side's person is asked (and the other side was told so). */
  mine: boolean;
  /** The other side said its person will be asked. */
  theirs: boolean;
  /**
   * This side did not announce `verify`, but its person is asked too when the other side's is
   * (the page does): a "no" ends the session (the caller's `abort` says why), a "yes" sends
   * nothing (none was announced) and waits for their answer.
   */
  alsoWhenTheyVerify?: boolean;
  confirm?: ConfirmCode;
  /** How long this side's person has to answer (default CONSENT_TIMEOUT_MS). */
  timeoutMs?: number;
  /** How long the other side's answer may take (default PEER_VERIFY_TIMEOUT_MS): a peer that says it asks holds us no longer. */
  theirTimeoutMs?: number;
}

export async function verifyCodes(channel: SecureChannel, o: VerifyOptions): Promise<void> {
  if (!o.mine && !o.theirs) return;
  const timeoutMs = o.timeoutMs ?? CONSENT_TIMEOUT_MS;
  const asking = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const theirAnswer = o.theirs ? awaitTheirs(channel, o.theirTimeoutMs ?? PEER_VERIFY_TIMEOUT_MS) : Promise.resolve();
  // A "no" from them ends our question at once.
  theirAnswer.catch(() => asking.abort());
  const asked = o.mine || (o.theirs && o.alsoWhenTheyVerify === true);
  // While only this side asks, the other waits for our answer and sends nothing, but it may stop
  // (its person said no on a page that asks all the same, or it failed): that ends our question.
  const watching = new AbortController();
  const theirStop = asked && !o.theirs ? stopWhileAsking(channel, watching.signal, timeoutMs + 10_000) : undefined;
  try {
    if (asked) {
      if (!o.confirm) throw new SealdropError('ERR_CONFIG', '--verify needs a person to ask (a terminal, or --json with answers on stdin)');
      const ok = await Promise.race([
        ...(theirStop ? [theirStop] : []),
        o.confirm(o.sas, asking.signal, o.peer).catch((err) => { if (asking.signal.aborted) return false; throw err; }),
        theirAnswer.then(() => new Promise<never>(() => {})), // their "yes" does not answer for us
        new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); }),
      ]).finally(() => watching.abort()); // what comes after our answer is for the next reader
      if (o.mine) await channel.sendControl({ t: 'verified', ok }).catch(() => {});
      if (!ok) {
        throw new SealdropError('ERR_REJECTED', 'the verification codes were not confirmed, so the session was ended; nothing was sent or written',
          { peerMessage: 'the other person did not confirm that both sides show the same verification code' });
      }
    }
    await theirAnswer;
  } finally {
    clearTimeout(timer);
    watching.abort();
    asking.abort();
  }
}

/** Rejects with what the other side said or did instead of waiting (an `abort`, a failed channel); never resolves. */
function stopWhileAsking(channel: SecureChannel, signal: AbortSignal, timeoutMs: number): Promise<never> {
  const stop = channel.nextControl({ signal, timeoutMs }).then(
    (msg): never => { throw new SealdropError('ERR_PROTOCOL', `the other peer sent ${msg.t} while this side's person was asked to confirm the code`); },
    (err: unknown) => (signal.aborted ? new Promise<never>(() => {}) : Promise.reject(err)),
  );
  stop.catch(() => {});
  return stop;
}

async function awaitTheirs(channel: SecureChannel, timeoutMs: number): Promise<void> {
  const msg = await channel.nextControl({ timeoutMs });
  if (msg.t !== 'verified') throw new SealdropError('ERR_PROTOCOL', `expected the other person's answer to the verification code, got ${msg.t}`);
  if (!msg.ok) {
    throw new SealdropError('ERR_REJECTED',
      'the other person says the verification codes differ (or did not confirm them): someone may be in the middle; nothing was sent or written');
  }
}

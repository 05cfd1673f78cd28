/**
 * Acknowledgements: replies that fire at most once, and server→client requests
 * with a timeout whose timer never keeps the process alive.
 */
import type { ErrorCode } from '../shared/errors.js';
import type { ErrorReply } from '../shared/schemas.js';

export type ReplyFn = (res: object) => void;

export function errorReply(code: ErrorCode, message: string): ErrorReply {
  return { ok: false, code, message };
}

/** Wraps a client's ack so it is called at most once and a throwing ack cannot escape. */
export function replyOnce(ack: ((res: object) => void) | undefined): ReplyFn {
  let done = false;
  return (res) => {
    if (done || !ack) return;
    done = true;
    try {
      ack(res);
    } catch {
      // socket.io acks do not throw; this only guards against the unexpected.
    }
  };
}

export interface PendingAnswer<A extends unknown[]> {
  /** Pass this as the ack of the emit. */
  ack: (...answer: A) => void;
  /** Stops waiting: neither callback fires afterwards. */
  cancel(): void;
}

/**
 * Waits for a peer's ack for at most `ms`: exactly one of onAnswer / onTimeout runs,
 * unless cancelled first. Own timer instead of `socket.timeout()`, because that timer
 * is not cleared when the socket disconnects and would hold the process open.
 */
export function awaitAnswer<A extends unknown[]>(ms: number, onAnswer: (...answer: A) => void, onTimeout: () => void): PendingAnswer<A> {
  let settled = false;
  const timer = setTimeout(() => {
    if (settled) return;
    settled = true;
    onTimeout();
  }, ms).unref();
  return {
    ack: (...answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      onAnswer(...answer);
    },
    cancel: () => {
      settled = true;
      clearTimeout(timer);
    },
  };
}

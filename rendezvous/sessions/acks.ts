/**
 * Acknowledgements: replies that fire at most once, and server→client requests
 * with a timeout whose timer never keeps the process alive.
 */
import type { ErrorCode } from '../../shared/errors.js';
import type { ErrorReply } from '../../shared/schemas.js';
import type { PeerSocket } from '../types.js';

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

/** The parts of a Socket.IO socket that hold server→client acks (not in its typings). */
interface AckTable { acks?: Map<number, unknown>; nsp?: { _ids?: unknown } }

/**
 * Emits through `send(ack)` and returns a function that removes `ack` from the
 * socket's ack table. Socket.IO keeps an unanswered ack until the socket closes;
 * a peer that never answers would grow that table without bound, so whoever stops
 * waiting calls the function. The entry is matched by identity, so if Socket.IO
 * ever stores acks differently this removes nothing rather than the wrong one.
 */
export function emitForgettable<F extends Function>(socket: PeerSocket, ack: F, send: (ack: F) => void): () => void {
  const table = socket as unknown as AckTable;
  const id = table.nsp?._ids; // the ID the emit is about to take
  send(ack);
  return () => {
    if (typeof id === 'number' && table.acks?.get(id) === ack) table.acks.delete(id);
  };
}

/** Unanswered server→client acks a socket holds now (for tests and stats). */
export function pendingAcks(socket: PeerSocket): number {
  return (socket as unknown as AckTable).acks?.size ?? 0;
}

/**
 * A request to a client with an ack that waits at most `ms`: awaitAnswer, and the
 * ack leaves the socket's table when the wait ends without an answer.
 */
export function requestAnswer<A extends unknown[]>(
  socket: PeerSocket, ms: number, send: (ack: (...answer: A) => void) => void,
  onAnswer: (...answer: A) => void, onTimeout: () => void,
): PendingAnswer<A> {
  let forget = () => {};
  const pending = awaitAnswer<A>(ms, onAnswer, () => {
    forget();
    onTimeout();
  });
  forget = emitForgettable(socket, pending.ack, send);
  return {
    ack: pending.ack,
    cancel: () => {
      pending.cancel();
      forget();
    },
  };
}

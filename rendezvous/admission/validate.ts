/**
 * Every client event enters through here: it is charged against the rate limits
 * (event-limits.ts), its arguments are parsed against a schema before any handler
 * sees them, a bad payload gets an ERR_BAD_INPUT ack (and a strike), and nothing a
 * client sends can throw out of a handler and take the server down.
 */
import type { z } from 'zod';
import { type ClientToServer, describeIssues } from '../../shared/schemas.js';
import { errorReply, type ReplyFn, replyOnce } from '../sessions/acks.js';
import { admitEvent, strike } from './event-limits.js';
import { printable } from '../../shared/printable.js';
import type { Logger } from '../log.js';
import type { PeerSocket } from '../types.js';

type AckFn = (res: object) => void;
const MAX_LOGGED_NAME = 64;

/** Splits a trailing acknowledgement callback off an event's arguments. */
function splitAck(args: unknown[]): { values: unknown[]; ack?: AckFn } {
  const last = args[args.length - 1];
  return typeof last === 'function' ? { values: args.slice(0, -1), ack: last as AckFn } : { values: args };
}

/**
 * Registers `handler` for `event`. `schema` describes the whole argument list
 * except the ack (a z.tuple), so extra or missing arguments are refused too.
 * `quick`, for hot events, recognises well-formed arguments without the schema;
 * what it does not recognise still goes through the schema, for its error message.
 */
export function handle<S extends z.ZodTypeAny>(
  socket: PeerSocket,
  event: keyof ClientToServer,
  schema: S,
  handler: (args: z.infer<S>, reply: ReplyFn) => void | Promise<void>,
  logger: Logger,
  quick?: (values: unknown[]) => values is z.infer<S>,
): void {
  const listener = (...raw: unknown[]) => {
    const { values, ack } = splitAck(raw);
    const reply = replyOnce(ack);
    const limited = admitEvent(socket, event);
    if (limited) return reply(limited);
    const fail = (err: unknown) => {
      logger.error('handler.failed', { name: event, id: socket.data.id, socket: socket.id, error: err instanceof Error ? err.message : String(err) });
      reply(errorReply('ERR_INTERNAL', `the rendezvous could not handle ${event}`));
    };
    try {
      let args: z.infer<S>;
      if (quick?.(values)) {
        args = values;
      } else {
        const parsed = schema.safeParse(values);
        if (!parsed.success) {
          logger.warn('input.bad', { name: event, id: socket.data.id, socket: socket.id });
          const message = `bad ${event}: ${describeIssues(parsed.error)}`;
          reply(strike(socket, message) ?? errorReply('ERR_BAD_INPUT', message));
          return;
        }
        args = parsed.data;
      }
      const result = handler(args, reply);
      if (result instanceof Promise) result.catch(fail);
    } catch (err) {
      fail(err);
    }
  };
  socket.on(event, listener as never);
}

/**
 * Sees every event a socket receives: feeds the inbound hook, and answers events
 * nobody handles with an error (when the client asked for an ack) instead of silence.
 * An unknown event is charged like any other and counts as a strike; its name is
 * the client's, so it is logged (cut and made printable) in a field of its own.
 */
export function watchInbound(socket: PeerSocket, logger: Logger, onInbound?: (event: string, args: unknown[]) => void): void {
  socket.onAny((event: unknown, ...args: unknown[]) => {
    const { values, ack } = splitAck(args);
    const name = String(event);
    try {
      onInbound?.(name, values);
    } catch {
      // A test hook must not break the server.
    }
    if (typeof event === 'string' && socket.listeners(event as never).length > 0) return;
    const shown = printable(name.slice(0, MAX_LOGGED_NAME));
    const reply = replyOnce(ack);
    const limited = admitEvent(socket, name);
    if (limited) return reply(limited);
    logger.warn('event.unknown', { id: socket.data.id, socket: socket.id, name: shown });
    const message = `unknown event ${JSON.stringify(shown)}`;
    reply(strike(socket, message) ?? errorReply('ERR_BAD_INPUT', message));
  });
}

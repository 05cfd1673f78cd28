/**
 * What one cluster node tells another (cluster mode), over Redis pub/sub on the receiving
 * node's channel. A message is one binary envelope:
 *
 *   u32 header length | header (JSON, zod-checked below) | payload (relay bytes, may be empty)
 *
 * Nodes trust each other no more than they trust Redis: every header is parsed against
 * NodeMessage, the sizes are bounded, and a message about a session is only taken from the
 * node that session's other member is on (node-routes.ts).
 */
import { z } from 'zod';
import { MAX_SOCKET_MESSAGE } from '../../shared/constants.js';
import { MAX_RELAY_BATCH } from '../../shared/relay-batch.js';
import { AccountId, ErrorReply, OkReply, SessionId, SignalData } from '../../shared/schemas.js';
import { ERROR_CODES } from '../../shared/errors.js';

/** A node's ID: 16 hex digits, fresh at every start. */
export const NODE_ID_PATTERN = /^[0-9a-f]{16}$/;
export const NodeId = z.string().regex(NODE_ID_PATTERN, 'node IDs are 16 hex digits');
/** Largest header: a signal's data is bounded by what a peer may send in one message. */
export const MAX_NODE_HEADER = MAX_SOCKET_MESSAGE;
const AckId = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const NodeMessage = z.discriminatedUnion('t', [
  /** Open a session from `from` (on the sending node) to `to`'s receiving connection here. */
  z.object({ t: z.literal('open'), sid: SessionId, from: AccountId, to: AccountId }).strict(),
  /** The receiving node took the request (it answers with `answer` later). */
  z.object({ t: z.literal('heard'), sid: SessionId }).strict(),
  /** The receiver's answer: the session is open, or why not. */
  z.object({ t: z.literal('answer'), sid: SessionId, res: z.union([z.object({ ok: z.literal(true) }).strict(), ErrorReply]) }).strict(),
  z.object({ t: z.literal('closed'), sid: SessionId, reason: z.string().max(200) }).strict(),
  z.object({ t: z.literal('signal'), sid: SessionId, data: SignalData }).strict(),
  /** Relay bytes for the member on the receiving node: one frame, or a batch (`batch`); answered by `ack`. */
  z.object({ t: z.literal('relay'), sid: SessionId, ack: AckId, batch: z.boolean() }).strict(),
  z.object({ t: z.literal('ack'), ack: AckId, res: OkReply }).strict(),
  z.object({ t: z.literal('refused'), sid: SessionId, code: z.enum(ERROR_CODES), message: z.string().max(500) }).strict(),
  /** A receiving connection of `id` logged in elsewhere with --replace: drop yours. */
  z.object({ t: z.literal('replace'), id: AccountId }).strict(),
]);
export type NodeMessage = z.infer<typeof NodeMessage>;

/** The envelope's header: who sent it, and what. */
const Envelope = z.object({ node: NodeId, msg: NodeMessage }).strict();

export interface Received { node: string; msg: NodeMessage; payload: Buffer }

export function encodeNodeMessage(node: string, msg: NodeMessage, payload?: Buffer): Buffer {
  const header = Buffer.from(JSON.stringify({ node, msg }));
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32BE(header.length, 0);
  return payload ? Buffer.concat([length, header, payload]) : Buffer.concat([length, header]);
}

/** Parses one envelope; returns the reason as a string when it is not one this code writes. */
export function decodeNodeMessage(raw: Buffer): Received | string {
  if (raw.length < 4) return 'shorter than its length field';
  const headerLength = raw.readUInt32BE(0);
  if (headerLength > MAX_NODE_HEADER || 4 + headerLength > raw.length) return `a header of ${headerLength} bytes`;
  const payload = raw.subarray(4 + headerLength);
  if (payload.length > MAX_RELAY_BATCH) return `a payload of ${payload.length} bytes`;
  let json: unknown;
  try {
    json = JSON.parse(raw.subarray(4, 4 + headerLength).toString('utf8'));
  } catch {
    return 'a header that is not JSON';
  }
  const parsed = Envelope.safeParse(json);
  if (!parsed.success) return `a malformed header (${parsed.error.issues[0]?.message ?? 'invalid'})`;
  const { node, msg } = parsed.data;
  if ((msg.t === 'relay') !== (payload.length > 0)) return msg.t === 'relay' ? 'relay without bytes' : `${msg.t} with a payload`;
  return { node, msg, payload };
}

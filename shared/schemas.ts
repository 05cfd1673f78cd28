/**
 * Runtime schemas of every message between peer and rendezvous, and the typed
 * event maps both sides build on. Types are inferred from the schemas, so what
 * the compiler checks is what the runtime parses.
 */
import { z } from 'zod';
import { ACCOUNT_ID_PATTERN, MAX_SIGNAL_SIZE } from './constants.js';
import { ERROR_CODES } from './errors.js';

export const AccountId = z.string().regex(ACCOUNT_ID_PATTERN, 'account IDs are 1-32 of a-z 0-9 . _ - starting with a letter or digit');
/** A session ID: 32 hex digits. The pattern is exported for hot paths that check it without the schema. */
export const SESSION_ID_PATTERN = /^[0-9a-f]{32}$/;
export const SessionId = z.string().regex(SESSION_ID_PATTERN, 'session IDs are 32 hex digits');
const B64 = (bytes: number) =>
  z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/).refine((s) => Buffer.from(s, 'base64').length === bytes, `must be ${bytes} bytes of base64`);

/** Handshake auth: a fresh TOTP code, or a session token issued on one. */
export const HandshakeAuth = z.union([
  z.object({ id: AccountId, code: z.string().regex(/^\d{6}$/, 'a code is 6 digits'), receiving: z.boolean().optional(), replace: z.boolean().optional(), relayBatch: z.boolean().optional() }).strict(),
  z.object({ id: AccountId, token: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'malformed session token'), receiving: z.boolean().optional(), replace: z.boolean().optional(), relayBatch: z.boolean().optional() }).strict(),
]);
export type HandshakeAuth = z.infer<typeof HandshakeAuth>;

export const IceServer = z.object({
  urls: z.union([z.string().max(512), z.array(z.string().max(512)).max(8)]),
  username: z.string().max(256).optional(),
  credential: z.string().max(256).optional(),
}).strict();
export const IceServers = z.array(IceServer).max(8);
export type IceServer = z.infer<typeof IceServer>;

export const Welcome = z.object({
  id: AccountId,
  token: z.string(),
  tokenExpiresAt: z.number().int(),
  iceServers: IceServers,
  /** The rendezvous takes `relay:frames` (batches) and delivers them, split for peers that did not ask for batches. */
  relayBatch: z.literal(true).optional(),
  /**
   * Only to a peer that asked (`batchFrames=16` in its login's query): batches of up to 16 frames
   * are taken from it and handed to it; without it, 4 (shared/relay-batch.ts).
   */
  relayBatchFrames: z.literal(16).optional(),
  /** `serve --no-relay-start`: the relay only as a fallback; peers wait for the direct path before the first byte. */
  relayStart: z.literal(false).optional(),
}).strict();
export type Welcome = z.infer<typeof Welcome>;

/**
 * Peer → peer hello, forwarded by the rendezvous: identity key, fresh ephemeral key, signature.
 * Any version passes the schema (the rendezvous forwards it), so a peer can name the other's
 * version when they differ; the handshake speaks only PROTOCOL_VERSION.
 */
const Version = z.number().int().min(1).max(65535);
export const HelloSignal = z.object({
  type: z.literal('hello'),
  v: Version,
  identityKey: B64(32),
  ephemeralKey: B64(32),
  signature: B64(64),
}).strict();
export type HelloSignal = z.infer<typeof HelloSignal>;

/** Version 2: the opener's commitment to its hello, sent before it sees the accepter's (PROTOCOL.md "Hello"). */
export const CommitSignal = z.object({ type: z.literal('commit'), v: Version, commit: B64(32) }).strict();
export type CommitSignal = z.infer<typeof CommitSignal>;

/** simple-peer's own signal objects (offer, answer, candidate, renegotiate, transceiverRequest). */
export const WebrtcSignal = z.object({
  type: z.literal('webrtc'),
  data: z.record(z.unknown()).refine((d) => JSON.stringify(d).length <= MAX_SIGNAL_SIZE, 'signal too large'),
}).strict();

/** Transport negotiation: the sender tells the receiver which transport carries the transfer. */
export const TransportSignal = z.object({ type: z.literal('transport'), mode: z.enum(['direct', 'relay']) }).strict();

/**
 * Path moves (PROTOCOL.md "Path moves"): this peer can move a transfer between paths in the
 * middle of it. Each side sends it before its first key signal; without it from the other
 * side, a transfer stays on one path. It only enables moves: each move is sealed.
 */
export const MovesSignal = z.object({ type: z.literal('moves'), v: Version }).strict();

export const SignalData = z.discriminatedUnion('type', [CommitSignal, HelloSignal, WebrtcSignal, TransportSignal, MovesSignal]);
export type SignalData = z.infer<typeof SignalData>;

export const PeersRequest = z.object({}).strict();
export const OpenRequest = z.object({ to: AccountId }).strict();
export const SignalRequest = z.object({ sid: SessionId, data: SignalData }).strict();
export const CloseRequest = z.object({ sid: SessionId, reason: z.string().max(200).optional() }).strict();
export const SessionRequest = z.object({ sid: SessionId, from: AccountId }).strict();
/** `busy`: the receiver is in another transfer (try again shortly), as opposed to declining. */
export const SessionAnswer = z.object({ accept: z.boolean(), busy: z.boolean().optional() }).strict();
export const SignalEvent = z.object({ sid: SessionId, from: AccountId, data: SignalData }).strict();
export const ClosedEvent = z.object({ sid: SessionId, reason: z.string().max(200) }).strict();
/** The relay refused the other peer's frames (an operator limit): the relayed transfer cannot go on. */
export const RelayRefusedEvent = z.object({ sid: SessionId, code: z.enum(ERROR_CODES), message: z.string().max(500) }).strict();

export const ErrorReply = z.object({ ok: z.literal(false), code: z.enum(ERROR_CODES), message: z.string() }).strict();
export type ErrorReply = z.infer<typeof ErrorReply>;
export type Reply<T extends object = object> = ({ ok: true } & T) | ErrorReply;

export const PeerInfo = z.object({ id: AccountId, receiving: z.boolean() }).strict();
export type PeerInfo = z.infer<typeof PeerInfo>;
export const PeersReply = z.union([z.object({ ok: z.literal(true), peers: z.array(PeerInfo) }).strict(), ErrorReply]);
export const OpenReply = z.union([z.object({ ok: z.literal(true), sid: SessionId }).strict(), ErrorReply]);
export const OkReply = z.union([z.object({ ok: z.literal(true) }).strict(), ErrorReply]);

/** The common reply, `{ ok: true }`, recognised without the schema (once per relayed frame). */
export function isOkReply(res: unknown): boolean {
  return typeof res === 'object' && res !== null && (res as { ok?: unknown }).ok === true;
}

/** Events the peer sends; request/response ones carry an acknowledgement. */
export interface ClientToServer {
  peers: (req: z.infer<typeof PeersRequest>, ack: (res: z.infer<typeof PeersReply>) => void) => void;
  'session:open': (req: z.infer<typeof OpenRequest>, ack: (res: z.infer<typeof OpenReply>) => void) => void;
  signal: (req: z.infer<typeof SignalRequest>, ack: (res: z.infer<typeof OkReply>) => void) => void;
  'session:close': (req: z.infer<typeof CloseRequest>) => void;
  /** Relay transport: one opaque frame; the ack comes back once the other peer has taken it. */
  'relay:frame': (sid: string, frame: Buffer, ack: (res: z.infer<typeof OkReply>) => void) => void;
  /** Relay transport: 1 to 4 frames in one batch, 16 where welcome said so (shared/relay-batch.ts), acked as one. */
  'relay:frames': (sid: string, batch: Buffer, ack: (res: z.infer<typeof OkReply>) => void) => void;
}

/** Events the rendezvous sends. */
export interface ServerToClient {
  welcome: (w: Welcome) => void;
  'session:request': (req: z.infer<typeof SessionRequest>, ack: (res: z.infer<typeof SessionAnswer>) => void) => void;
  signal: (ev: z.infer<typeof SignalEvent>) => void;
  'session:closed': (ev: z.infer<typeof ClosedEvent>) => void;
  'relay:frame': (sid: string, frame: Buffer, ack: (res: z.infer<typeof OkReply>) => void) => void;
  /** Only to a peer that logged in with `relayBatch: true`. */
  'relay:frames': (sid: string, batch: Buffer, ack: (res: z.infer<typeof OkReply>) => void) => void;
  'relay:refused': (ev: z.infer<typeof RelayRefusedEvent>) => void;
  /** The rendezvous is draining to restart (no payload): it takes no new logins or sessions, and closes soon. */
  'rendezvous:restarting': () => void;
  /** Another `receive` for this account took over (`--replace`): this one should stop, not come back. */
  'receiving:replaced': () => void;
}

/** A schema failure as one line a person can read. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ');
}

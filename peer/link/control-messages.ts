/**
 * Control messages between the two peers. They travel only inside sealed
 * control frames, so the rendezvous never sees names, sizes or hashes.
 */
import { z } from 'zod';
import { ERROR_CODES } from '../../shared/errors.js';

const MAX_FILES = 100_000;
const Size = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** Names arrive as untrusted strings; safe-names.ts vets them before any use. */
const UntrustedName = z.string().min(1).max(4096);

export const Manifest = z.object({
  t: z.literal('manifest'),
  files: z.array(z.object({
    name: UntrustedName,
    size: Size,
    /** Modification time (ms): with name and size it tells a resumable partial file apart from a stale one. */
    mtime: z.number().int().min(0).optional(),
    /** A short message typed by the sender (`send --text`): shown to the receiver as well as saved. */
    text: z.boolean().optional(),
  }).strict()).max(MAX_FILES),
  /** Folders to create even when empty. */
  dirs: z.array(UntrustedName).max(MAX_FILES).default([]),
}).strict();

export const Accept = z.object({
  t: z.literal('accept'),
  /** Per file, the chunk the sender starts from (0 unless resuming). */
  from: z.array(z.number().int().min(0)).max(MAX_FILES),
}).strict();

export const Reject = z.object({ t: z.literal('reject'), code: z.enum(ERROR_CODES), message: z.string().max(1000) }).strict();
export const Credit = z.object({ t: z.literal('credit'), bytes: Size }).strict();
/** After the data stream: the SHA-256 of every file, in manifest order (never between files, so no boundary shows). */
export const Hashes = z.object({ t: z.literal('hashes'), sha256: z.array(Sha256).max(MAX_FILES) }).strict();
export const Complete = z.object({
  t: z.literal('complete'),
  files: z.array(z.object({ name: z.string(), bytes: Size, sha256: Sha256 }).strict()).max(MAX_FILES),
}).strict();
export const Abort = z.object({ t: z.literal('abort'), code: z.enum(ERROR_CODES), message: z.string().max(1000) }).strict();

/** Pull: the session opener asks what the other peer shares, or for one shared file or folder. */
export const List = z.object({ t: z.literal('list') }).strict();
export const ShareEntry = z.object({ name: UntrustedName, size: Size, type: z.enum(['file', 'dir']) }).strict();
export const Listing = z.object({ t: z.literal('listing'), entries: z.array(ShareEntry).max(MAX_FILES), truncated: z.boolean() }).strict();
export const Get = z.object({ t: z.literal('get'), name: UntrustedName }).strict();
export type ShareEntry = z.infer<typeof ShareEntry>;

/**
 * Version 2: each side's first message, before anything else. It repeats, under the
 * session keys, what the two agreed outside the channel: the path this side uses, and
 * whether its person will confirm the verification code. A rendezvous that changed the
 * transport signal is caught here.
 */
export const Path = z.object({ t: z.literal('path'), transport: z.enum(['direct', 'relay']), verify: z.boolean() }).strict();
/** Sent by a side whose person was asked whether both sides show the same code (`--verify`). */
export const Verified = z.object({ t: z.literal('verified'), ok: z.boolean() }).strict();

/**
 * Path moves, on their own stream (MOVE_STREAM), never in ControlMessage. The opener
 * sends `move` as the first frame on the path it moves to; the accepter answers `moved`
 * there. Each states the next data chunk and control frame it expects from the other,
 * which is where the other resends from: no frame lost, none accepted twice.
 */
const Position = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const Move = z.object({ t: z.literal('move'), transport: z.enum(['direct', 'relay']), data: Position, control: Position }).strict();
export const Moved = z.object({ t: z.literal('moved'), transport: z.enum(['direct', 'relay']), data: Position, control: Position }).strict();
export const MoveMessage = z.discriminatedUnion('t', [Move, Moved]);
export type MoveMessage = z.infer<typeof MoveMessage>;

export const ControlMessage = z.discriminatedUnion('t', [Manifest, Accept, Reject, Credit, Hashes, Complete, Abort, List, Listing, Get, Path, Verified]);
export type ControlMessage = z.infer<typeof ControlMessage>;
export type ControlInput = z.input<typeof ControlMessage>;
export type Manifest = z.infer<typeof Manifest>;

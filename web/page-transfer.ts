/**
 * The page's two transfers over a secure channel: push files to a `sealdrop receive`,
 * and take a push from `sealdrop send`. The messages, their order, flow control and
 * the checks are docs/PROTOCOL.md "One transfer, in order"; the channel, the control
 * schemas and the credit window are the CLI's own modules. What is the page's own is
 * where bytes come from (File) and go to (received-files.ts: disk), and the streaming SHA-256
 * (stream-hash.ts, in a Worker: WebCrypto has no incremental digest).
 */
import { ANSWER_TIMEOUT_MS, CHUNK_SIZE, creditDue } from '../shared/constants.js';
import { messageForPeer, SealdropError, toSealdropError } from '../shared/errors.js';
import { chunkCount } from '../shared/frame-layout.js';
import type { Manifest } from '../peer/link/control-messages.js';
import { CreditWindow } from '../peer/transfer/credit-window.js';
import type { PageLink } from './page-link.js';
import { newFileSink, roomLeft, type FileSink } from './received-files.js';
import { streamHash } from './stream-hash.js';
import { canSaveTo, savable, type SaveTarget } from './save-target.js';
import { mib } from './offer-prompt.js';
import type { OutgoingSet } from './dropped-files.js';
import { vetOfferNames } from '../peer/files/offer-names.js';
import { isTree, openTreeStore, type ReceivedTree, type TreeStore } from './received-tree.js';

const READ_BLOCK = 1024 * 1024;
/** How long the side with the files waits for `credit` and `complete` (the CLI's figure). */
const SENDER_SILENCE_MS = 60_000;

export type Progress = (done: number, total: number) => void;
/** `savedAs`: the file the person picked for it (Save to…), when it went there rather than to OPFS. */
export interface Received { name: string; size: number; sha256: string; file: File | Blob; text?: string; savedAs?: string }

/** The largest message a receiver shows as text (the CLI's MESSAGE_MAX_BYTES); longer ones are files. */
export const MESSAGE_MAX_BYTES = 64 * 1024;

/** A typed message, sent as the CLI's `send --text` sends it: one file `message.txt` marked `text`. */
export function messageFile(text: string): File {
  if (text.trim() === '') throw new SealdropError('ERR_BAD_INPUT', 'the message is empty');
  const file = new File([text], 'message.txt', { type: 'text/plain' });
  if (file.size > MESSAGE_MAX_BYTES) throw new SealdropError('ERR_BAD_INPUT', `the message is longer than ${MESSAGE_MAX_BYTES / 1024} KiB: save it in a file and send the file`);
  return Object.assign(file, { isMessage: true });
}

const isMessage = (f: File) => (f as File & { isMessage?: boolean }).isMessage === true;

/** Push: manifest, the person's answer, the data stream, hashes, and the receiver's `complete` checked. */
export async function sendFiles(link: PageLink, set: OutgoingSet, progress: Progress): Promise<{ sha256: string[] }> {
  const ch = link.channel;
  const files = set.files.map((o) => o.file);
  await ch.sendControl({
    t: 'manifest',
    files: set.files.map(({ name, file: f }) => ({ name, size: f.size, mtime: Math.max(0, Math.floor(f.lastModified)), ...(isMessage(f) ? { text: true } : {}) })),
    dirs: set.dirs,
  });
  const answer = await ch.nextControl({ timeoutMs: ANSWER_TIMEOUT_MS });
  if (answer.t === 'reject') throw new SealdropError(answer.code, `${link.peer} declined: ${answer.message}`);
  if (answer.t !== 'accept') throw new SealdropError('ERR_PROTOCOL', `${link.peer} answered the file list with ${answer.t}`);
  if (answer.from.length !== files.length || answer.from.some((c, i) => c >= chunkCount(files[i]!.size))) {
    throw new SealdropError('ERR_PROTOCOL', `${link.peer} sent a resume position that does not fit the files`);
  }
  const total = files.reduce((n, f, i) => n + f.size - Math.min(f.size, answer.from[i]! * CHUNK_SIZE), 0);
  const window = new CreditWindow();
  // One reader for the replies while we send: credits, then `complete`.
  let complete: Extract<Awaited<ReturnType<typeof ch.nextControl>>, { t: 'complete' }> | undefined;
  const replies = (async () => {
    for (;;) {
      const msg = await ch.nextControl({ timeoutMs: SENDER_SILENCE_MS });
      if (msg.t === 'credit') {
        window.credit(msg.bytes);
        ch.acknowledged(Math.floor(msg.bytes / CHUNK_SIZE)); // as the CLI's engine: credited chunks need not be kept for a path move
        continue;
      }
      if (msg.t === 'complete') { complete = msg; return; }
      throw new SealdropError('ERR_PROTOCOL', `${link.peer} sent ${msg.t} during the transfer`);
    }
  })();
  replies.catch((err: Error) => window.fail(err));

  const digests: Array<Promise<string>> = [];
  let index = 0, sent = 0;
  // Two chunk buffers in turn, so the page makes no garbage per MiB: one being filled, and one
  // full chunk held back until more follows (the chunk that ends the stream must carry LAST).
  // sendChunk seals (copies) the bytes before it returns, so a buffer is free again after it.
  let filling = Buffer.alloc(CHUNK_SIZE), held = Buffer.alloc(CHUNK_SIZE);
  let filled = 0, holding = false;
  const sendChunk = async (data: Buffer, last: boolean) => {
    await window.reserve(data.length);
    await ch.sendChunk(index++, last, data);
    sent += data.length; progress(sent, total);
  };
  const take = async (bytes: Uint8Array) => {
    for (let off = 0; off < bytes.length;) {
      const n = Math.min(bytes.length - off, CHUNK_SIZE - filled);
      filling.set(bytes.subarray(off, off + n), filled);
      filled += n; off += n;
      if (filled === CHUNK_SIZE) {
        if (holding) await sendChunk(held, false);
        [held, filling] = [filling, held];
        holding = true; filled = 0;
      }
    }
  };
  for (const [i, file] of files.entries()) {
    const h = streamHash();
    const start = Math.min(file.size, answer.from[i]! * CHUNK_SIZE);
    let off = 0;
    for await (const block of fileBlocks(file)) {
      await h.update(block);
      const from = Math.max(0, start - off);
      if (from < block.length) await take(block.subarray(from));
      off += block.length;
    }
    digests.push(h.digest());
  }
  if (filled > 0) {
    if (holding) await sendChunk(held, false);
    await sendChunk(filling.subarray(0, filled), true);
  } else {
    await sendChunk(holding ? held : Buffer.alloc(0), true); // nothing at all: one empty LAST chunk
  }
  const sha256 = await Promise.all(digests);
  await ch.sendControl({ t: 'hashes', sha256 });
  await replies;
  for (const [i, f] of files.entries()) {
    const got = complete!.files[i];
    if (!got || got.bytes !== f.size || got.sha256 !== sha256[i]) {
      throw new SealdropError('ERR_INTEGRITY', `${link.peer} reports ${set.files[i]!.name} differently from what was sent`);
    }
  }
  return { sha256 };
}

/**
 * A file READ_BLOCK at a time, never whole: through one reused buffer where the browser's
 * Blob stream takes a BYOB reader (no garbage per MiB), else File.slice() blocks. A block
 * is valid until the next is asked for.
 */
async function* fileBlocks(file: File): AsyncGenerator<Uint8Array> {
  let reader: ReadableStreamBYOBReader | undefined;
  try { reader = file.stream().getReader({ mode: 'byob' }); } catch { reader = undefined; }
  if (!reader) {
    for (let off = 0; off < file.size; off += READ_BLOCK) yield new Uint8Array(await file.slice(off, off + READ_BLOCK).arrayBuffer());
    return;
  }
  let buffer = new ArrayBuffer(READ_BLOCK);
  try {
    for (;;) {
      const { value, done } = await reader.read(new Uint8Array(buffer));
      if (done || !value) return;
      yield value;
      buffer = value.buffer as ArrayBuffer; // the same memory, handed back by the read
    }
  } finally {
    reader.cancel().catch(() => {}); // a transfer that failed midway stops reading the file
  }
}

/**
 * Whether the person takes the offer (names and sizes as the sender gave them, and the verification
 * code): no, yes (into OPFS), or yes into a file they picked (save-target.ts; one loose file only).
 */
export type Consent = boolean | SaveTarget;
export type AskConsent = (manifest: Manifest) => Promise<Consent>;

/** Take a push: ask, accept, split the data stream into files by their sizes, check every SHA-256, say `complete`. */
export async function receiveFiles(link: PageLink, ask: AskConsent, progress: Progress): Promise<Received[] & { tree?: ReceivedTree }> {
  const ch = link.channel;
  const first = await ch.nextControl();
  if (first.t !== 'manifest') {
    await ch.sendControl({ t: 'reject', code: 'ERR_NOT_FOUND', message: 'this is a browser page: it shares no files to list or get' }).catch(() => {});
    throw new SealdropError('ERR_PROTOCOL', `${link.peer} asked for ${first.t}, which this page does not answer yet`);
  }
  const manifest = first;
  // Every name by the CLI receiver's rules, before the person is asked or anything is written:
  // a tree's names become paths in OPFS, a loose file's name the download's.
  const vetted = await vetNames(link, manifest);
  // An offer larger than the page may store is refused before anyone is asked, unless the person
  // can save it elsewhere (Save to…); then only if they choose the page's own storage.
  const total = manifest.files.reduce((n, f) => n + f.size, 0);
  const room = await roomLeft();
  if (room !== undefined && total > room && !savable(manifest)) await refuseForRoom(link, total, room);
  const answer = await ask(manifest);
  if (answer === false) {
    await ch.sendControl({ t: 'reject', code: 'ERR_REJECTED', message: 'the person declined the transfer' }).catch(() => {});
    throw new SealdropError('ERR_REJECTED', 'you declined the transfer; nothing was received');
  }
  if (answer === true) {
    const now = await roomLeft();
    if (now !== undefined && total > now) await refuseForRoom(link, total, now);
  }
  const target = answer === true ? undefined : answer;
  try {
    if (target && (manifest.files.length !== 1 || isTree(manifest))) throw new SealdropError('ERR_INTERNAL', 'Save to… takes one loose file');
    return await take(link, manifest, vetted, progress, target);
  } catch (err) {
    throw target ? await target.failure(err) : err;
  }
}

async function take(link: PageLink, manifest: Manifest, vetted: string[][], progress: Progress, target?: SaveTarget): Promise<Received[] & { tree?: ReceivedTree }> {
  const ch = link.channel;
  await ch.sendControl({ t: 'accept', from: manifest.files.map(() => 0) });
  ch.expectData();
  const total = manifest.files.reduce((n, f) => n + f.size, 0);
  const out: Array<Omit<Received, 'file'>> = [];
  const sinks: FileSink[] = [];
  const kept: Received[] = [];
  // A tree goes under its relative paths in a folder of its own; a file the person picked; loose files in OPFS.
  const tree: TreeStore | undefined = isTree(manifest) ? await openTreeStore() : undefined;
  const nextSink = () => (tree ? tree.sink(vetted[file]!) : target ? target.sink() : newFileSink());
  let file = 0, inFile = 0, taken = 0, creditedAt = 0, creditedTime = performance.now();
  let sink: FileSink | undefined;
  let h = streamHash();
  /** Closes every file whose bytes are all in (empty ones at once), and opens the next. */
  const closeFinished = async () => {
    while (file < manifest.files.length && inFile === manifest.files[file]!.size) {
      const f = manifest.files[file]!;
      sink ??= await nextSink();
      await sink.finish();
      out.push({ name: f.name, size: f.size, sha256: await h.digest(), ...(target ? { savedAs: target.name } : {}) });
      sinks.push(sink);
      file++; inFile = 0; sink = undefined; h = streamHash();
    }
  };
  try {
    await tree?.makeDirs(manifest.dirs.map((d) => d.split('/')));
    await closeFinished();
    for (;;) {
      const item = await ch.next();
      if (item.kind !== 'chunk') throw new SealdropError('ERR_INTEGRITY', 'the data stream ended early');
      if (!item.last && item.data.length !== CHUNK_SIZE) throw new SealdropError('ERR_INTEGRITY', 'a short chunk in the middle of the data stream');
      if (item.data.length === 0 && item.index !== 0) throw new SealdropError('ERR_INTEGRITY', 'an empty chunk in the middle of the data stream');
      let data = item.data;
      while (data.length > 0) {
        if (file >= manifest.files.length) throw new SealdropError('ERR_INTEGRITY', 'the data stream holds more bytes than the files');
        const need = manifest.files[file]!.size - inFile;
        const piece = data.subarray(0, need);
        await h.update(piece);
        sink ??= await nextSink();
        await sink.write(piece);
        inFile += piece.length; taken += piece.length;
        data = data.subarray(piece.length);
        await closeFinished();
      }
      progress(taken, total);
      if (creditDue(taken, creditedAt, performance.now() - creditedTime)) { creditedAt = taken; creditedTime = performance.now(); await ch.sendControl({ t: 'credit', bytes: taken }); }
      if (item.last) break;
    }
    if (file < manifest.files.length) throw new SealdropError('ERR_INTEGRITY', 'the data stream ended before every file was in');
    await checkHashes(link, out);
    // Only now is anything kept: a picked file gets its bytes under its name here (save-target.ts).
    for (const [i, r] of out.entries()) kept.push({ ...r, file: await sinks[i]!.keep() });
  } catch (err) {
    // Nothing unverified is kept: a failed transfer leaves no file behind.
    await sink?.discard();
    for (const s of sinks) await s.discard();
    await tree?.discard();
    throw err;
  }
  for (const [i, r] of kept.entries()) if (manifest.files[i]!.text && r.size <= 64 * 1024) r.text = await r.file.text();
  await ch.sendControl({ t: 'complete', files: kept.map((r) => ({ name: r.name, bytes: r.size, sha256: r.sha256 })) });
  await ch.ended(5_000);
  return tree ? Object.assign(kept, { tree: { store: tree, files: kept, dirs: manifest.dirs } }) : kept;
}

/**
 * Every name of an offer by the CLI receiver's own rules (peer/files/offer-names.ts); one bad
 * name refuses the whole offer, told to the sender. So the page takes exactly the names a
 * `sealdrop receive` takes, whether they become paths in a tree or a download's name.
 */
async function vetNames(link: PageLink, manifest: Manifest): Promise<string[][]> {
  try {
    return vetOfferNames(manifest);
  } catch (err) {
    // The words quote only the sender's names.
    const e = toSealdropError(err, 'ERR_BAD_INPUT');
    await link.channel.sendControl({ t: 'reject', code: e.code, message: e.message }).catch(() => {});
    throw new SealdropError(e.code, `refused the offer from ${link.peer}, nothing was stored: ${e.message}`);
  }
}

/** Tells the sender there is no room (ERR_SPACE) and throws it, in words: nothing was stored. */
async function refuseForRoom(link: PageLink, total: number, room: number): Promise<never> {
  const elsewhere = canSaveTo() ? '; for one file, Save to… puts it where you choose' : '';
  const err = new SealdropError('ERR_SPACE', `the offer from ${link.peer} is ${mib(total)}, but this browser lets the page store only ${mib(room)} more: nothing was stored${elsewhere}`,
    { peerMessage: `the browser page has room for ${mib(room)}, not ${mib(total)}` });
  await link.channel.sendControl({ t: 'reject', code: err.code, message: messageForPeer(err) }).catch(() => {});
  throw err;
}

async function checkHashes(link: PageLink, out: ReadonlyArray<Omit<Received, 'file'>>): Promise<void> {
  const ch = link.channel;
  const hashes = await ch.nextControl();
  if (hashes.t !== 'hashes' || hashes.sha256.length !== out.length) throw new SealdropError('ERR_PROTOCOL', `${link.peer} did not send one SHA-256 per file`);
  for (const [i, r] of out.entries()) {
    if (hashes.sha256[i] !== r.sha256) {
      const err = new SealdropError('ERR_INTEGRITY', `${r.name} failed its SHA-256 check: it was not kept`, { peerMessage: `${r.name} arrived with a different SHA-256` });
      await ch.sendControl({ t: 'abort', code: err.code, message: messageForPeer(err) }).catch(() => {});
      throw err;
    }
  }
}

export { toSealdropError };

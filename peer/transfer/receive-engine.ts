/**
 * The receiving half of the transfer engine: vet the manifest, ask for consent,
 * then split the data stream into partial files, verify each SHA-256 and only
 * then give each file its final name. On failure, partial files keep their
 * authenticated prefix for a later attempt to resume from; nothing unverified
 * ever takes a final name.
 */
import { createHash } from 'node:crypto';
import { CHUNK_SIZE, CONSENT_TIMEOUT_MS, creditDue } from '../../shared/constants.js';
import { chunkCount } from '../../shared/framing.js';
import { messageForPeer, SealdropError, toSealdropError } from '../../shared/errors.js';
import type { Manifest } from '../link/control-messages.js';
import { ensureFolders, PartialFile } from '../files/partial-file.js';
import { ReceiveFolder } from '../files/receive-folder.js';
import type { ProgressListener } from '../terminal/progress.js';
import { vetReceivedPath } from '../files/safe-names.js';
import { vetOfferNames } from '../files/offer-names.js';
import type { SecureChannel } from '../link/secure-channel.js';
import { totalBytes } from './source-files.js';

/** `message`: the offer is one text message (`send --text`), shown and never written to disk. */
export interface OfferSummary { files: number; bytes: number; topLevel: string[]; dirs: number; message?: boolean }
/** `message`: the text of a message; its `path` is empty, as nothing was written. */
export interface ReceivedFile { name: string; path: string; bytes: number; sha256: string; text?: boolean; message?: string }

/** A text message up to this size is held in memory and shown; a larger "text" is taken as a file. */
export const MESSAGE_MAX_BYTES = 64 * 1024;
export interface ReceiveResult { files: ReceivedFile[]; resumed: number }

export interface ReceiveEngineOptions {
  dir: string;
  /** Decides whether to take the offer; resolves true to accept. `signal` aborts when the time to answer is up. */
  consent: (offer: OfferSummary, signal: AbortSignal) => Promise<boolean>;
  /** How long the person has to answer (default CONSENT_TIMEOUT_MS); then the offer is declined. */
  consentTimeoutMs?: number;
  onProgress?: ProgressListener;
  /** The offer was accepted; `resumed` bytes are there from an earlier attempt and come no more. */
  onAccepted?: (resumed: number) => void;
  /** The sending peer: partial files are kept per sender, so only it can resume them. */
  peerId: string;
}

/** Takes the files of `manifest` (the first message of a push, or the answer to a get). */
export async function receiveEngine(channel: SecureChannel, manifest: Manifest, opts: ReceiveEngineOptions): Promise<ReceiveResult> {
  if (isMessage(manifest)) return takeMessage(channel, manifest, opts);
  const plan = await planReceive(channel, manifest, opts);
  try {
    return await takeFiles(channel, manifest, opts, plan);
  } finally {
    await plan.folder.close();
  }
}

/** What is known before consent: the vetted names, the opened target folder, and where each file resumes. */
interface ReceivePlan { vetted: string[][]; folder: ReceiveFolder; keys: string[]; from: number[] }

/**
 * Vets every name, opens the target folder once (everything below is reached
 * from it), finds the resume points and checks the space still needed. Writes
 * nothing. Any failure refuses the offer with a reject that names no local path.
 */
async function planReceive(channel: SecureChannel, manifest: Manifest, opts: ReceiveEngineOptions): Promise<ReceivePlan> {
  let folder: ReceiveFolder | undefined;
  try {
    const vetted = vetManifest(manifest);
    folder = await ReceiveFolder.open(opts.dir);
    const keys = manifest.files.map((f) => partialKey(opts.peerId, f));
    // Resume: whole chunks left by an earlier attempt count; the last chunk is always sent again.
    const from: number[] = [];
    for (const [i, f] of manifest.files.entries()) from.push(await PartialFile.existingChunks(folder, vetted[i]!, keys[i]!, CHUNK_SIZE, chunkCount(f.size) - 1));
    await checkSpace(folder, totalBytes(manifest.files) - from.reduce((n, chunks) => n + chunks * CHUNK_SIZE, 0));
    return { vetted, folder, keys, from };
  } catch (err) {
    await folder?.close();
    const e = toSealdropError(err, 'ERR_IO');
    await channel.sendControl({ t: 'reject', code: e.code, message: messageForPeer(e) }).catch(() => {});
    throw e;
  }
}

async function takeFiles(channel: SecureChannel, manifest: Manifest, opts: ReceiveEngineOptions, { vetted, folder, keys, from }: ReceivePlan): Promise<ReceiveResult> {
  await askConsent(channel, summarize(manifest), opts);
  for (const dir of manifest.dirs) await ensureFolders(folder, vetReceivedPath(dir));
  channel.expectData();
  await channel.sendControl({ t: 'accept', from });

  const resumed = from.reduce((n, chunks) => n + chunks * CHUNK_SIZE, 0);
  opts.onAccepted?.(resumed);
  const total = totalBytes(manifest.files);
  const files = new FileSequence(manifest, vetted, keys, from, folder);
  try {
    let received = 0;
    let reported = 0;
    let reportedAt = performance.now();
    const streamLength = total - resumed;
    for (;;) {
      const item = await channel.next();
      if (item.kind === 'control') {
        if (item.msg.t === 'abort') throw new SealdropError(item.msg.code, `${opts.peerId} stopped the transfer: ${item.msg.message}`);
        throw new SealdropError('ERR_INTEGRITY', `the data stream ended early (${item.msg.t} before its last chunk)`);
      }
      if (!item.last && item.data.length !== CHUNK_SIZE) throw new SealdropError('ERR_INTEGRITY', `data chunk ${item.index} is short but not marked last`);
      // The stream's length is known: LAST marks exactly the chunk that completes it, and only an empty stream has an empty chunk.
      if (item.last !== (received + item.data.length === streamLength) || (item.data.length === 0 && item.index !== 0)) {
        throw new SealdropError('ERR_INTEGRITY', `data chunk ${item.index} does not end the stream where the file list says it ends`);
      }
      await files.write(item.data, (index, name) =>
        opts.onProgress?.({ bytes: resumed + received, total, file: index, name, files: manifest.files.length }));
      received += item.data.length;
      if (creditDue(received, reported, performance.now() - reportedAt)) {
        reported = received;
        reportedAt = performance.now();
        await channel.sendControl({ t: 'credit', bytes: received });
      }
      if (item.last) break;
    }
    await files.end();
    const hashes = await channel.nextControl();
    if (hashes.t !== 'hashes' || hashes.sha256.length !== manifest.files.length) throw new SealdropError('ERR_PROTOCOL', 'expected the SHA-256 of every file after the data');
    const saved = await files.commit(hashes.sha256);
    opts.onProgress?.({ bytes: total, total, file: Math.max(0, saved.length - 1), name: saved.at(-1)?.name ?? '', files: saved.length });
    await channel.sendControl({ t: 'complete', files: saved.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })) });
    return { files: saved, resumed };
  } catch (err) {
    await files.abandon();
    throw err;
  }
}

/**
 * Asks the person (through `consent`) while watching the channel: the sender owes
 * us nothing until we answer, so anything it sends meanwhile ends the session
 * (nothing piles up; useLink tells it why), and an answer that does not come in time declines.
 */
async function askConsent(channel: SecureChannel, offer: OfferSummary, opts: ReceiveEngineOptions): Promise<void> {
  const timeoutMs = opts.consentTimeoutMs ?? CONSENT_TIMEOUT_MS;
  const asking = new AbortController();
  const watching = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const decline = async (code: 'ERR_REJECTED' | 'ERR_TIMEOUT', toPeer: string, local: string): Promise<never> => {
    await channel.sendControl({ t: 'reject', code, message: toPeer }).catch(() => {});
    throw new SealdropError(code, local);
  };
  try {
    const answer = await Promise.race([
      opts.consent(offer, asking.signal),
      new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), timeoutMs); }),
      channel.next({ timeoutMs: timeoutMs + 5_000, signal: watching.signal }).then((item): never => {
        if (item.kind === 'control' && item.msg.t === 'abort') throw new SealdropError(item.msg.code, `${opts.peerId} stopped before you answered: ${item.msg.message}`, { hint: 'nothing was written' });
        const why = `the sender sent ${item.kind === 'control' ? `a ${item.msg.t} message` : 'file data'} before the files were accepted`;
        throw new SealdropError('ERR_PROTOCOL', why, { peerMessage: why });
      }, (err): never => {
        // The sender went away while its offer was on screen: the offer is withdrawn (and the prompt with it, below).
        const e = toSealdropError(err);
        throw new SealdropError(e.code === 'ERR_CONNECT' ? 'ERR_CONNECT' : 'ERR_PEER_GONE', `${opts.peerId} left before you answered (${e.message})`, { cause: err, hint: 'nothing was written' });
      }),
    ]);
    if (answer === 'late') {
      const s = Math.round(timeoutMs / 1000);
      return await decline('ERR_TIMEOUT', `the receiver did not answer within ${s} s`, `nobody answered within ${s} s, so the offer was declined`);
    }
    if (!answer) return await decline('ERR_REJECTED', 'the receiver declined the files', 'you declined the transfer');
  } finally {
    clearTimeout(timer);
    asking.abort(); // a prompt still on screen goes away
    watching.abort();
  }
}

/**
 * Splits the data stream back into files: each gets exactly its declared size
 * (minus what was resumed), in manifest order. Too many or too few bytes fail.
 */
class FileSequence {
  private current = -1;
  private partial?: PartialFile;
  private left = 0;
  private readonly partials: PartialFile[] = [];

  constructor(private readonly manifest: Manifest, private readonly vetted: string[][], private readonly keys: string[], private readonly from: number[], private readonly folder: ReceiveFolder) {}

  async write(data: Buffer, onWrite: (file: number, name: string) => void): Promise<void> {
    let offset = 0;
    while (offset < data.length) {
      if (!(await this.advance())) throw new SealdropError('ERR_INTEGRITY', 'the sender sent more bytes than the files it declared');
      const take = Math.min(this.left, data.length - offset);
      await this.partial!.write(data.subarray(offset, offset + take));
      this.left -= take;
      offset += take;
      onWrite(this.current, this.manifest.files[this.current]!.name);
    }
  }

  /** The stream is over: every remaining file must have had all its bytes. */
  async end(): Promise<void> {
    while (await this.advance()) {
      if (this.left > 0) throw new SealdropError('ERR_INTEGRITY', `the data stream ended before ${this.manifest.files[this.current]!.name} was complete`);
    }
  }

  async commit(sha256: string[]): Promise<ReceivedFile[]> {
    const saved: ReceivedFile[] = [];
    let failure: SealdropError | undefined;
    for (const [i, partial] of this.partials.entries()) {
      const entry = this.manifest.files[i]!;
      try {
        const result = await partial.commit(sha256[i]!);
        saved.push({ name: entry.name, path: result.path, bytes: entry.size, sha256: result.sha256, text: entry.text });
      } catch (err) {
        failure ??= err as SealdropError; // the others verified and keep their names; the transfer still fails
      }
    }
    this.partials.length = 0;
    if (failure) throw failure;
    return saved;
  }

  /** On failure: what was written was authenticated chunk by chunk, so keep it to resume from. */
  async abandon(): Promise<void> {
    for (const p of this.partials) {
      if (p.bytes > 0) await p.keep(); else await p.discard();
    }
  }

  /** Moves to the next file with bytes still to come (finishing the current one); false at the end. */
  private async advance(): Promise<boolean> {
    while (this.left === 0) {
      if (this.partial) await this.partial.finish();
      if (this.current + 1 >= this.manifest.files.length) { this.partial = undefined; return false; }
      this.current++;
      const entry = this.manifest.files[this.current]!;
      this.partial = await PartialFile.open(this.folder, this.vetted[this.current]!, this.keys[this.current]!);
      this.partials.push(this.partial);
      const skip = this.from[this.current]! * CHUNK_SIZE;
      await this.partial.resumeAt(skip);
      this.left = entry.size - skip;
      if (this.left > 0) return true;
    }
    return true;
  }
}

/** Names a partial file by who sent it and which file it is, never by anything the name could forge. */
function partialKey(peerId: string, f: Manifest['files'][number]): string {
  return createHash('sha256').update(JSON.stringify(['sealdrop/1 partial', peerId, f.name, f.size, f.mtime ?? null])).digest('hex').slice(0, 32);
}

/** Vets every file and folder name before anything is written; one bad name refuses the whole offer. */
function vetManifest(m: Manifest): string[][] {
  try {
    return vetOfferNames(m);
  } catch (err) {
    // These words quote only the sender's own names: the sender may read them.
    const e = toSealdropError(err, 'ERR_BAD_INPUT');
    throw new SealdropError(e.code, e.message, { cause: e.cause, peerMessage: e.peerMessage ?? e.message });
  }
}

function summarize(m: Manifest): OfferSummary {
  const top = new Set<string>();
  for (const name of [...m.files.map((f) => f.name), ...m.dirs]) top.add(name.split('/')[0]!);
  return { files: m.files.length, bytes: totalBytes(m.files), topLevel: [...top], dirs: m.dirs.length, ...(isMessage(m) ? { message: true } : {}) };
}

function isMessage(m: Manifest): boolean {
  return m.files.length === 1 && m.dirs.length === 0 && m.files[0]!.text === true && m.files[0]!.size <= MESSAGE_MAX_BYTES;
}

/**
 * A text message: asked for like files, then its bytes are held in memory (at most
 * MESSAGE_MAX_BYTES), checked like any stream (LAST where its size says, SHA-256)
 * and handed back as text. Nothing is written to disk.
 */
async function takeMessage(channel: SecureChannel, manifest: Manifest, opts: ReceiveEngineOptions): Promise<ReceiveResult> {
  const entry = manifest.files[0]!;
  await askConsent(channel, summarize(manifest), opts);
  channel.expectData();
  await channel.sendControl({ t: 'accept', from: [0] });
  opts.onAccepted?.(0);
  const parts: Buffer[] = [];
  let received = 0;
  for (;;) {
    const item = await channel.next();
    if (item.kind === 'control') {
      if (item.msg.t === 'abort') throw new SealdropError(item.msg.code, `${opts.peerId} stopped: ${item.msg.message}`);
      throw new SealdropError('ERR_INTEGRITY', `the message ended early (${item.msg.t} before its last chunk)`);
    }
    if (received + item.data.length > entry.size || item.last !== (received + item.data.length === entry.size) || (item.data.length === 0 && item.index !== 0)) {
      throw new SealdropError('ERR_INTEGRITY', `data chunk ${item.index} does not end the message where its size says it ends`);
    }
    parts.push(Buffer.from(item.data));
    received += item.data.length;
    if (item.last) break;
  }
  const hashes = await channel.nextControl();
  if (hashes.t !== 'hashes' || hashes.sha256.length !== 1) throw new SealdropError('ERR_PROTOCOL', 'expected the SHA-256 of the message after its text');
  const text = Buffer.concat(parts);
  const sha256 = createHash('sha256').update(text).digest('hex');
  if (sha256 !== hashes.sha256[0]) throw new SealdropError('ERR_INTEGRITY', 'the message does not match its SHA-256', { peerMessage: 'the message did not match its SHA-256' });
  await channel.sendControl({ t: 'complete', files: [{ name: entry.name, bytes: entry.size, sha256 }] });
  return { files: [{ name: entry.name, path: '', bytes: entry.size, sha256, text: true, message: text.toString('utf8') }], resumed: 0 };
}

/** Refuses before anything is written when the target folder lacks room for the bytes still to come. */
async function checkSpace(folder: ReceiveFolder, bytes: number): Promise<void> {
  const free = await folder.freeBytes();
  if (bytes > free) {
    throw new SealdropError('ERR_SPACE', `not enough free space in ${folder.shown}: ${bytes} bytes still to come, ${free} available`, {
      peerMessage: `the receiver does not have enough free space for the ${bytes} bytes still to come`,
    });
  }
}

/**
 * The sending half of the transfer engine: manifest, consent, then the data
 * stream, every file back to back in full-size sealed chunks within the
 * receiver's credit window, and last every file's SHA-256. No frame marks where
 * one file ends, so a relay learns only the total size. Files are read a MiB at
 * a time, the next block while the last one is sealed and sent.
 * It works over any SecureChannel, direct or relay.
 */
import { createHash, type Hash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { ANSWER_TIMEOUT_MS, CHUNK_SIZE, PEER_STALL_MS } from '../../shared/constants.js';
import { SealdropError } from '../../shared/errors.js';
import { chunkCount } from '../../shared/framing.js';
import type { ControlMessage } from '../link/control-messages.js';
import { CreditWindow } from './credit-window.js';
import type { ProgressListener } from '../terminal/progress.js';
import type { SecureChannel } from '../link/secure-channel.js';
import { totalBytes, type SourceFile, type SourceSet } from './source-files.js';

/** While we send, the receiver's credits may pause while it syncs a large file to disk: give it twice the usual stall. */
const REPLY_STALL_MS = 2 * PEER_STALL_MS;
/** Bytes per file read: a few chunks, so reads cost one thread-pool round trip per MiB. */
const READ_BLOCK = 8 * CHUNK_SIZE;

export interface SentFile { name: string; bytes: number; sha256: string }
export interface SendResult { files: SentFile[]; resumed: number }

/** What the sender's person is told as it happens: the offer is out, and the receiver's answer. */
export interface SendEvents {
  /** Who receives, for the words of a refusal (default "the receiver"). */
  peer?: string;
  onOffered?: () => void;
  /** Accepted; `resumed` bytes were there from an earlier attempt and are not sent again. */
  onAccepted?: (resumed: number) => void;
}

export async function sendEngine(channel: SecureChannel, sources: SourceSet, onProgress: ProgressListener = () => {}, events: SendEvents = {}): Promise<SendResult> {
  const { files } = sources;
  await channel.sendControl({ t: 'manifest', files: files.map((f) => ({ name: f.name, size: f.size, mtime: f.mtime, text: f.text })), dirs: sources.dirs });
  events.onOffered?.();
  const answer = await channel.nextControl({ timeoutMs: ANSWER_TIMEOUT_MS }); // a person may be reading the offer
  if (answer.t === 'reject') throw refusal(events.peer ?? 'the receiver', answer.code, answer.message);
  if (answer.t !== 'accept' || answer.from.length !== files.length) throw new SealdropError('ERR_PROTOCOL', 'expected the receiver to accept or decline');
  answer.from.forEach((from, i) => {
    if (!(from < chunkCount(files[i]!.size))) throw new SealdropError('ERR_PROTOCOL', 'the receiver asked to resume past the end of a file');
  });
  events.onAccepted?.(answer.from.reduce((n, from) => n + from * CHUNK_SIZE, 0));

  const flow = new CreditWindow();
  const completion = readReplies(channel, flow);
  completion.catch(() => {});
  const total = totalBytes(files);
  const resumed = answer.from.reduce((n, from) => n + from * CHUNK_SIZE, 0);
  const stream = new DataStream(channel, flow, total - resumed);
  const blocks: Blocks = [Buffer.allocUnsafe(READ_BLOCK), Buffer.allocUnsafe(READ_BLOCK)];
  const sent: SentFile[] = [];
  for (const [index, file] of files.entries()) {
    const sha256 = await streamFile(stream, file, answer.from[index]! * CHUNK_SIZE, blocks, () =>
      onProgress({ bytes: resumed + flow.sent, total, file: index, name: file.name, files: files.length }));
    sent.push({ name: file.name, bytes: file.size, sha256 });
  }
  await stream.end();
  await channel.sendControl({ t: 'hashes', sha256: sent.map((f) => f.sha256) });
  onProgress({ bytes: total, total, file: Math.max(0, files.length - 1), name: files.at(-1)?.name ?? '', files: files.length });

  const complete = await Promise.race([completion, flow.failed]);
  for (const [i, mine] of sent.entries()) {
    const theirs = complete.files[i];
    if (!theirs || theirs.sha256 !== mine.sha256 || theirs.bytes !== mine.bytes) {
      throw new SealdropError('ERR_INTEGRITY', `the receiver's SHA-256 of ${mine.name} does not match ours`);
    }
  }
  return { files: sent, resumed };
}

/**
 * The receiver's refusal in one sentence: its words begin "the receiver …" ("the receiver
 * declined the files", "… did not answer within 180 s"), so they read with its ID in front.
 */
function refusal(peer: string, code: SealdropError['code'], message: string): SealdropError {
  const said = message.startsWith('the receiver ') ? `${peer}${message.slice('the receiver'.length)}` : `${peer} refused the files: ${message}`;
  return new SealdropError(code, said);
}

type Blocks = [Buffer, Buffer];

/** Hashes the whole file (the resumed prefix too) and streams what follows `skip`, reading one block ahead. */
async function streamFile(stream: DataStream, file: SourceFile, skip: number, blocks: Blocks, tick: () => void): Promise<string> {
  const hash = createHash('sha256');
  const handle = await fs.open(file.path, 'r').catch((err) => { throw new SealdropError('ERR_IO', `cannot open ${file.path}: ${err.message}`); });
  let reading: Promise<{ bytesRead: number; buffer: Buffer }> | undefined;
  try {
    await hashPrefix(handle, hash, skip, blocks[0], file.path);
    const readAt = (turn: number, position: number) =>
      handle.read(blocks[turn]!, 0, Math.min(READ_BLOCK, file.size - position), position);
    let position = skip;
    let turn = 0;
    if (position < file.size) reading = readAt(turn, position);
    while (reading) {
      const { bytesRead, buffer } = await reading;
      reading = undefined;
      if (bytesRead === 0) throw new SealdropError('ERR_IO', `${file.path} shrank while it was being sent`);
      position += bytesRead;
      turn ^= 1;
      if (position < file.size) reading = readAt(turn, position);
      const data = buffer.subarray(0, bytesRead);
      hash.update(data);
      await stream.write(data);
      tick();
    }
    const extra = await handle.read(Buffer.alloc(1), 0, 1, file.size);
    if (extra.bytesRead > 0) throw new SealdropError('ERR_IO', `${file.path} grew while it was being sent`);
  } finally {
    await reading?.catch(() => {}); // a read still running when sending failed: let it end before closing
    await handle.close();
  }
  return hash.digest('hex');
}

async function hashPrefix(handle: fs.FileHandle, hash: Hash, bytes: number, buffer: Buffer, name: string): Promise<void> {
  for (let pos = 0; pos < bytes;) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, bytes - pos), pos);
    if (bytesRead === 0) throw new SealdropError('ERR_IO', `${name} shrank while it was being sent`);
    hash.update(buffer.subarray(0, bytesRead));
    pos += bytesRead;
  }
}

/**
 * Cuts the bytes of all files into CHUNK_SIZE chunks. The stream's length is
 * known from the start (the files' sizes less what was resumed), so the chunk
 * that ends it is marked LAST as it goes, and full chunks are sealed straight
 * from the read block; only chunks that straddle two blocks or files are copied.
 */
class DataStream {
  private readonly carry = Buffer.allocUnsafe(CHUNK_SIZE);
  private fill = 0;
  private index = 0;
  private streamed = 0;

  constructor(private readonly channel: SecureChannel, private readonly flow: CreditWindow, private readonly length: number) {}

  /** Sends the next bytes of the stream; `data` may be reused once this resolves. */
  async write(data: Buffer): Promise<void> {
    for (let off = 0; off < data.length;) {
      if (this.fill === 0 && data.length - off >= CHUNK_SIZE) {
        await this.send(data.subarray(off, off + CHUNK_SIZE));
        off += CHUNK_SIZE;
        continue;
      }
      const copied = data.copy(this.carry, this.fill, off, Math.min(data.length, off + CHUNK_SIZE - this.fill));
      this.fill += copied;
      off += copied;
      if (this.fill === CHUNK_SIZE || this.streamed + this.fill === this.length) {
        await this.send(this.carry.subarray(0, this.fill));
        this.fill = 0;
      }
    }
  }

  /** Every byte was written and the last chunk went out as LAST; an empty stream is one empty LAST chunk. */
  async end(): Promise<void> {
    if (this.streamed !== this.length) throw new SealdropError('ERR_IO', 'the files changed size while they were being sent');
    if (this.length === 0) await this.send(Buffer.alloc(0));
  }

  private async send(chunk: Buffer): Promise<void> {
    if (this.streamed + chunk.length > this.length) throw new SealdropError('ERR_IO', 'the files grew while they were being sent');
    await this.flow.reserve(chunk.length);
    this.streamed += chunk.length;
    await this.channel.sendChunk(this.index++, this.streamed === this.length, chunk);
  }
}

/** Handles the receiver's replies while we send: credits, then the final report. */
async function readReplies(channel: SecureChannel, flow: CreditWindow): Promise<Extract<ControlMessage, { t: 'complete' }>> {
  try {
    for (;;) {
      const msg = await channel.nextControl({ timeoutMs: REPLY_STALL_MS });
      if (msg.t === 'credit') {
        flow.credit(msg.bytes);
        channel.acknowledged(Math.floor(msg.bytes / CHUNK_SIZE)); // credited chunks need not be kept for a path move
      }
      else if (msg.t === 'complete') return msg;
      else throw new SealdropError('ERR_PROTOCOL', `unexpected ${msg.t} from the receiver`);
    }
  } catch (err) {
    flow.fail(err as Error);
    throw err;
  }
}

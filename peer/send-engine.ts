/**
 * The sending half of the transfer engine: manifest, consent, then the data
 * stream, every file back to back in full-size sealed chunks read straight from
 * disk within the receiver's credit window, and last every file's SHA-256. No
 * frame marks where one file ends, so a relay learns only the total size.
 * It works over any SecureChannel, direct or relay.
 */
import { createHash, type Hash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { CHUNK_SIZE } from '../shared/constants.js';
import { SealdropError } from '../shared/errors.js';
import { chunkCount } from '../shared/framing.js';
import type { ControlMessage } from './control-messages.js';
import { CreditWindow } from './credit-window.js';
import type { ProgressListener } from './progress.js';
import type { SecureChannel } from './secure-channel.js';
import { totalBytes, type SourceFile, type SourceSet } from './source-files.js';

export interface SentFile { name: string; bytes: number; sha256: string }
export interface SendResult { files: SentFile[]; resumed: number }

export async function sendEngine(channel: SecureChannel, sources: SourceSet, onProgress: ProgressListener = () => {}): Promise<SendResult> {
  const { files } = sources;
  await channel.sendControl({ t: 'manifest', files: files.map((f) => ({ name: f.name, size: f.size, mtime: f.mtime, text: f.text })), dirs: sources.dirs });
  const answer = await channel.nextControl();
  if (answer.t === 'reject') throw new SealdropError(answer.code, `the receiver declined: ${answer.message}`);
  if (answer.t !== 'accept' || answer.from.length !== files.length) throw new SealdropError('ERR_PROTOCOL', 'expected the receiver to accept or decline');
  answer.from.forEach((from, i) => {
    if (!(from < chunkCount(files[i]!.size))) throw new SealdropError('ERR_PROTOCOL', 'the receiver asked to resume past the end of a file');
  });

  const flow = new CreditWindow();
  const completion = readReplies(channel, flow);
  completion.catch(() => {});
  const stream = new DataStream(channel, flow);
  const total = totalBytes(files);
  const resumed = answer.from.reduce((n, from) => n + from * CHUNK_SIZE, 0);
  const sent: SentFile[] = [];
  for (const [index, file] of files.entries()) {
    const sha256 = await streamFile(stream, file, answer.from[index]! * CHUNK_SIZE, () =>
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

/** Hashes the whole file (the resumed prefix too) and streams what follows `skip`. */
async function streamFile(stream: DataStream, file: SourceFile, skip: number, tick: () => void): Promise<string> {
  const hash = createHash('sha256');
  const handle = await fs.open(file.path, 'r').catch((err) => { throw new SealdropError('ERR_IO', `cannot open ${file.path}: ${err.message}`); });
  try {
    await hashPrefix(handle, hash, skip, file.path);
    let position = skip;
    while (position < file.size) {
      const room = await stream.room();
      const want = Math.min(room.length, file.size - position);
      const { bytesRead } = await handle.read(room, 0, want, position);
      if (bytesRead === 0) throw new SealdropError('ERR_IO', `${file.path} shrank while it was being sent`);
      hash.update(room.subarray(0, bytesRead));
      stream.filled(bytesRead);
      position += bytesRead;
      tick();
    }
    const extra = await handle.read(Buffer.alloc(1), 0, 1, file.size);
    if (extra.bytesRead > 0) throw new SealdropError('ERR_IO', `${file.path} grew while it was being sent`);
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

async function hashPrefix(handle: fs.FileHandle, hash: Hash, bytes: number, name: string): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.min(bytes, 1024 * 1024));
  for (let pos = 0; pos < bytes;) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, bytes - pos), pos);
    if (bytesRead === 0) throw new SealdropError('ERR_IO', `${name} shrank while it was being sent`);
    hash.update(buffer.subarray(0, bytesRead));
    pos += bytesRead;
  }
}

/**
 * Cuts the bytes of all files into CHUNK_SIZE chunks. A full chunk is held back
 * until more data (or the end) shows whether it is the LAST one.
 */
class DataStream {
  private readonly buffer = Buffer.allocUnsafe(CHUNK_SIZE);
  private fill = 0;
  private index = 0;

  constructor(private readonly channel: SecureChannel, private readonly flow: CreditWindow) {}

  /** Free space in the current chunk, after sending the previous one if it was full. */
  async room(): Promise<Buffer> {
    if (this.fill === CHUNK_SIZE) await this.flush(false);
    return this.buffer.subarray(this.fill);
  }

  filled(bytes: number): void {
    this.fill += bytes;
  }

  /** Sends what is left (possibly nothing) as the LAST chunk. */
  async end(): Promise<void> {
    await this.flush(true);
  }

  private async flush(last: boolean): Promise<void> {
    await this.flow.reserve(this.fill);
    // sealFrame copies the plaintext synchronously, so the buffer is free again at once.
    const sending = this.channel.sendChunk(this.index++, last, this.buffer.subarray(0, this.fill));
    this.fill = 0;
    await sending;
  }
}

/** Handles the receiver's replies while we send: credits, then the final report. */
async function readReplies(channel: SecureChannel, flow: CreditWindow): Promise<Extract<ControlMessage, { t: 'complete' }>> {
  try {
    for (;;) {
      const msg = await channel.nextControl();
      if (msg.t === 'credit') flow.credit(msg.bytes);
      else if (msg.t === 'complete') return msg;
      else throw new SealdropError('ERR_PROTOCOL', `unexpected ${msg.t} from the receiver`);
    }
  } catch (err) {
    flow.fail(err as Error);
    throw err;
  }
}

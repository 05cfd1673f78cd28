/**
 * The sending half of the transfer engine: manifest, consent, then every file
 * as sealed chunks read straight from disk, within the receiver's credit window,
 * and its SHA-256 at the end. It works over any SecureChannel, direct or relay.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { CHUNK_SIZE, FLOW_WINDOW } from '../shared/constants.js';
import { SealdropError } from '../shared/errors.js';
import { chunkCount } from '../shared/framing.js';
import type { ControlMessage } from './control-messages.js';
import type { ProgressListener } from './progress.js';
import type { SecureChannel } from './secure-channel.js';
import { totalBytes, type SourceSet } from './source-files.js';

export interface SentFile { name: string; bytes: number; sha256: string }
export interface SendResult { files: SentFile[]; resumed: number }

export async function sendEngine(channel: SecureChannel, sources: SourceSet, onProgress: ProgressListener = () => {}): Promise<SendResult> {
  const { files } = sources;
  await channel.sendControl({ t: 'manifest', files: files.map((f) => ({ name: f.name, size: f.size, mtime: f.mtime, text: f.text })), dirs: sources.dirs });
  const answer = await channel.nextControl();
  if (answer.t === 'reject') throw new SealdropError(answer.code, `the receiver declined: ${answer.message}`);
  if (answer.t !== 'accept' || answer.from.length !== files.length) throw new SealdropError('ERR_PROTOCOL', 'expected the receiver to accept or decline');

  const flow = new CreditWindow();
  const total = totalBytes(files);
  let resumed = 0;
  const sent: SentFile[] = [];
  const completion = readReplies(channel, flow);
  completion.catch(() => {});
  for (const [index, file] of files.entries()) {
    const from = answer.from[index]!;
    if (!(from < chunkCount(file.size))) throw new SealdropError('ERR_PROTOCOL', 'the receiver asked to resume past the end of a file');
    resumed += Math.min(from * CHUNK_SIZE, file.size);
    const sha256 = await sendFile(channel, flow, index, file.path, file.size, from, () =>
      onProgress({ bytes: flow.sent + resumed, total, file: index, name: file.name, files: files.length }));
    await channel.sendControl({ t: 'file-end', file: index, sha256 });
    sent.push({ name: file.name, bytes: file.size, sha256 });
  }
  if (files.length === 0) onProgress({ bytes: 0, total: 0, file: 0, name: '', files: 0 });
  const complete = await Promise.race([completion, flow.failed]);
  for (const [i, mine] of sent.entries()) {
    const theirs = complete.files[i];
    if (!theirs || theirs.sha256 !== mine.sha256 || theirs.bytes !== mine.bytes) {
      throw new SealdropError('ERR_INTEGRITY', `the receiver's SHA-256 of ${mine.name} does not match ours`);
    }
  }
  return { files: sent, resumed };
}

/** Reads one file from chunk `from`, hashing all of it (the skipped prefix too) for the final check. */
async function sendFile(channel: SecureChannel, flow: CreditWindow, index: number, file: string, size: number, from: number, tick: () => void): Promise<string> {
  const hash = createHash('sha256');
  const handle = await fs.open(file, 'r').catch((err) => { throw new SealdropError('ERR_IO', `cannot open ${file}: ${err.message}`); });
  try {
    const buffer = Buffer.allocUnsafe(CHUNK_SIZE);
    const chunks = chunkCount(size);
    for (let chunk = 0; chunk < chunks; chunk++) {
      const want = Math.min(CHUNK_SIZE, size - chunk * CHUNK_SIZE);
      const got = await readFully(handle, buffer, want, chunk * CHUNK_SIZE);
      if (got !== want) throw new SealdropError('ERR_IO', `${file} shrank while it was being sent`);
      const data = buffer.subarray(0, want);
      hash.update(data);
      if (chunk < from) continue;
      await flow.reserve(want);
      await channel.sendChunk(index, chunk, chunk === chunks - 1, data);
      tick();
    }
    const extra = await handle.read(Buffer.alloc(1), 0, 1, size);
    if (extra.bytesRead > 0) throw new SealdropError('ERR_IO', `${file} grew while it was being sent`);
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

async function readFully(handle: fs.FileHandle, buffer: Buffer, want: number, position: number): Promise<number> {
  let got = 0;
  while (got < want) {
    const { bytesRead } = await handle.read(buffer, got, want - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
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

/** Bytes in flight stay under FLOW_WINDOW: the receiver credits what it has written. */
class CreditWindow {
  sent = 0;
  private credited = 0;
  private wake?: () => void;
  private error?: Error;
  readonly failed: Promise<never>;
  private rejectFailed!: (err: Error) => void;

  constructor() {
    this.failed = new Promise<never>((_, reject) => { this.rejectFailed = reject; });
    this.failed.catch(() => {});
  }

  async reserve(bytes: number): Promise<void> {
    while (this.sent + bytes - this.credited > FLOW_WINDOW) {
      if (this.error) throw this.error;
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
    if (this.error) throw this.error;
    this.sent += bytes;
  }

  credit(bytes: number): void {
    if (bytes > this.credited) this.credited = bytes;
    this.wake?.();
  }

  fail(err: Error): void {
    this.error = err;
    this.rejectFailed(err);
    this.wake?.();
  }
}

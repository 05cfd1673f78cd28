/**
 * The receiving half of the transfer engine: vet the manifest, ask for consent,
 * then write each file to a partial file, verify its SHA-256 and only then give
 * it its final name. Any failure discards what is not verified.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { CHUNK_SIZE, CREDIT_EVERY } from '../shared/constants.js';
import { chunkCount } from '../shared/framing.js';
import { SealdropError, toSealdropError } from '../shared/errors.js';
import type { Manifest } from './control-messages.js';
import { ensureFolders, PartialFile } from './partial-file.js';
import type { ProgressListener } from './progress.js';
import { vetReceivedPath } from './safe-names.js';
import type { SecureChannel } from './secure-channel.js';
import { totalBytes } from './source-files.js';

export interface OfferSummary { files: number; bytes: number; topLevel: string[]; dirs: number }
export interface ReceivedFile { name: string; path: string; bytes: number; sha256: string; text?: boolean }
export interface ReceiveResult { files: ReceivedFile[]; resumed: number }

export interface ReceiveEngineOptions {
  dir: string;
  /** Decides whether to take the offer; resolves true to accept. */
  consent: (offer: OfferSummary) => Promise<boolean>;
  onProgress?: ProgressListener;
  /** The sending peer: partial files are kept per sender, so only it can resume them. */
  peerId: string;
}

/** Takes the files of `manifest` (the first message of a push, or the answer to a get). */
export async function receiveEngine(channel: SecureChannel, manifest: Manifest, opts: ReceiveEngineOptions): Promise<ReceiveResult> {
  let vetted: string[][];
  try {
    vetted = vetManifest(manifest);
    await checkSpace(opts.dir, totalBytes(manifest.files));
  } catch (err) {
    const e = toSealdropError(err);
    await channel.sendControl({ t: 'reject', code: e.code, message: e.message }).catch(() => {});
    throw e;
  }
  if (!(await opts.consent(summarize(manifest)))) {
    await channel.sendControl({ t: 'reject', code: 'ERR_REJECTED', message: 'the receiver declined the files' }).catch(() => {});
    throw new SealdropError('ERR_REJECTED', 'you declined the transfer');
  }
  for (const dir of manifest.dirs) await ensureFolders(opts.dir, vetReceivedPath(dir));
  const keys = manifest.files.map((f) => partialKey(opts.peerId, f));
  // Resume: whole chunks left by an earlier attempt count; the last chunk is always sent again.
  const from = await Promise.all(manifest.files.map((f, i) => PartialFile.existingChunks(opts.dir, vetted[i]!, keys[i]!, CHUNK_SIZE, chunkCount(f.size) - 1)));
  channel.expectChunks(manifest.files.map((_, file) => ({ file, from: from[file]! })));
  await channel.sendControl({ t: 'accept', from });

  const resumed = from.reduce((n, chunks) => n + chunks * CHUNK_SIZE, 0);
  const credit = { received: 0, reported: 0 };
  const total = totalBytes(manifest.files);
  const received: ReceivedFile[] = [];
  for (const [index, entry] of manifest.files.entries()) {
    const partial = await PartialFile.open(opts.dir, vetted[index]!, keys[index]!);
    try {
      await partial.resumeAt(from[index]! * CHUNK_SIZE);
      const chunks = chunkCount(entry.size);
      for (let chunk = from[index]!; chunk < chunks; chunk++) {
        const item = await channel.next();
        if (item.kind === 'control') {
          if (item.msg.t === 'abort') throw new SealdropError(item.msg.code, `the sender stopped the transfer: ${item.msg.message}`);
          throw new SealdropError('ERR_INTEGRITY', `the stream of ${entry.name} ended early (${item.msg.t} before its last chunk)`);
        }
        const want = Math.min(CHUNK_SIZE, entry.size - chunk * CHUNK_SIZE);
        if (item.data.length !== want || item.last !== (chunk === chunks - 1)) {
          throw new SealdropError('ERR_INTEGRITY', `chunk ${chunk} of ${entry.name} does not match the declared size of ${entry.size} bytes`);
        }
        await partial.write(item.data);
        credit.received += item.data.length;
        if (credit.received - credit.reported >= CREDIT_EVERY) {
          credit.reported = credit.received;
          await channel.sendControl({ t: 'credit', bytes: credit.received });
        }
        opts.onProgress?.({ bytes: resumed + credit.received, total, file: index, name: entry.name, files: manifest.files.length });
      }
      const end = await channel.next();
      if (end.kind !== 'control' || end.msg.t !== 'file-end' || end.msg.file !== index) {
        throw new SealdropError('ERR_INTEGRITY', `expected the end of ${entry.name}, got something else`);
      }
      const saved = await partial.commit(end.msg.sha256);
      received.push({ name: entry.name, path: saved.path, bytes: entry.size, sha256: saved.sha256, text: entry.text });
    } catch (err) {
      // What was written so far was authenticated chunk by chunk: keep it to resume from.
      if (partial.bytes > 0) await partial.keep(); else await partial.discard();
      throw err;
    }
  }
  if (manifest.files.length === 0) opts.onProgress?.({ bytes: 0, total: 0, file: 0, name: '', files: 0 });
  await channel.sendControl({ t: 'complete', files: received.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })) });
  return { files: received, resumed };
}

/** Names a partial file by who sent it and which file it is, never by anything the name could forge. */
function partialKey(peerId: string, f: Manifest['files'][number]): string {
  return createHash('sha256').update(JSON.stringify(['sealdrop/1 partial', peerId, f.name, f.size, f.mtime ?? null])).digest('hex').slice(0, 32);
}

/** Vets every file and folder name before anything is written; one bad name refuses the whole offer. */
function vetManifest(m: Manifest): string[][] {
  for (const dir of m.dirs) vetReceivedPath(dir);
  const seen = new Set<string>();
  return m.files.map((f) => {
    const parts = vetReceivedPath(f.name);
    const key = parts.join('/').normalize('NFC').toLowerCase();
    if (seen.has(key)) throw new SealdropError('ERR_BAD_INPUT', `the file list names ${JSON.stringify(f.name)} twice`);
    seen.add(key);
    return parts;
  });
}

function summarize(m: Manifest): OfferSummary {
  const top = new Set<string>();
  for (const name of [...m.files.map((f) => f.name), ...m.dirs]) top.add(name.split('/')[0]!);
  return { files: m.files.length, bytes: totalBytes(m.files), topLevel: [...top], dirs: m.dirs.length };
}

/** Refuses before anything is written when the target folder lacks room. */
async function checkSpace(dir: string, bytes: number): Promise<void> {
  const st = await fs.statfs(dir).catch((err) => { throw new SealdropError('ERR_IO', `cannot use ${dir}: ${err.message}`); });
  const free = st.bavail * st.bsize;
  if (bytes > free) {
    throw new SealdropError('ERR_SPACE', `not enough free space in ${dir}: ${bytes} bytes offered, ${free} available`);
  }
}

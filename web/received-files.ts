/**
 * Where the page puts what it receives: the Origin Private File System (disk, in the
 * browser's profile), written in 1 MiB batches, so a large file never sits in memory.
 * Each file is stored under a name of our own (never the sender's), and offered to the
 * person as a download of the file on disk. Without OPFS, Blob parts (which Chromium
 * also pages to disk past its memory budget). Files of an earlier visit are removed at
 * the next login: their download links died with that page.
 */
export const PREFIX = 'sealdrop-received-';
const BATCH = 1024 * 1024;

export interface FileSink {
  write(bytes: Uint8Array): Promise<void>;
  /** Every byte is in: written out, not yet known to be good. */
  finish(): Promise<void>;
  /** The file, kept: called only once its SHA-256 matched the sender's. */
  keep(): Promise<File | Blob>;
  /** Drops what was written (a failed check, a cut transfer). */
  discard(): Promise<void>;
}

let seq = 0;

async function opfs(): Promise<FileSystemDirectoryHandle | undefined> {
  try {
    return await navigator.storage?.getDirectory?.();
  } catch {
    return undefined;
  }
}

export async function clearEarlierFiles(): Promise<void> {
  const root = await opfs();
  if (!root) return;
  const names: string[] = [];
  for await (const name of (root as unknown as { keys(): AsyncIterable<string> }).keys()) if (name.startsWith(PREFIX)) names.push(name);
  for (const name of names) await root.removeEntry(name, { recursive: true }).catch(() => {}); // a received folder too
}

/** `at`: a place of the caller's (a received folder's tree, web/received-tree.ts) instead of a name of our own at the top. */
export async function newFileSink(at?: { dir: FileSystemDirectoryHandle; name: string }): Promise<FileSink> {
  const root = at?.dir ?? await opfs();
  let parts: Uint8Array[] = [];
  if (!root) {
    return {
      async write(bytes) { parts.push(new Uint8Array(bytes)); },
      async finish() {},
      async keep() { const b = new Blob(parts as BlobPart[]); parts = []; return b; },
      async discard() { parts = []; },
    };
  }
  const name = at?.name ?? `${PREFIX}${Date.now()}-${seq++}`;
  const handle = await root.getFileHandle(name, { create: true });
  const out = await handle.createWritable();
  const batch = batchedWrites(out);
  return {
    write: batch.write,
    async finish() {
      await batch.flush();
      await out.close(); // under a name of our own: closing before the check shows nothing to anyone
    },
    keep: () => handle.getFile(),
    async discard() {
      await out.abort().catch(() => {});
      await root.removeEntry(name).catch(() => {});
    },
  };
}

/**
 * Writes into `out` BATCH bytes at a time from one buffer of its own (also save-target.ts's),
 * so a file of many small pieces costs one write per MiB. Bytes, not Blobs: a Blob lives in the
 * browser process until its wrapper is collected, and a tiny wrapper puts no pressure on the
 * collector (hundreds of MiB piled up that way).
 */
export function batchedWrites(out: FileSystemWritableFileStream): { write(bytes: Uint8Array): Promise<void>; flush(): Promise<void> } {
  const batch = new Uint8Array(BATCH);
  let batched = 0;
  const flush = async () => {
    if (batched === 0) return;
    await out.write(batch.subarray(0, batched));
    batched = 0;
  };
  return {
    async write(bytes) {
      for (let off = 0; off < bytes.length;) {
        const n = Math.min(bytes.length - off, BATCH - batched);
        batch.set(bytes.subarray(off, off + n), batched);
        batched += n; off += n;
        if (batched === BATCH) await flush();
      }
    },
    flush,
  };
}

/**
 * Bytes the browser still lets this page store (its storage quota less what it uses), or
 * undefined where it does not say. A file the person picks with Save to… does not count here.
 */
export async function roomLeft(): Promise<number | undefined> {
  const e = await navigator.storage?.estimate?.().catch(() => undefined);
  if (e?.quota === undefined || e.usage === undefined) return undefined;
  return Math.max(0, e.quota - e.usage);
}

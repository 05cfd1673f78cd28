/**
 * A folder tree the page receives (`sealdrop send some-folder/`): every name already vetted
 * by the shared rules (peer/files/offer-names.ts), each file written under its relative path
 * inside one folder of our own in the Origin Private File System (named by us, removed at
 * the next login with the other received files), the offer's empty folders made too. The
 * person gets the tree as one folder saved where they choose (File System Access, where the
 * browser has it: copied file by file, streamed), as a zip (tree-zip.ts) or each file as a
 * download; what the person sees of it is tree-view.ts.
 */
import type { Manifest } from '../peer/link/control-messages.js';
import { numberedName } from '../peer/files/safe-names.js';
import { newFileSink, PREFIX, type FileSink } from './received-files.js';

/** Whether an offer is a folder tree rather than loose files: some name has a folder, or it names folders. */
export function isTree(m: Pick<Manifest, 'files' | 'dirs'>): boolean {
  return m.dirs.length > 0 || m.files.some((f) => f.name.includes('/'));
}

/** The folders of `dirs` with no file under them (linear in the names: an offer may hold 100 000 of each). */
export function emptyFolders(files: ReadonlyArray<{ name: string }>, dirs: readonly string[]): string[] {
  const parents = new Set<string>();
  for (const f of files) for (let at = f.name.indexOf('/'); at !== -1; at = f.name.indexOf('/', at + 1)) parents.add(f.name.slice(0, at));
  return dirs.filter((d) => !parents.has(d));
}

/** Where a received tree goes while it arrives. */
export interface TreeStore {
  /** Our own name of the tree's folder in OPFS (undefined without OPFS: then the files are kept as Blobs). */
  readonly folder?: string;
  /** A sink for the file at `parts` (vetted), its parent folders made first. */
  sink(parts: string[]): Promise<FileSink>;
  /** Makes the offer's folders (vetted parts), the empty ones included. */
  makeDirs(dirs: string[][]): Promise<void>;
  /** The folder of the tree, for saving elsewhere. */
  readonly root?: FileSystemDirectoryHandle;
  /** Removes everything written (a failed check: nothing unverified is kept). */
  discard(): Promise<void>;
}

let seq = 0;

export async function openTreeStore(): Promise<TreeStore> {
  let top: FileSystemDirectoryHandle | undefined;
  try { top = await navigator.storage?.getDirectory?.(); } catch { top = undefined; }
  if (!top) return { sink: () => newFileSink(), makeDirs: async () => {}, discard: async () => {} };
  const opfsTop = top;
  const folder = `${PREFIX}tree-${Date.now()}-${seq++}`;
  const root = await opfsTop.getDirectoryHandle(folder, { create: true });
  const dirOf = async (parts: string[]) => {
    let dir = root;
    for (const part of parts) dir = await dir.getDirectoryHandle(part, { create: true });
    return dir;
  };
  return {
    folder, root,
    sink: async (parts) => newFileSink({ dir: await dirOf(parts.slice(0, -1)), name: parts.at(-1)! }),
    makeDirs: async (dirs) => { for (const d of dirs) await dirOf(d); },
    discard: async () => { await opfsTop.removeEntry(folder, { recursive: true }).catch(() => {}); },
  };
}

type DirEntries = AsyncIterable<[string, FileSystemHandle]>;
const entriesOf = (dir: FileSystemDirectoryHandle) => (dir as unknown as { entries(): DirEntries }).entries();

/**
 * Copies the tree at `from` into `to` (a folder the person chose), file by file and each
 * streamed (File.stream piped into the new file), never whole in memory. Names come from
 * our own OPFS copy, which holds only vetted names. An existing file of the same name in
 * `to` is not replaced: the copy takes "name (1).ext" as the CLI does.
 */
export async function copyTree(from: FileSystemDirectoryHandle, to: FileSystemDirectoryHandle): Promise<number> {
  let files = 0;
  for await (const [name, handle] of entriesOf(from)) {
    if (handle.kind === 'directory') {
      files += await copyTree(handle as FileSystemDirectoryHandle, await to.getDirectoryHandle(name, { create: true }));
      continue;
    }
    const file = await (handle as FileSystemFileHandle).getFile();
    const target = await to.getFileHandle(await freeName(to, name), { create: true });
    await file.stream().pipeTo(await target.createWritable());
    files++;
  }
  return files;
}

async function freeName(dir: FileSystemDirectoryHandle, name: string): Promise<string> {
  for (let n = 0; n < 1000; n++) {
    const candidate = n === 0 ? name : numberedName(name, n);
    const taken = await dir.getFileHandle(candidate).then(() => true, (err: DOMException) => err.name !== 'NotFoundError');
    if (!taken) return candidate;
  }
  throw new Error(`${name}: no free name up to (999) in the chosen folder`);
}

/** What the page shows of a received tree, and what it has kept of it. */
export interface ReceivedTree { store: TreeStore; files: Array<{ name: string; size: number; sha256: string; file: File | Blob }>; dirs: string[] }

/**
 * A folder tree the page receives (`sealdrop send some-folder/`): every name already vetted
 * by the shared rules (peer/files/offer-names.ts), each file written under its relative path
 * inside one folder of our own in the Origin Private File System (named by us, removed at
 * the next login with the other received files), the offer's empty folders made too. The
 * person gets the tree as one folder saved where they choose (File System Access, where the
 * browser has it: copied file by file, streamed) or each file as a download.
 */
import type { Manifest } from '../peer/link/control-messages.js';
import { numberedName } from '../peer/files/safe-names.js';
import { printable } from '../shared/printable.js';
import { newFileSink, PREFIX, type FileSink } from './received-files.js';
import { zipTree } from './tree-zip.js';

/** Whether an offer is a folder tree rather than loose files: some name has a folder, or it names folders. */
export function isTree(m: Pick<Manifest, 'files' | 'dirs'>): boolean {
  return m.dirs.length > 0 || m.files.some((f) => f.name.includes('/'));
}

export function sizeWords(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return n < 1024 ** 3 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** The folders of `dirs` with no file under them (linear in the names: an offer may hold 100 000 of each). */
export function emptyFolders(files: ReadonlyArray<{ name: string }>, dirs: readonly string[]): string[] {
  const parents = new Set<string>();
  for (const f of files) for (let at = f.name.indexOf('/'); at !== -1; at = f.name.indexOf('/', at + 1)) parents.add(f.name.slice(0, at));
  return dirs.filter((d) => !parents.has(d));
}

/** Names listed one by one in an offer; past this, a count. */
const LISTED = 20;

/**
 * What the person reads before accepting a tree: per top-level name, folder or file, its file
 * count and bytes; then the first LISTED paths. Names made printable; the caller puts them in
 * the document as text only.
 */
export function treeOfferLines(m: Pick<Manifest, 'files' | 'dirs'>): string[] {
  const top = new Map<string, { folder: boolean; files: number; bytes: number; emptyDirs: number }>();
  const entry = (name: string, folder: boolean) => {
    const t = name.split('/')[0]!;
    let e = top.get(t);
    if (!e) top.set(t, e = { folder, files: 0, bytes: 0, emptyDirs: 0 });
    e.folder ||= folder;
    return e;
  };
  for (const f of m.files) { const e = entry(f.name, f.name.includes('/')); e.files++; e.bytes += f.size; }
  const empty = emptyFolders(m.files, m.dirs);
  for (const d of empty) entry(d, true).emptyDirs++;
  const lines: string[] = [];
  if (top.size > 1) lines.push(`${m.files.length} file(s)${empty.length ? `, ${empty.length} empty folder(s)` : ''}, ${sizeWords(m.files.reduce((n, f) => n + f.size, 0))} in all:`);
  for (const [name, e] of [...top].slice(0, LISTED)) {
    lines.push(e.folder
      ? `folder ${printable(name)}/: ${e.files} file(s)${e.emptyDirs ? `, ${e.emptyDirs} empty folder(s)` : ''}, ${sizeWords(e.bytes)}`
      : `file ${printable(name)} (${sizeWords(e.bytes)})`);
  }
  if (top.size > LISTED) lines.push(`… and ${top.size - LISTED} more at the top`);
  const paths = m.files.length + empty.length;
  for (const f of m.files.slice(0, LISTED)) lines.push(`  ${printable(f.name)} (${sizeWords(f.size)})`);
  for (const d of empty.slice(0, Math.max(0, LISTED - m.files.length))) lines.push(`  ${printable(d)}/ (empty folder)`);
  if (paths > LISTED) lines.push(`  … and ${paths - LISTED} more`);
  return lines;
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

type SaveFolderPicker = (o: { mode: 'readwrite'; id?: string }) => Promise<FileSystemDirectoryHandle>;

/**
 * One list item for a received tree: a headline, "Save folder…" where the browser lets the
 * page write into a folder the person picks, and each file as a download named by its path.
 * Everything from the sender is put in as text (printable), never as HTML.
 */
export function treeElement(from: string, tree: ReceivedTree, say: (text: string) => void, fail: (err: unknown) => void): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'received-tree';
  if (tree.store.folder) li.dataset.opfs = tree.store.folder;
  const bytes = tree.files.reduce((n, f) => n + f.size, 0);
  const empty = emptyFolders(tree.files, tree.dirs);
  const tops = [...new Set([...tree.files.map((f) => f.name), ...tree.dirs].map((n) => n.split('/')[0]!))];
  li.append(document.createTextNode(`${tops.map((t) => printable(t)).join(', ')} from ${printable(from)}: ${tree.files.length} file(s)${empty.length ? `, ${empty.length} empty folder(s)` : ''}, ${sizeWords(bytes)}, each verified by SHA-256 `));
  const picker = () => (window as unknown as { showDirectoryPicker?: SaveFolderPicker }).showDirectoryPicker;
  const root = tree.store.root;
  if (picker() && root) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'save-tree';
    b.textContent = 'Save folder…';
    b.addEventListener('click', () => void (async () => {
      try {
        const to = await picker()!.call(window, { mode: 'readwrite', id: 'sealdrop-save' });
        say('saving the folder…');
        const n = await copyTree(root, to);
        say(`saved ${n} file(s) into ${printable(to.name)}`);
        li.dataset.saved = String(n);
      } catch (err) {
        if ((err as DOMException)?.name === 'AbortError') return say('not saved: no folder was chosen');
        fail(err);
      }
    })());
    li.append(b);
  }
  if (root) {
    const z = document.createElement('button');
    z.type = 'button';
    z.className = 'zip-tree';
    z.textContent = 'Download as zip';
    z.addEventListener('click', () => void (async () => {
      try {
        say('making the zip…');
        const zip = await zipTree(tree.files, empty);
        if (!zip) return;
        const a = document.createElement('a');
        a.href = URL.createObjectURL(zip);
        a.download = `${tops.length === 1 ? tops[0] : 'sealdrop-received'}.zip`;
        a.click();
        say(`the zip of ${tree.files.length} file(s) is downloading`);
      } catch (err) {
        fail(err);
      }
    })());
    li.append(z);
  }
  const list = document.createElement('ul');
  for (const f of tree.files) {
    const item = document.createElement('li');
    const a = document.createElement('a');
    a.href = URL.createObjectURL(f.file);
    a.download = f.name.split('/').pop() || 'file';
    a.textContent = printable(f.name);
    a.dataset.sha256 = f.sha256;
    item.append(a, document.createTextNode(` (${sizeWords(f.size)})`));
    list.append(item);
  }
  for (const d of empty) list.append(Object.assign(document.createElement('li'), { textContent: `${printable(d)}/ (empty folder)` }));
  li.append(list);
  return li;
}

/**
 * What the person sees of a folder tree: the offer's lines before consent, and the received
 * tree with its ways out (Save folder…, Download as zip, each file). Every name from the sender
 * is made printable here and put in the document as text only, never as HTML.
 */
import type { Manifest } from '../peer/link/control-messages.js';
import { printable } from '../shared/printable.js';
import { copyTree, emptyFolders, type ReceivedTree } from './received-tree.js';
import { zipTree } from './tree-zip.js';

export function sizeWords(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return n < 1024 ** 3 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`;
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
    li.append(actionButton('save-tree', 'Save folder…', async () => {
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
    }));
  }
  if (root) {
    li.append(actionButton('zip-tree', 'Download as zip', async () => {
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
    }));
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

/** A button that runs `run` on each click; `run` reports its own failures. */
function actionButton(className: string, label: string, run: () => Promise<void>): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = label;
  b.addEventListener('click', () => void run());
  return b;
}

/**
 * What the page sends: files from the file picker, a folder from the folder picker, and
 * files and folders dropped on the page, named as `sealdrop send` names them: a loose file by
 * its own name, a file in a folder by its path from the folder's parent ("photos/2024/a.jpg"),
 * and a folder with nothing in it listed in `dirs` (peer/transfer/source-files.ts). Nothing is
 * read here: each File is read later a slice at a time (page-transfer.ts). Before the offer
 * every name is vetted by the receiver's own rules (peer/files/safe-names.ts,
 * peer/files/offer-names.ts), so a name a sealdrop would refuse is caught here, in words.
 */
import { SealdropError } from '../shared/errors.js';
import { printable } from '../shared/printable.js';
import { refusal } from '../peer/files/safe-names.js';
import { vetOfferNames } from '../peer/files/offer-names.js';

export interface Outgoing { name: string; file: File }
export interface OutgoingSet { files: Outgoing[]; dirs: string[] }

/** The file picker's files, each by its own name. */
export function pickedFiles(list: FileList | null | undefined): Outgoing[] {
  return [...(list ?? [])].map((file) => ({ name: file.name, file }));
}

/**
 * The folder picker's files (`webkitdirectory`), by their path from the picked folder's parent
 * ("folder/sub/a.txt"), in the order `sealdrop send folder/` sends them. The browser gives
 * files only: a folder picked this way loses its empty folders (a drop keeps them).
 */
export function pickedFolder(list: FileList | null | undefined): Outgoing[] {
  return [...(list ?? [])].map((file) => ({ name: file.webkitRelativePath || file.name, file })).sort((a, b) => byPath(a.name, b.name));
}

/** `sealdrop send`'s order: depth first, each folder's entries by localeCompare. */
function byPath(a: string, b: string): number {
  const pa = a.split('/'), pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = pa[i]!.localeCompare(pb[i]!);
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

/**
 * What a drop carries, taken at once: the items of a DataTransfer can be read only during
 * its drop event. An entry (webkitGetAsEntry) where the browser gives one, so folders come
 * with it; else the plain File.
 */
export function dropItems(dt: DataTransfer): Array<FileSystemEntry | File> {
  const out: Array<FileSystemEntry | File> = [];
  for (const item of [...dt.items]) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    const file = entry ? undefined : item.getAsFile();
    if (entry) out.push(entry); else if (file) out.push(file);
  }
  return out;
}

const readBatch = (r: FileSystemDirectoryReader) => new Promise<FileSystemEntry[]>((ok, ko) => r.readEntries(ok, ko));
const fileOf = (e: FileSystemFileEntry) => new Promise<File>((ok, ko) => e.file(ok, ko));

/** Walks what was dropped: every file under its path from the drop, each folder with nothing in it as a dir. */
export async function walkDrop(items: Array<FileSystemEntry | File>): Promise<OutgoingSet> {
  const set: OutgoingSet = { files: [], dirs: [] };
  const walk = async (entry: FileSystemEntry, rel: string): Promise<void> => {
    if (entry.isFile) { set.files.push({ name: rel, file: await fileOf(entry as FileSystemFileEntry) }); return; }
    if (!entry.isDirectory) return;
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    const children: FileSystemEntry[] = [];
    // readEntries answers in batches (100 in Chromium) until an empty one.
    for (let batch = await readBatch(reader); batch.length > 0; batch = await readBatch(reader)) children.push(...batch);
    children.sort((a, b) => a.name.localeCompare(b.name));
    if (children.length === 0) set.dirs.push(rel);
    for (const child of children) await walk(child, `${rel}/${child.name}`);
  };
  for (const item of items) {
    if (item instanceof File) set.files.push({ name: item.name, file: item });
    else await walk(item, item.name);
  }
  return set;
}

/** Several sources as one offer. */
export function combine(...sets: OutgoingSet[]): OutgoingSet {
  return { files: sets.flatMap((s) => s.files), dirs: sets.flatMap((s) => s.dirs) };
}

/**
 * Refuses, before anything is offered, what a sealdrop receiver would refuse: each name by the
 * shared rules, then the offer as a whole (two files of one name, a name both file and folder).
 */
export function vetOutgoing(set: OutgoingSet): void {
  for (const name of [...set.files.map((f) => f.name), ...set.dirs]) {
    const why = refusal(name);
    if (why) throw new SealdropError('ERR_BAD_INPUT', `cannot send "${printable(name)}": ${why} (a sealdrop receiver refuses such a name; rename it)`);
  }
  try {
    vetOfferNames(set);
  } catch (err) {
    throw new SealdropError('ERR_BAD_INPUT', `cannot send these together: ${(err as Error).message}`);
  }
}

/**
 * The drop zone: files and folders dropped on `zone` are kept until sent or cleared, and
 * listed in `list` by the names they will go under (as text). Drops elsewhere on the page are
 * caught too, so a missed drop never makes the browser leave the page to open the file.
 */
export class DropBasket {
  private set: OutgoingSet = { files: [], dirs: [] };

  constructor(private readonly zone: HTMLElement, private readonly list: HTMLElement, private readonly onError: (err: unknown) => void) {
    for (const type of ['dragover', 'drop'] as const) window.addEventListener(type, (ev) => ev.preventDefault());
    zone.addEventListener('dragover', (ev) => { ev.preventDefault(); if (ev.dataTransfer) ev.dataTransfer.dropEffect = 'copy'; zone.classList.add('over'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (ev) => {
      ev.preventDefault();
      zone.classList.remove('over');
      if (!ev.dataTransfer) return;
      const items = dropItems(ev.dataTransfer);
      zone.dataset.walking = '1';
      walkDrop(items).then((got) => {
        this.set = combine(this.set, got);
        this.show();
      }, this.onError).finally(() => { delete zone.dataset.walking; });
    });
  }

  get dropped(): OutgoingSet { return this.set; }

  clear(): void {
    this.set = { files: [], dirs: [] };
    this.show();
  }

  private show(): void {
    const n = this.set.files.length;
    this.zone.dataset.count = String(n + this.set.dirs.length);
    this.list.replaceChildren(
      ...this.set.files.map((f) => Object.assign(document.createElement('li'), { textContent: `${printable(f.name)} (${f.file.size} bytes)` })),
      ...this.set.dirs.map((d) => Object.assign(document.createElement('li'), { textContent: `${printable(d)}/ (empty folder)` })),
    );
  }
}

/**
 * A received tree as one zip file, for browsers that cannot save a folder: client-zip (npm)
 * makes the archive as a stream (ZIP64 past 4 GiB), each file read from OPFS as it goes, and
 * the stream is written into one more OPFS file, offered as a download of the file on disk.
 * So no file, and not the archive, is ever whole in memory. The zip is removed with the other
 * received files at the next login (its name has their prefix).
 */
import { makeZip } from 'client-zip';
import { PREFIX } from './received-files.js';

export interface ZipEntry { name: string; file: File | Blob }

let seq = 0;

/** The zip of `files` (vetted relative paths) and `emptyDirs`, on disk; undefined without OPFS. */
export async function zipTree(files: ZipEntry[], emptyDirs: string[]): Promise<File | undefined> {
  let top: FileSystemDirectoryHandle | undefined;
  try { top = await navigator.storage?.getDirectory?.(); } catch { top = undefined; }
  if (!top) return undefined;
  const name = `${PREFIX}zip-${Date.now()}-${seq++}.zip`;
  const handle = await top.getFileHandle(name, { create: true });
  const entries = [
    ...emptyDirs.map((d) => ({ name: `${d}/` })),
    ...files.map((f) => ({ name: f.name, input: f.file instanceof File ? f.file : new File([f.file], f.name.split('/').pop()!) })),
  ];
  try {
    await makeZip(entries).pipeTo(await handle.createWritable());
  } catch (err) {
    await top.removeEntry(name).catch(() => {});
    throw err;
  }
  return handle.getFile();
}

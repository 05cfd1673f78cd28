/**
 * Files of the page's Origin Private File System, for browser tests, and a stand-in for the
 * File System Access save picker. CDP cannot answer a real picker, so a test installs
 * PICKER_STUB (context.addInitScript): it replaces window.showSaveFilePicker alone and returns a
 * real OPFS file handle, so everything after the pick (createWritable, write, close, abort,
 * remove) is the browser's own, and the test reads the result back from OPFS.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { Page } from 'playwright-core';

const MiB = 1024 * 1024;

/**
 * The picker stub. `window.sealdropPicker` says what the "person" does: 'save' (default) picks
 * `window.sealdropSaveAs` in OPFS, 'cancel' closes the picker (AbortError), 'none' makes the
 * browser one without showSaveFilePicker. `window.sealdropPicks` counts the pickers shown.
 */
export const PICKER_STUB = `(() => {
  const stub = async (o) => {
    window.sealdropPicks = (window.sealdropPicks || 0) + 1;
    if (window.sealdropPicker === 'cancel') throw new DOMException('The user aborted a request.', 'AbortError');
    const root = await navigator.storage.getDirectory();
    return root.getFileHandle(window.sealdropSaveAs || o.suggestedName, { create: true });
  };
  Object.defineProperty(window, 'showSaveFilePicker', { configurable: true, get: () => (window.sealdropPicker === 'none' ? undefined : stub) });
})();`;

/** SHA-256 of a file at the top of the page's OPFS, or null when there is none of that name. */
export const opfsSha = (page: Page, name: string) => page.evaluate(async (n) => {
  const root = await navigator.storage.getDirectory();
  const handle = await root.getFileHandle(n).catch(() => null);
  if (!handle) return null;
  const digest = await crypto.subtle.digest('SHA-256', await (await handle.getFile()).arrayBuffer());
  return [...new Uint8Array(digest)].map((x) => x.toString(16).padStart(2, '0')).join('');
}, name);

/** SHA-256 of each SLICE bytes of a file in OPFS, hashed in the page one slice at a time (WebCrypto has no incremental digest). */
export const SLICE = 32 * MiB;
export const opfsSliceShas = (page: Page, name: string) => page.evaluate(async ([n, slice]) => {
  const file = await (await (await navigator.storage.getDirectory()).getFileHandle(n)).getFile();
  const out: string[] = [];
  for (let off = 0; off < file.size; off += slice) {
    const digest = await crypto.subtle.digest('SHA-256', await file.slice(off, off + slice).arrayBuffer());
    out.push([...new Uint8Array(digest)].map((x) => x.toString(16).padStart(2, '0')).join(''));
  }
  return out;
}, [name, SLICE] as const);

/** The same of a file on disk. */
export async function sliceShas(file: string): Promise<string[]> {
  const out: string[] = [];
  const fd = await fs.open(file);
  try {
    const buf = Buffer.alloc(SLICE);
    for (;;) {
      const { bytesRead } = await fd.read(buf, 0, SLICE, null);
      if (bytesRead === 0) return out;
      out.push(createHash('sha256').update(buf.subarray(0, bytesRead)).digest('hex'));
    }
  } finally {
    await fd.close();
  }
}

export const opfsSize = (page: Page, name: string) => page.evaluate(async (n) => {
  const handle = await (await navigator.storage.getDirectory()).getFileHandle(n).catch(() => null);
  return handle ? (await handle.getFile()).size : null;
}, name);

/** What the "person" does at the next picker (and the page's error line cleared). */
export const picker = (page: Page, mode: 'save' | 'cancel' | 'none', saveAs = '') =>
  page.evaluate(([m, s]) => { Object.assign(window, { sealdropPicker: m, sealdropSaveAs: s }); document.getElementById('error')!.textContent = ''; }, [mode, saveAs] as const);


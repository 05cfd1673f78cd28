/**
 * "Save to…": one loose file received straight into a file the person picks (File System
 * Access, `showSaveFilePicker`, where the browser has it), streamed through createWritable()
 * in 1 MiB batches, so it is never whole in memory nor stored twice. The writable is closed
 * (which is when the browser puts the bytes under the picked name) only after the file's
 * SHA-256 matched the sender's; on any failure it is aborted and the picked file removed
 * (`FileSystemHandle.remove()`, where the browser has it), and the words say which happened.
 */
import { SealdropError, toSealdropError } from '../shared/errors.js';
import { printable } from '../shared/printable.js';
import { batchedWrites, type FileSink } from './received-files.js';

interface Removable { remove?: () => Promise<void> }
type SaveFilePicker = (o: { suggestedName?: string; id?: string }) => Promise<FileSystemFileHandle>;

const picker = () => (window as unknown as { showSaveFilePicker?: SaveFilePicker }).showSaveFilePicker;

/** Whether this browser can save a received file where the person chooses. */
export function canSaveTo(): boolean {
  return typeof picker() === 'function';
}

/** Whether an offer can go to Save to…: one file, not a message, not a tree. */
export function savable(m: { files: ReadonlyArray<{ name: string; text?: boolean }>; dirs: readonly string[] }): boolean {
  return canSaveTo() && m.files.length === 1 && m.dirs.length === 0 && !m.files[0]!.text && !m.files[0]!.name.includes('/');
}

/**
 * Asks the browser for a file to save `name` into; undefined when the person cancels the
 * picker (they can still accept or decline). Chromium makes the picked file at once (empty,
 * or an existing one emptied), so from here on a failure must remove it.
 */
export async function pickSaveTarget(name: string): Promise<SaveTarget | undefined> {
  try {
    return new SaveTarget(await picker()!.call(window, { suggestedName: name, id: 'sealdrop-save' }));
  } catch (err) {
    if ((err as DOMException)?.name === 'AbortError') return undefined;
    throw new SealdropError('ERR_BAD_INPUT', `the browser did not let the page save there: ${(err as Error)?.message ?? String(err)}`);
  }
}

export class SaveTarget {
  private out?: FileSystemWritableFileStream;
  private discarded?: Promise<boolean>;
  /** Closed after the check: the file is the person's now, and nothing later removes it. */
  private kept = false;

  constructor(readonly handle: FileSystemFileHandle) {}

  /** The picked file's name (the browser's, printable). */
  get name(): string {
    return printable(this.handle.name);
  }

  /** The one sink of this target: nothing reaches the picked name before keep(). */
  async sink(): Promise<FileSink> {
    if (this.out) throw new SealdropError('ERR_INTERNAL', 'a save target takes one file');
    const out = this.out = await this.handle.createWritable();
    const batch = batchedWrites(out);
    return {
      write: batch.write,
      finish: () => batch.flush(),
      keep: async () => { await out.close(); this.kept = true; return this.handle.getFile(); },
      discard: async () => { await this.discard(); },
    };
  }

  /** Aborts the writable and removes the picked file; whether it is gone (once, however often called). */
  discard(): Promise<boolean> {
    if (this.kept) return Promise.resolve(false);
    return this.discarded ??= (async () => {
      await this.out?.abort().catch(() => {});
      const remove = (this.handle as unknown as Removable).remove;
      if (typeof remove !== 'function') return false;
      return remove.call(this.handle).then(() => true, (err: DOMException) => err?.name === 'NotFoundError');
    })();
  }

  /** `err` with words on what became of the picked file (discarded first). */
  async failure(err: unknown): Promise<SealdropError> {
    const e = toSealdropError(err);
    if (this.kept) return e; // verified and saved; what failed after (the goodbye) takes nothing away
    const gone = await this.discard();
    const words = gone
      ? `nothing was saved: ${this.name} was removed from where you chose to save it`
      : `nothing was saved: ${this.name} is left empty where you chose to save it (this browser cannot remove it: delete it)`;
    return new SealdropError(e.code, `${e.message}; ${words}`, { cause: err, ...(e.peerMessage !== undefined ? { peerMessage: e.peerMessage } : {}) });
  }
}

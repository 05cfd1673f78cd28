/**
 * How a transfer is told, the same in commands and menu: what is offered, what
 * was sent, and what was saved under which name (a file that existed already
 * makes the new one `name (1).ext`, and the person is told).
 */
import path from 'node:path';
import type { OfferSummary } from '../transfer/receive-engine.js';
import { bytes } from './progress-line.js';

const NAMES_SHOWN = 5;
/** Saved files listed one per line after the finish line; more are summed up. */
const SAVED_LISTED = 10;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function names(list: string[]): string {
  return `${list.slice(0, NAMES_SHOWN).join(', ')}${list.length > NAMES_SHOWN ? `, … (${list.length - NAMES_SHOWN} more)` : ''}`;
}

/** "report.pdf (3.0 MiB)", "3 files (12.0 MiB): a, b, c", "a message (14 B)". */
export function offerWords(offer: OfferSummary): string {
  if (offer.message) return `a message (${bytes(offer.bytes)})`;
  if (offer.files === 1 && offer.topLevel.length === 1 && !offer.topLevel[0]!.includes('/') && offer.dirs === 0) return `${offer.topLevel[0]} (${bytes(offer.bytes)})`;
  return `${plural(offer.files, 'file')} (${bytes(offer.bytes)}): ${names(offer.topLevel)}`;
}

/** What a sender offers, before the answer: "report.pdf (3.0 MiB)" or "3 files (12.0 MiB)". */
export function sendingWords(files: Array<{ name: string; size: number }>): string {
  const total = files.reduce((n, f) => n + f.size, 0);
  return files.length === 1 ? `${files[0]!.name} (${bytes(total)})` : `${plural(files.length, 'file')} (${bytes(total)})`;
}

/**
 * The path(s) that carried the bytes: "over the direct path", or for a transfer that moved,
 * "over the direct path (40.0 MiB) and the relay path (8.0 MiB)". A transfer that moved after its
 * last byte (relay start, then the direct path opened) finished on one path and was carried by the
 * other: the words name the carrier. `transport` only when no path carried a byte (an empty file).
 */
export function pathWords(transport: string, paths?: Record<string, number>): string {
  const used = Object.entries(paths ?? {}).filter(([, n]) => n > 0);
  if (used.length === 0) return `over the ${transport} path`;
  if (used.length === 1) return `over the ${used[0]![0]} path`;
  return `over ${used.map(([kind, n]) => `the ${kind} path (${bytes(n)})`).join(' and ')}`;
}

export function sentLine(to: string, files: Array<{ name: string; bytes: number }>, transport: string, resumed: number, paths?: Record<string, number>): string {
  const total = files.reduce((n, f) => n + f.bytes, 0);
  const what = files.length === 1 ? `${files[0]!.name} (${bytes(total)})` : `${plural(files.length, 'file')} (${bytes(total)}): ${names(files.map((f) => f.name))}`;
  const again = resumed > 0 ? `; ${bytes(resumed)} of it was there from an earlier attempt` : '';
  return `sent ${what} to ${to} ${pathWords(transport, paths)}; ${to} verified ${files.length === 1 ? 'it' : 'every file'}${again}`;
}

export interface SavedFile { name: string; path?: string; bytes: number }

/**
 * The finish line and, for several files or a renamed one, a line per file:
 * "received report.pdf (3.0 MiB) from alice over the direct path, verified; saved as report (1).pdf (report.pdf exists)".
 */
export function receivedLines(from: string, dir: string, files: SavedFile[], transport: string, resumed: number, paths?: Record<string, number>): string[] {
  const savedAs = (f: SavedFile) => (f.path ? path.relative(dir, f.path) : f.name);
  const renamed = (f: SavedFile) => savedAs(f) !== f.name;
  const total = files.reduce((n, f) => n + f.bytes, 0);
  const again = resumed > 0 ? ` (${bytes(resumed)} of it from an earlier attempt)` : '';
  const where = path.relative(process.cwd(), dir) || '.';
  if (files.length === 1) {
    const f = files[0]!;
    const saved = renamed(f) ? `saved as ${savedAs(f)} in ${where} (${f.name} exists there)` : `saved as ${savedAs(f)} in ${where}`;
    return [`received ${f.name} (${bytes(total)})${again} from ${from} ${pathWords(transport, paths)}, verified; ${saved}`];
  }
  const lines = [`received ${plural(files.length, 'file')} (${bytes(total)})${again} from ${from} ${pathWords(transport, paths)}, all verified, in ${where}:`];
  for (const f of files.slice(0, SAVED_LISTED)) lines.push(renamed(f) ? `  ${f.name}  → saved as ${savedAs(f)} (${f.name} exists)` : `  ${savedAs(f)}`);
  const more = files.slice(SAVED_LISTED);
  if (more.length > 0) lines.push(`  … and ${plural(more.length, 'more file')}${more.some(renamed) ? `, ${more.filter(renamed).length} of them renamed as the name existed` : ''}`);
  return lines;
}

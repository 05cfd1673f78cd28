/**
 * The interactive menu's own prompts: a path picker that completes as you type
 * (Tab takes the highlighted entry, a folder then lists its contents) and a
 * pick-list of online peers. Built on @inquirer/prompts; nothing here exits.
 */
import { input, search, select, Separator } from '@inquirer/prompts';
import chalk from 'chalk';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccountId, type PeerInfo } from '../../shared/schemas.js';
import { bytes, printable } from './cli-output.js';

/** Entries listed per folder; more than this is noise in a terminal list. */
const MAX_ENTRIES = 200;
const PAGE_SIZE = 10;

/** Inquirer rejects with ExitPromptError on Ctrl-C (matched by name: the class lives in @inquirer/core). */
export function isPromptExit(err: unknown): boolean {
  return err instanceof Error && err.name === 'ExitPromptError';
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

interface Entry { shown: string; dir: boolean; size: number }

/** What `typed` completes to: entries of its folder whose names start with its last part. */
async function completions(typed: string, dirsOnly: boolean): Promise<Entry[]> {
  const t = typed === '~' ? '~/' : typed;
  const folderPart = t.endsWith('/') ? t : t.slice(0, t.length - path.basename(t).length);
  const prefix = t.slice(folderPart.length);
  const folder = path.resolve(expandHome(folderPart || '.'));
  const dirents = await fs.readdir(folder, { withFileTypes: true }).catch(() => []);
  const out: Entry[] = [];
  for (const d of dirents.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!d.name.startsWith(prefix) || (d.name.startsWith('.') && !prefix.startsWith('.'))) continue;
    const st = await fs.stat(path.join(folder, d.name)).catch(() => undefined);
    if (!st || (dirsOnly && !st.isDirectory())) continue;
    out.push({ shown: folderPart + d.name + (st.isDirectory() ? '/' : ''), dir: st.isDirectory(), size: st.size });
    if (out.length >= MAX_ENTRIES) break;
  }
  return out;
}

async function isDir(p: string): Promise<boolean> {
  return (await fs.stat(expandHome(p)).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * Asks for a path with completion. Resolves to an absolute path. With
 * `dirsOnly`, only folders are offered, the current one first, and a typed
 * name that does not exist yet can be created.
 */
export async function pickPath(message: string, opts: { dirsOnly?: boolean } = {}): Promise<string> {
  const dirsOnly = !!opts.dirsOnly;
  const chosen = await search<{ path: string; create: boolean }>({
    message,
    pageSize: PAGE_SIZE,
    source: async (term) => {
      const typed = term ?? '';
      const choices = [];
      if (dirsOnly && (typed === '' || (typed.endsWith('/') && (await isDir(typed))))) {
        const here = typed || './';
        choices.push({ name: printable(here), value: { path: here, create: false }, description: 'this folder' });
      }
      for (const e of await completions(typed, dirsOnly)) {
        choices.push({
          // A name on disk may hold control characters too (a download, an archive): shown escaped, chosen as it is.
          name: printable(e.shown), value: { path: e.shown, create: false },
          description: e.dir ? (dirsOnly ? 'folder — Tab opens it' : 'folder (sent with everything in it) — Tab opens it') : bytes(e.size),
        });
      }
      if (dirsOnly && typed !== '' && choices.length === 0 && !(await fs.stat(expandHome(typed)).catch(() => undefined))) {
        choices.push({ name: printable(typed), value: { path: typed, create: true }, description: 'new folder, created when chosen' });
      }
      return choices;
    },
    // Tab writes a choice's name into the line, so names stay plain where they could be typed.
    theme: { style: { keysHelpTip: () => chalk.dim('type to filter • Tab completes • ↑↓ move • ⏎ choose • Ctrl-C quits') } },
  });
  const abs = path.resolve(expandHome(chosen.path));
  if (chosen.create) await fs.mkdir(abs, { recursive: true });
  return abs;
}

const OTHER = Symbol('other');
const BACK = Symbol('back');

/**
 * A pick-list of online peers, receiving ones first. Peers that are online
 * but not receiving cannot take a transfer (nor serve a share), so they are
 * shown but disabled. Resolves to an ID, or undefined to go back.
 */
export async function pickPeer(message: string, peers: PeerInfo[]): Promise<string | undefined> {
  const sorted = [...peers].sort((a, b) => Number(b.receiving) - Number(a.receiving) || a.id.localeCompare(b.id));
  const choices: Array<{ name: string; value: string | symbol; short?: string; disabled?: string | boolean } | Separator> = sorted.map((p) => ({
    name: p.receiving ? `${chalk.bold(p.id)}  ${chalk.green('● receiving')}` : `${p.id}  ${chalk.dim('○ online')}`,
    value: p.id,
    short: p.id,
    disabled: p.receiving ? false : '(online, not receiving)',
  }));
  if (sorted.length === 0) choices.push(new Separator(chalk.dim('nobody else is online')));
  choices.push(new Separator(), { name: 'Someone else (type an ID)', value: OTHER }, { name: 'Back', value: BACK });
  const picked = await select<string | symbol>({ message, choices, pageSize: PAGE_SIZE });
  if (picked === BACK) return undefined;
  if (picked === OTHER) return askId('Peer ID:');
  return picked as string;
}

export async function askId(message: string, initial?: string): Promise<string> {
  const id = await input({
    message, default: initial,
    validate: (v) => AccountId.safeParse(v.trim()).success || 'not a valid account ID',
  });
  return id.trim();
}

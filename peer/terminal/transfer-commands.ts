/** The CLI's transfer commands (send, receive, ls, get): flags in, one library call, outcome out. */
import { createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MAX_CONSENT_TIMEOUT_MS, MAX_DIRECT_TIMEOUT_MS } from '../../shared/constants.js';
import { SealdropError } from '../../shared/errors.js';
import { bytes, printable, printMessage, type Reporter } from './cli-output.js';
import { accountOf, homeOf, type GlobalFlags } from './commands.js';
import type { SecuredInfo } from '../link/peer-link.js';
import { getShared, listShare } from '../transfer/pull.js';
import { refusal } from '../files/safe-names.js';
import { receiveLoop, type IncomingInfo } from '../transfer/receive.js';
import type { Account } from '../session/login.js';
import { sendFiles } from '../transfer/send.js';
import type { ConfirmCode } from '../link/verification.js';
import { confirmCodeFor } from './verify-prompt.js';
import { parseAllowList, SharedFolder } from '../transfer/shared-folder.js';
import { collectSources, type SourceSet } from '../transfer/source-files.js';

const TEXT_SHOWN_MAX = 64 * 1024;

function secured(r: Reporter, peer: string) {
  return (s: SecuredInfo | IncomingInfo) => {
    if (s.pinnedNow) r.warn(`first transfer with ${peer}: pinned key ${s.peerFingerprint}`);
    r.info(`secured (${s.transport}); verification code ${s.sas}`);
    r.event('secured', { peer, transport: s.transport, sas: s.sas, peerFingerprint: s.peerFingerprint });
  };
}

/** `--verify` (or `"verify": true` in config.json): nothing moves until the person confirms the code. */
function verifying(r: Reporter, g: GlobalFlags, account: Account): { verify?: boolean; confirmCode?: ConfirmCode } {
  return g.verify || account.verify ? { verify: true, confirmCode: confirmCodeFor(r, !!g.json) } : {};
}

function timeoutMs(text: string, flag = '--timeout', maxMs = MAX_DIRECT_TIMEOUT_MS): number {
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds * 1000 > maxMs) {
    throw new SealdropError('ERR_BAD_INPUT', `${flag} takes a number of seconds, at most ${maxMs / 1000}`);
  }
  return seconds * 1000;
}

/** `--text "…"` and `-` (stdin) become files in a private temporary folder. */
async function inlineSources(paths: string[], text: string | undefined, tmp: string): Promise<SourceSet | undefined> {
  if (text === undefined && !paths.includes('-')) return undefined;
  if (text !== undefined && paths.length > 0) throw new SealdropError('ERR_BAD_INPUT', 'give either --text or paths, not both');
  if (paths.length > 1) throw new SealdropError('ERR_BAD_INPUT', '"-" (standard input) is sent on its own');
  const file = path.join(tmp, text !== undefined ? 'message.txt' : 'stdin');
  if (text !== undefined) await fs.writeFile(file, text, { mode: 0o600 });
  else await pipeline(process.stdin, createWriteStream(file, { mode: 0o600 }));
  const { size } = await fs.stat(file);
  return { files: [{ path: file, name: path.basename(file), size, text: text !== undefined }], dirs: [], skipped: [] };
}

export async function sendCommand(r: Reporter, g: GlobalFlags, paths: string[], o: { to: string; relay?: boolean; directOnly?: boolean; timeout: string; text?: string }): Promise<void> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sealdrop-send-'));
  try {
    if (o.text === undefined && paths.length === 0) throw new SealdropError('ERR_BAD_INPUT', 'name files or folders to send, or use --text');
    const sources = (await inlineSources(paths, o.text, tmp)) ?? (await collectSources(paths));
    for (const name of sources.skipped) {
      r.warn(`skipped ${name}: symbolic links and special files are not sent`);
      r.event('skipped', { name });
    }
    const account = await accountOf(g);
    const outcome = await sendFiles({
      home: homeOf(g), account, to: o.to, sources, ...verifying(r, g, account),
      mode: o.relay ? 'relay' : o.directOnly ? 'direct-only' : 'auto',
      directTimeoutMs: timeoutMs(o.timeout), strict: g.strict,
      onStatus: (t) => r.info(t), onSecured: secured(r, o.to), onProgress: (p) => r.progress(p),
    });
    r.endProgress();
    const total = outcome.files.reduce((n, f) => n + f.bytes, 0);
    r.success(`sent ${outcome.files.length} file(s), ${bytes(total)}, to ${o.to} over the ${outcome.transport} path; verified by the receiver`);
    r.event('done', { transport: outcome.transport, files: outcome.files, resumed: outcome.resumed, to: o.to });
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

export async function receiveCommand(r: Reporter, g: GlobalFlags, o: { dir: string; yes?: boolean; once?: boolean; share?: string; shareAllow?: string; askTimeout: string }): Promise<void> {
  const consentTimeoutMs = timeoutMs(o.askTimeout, '--ask-timeout', MAX_CONSENT_TIMEOUT_MS);
  if (!o.yes && !process.stdin.isTTY) throw new SealdropError('ERR_BAD_INPUT', 'not on a terminal, so nobody can confirm transfers: pass --yes to accept them');
  await fs.mkdir(path.resolve(o.dir), { recursive: true });
  // Where the folder really is, fixed once: a link swapped in at its path later is refused, never followed.
  const dir = await fs.realpath(path.resolve(o.dir));
  const share = o.share ? await SharedFolder.open(o.share) : undefined;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { stop = resolve; });
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
  const account = await accountOf(g);
  await receiveLoop({
    home: homeOf(g), account, ...verifying(r, g, account), dir, once: o.once, consentTimeoutMs, strict: g.strict, stop: stopped, share, shareAllow: parseAllowList(o.shareAllow),
    onReady: (s) => {
      r.info(`online as ${s.id}; saving to ${dir}${share ? `; sharing ${share.root}` : ''}`);
      r.event('ready', { id: s.id, dir, share: share?.root });
    },
    onReconnecting: (why, retryMs) => {
      r.warn(`${why}; reconnecting in ${(retryMs / 1000).toFixed(1)} s… (a transfer on the direct path goes on)`);
      r.event('reconnecting', { reason: why, retryMs });
    },
    onOnline: (s) => {
      r.success(`back online as ${s.id}`);
      r.event('online', { id: s.id });
    },
    onSecured: (i) => secured(r, i.from)(i),
    consent: async (offer, info, signal) => {
      const what = `${offer.files} file(s), ${bytes(offer.bytes)}: ${offer.topLevel.slice(0, 5).join(', ')}${offer.topLevel.length > 5 ? ', …' : ''}`;
      r.event('offer', { from: info.from, files: offer.files, bytes: offer.bytes, names: offer.topLevel });
      if (o.yes) { r.info(`accepting ${what}`); return true; }
      const { confirm } = await import('@inquirer/prompts'); // loaded only to ask: it is a tenth of a second of start-up
      return confirm({ message: printable(`${info.from} wants to send ${what}. Accept?`), default: false }, { signal });
    },
    onProgress: (p) => r.progress(p),
    onDone: async (d) => {
      r.endProgress();
      const files = d.files.map((f) => ({ name: f.path ? path.relative(dir, f.path) : f.name, bytes: f.bytes, sha256: f.sha256 }));
      if (d.kind === 'received') r.success(`received ${d.files.length} file(s) from ${d.from} over the ${d.transport} path, all verified`);
      else r.success(d.kind === 'listed' ? `${d.from} listed the shared folder` : `${d.from} fetched ${d.files.length} shared file(s), verified`);
      for (const f of d.files) {
        if (f.text && f.path && f.bytes <= TEXT_SHOWN_MAX) printMessage(r, d.from, await fs.readFile(f.path, 'utf8'));
      }
      r.event('done', { kind: d.kind, transport: d.transport, from: d.from, files, resumed: d.resumed });
    },
    onFailed: (e, from) => { r.endProgress(); if (!o.once) r.error(new SealdropError(e.code, `session with ${from} failed: ${e.message}`)); },
  });
}

export async function lsCommand(r: Reporter, g: GlobalFlags, peer: string): Promise<void> {
  const account = await accountOf(g);
  const entries = await listShare({ home: homeOf(g), account, ...verifying(r, g, account), peer, strict: g.strict, onStatus: (t) => r.info(t), onSecured: secured(r, peer) });
  r.event('listing', { peer, entries });
  if (entries.length === 0) r.print(`${peer} shares an empty folder`);
  // Names are the peer's: the Reporter escapes them; one that cannot be fetched here is marked with why.
  for (const e of entries) r.print(`${bytes(e.size).padStart(10)}  ${e.name}${e.type === 'dir' ? '/' : ''}${e.refused ? `  [cannot be fetched: ${e.refused}]` : ''}`);
}

export async function getCommand(r: Reporter, g: GlobalFlags, peer: string, name: string, o: { dir: string; relay?: boolean; timeout: string }): Promise<void> {
  const why = refusal(name);
  if (why) throw new SealdropError('ERR_BAD_INPUT', `cannot get "${printable(name)}" from ${peer}: ${why}`);
  await fs.mkdir(path.resolve(o.dir), { recursive: true });
  const dir = await fs.realpath(path.resolve(o.dir)); // a link the person named is followed here, once
  const account = await accountOf(g);
  const outcome = await getShared({
    home: homeOf(g), account, ...verifying(r, g, account), peer, name, dir, strict: g.strict,
    mode: o.relay ? 'relay' : 'auto', directTimeoutMs: timeoutMs(o.timeout),
    onStatus: (t) => r.info(t), onSecured: secured(r, peer), onProgress: (p) => r.progress(p),
  });
  r.endProgress();
  r.success(`got ${outcome.files.length} file(s) from ${peer} into ${dir}, all verified`);
  r.event('done', { transport: outcome.transport, from: peer, files: outcome.files.map((f) => ({ name: path.relative(dir, f.path), bytes: f.bytes, sha256: f.sha256 })), resumed: outcome.resumed });
}

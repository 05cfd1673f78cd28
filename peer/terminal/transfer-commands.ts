/** The CLI's transfer commands (send, receive, ls, get): flags in, one library call, outcome out. */
import { createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MAX_CONSENT_TIMEOUT_MS, MAX_DIRECT_TIMEOUT_MS } from '../../shared/constants.js';
import { SealdropError } from '../../shared/errors.js';
import { bytes, Cancelled, flushOutput, printable, printMessage, type Reporter } from './cli-output.js';
import { offerWords, pathWords, receivedLines, sendingWords, sentLine } from './transfer-words.js';
import { MESSAGE_MAX_BYTES } from '../transfer/receive-engine.js';
import { accountOf, homeOf, peerIdOf, type GlobalFlags } from './commands.js';
import { checkPushTarget } from '../files/push-target.js';
import type { SecuredInfo } from '../link/peer-link.js';
import type { PathMove } from '../link/path-mover.js';
import { getShared, listShare } from '../transfer/pull.js';
import { refusal } from '../files/safe-names.js';
import { receiveLoop, type IncomingInfo } from '../transfer/receive.js';
import type { Account } from '../session/login.js';
import { sendFiles } from '../transfer/send.js';
import type { ConfirmCode } from '../link/verification.js';
import { confirmCodeFor } from './verify-prompt.js';
import { parseAllowList, SharedFolder } from '../transfer/shared-folder.js';
import { collectSources, type SourceSet } from '../transfer/source-files.js';
import { DEFAULT_CONTINUE_WITHIN_MS } from '../transfer/continuation.js';

/** A transfer moved to another path in the middle: a status line and a `path` event. */
function moved(r: Reporter, peer: string) {
  return (m: PathMove) => {
    r.info(`now on the ${m.transport} path with ${peer} (${m.why}); the transfer goes on where it was`);
    r.event('path', { peer, transport: m.transport, reason: m.why });
  };
}

function secured(r: Reporter, peer: string) {
  return (s: SecuredInfo | IncomingInfo) => {
    if (s.pinnedNow) r.warn(`first transfer with ${peer}: pinned key ${s.peerFingerprint}`);
    r.info(`secured (${s.transport}); verification code ${s.sas} — ${peer} should see the same code: if not, someone is in the middle`);
    r.event('secured', { peer, transport: s.transport, sas: s.sas, peerFingerprint: s.peerFingerprint });
  };
}

/** `--verify` (or `"verify": true` in config.json): nothing moves until the person confirms the code. */
function verifying(r: Reporter, g: GlobalFlags, account: Account): { verify?: boolean; confirmCode?: ConfirmCode } {
  return g.verify || account.verify ? { verify: true, confirmCode: confirmCodeFor(r, !!g.json) } : {};
}

/**
 * How long a transfer cut by a lost rendezvous waits for it (and the peer) to come back:
 * SEALDROP_CONTINUE_WITHIN seconds, 60 by default.
 */
function continueWithinMs(): number {
  const text = process.env.SEALDROP_CONTINUE_WITHIN;
  if (text === undefined || text === '') return DEFAULT_CONTINUE_WITHIN_MS;
  return timeoutMs(text, 'SEALDROP_CONTINUE_WITHIN', MAX_CONTINUE_WITHIN_MS);
}
const MAX_CONTINUE_WITHIN_MS = 600_000;

/** A transfer cut by a lost rendezvous, coming back: "reconnecting…" / "back online", and the same as events. */
function continuation(r: Reporter, peer: string) {
  return {
    withinMs: continueWithinMs(),
    onReconnecting: (why: string, retryMs: number) => {
      r.endProgress();
      r.warn(`${why}; reconnecting in ${(retryMs / 1000).toFixed(1)} s… (the transfer with ${peer} continues from where it was cut)`);
      r.event('reconnecting', { reason: why, retryMs });
    },
    onOnline: () => {
      r.info(`back online; asking ${peer} to continue the transfer`);
      r.event('online', { peer });
    },
  };
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
  if (text !== undefined && text.trim() === '') throw new SealdropError('ERR_BAD_INPUT', 'the message is empty: put the text after --text, e.g. --text "see you at 6"');
  if (text !== undefined && Buffer.byteLength(text) > MESSAGE_MAX_BYTES) {
    throw new SealdropError('ERR_BAD_INPUT', `the message is longer than ${bytes(MESSAGE_MAX_BYTES)}: save it in a file and send the file`);
  }
  const file = path.join(tmp, text !== undefined ? 'message.txt' : 'stdin');
  if (text !== undefined) await fs.writeFile(file, text, { mode: 0o600 });
  else await pipeline(process.stdin, createWriteStream(file, { mode: 0o600 }));
  const { size } = await fs.stat(file);
  return { files: [{ path: file, name: path.basename(file), size, text: text !== undefined }], dirs: [], skipped: [] };
}

export async function sendCommand(r: Reporter, g: GlobalFlags, paths: string[], o: { to: string; relay?: boolean; directOnly?: boolean; timeout: string; text?: string }): Promise<void> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sealdrop-send-'));
  try {
    peerIdOf(o.to);
    if (o.text === undefined && paths.length === 0) throw new SealdropError('ERR_BAD_INPUT', 'name files or folders to send, or use --text');
    const sources = (await inlineSources(paths, o.text, tmp)) ?? (await collectSources(paths));
    for (const name of sources.skipped) {
      r.warn(`skipped ${name}: symbolic links and special files are not sent`);
      r.event('skipped', { name });
    }
    const account = await accountOf(g);
    const message = o.text !== undefined;
    // Ctrl-C: before the offer there is nothing to undo; after it, the receiver is told and keeps what arrived.
    const cancel = new AbortController();
    let stage = 'connecting' as 'connecting' | 'offered' | 'sending';
    const onSigint = () => {
      if (stage !== 'connecting' && !cancel.signal.aborted) return cancel.abort();
      r.endProgress();
      r.warn('cancelled; nothing was sent');
      r.event('cancelled', { message: 'cancelled; nothing was sent' });
      void flushOutput().then(() => process.exit(130));
    };
    process.on('SIGINT', onSigint);
    try {
      const outcome = await sendFiles({
        home: homeOf(g), account, to: o.to, sources, ...verifying(r, g, account),
        mode: o.relay ? 'relay' : o.directOnly ? 'direct-only' : 'auto',
        directTimeoutMs: timeoutMs(o.timeout), strict: g.strict, signal: cancel.signal, continuation: continuation(r, o.to),
        onStatus: (t) => r.info(t), onSecured: secured(r, o.to), onMove: moved(r, o.to),
        onProgress: (p) => { if (!message) r.progress(p); },
        onOffered: () => {
          stage = 'offered';
          r.info(`waiting for ${o.to} to accept ${message ? 'the message' : sendingWords(sources.files)}…`);
          r.event('offered', { to: o.to });
        },
        onAccepted: (resumed) => {
          stage = 'sending';
          const total = sources.files.reduce((n, f) => n + f.size, 0);
          r.info(resumed > 0 ? `${o.to} accepted; resuming from ${bytes(resumed)} of ${bytes(total)} (that much arrived in an earlier attempt)` : `${o.to} accepted`);
          r.event('accepted', { to: o.to, resumed });
        },
      });
      r.endProgress();
      if (message) r.success(`delivered the message to ${o.to} ${pathWords(outcome.transport, outcome.paths)}`);
      else r.success(sentLine(o.to, outcome.files, outcome.transport, outcome.resumed, outcome.paths));
      r.event('done', { transport: outcome.transport, paths: outcome.paths, files: outcome.files, resumed: outcome.resumed, to: o.to });
    } catch (err) {
      if (!cancel.signal.aborted) throw err;
      r.endProgress();
      throw new Cancelled((stage as string) === 'sending' && !message ? 'cancelled; the partial file is kept, send again to resume' : `cancelled; the offer to ${o.to} was withdrawn`);
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** The folder --dir names, made if missing, as its real path; a file in its place is told in words. */
async function targetFolder(dir: string): Promise<string> {
  const wanted = path.resolve(dir);
  try {
    await fs.mkdir(wanted, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
    throw new SealdropError('ERR_IO', `cannot receive into ${dir}: it (or a folder above it) is a file, not a folder`,
      { cause: err, hint: '--dir names the folder to save into: choose a folder, or a path where one can be made' });
  }
  return fs.realpath(wanted);
}

export async function receiveCommand(r: Reporter, g: GlobalFlags, o: { dir: string; yes?: boolean; once?: boolean; replace?: boolean; share?: string; shareAllow?: string; askTimeout: string }): Promise<void> {
  const consentTimeoutMs = timeoutMs(o.askTimeout, '--ask-timeout', MAX_CONSENT_TIMEOUT_MS);
  if (!o.yes && !process.stdin.isTTY) throw new SealdropError('ERR_BAD_INPUT', 'not on a terminal, so nobody can confirm transfers: pass --yes to accept them');
  checkPushTarget(path.resolve(o.dir)); // before anything is made there
  // Where the folder really is, fixed once: a link swapped in at its path later is refused, never followed.
  const dir = await targetFolder(o.dir);
  checkPushTarget(dir);
  const share = o.share ? await SharedFolder.open(o.share) : undefined;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { stop = resolve; });
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
  const account = await accountOf(g);
  let messageNow = false;
  await receiveLoop({
    home: homeOf(g), account, ...verifying(r, g, account), dir, once: o.once, replace: o.replace, consentTimeoutMs, strict: g.strict, stop: stopped, share, shareAllow: parseAllowList(o.shareAllow),
    continueWithinMs: continueWithinMs(),
    onInterrupted: (e, from, waitMs) => {
      r.endProgress();
      r.warn(`the transfer from ${from} was cut (${e.message}); what arrived is kept, and it continues when ${from} is back (waiting up to ${Math.round(waitMs / 1000)} s)`);
      r.event('interrupted', { from, code: e.code, message: e.message, waitMs });
    },
    onContinuing: (offer, from) => {
      messageNow = false;
      r.info(`${from} is back: continuing the transfer of ${offerWords(offer)} you accepted (same files, same verified key), without asking again`);
      r.event('continuing', { from, files: offer.files, bytes: offer.bytes });
    },
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
    onMove: (m, from) => moved(r, from)(m),
    consent: async (offer, info, signal) => {
      messageNow = !!offer.message; // a message shows no progress bar
      const what = offerWords(offer);
      r.event('offer', { from: info.from, files: offer.files, bytes: offer.bytes, names: offer.topLevel, message: !!offer.message });
      if (o.yes) { r.info(`accepting ${what} from ${info.from}`); return true; }
      const { confirm } = await import('@inquirer/prompts'); // loaded only to ask: it is a tenth of a second of start-up
      const question = offer.message ? `${info.from} wants to send you ${what}. Show it?` : `${info.from} wants to send ${what}. Accept?`;
      return confirm({ message: printable(question), default: false }, { signal });
    },
    onAccepted: (resumed, from) => {
      if (resumed > 0) r.info(`resuming ${from}'s transfer from ${bytes(resumed)} (that much arrived in an earlier attempt)`);
      else if (!o.yes && !messageNow) r.info(`accepted; receiving from ${from}…`);
    },
    onProgress: (p) => { if (!messageNow) r.progress(p); },
    onDone: async (d) => {
      r.endProgress();
      const files = d.files.map((f) => ({ name: f.path ? path.relative(dir, f.path) : f.name, bytes: f.bytes, sha256: f.sha256 }));
      const text = d.files.length === 1 ? d.files[0]!.message : undefined;
      if (text !== undefined) {
        printMessage(r, d.from, text);
        r.event('message', { from: d.from, text });
      } else if (d.kind === 'received') {
        const [first, ...more] = receivedLines(d.from, dir, d.files, d.transport, d.resumed, d.paths);
        r.success(first!);
        for (const l of more) r.info(l);
      } else r.success(d.kind === 'listed' ? `${d.from} listed the shared folder` : `${d.from} fetched ${d.files.length} shared file(s), verified`);
      r.event('done', { kind: d.kind, transport: d.transport, paths: d.paths, from: d.from, files, resumed: d.resumed });
    },
    onFailed: (e, from) => {
      r.endProgress();
      if (o.once) return;
      // The other side's doing (it left, cancelled, withdrew): what arrived is kept for its next attempt.
      const theirs = e.code === 'ERR_PEER_GONE' || e.code === 'ERR_CONNECT';
      const words = e.message.startsWith(from) ? e.message : `session with ${from} failed: ${e.message}`;
      const hint = e.hint ?? (theirs ? `what arrived is kept: when ${from} sends the same files again, it resumes` : undefined);
      r.error(new SealdropError(e.code, words, hint ? { hint } : {}));
    },
  });
}

export async function lsCommand(r: Reporter, g: GlobalFlags, peer: string): Promise<void> {
  peerIdOf(peer);
  const account = await accountOf(g);
  const entries = await listShare({ home: homeOf(g), account, ...verifying(r, g, account), peer, strict: g.strict, onStatus: (t) => r.info(t), onSecured: secured(r, peer) });
  r.event('listing', { peer, entries });
  if (entries.length === 0) r.print(`${peer} shares an empty folder`);
  // Names are the peer's: the Reporter escapes them; one that cannot be fetched here is marked with why.
  for (const e of entries) r.print(`${bytes(e.size).padStart(10)}  ${e.name}${e.type === 'dir' ? '/' : ''}${e.refused ? `  [cannot be fetched: ${e.refused}]` : ''}`);
}

export async function getCommand(r: Reporter, g: GlobalFlags, peer: string, name: string, o: { dir: string; relay?: boolean; timeout: string }): Promise<void> {
  peerIdOf(peer);
  const why = refusal(name);
  if (why) throw new SealdropError('ERR_BAD_INPUT', `cannot get "${printable(name)}" from ${peer}: ${why}`);
  const dir = await targetFolder(o.dir); // a link the person named is followed here, once
  const account = await accountOf(g);
  const outcome = await getShared({
    home: homeOf(g), account, ...verifying(r, g, account), peer, name, dir, strict: g.strict,
    mode: o.relay ? 'relay' : 'auto', directTimeoutMs: timeoutMs(o.timeout), continuation: continuation(r, peer),
    onStatus: (t) => r.info(t), onSecured: secured(r, peer), onMove: moved(r, peer), onProgress: (p) => r.progress(p),
  });
  r.endProgress();
  r.success(`got ${outcome.files.length} file(s) from ${peer} into ${dir} ${pathWords(outcome.transport, outcome.paths)}, all verified`);
  r.event('done', { transport: outcome.transport, paths: outcome.paths, from: peer, files: outcome.files.map((f) => ({ name: path.relative(dir, f.path), bytes: f.bytes, sha256: f.sha256 })), resumed: outcome.resumed });
}

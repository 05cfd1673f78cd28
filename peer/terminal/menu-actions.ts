/**
 * What each menu entry does: gather answers with prompts, make the same
 * library call the commands make, and report with the CLI's Reporter.
 */
import { confirm, search } from '@inquirer/prompts';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SealdropError } from '../../shared/errors.js';
import type { PeerInfo } from '../../shared/schemas.js';
import { bold, bytes, dim, green, line, printable, printMessage, type Reporter } from './cli-output.js';
import type { Home } from '../session/home.js';
import { connect, type Account } from '../session/login.js';
import { isPromptExit, pickPath, pickPeer } from './menu-prompts.js';
import type { SecuredInfo } from '../link/peer-link.js';
import type { PathMove } from '../link/path-mover.js';
import { getShared, listShare } from '../transfer/pull.js';
import { checkPushTarget } from '../files/push-target.js';
import { receiveLoop, type IncomingInfo } from '../transfer/receive.js';
import { sendFiles } from '../transfer/send.js';
import { SharedFolder } from '../transfer/shared-folder.js';
import type { ConfirmCode } from '../link/verification.js';
import { confirmCodeFor } from './verify-prompt.js';
import { offerWords, pathWords, receivedLines, sentLine } from './transfer-words.js';

export interface MenuContext { r: Reporter; home: Home; account: Account; strict?: boolean }


async function onlinePeers(c: MenuContext): Promise<PeerInfo[]> {
  const session = await connect(c.home, c.account, { onWait: (s) => c.r.info(`waiting ${s} s for a fresh TOTP code`) });
  try { return await session.peers(); } finally { session.disconnect(); }
}

const shown = (p: string) => path.relative(process.cwd(), p) || '.';

function secured(c: MenuContext, peer: string) {
  return (s: SecuredInfo | IncomingInfo) => {
    if (s.pinnedNow) c.r.warn(`first transfer with ${peer}: pinned key ${s.peerFingerprint}`);
    c.r.info(line`${peer} connected (${s.transport}); verification code ${bold(s.sas)}`);
  };
}

/** A transfer moved to another path in the middle (PROTOCOL.md "Path moves"). */
function moved(c: MenuContext, peer: string) {
  return (m: PathMove) => c.r.info(`now on the ${m.transport} path with ${peer} (${m.why}); the transfer goes on where it was`);
}

/** The menu's verification step: compare the code with `peer` first? (default: the config's "verify"). */
async function verifyStep(c: MenuContext, peer: string): Promise<{ verify?: boolean; confirmCode?: ConfirmCode }> {
  const verify = await confirm({ message: `Compare a verification code with ${peer} before anything moves?`, default: c.account.verify });
  return verify ? { verify, confirmCode: confirmCodeFor(c.r, false) } : {};
}

export async function sendAction(c: MenuContext): Promise<void> {
  const paths = [await pickPath('File or folder to send:')];
  while (await confirm({ message: 'Add another file or folder?', default: false })) paths.push(await pickPath('Also send:'));
  const to = await pickPeer('Send to:', await onlinePeers(c));
  if (!to) return;
  const outcome = await sendFiles({
    home: c.home, account: c.account, to, paths, strict: c.strict, ...(await verifyStep(c, to)),
    onStatus: (t) => c.r.info(t), onSecured: secured(c, to), onMove: moved(c, to),
    onProgress: (p) => c.r.progress(p),
    onOffered: () => c.r.info(`waiting for ${to} to accept…`),
    onAccepted: (resumed) => c.r.info(resumed > 0 ? `${to} accepted; resuming from ${bytes(resumed)} (that much arrived in an earlier attempt)` : `${to} accepted`),
  });
  c.r.endProgress();
  c.r.success(sentLine(to, outcome.files, outcome.transport, outcome.resumed, outcome.paths));
}

/**
 * Stays online until Ctrl-C, which outside a prompt is a SIGINT: it stops
 * receiving and returns to the menu. Ctrl-C at the consent prompt refuses
 * that transfer and then leaves the program, like at any other prompt.
 */
export async function receiveAction(c: MenuContext): Promise<void> {
  const dir = await fs.realpath(await pickPath('Save received files in:', { dirsOnly: true })); // followed once, here
  checkPushTarget(dir);
  const ask = await confirm({ message: 'Ask before accepting each transfer?', default: true });
  const verify = await confirm({ message: 'Compare a verification code with each sender before anything is written?', default: c.account.verify });
  const share = await confirm({ message: 'Also share a folder that peers can get from?', default: false })
    ? await SharedFolder.open(await pickPath('Folder to share (read-only):', { dirsOnly: true }))
    : undefined;
  let quit: unknown;
  let messageNow = false;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { stop = resolve; });
  const onSigint = () => { process.stderr.write('\n'); stop(); };
  process.on('SIGINT', onSigint);
  try {
    await receiveLoop({
      home: c.home, account: c.account, dir, strict: c.strict, stop: stopped, share, ...(verify ? { verify, confirmCode: confirmCodeFor(c.r, false) } : {}),
      onReady: (s) => c.r.info(line`online as ${bold(s.id)}; saving to ${shown(dir)}${share ? `; sharing ${shown(share.root)}` : ''} — press Ctrl-C to stop`),
      onReconnecting: (why, retryMs) => c.r.warn(`${why}; reconnecting in ${(retryMs / 1000).toFixed(1)} s…`),
      onOnline: (s) => c.r.success(line`back online as ${bold(s.id)}`),
      onSecured: (i) => secured(c, i.from)(i),
      onMove: (m, from) => moved(c, from)(m),
      consent: async (offer, info, signal) => {
        messageNow = !!offer.message;
        const what = offerWords(offer);
        if (!ask) { c.r.info(`accepting ${what} from ${info.from}`); return true; }
        try {
          const question = offer.message ? `${info.from} wants to send you ${what}. Show it?` : `${info.from} wants to send ${what}. Accept?`;
          return await confirm({ message: printable(question), default: false }, { signal });
        } catch (err) {
          if (signal.aborted) return false; // the time to answer ran out: the offer is declined, the menu stays
          if (!isPromptExit(err)) throw err;
          quit = err; // refuse, let the refusal reach the sender (onFailed), then leave
          return false;
        }
      },
      onAccepted: (resumed, from) => { if (resumed > 0) c.r.info(`resuming ${from}'s transfer from ${bytes(resumed)} (that much arrived in an earlier attempt)`); },
      onProgress: (p) => { if (!messageNow) c.r.progress(p); },
      onDone: async (d) => {
        c.r.endProgress();
        if (d.kind === 'listed') return c.r.info(`${d.from} listed the shared folder`);
        if (d.kind === 'served') return c.r.success(`${d.from} fetched ${d.files.length} shared file(s), verified`);
        const text = d.files.length === 1 ? d.files[0]!.message : undefined;
        if (text !== undefined) return printMessage(c.r, d.from, text);
        const [first, ...more] = receivedLines(d.from, dir, d.files, d.transport, d.resumed, d.paths);
        c.r.success(first!);
        for (const l of more) c.r.print(dim(l));
      },
      onFailed: (e, from) => {
        c.r.endProgress();
        if (quit) stop();
        else c.r.error(new SealdropError(e.code, `session with ${from} failed: ${e.message}`));
      },
    });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (quit) throw quit;
  c.r.info('stopped receiving');
}

export async function getAction(c: MenuContext): Promise<void> {
  const peer = await pickPeer('Get from:', await onlinePeers(c));
  if (!peer) return;
  const link = { home: c.home, account: c.account, peer, strict: c.strict, onStatus: (t: string) => c.r.info(t), onSecured: secured(c, peer), onMove: moved(c, peer), ...(await verifyStep(c, peer)) };
  const items = await listShare(link);
  if (items.length === 0) { c.r.info(`${peer} shares nothing right now`); return; }
  const name = await search<string>({
    message: `What to get from ${peer}:`,
    pageSize: 10,
    source: (term) => items
      .filter((i) => !term || i.name.toLowerCase().includes(term.toLowerCase()))
      // The names are the peer's: shown escaped; one that could not be saved here is listed but cannot be picked.
      .map((i) => ({
        name: printable(i.type === 'dir' ? `${i.name}/` : i.name), short: printable(i.name), value: i.name,
        description: i.type === 'dir' ? `folder, ${bytes(i.size)}` : bytes(i.size),
        disabled: i.refused ? printable(`(cannot be fetched: ${i.refused})`) : false,
      })),
  });
  const dir = await fs.realpath(await pickPath('Save in:', { dirsOnly: true }));
  const outcome = await getShared({ ...link, name, dir, onProgress: (p) => c.r.progress(p) });
  c.r.endProgress();
  const resumed = outcome.resumed > 0 ? ` (${bytes(outcome.resumed)} resumed)` : '';
  c.r.success(`got ${name} from ${peer} into ${shown(dir)}: ${outcome.files.length} file(s)${resumed} ${pathWords(outcome.transport, outcome.paths)}, all verified`);
}

export async function peersAction(c: MenuContext): Promise<void> {
  const peers = await onlinePeers(c);
  if (peers.length === 0) { c.r.print(dim('nobody else is online')); return; }
  for (const p of peers) c.r.print(p.receiving ? line`  ${green('●')} ${bold(p.id)}  ${green('receiving')}` : line`  ${dim('○')} ${p.id}  ${dim('online')}`);
}

/**
 * The page: log in with ID and a TOTP code, list peers, send files to a `sealdrop receive`,
 * take files from `sealdrop send` after asking. Every string from outside (IDs, file names,
 * messages, errors) reaches the document through textContent only, never as HTML.
 */
import { SealdropError, toSealdropError } from '../shared/errors.js';
import { fingerprintOf } from '../shared/key-exchange.js';
import { printable } from '../shared/printable.js';
import { RendezvousSession, type SessionRequestEvent } from '../peer/session/rendezvous-session.js';
import type { HandshakeAuth } from '../shared/schemas.js';
import { loadIdentity, PagePins } from './key-store.js';
import { acceptLink, openLink, type LinkOptions, type PageLink } from './page-link.js';
import { messageFile, receiveFiles, sendFiles, type Received } from './page-transfer.js';
import { clearEarlierFiles } from './received-files.js';
import { combine, DropBasket, pickedFiles, pickedFolder, vetOutgoing } from './dropped-files.js';
import { isTree } from './received-tree.js';
import { treeElement, treeOfferLines } from './tree-view.js';
import { identityKey, webSuite } from './web-crypto.js';
import { confirmInPage, rememberVerifySetting, verifySetting } from './verify-prompt.js';
import { movesShown, pathMoved, pathStarted, pathsUsed } from './path-status.js';
import { askConsent, mib } from './offer-prompt.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const say = (text: string) => { $('status').textContent = text; };
const fail = (err: unknown) => {
  const e = toSealdropError(err);
  $('error').textContent = `${e.message} (${e.code})`;
  console.error(e.code, e.message, (err as Error)?.stack ?? '');
  say('');
};

interface LoggedIn { session: RendezvousSession; id: string; token: string; receiving: boolean; link: Omit<LinkOptions, 'session'> }
let state: LoggedIn | undefined;
let busy = false;

async function connect(auth: HandshakeAuth): Promise<RendezvousSession> {
  return RendezvousSession.connect(location.origin, auth);
}

/**
 * The code logs in once (it is spent); the token it brings opens the receiving connection,
 * which the rendezvous refuses (ERR_EXISTS) while a `sealdrop receive` of the same account
 * runs: the page then stays online to send only, and takes nothing over from it.
 */
async function loginWithCode(id: string, code: string): Promise<{ session: RendezvousSession; receiving: boolean }> {
  const first = await connect({ id, code });
  try {
    const receiving = await connect({ id, token: first.welcome.token, receiving: true });
    first.disconnect();
    return { session: receiving, receiving: true };
  } catch (err) {
    if (toSealdropError(err).code !== 'ERR_EXISTS') { first.disconnect(); throw err; }
    return { session: first, receiving: false };
  }
}

async function login(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  $('error').textContent = '';
  const id = $<HTMLInputElement>('login-id').value.trim();
  const code = $<HTMLInputElement>('login-code').value.trim();
  say('logging in…');
  try {
    const { session, receiving } = await loginWithCode(id, code);
    const identity = await loadIdentity(id);
    await clearEarlierFiles();
    const fp = await fingerprintOf(webSuite, (await identityKey(identity)).publicKey);
    state = { session, id, token: session.welcome.token, receiving, link: { identity, pins: new PagePins(id) } };
    watch(session);
    $('login').hidden = true;
    $('home').hidden = false;
    $('who').textContent = `${id} · key ${fp}`;
    say(receiving
      ? `logged in as ${id}; this page receives while it stays open`
      : `logged in as ${id} to send only: another sealdrop is receiving for ${id} (stop it to receive here, then log in again)`);
    await refreshPeers();
  } catch (err) {
    fail(err);
  }
}

/** The session token (kept only in this page's memory) brings the page back after a lost connection. */
function watch(session: RendezvousSession): void {
  session.on('request', (req) => void offered(req));
  session.on('disconnect', () => {
    if (!state || state.session !== session) return;
    say(session.restarting ? 'the rendezvous is restarting; reconnecting…' : 'lost the rendezvous; reconnecting…');
    void reconnect();
  });
}

/** Tries again every RETRY_MS while the token lasts, for at most RECONNECT_FOR_MS; then asks for a new login. */
const RETRY_MS = 1_000;
const RECONNECT_FOR_MS = 60_000;

async function reconnect(): Promise<void> {
  const started = Date.now();
  let last: unknown;
  while (state && Date.now() - started < RECONNECT_FOR_MS) {
    await new Promise((r) => setTimeout(r, RETRY_MS));
    try {
      // Coming back, it takes its own place over: the rendezvous may not have noticed yet that the old connection is gone.
      const session = await connect({ id: state.id, token: state.token, ...(state.receiving ? { receiving: true, replace: true } : {}) });
      state.session = session;
      state.token = session.welcome.token;
      watch(session);
      say(`back online as ${state.id}`);
      return;
    } catch (err) {
      last = err;
      const code = toSealdropError(err).code;
      if (code === 'ERR_AUTH' || code === 'ERR_BAD_INPUT') break; // the token is no good: only a new login helps
    }
  }
  fail(last ?? new SealdropError('ERR_CONNECT', 'lost the rendezvous'));
  $('error').textContent += ' Reload the page and log in again.';
}

async function refreshPeers(): Promise<void> {
  if (!state) return;
  try {
    const peers = await state.session.peers();
    const list = $('peers');
    list.replaceChildren(...peers.map((p) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = p.id;
      b.disabled = !p.receiving;
      b.title = p.receiving ? `send to ${p.id}` : `${p.id} is online but not receiving`;
      b.addEventListener('click', () => { $<HTMLInputElement>('send-to').value = p.id; });
      li.append(b, document.createTextNode(p.receiving ? ' receiving' : ' online'));
      return li;
    }));
    if (peers.length === 0) list.replaceChildren(Object.assign(document.createElement('li'), { textContent: 'nobody else is online' }));
  } catch (err) {
    fail(err);
  }
}

function showTransfer(title: string, link: PageLink): (done: number, total: number) => void {
  $('transfer').hidden = false;
  $('transfer-title').textContent = title;
  $('transfer-sas').textContent = link.sas;
  const bar = $<HTMLProgressElement>('transfer-progress');
  // A new transfer starts from nothing: not at the last one's 100 %.
  bar.removeAttribute('value');
  $('transfer-rate').textContent = 'waiting for the first bytes…';
  const started = performance.now();
  return (done, total) => {
    bar.max = Math.max(1, total);
    bar.value = done;
    const s = (performance.now() - started) / 1000;
    const rate = s > 0 ? done / s : 0;
    const eta = rate > 0 ? Math.max(0, (total - done) / rate) : 0;
    $('transfer-rate').textContent = `${mib(done)} of ${mib(total)} · ${(rate / 1024 / 1024).toFixed(1)} MiB/s · ${Math.ceil(eta)} s left`;
  };
}

async function send(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  if (!state || busy) return;
  $('error').textContent = '';
  const to = $<HTMLInputElement>('send-to').value.trim();
  const typed = $<HTMLTextAreaElement>('send-text').value;
  const dropped = basket.dropped;
  let files = combine({ files: pickedFiles($<HTMLInputElement>('send-files').files), dirs: [] }, { files: pickedFolder($<HTMLInputElement>('send-folder').files), dirs: [] }, dropped);
  try {
    if (typed !== '' && files.files.length + files.dirs.length > 0) throw new SealdropError('ERR_BAD_INPUT', 'send either files or a message, not both at once');
    if (typed !== '') files = { files: [{ name: 'message.txt', file: messageFile(typed) }], dirs: [] };
    if (files.files.length + files.dirs.length === 0) throw new SealdropError('ERR_BAD_INPUT', 'choose at least one file or folder, drop some here, or type a message');
    vetOutgoing(files);
  } catch (err) {
    return fail(err);
  }
  busy = true;
  $('transfer').hidden = true;
  let link: PageLink | undefined;
  try {
    say(`asking ${to}…`);
    const mode = $<HTMLInputElement>('send-relay').checked ? 'relay' : $<HTMLInputElement>('send-direct-only').checked ? 'direct-only' : 'auto';
    link = await openLink({ session: state.session, ...state.link, mode, verify: verifySetting(), confirmCode: confirmInPage, onMove: pathMoved, onKeys: (k) => { $('transfer-sas').textContent = k.sas; pathStarted(k.transport); } }, to);
    say(`secured with ${to} (${link.channel.transport.kind}); waiting for them to accept…`);
    const progress = showTransfer(`Sending to ${to}`, link);
    await sendFiles(link, files, progress);
    await link.close();
    if (typed === '' && basket.dropped === dropped) basket.clear(); // what was dropped is sent; a later drop stays
    say(`sent ${typed !== '' ? 'the message' : `${files.files.length} file(s)${files.dirs.length ? ` and ${files.dirs.length} empty folder(s)` : ''}`} to ${to}, verified by SHA-256 (${pathsUsed(link.transport, link.channel.transport.kind, movesShown())})`);
  } catch (err) {
    await link?.close(toSealdropError(err));
    fail(err);
  } finally {
    busy = false;
  }
}

async function offered(req: SessionRequestEvent): Promise<void> {
  if (!state || busy) return req.busy();
  busy = true;
  req.accept(true);
  $('error').textContent = '';
  $('transfer').hidden = true;
  let link: PageLink | undefined;
  try {
    say(`${req.from} is connecting…`);
    link = await acceptLink({ session: state.session, ...state.link, verify: verifySetting(), confirmCode: confirmInPage, onMove: pathMoved, onKeys: (k) => { $('transfer-sas').textContent = k.sas; pathStarted(k.transport); } }, req.sid, req.from);
    const l = link;
    const progress = showTransfer(`Receiving from ${req.from}`, link);
    const got = await receiveFiles(link, (manifest) => askConsent(l, manifest, say, fail, isTree(manifest) ? treeOfferLines(manifest) : undefined), progress);
    await link.close();
    if (got.tree) { $('received-section').hidden = false; $('received').append(treeElement(req.from, got.tree, say, fail)); } else showReceived(req.from, got);
    const saved = got.find((r) => r.savedAs !== undefined)?.savedAs;
    say(`received ${got.length} file(s) from ${req.from}, verified by SHA-256 (${pathsUsed(link.transport, link.channel.transport.kind, movesShown())})${saved !== undefined ? `, saved as ${saved}` : ''}`);
  } catch (err) {
    await link?.close(toSealdropError(err));
    fail(err);
  } finally {
    $('offer').hidden = true;
    busy = false;
  }
}

function showReceived(from: string, got: Received[]): void {
  $('received-section').hidden = false;
  for (const r of got) {
    const li = document.createElement('li');
    if (r.text !== undefined) {
      li.append(document.createTextNode(`${from} says:`), Object.assign(document.createElement('div'), { className: 'text-message', textContent: r.text }));
    } else if (r.savedAs !== undefined) {
      // In the person's own file now: nothing to download, the page keeps no copy.
      const saved = Object.assign(document.createElement('span'), { className: 'saved-as', textContent: r.savedAs });
      saved.dataset.sha256 = r.sha256;
      li.append(document.createTextNode(`${printable(r.name)} saved as `), saved, document.createTextNode(` (${mib(r.size)}, from ${from}, SHA-256 ${r.sha256.slice(0, 16)}…)`));
    } else {
      const a = document.createElement('a');
      a.href = URL.createObjectURL(r.file);
      a.download = r.name.split('/').pop() || 'file';
      a.textContent = printable(r.name);
      a.dataset.sha256 = r.sha256;
      li.append(a, document.createTextNode(` (${mib(r.size)}, from ${from}, SHA-256 ${r.sha256.slice(0, 16)}…)`));
    }
    $('received').append(li);
  }
}

$<HTMLFormElement>('login-form').addEventListener('submit', (ev) => void login(ev));
$<HTMLFormElement>('send-form').addEventListener('submit', (ev) => void send(ev));
$('peers-refresh').addEventListener('click', () => void refreshPeers());
const basket = new DropBasket($('drop-zone'), $('dropped'), fail);
$('dropped-clear').addEventListener('click', () => basket.clear());
rememberVerifySetting();
document.body.dataset.ready = '1';

/** The CLI's commands: each turns flags into one library call and reports the outcome. */
import { confirm, password } from '@inquirer/prompts';
import path from 'node:path';
import { fingerprint, normalizeFingerprint } from '../shared/crypto.js';
import { SealdropError } from '../shared/errors.js';
import { AccountId } from '../shared/schemas.js';
import { isBase32Secret } from '../shared/totp.js';
import { bytes, type Reporter } from './cli-output.js';
import { defaultHome, Home } from './home.js';
import { connect, resolveAccount } from './login.js';
import { PinnedKeys } from './pinned-keys.js';
import { receiveLoop } from './receive.js';
import { sendFiles } from './send.js';

export interface GlobalFlags { server?: string; id?: string; home?: string; code?: string; json?: boolean; quiet?: boolean; strict?: boolean }

const homeOf = (g: GlobalFlags) => new Home(g.home ?? defaultHome());
const accountOf = (g: GlobalFlags) => resolveAccount(homeOf(g), { server: g.server, id: g.id, code: g.code });

export async function loginCommand(r: Reporter, g: GlobalFlags, o: { secret?: string }): Promise<void> {
  if (!g.server || !g.id) throw new SealdropError('ERR_BAD_INPUT', 'login needs --server URL and --id ID');
  if (!AccountId.safeParse(g.id).success) throw new SealdropError('ERR_BAD_INPUT', `"${g.id}" is not a valid account ID`);
  let secret = o.secret ?? process.env.SEALDROP_TOTP_SECRET;
  if (!secret && process.stdin.isTTY) secret = (await password({ message: 'TOTP secret (from the operator):' })).trim().toUpperCase();
  if (secret && !isBase32Secret(secret)) throw new SealdropError('ERR_BAD_INPUT', 'the secret must be base32 (A-Z, 2-7)');
  const home = homeOf(g);
  const stored = await home.readCredentials();
  await home.writeCredentials({ ...stored, server: g.server, id: g.id, secret });
  await home.clearToken();
  if (secret || g.code) {
    const session = await connect(home, await resolveAccount(home, { code: g.code }));
    session.disconnect();
    r.success(`logged in to ${g.server} as ${g.id}`);
  } else {
    r.success(`saved ${g.server} and ${g.id}; pass --code from your authenticator app with each command`);
  }
  r.event('login', { server: g.server, id: g.id });
}

export async function sendCommand(r: Reporter, g: GlobalFlags, paths: string[], o: { to: string; relay?: boolean; directOnly?: boolean; timeout: string }): Promise<void> {
  const timeout = Number(o.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new SealdropError('ERR_BAD_INPUT', '--timeout takes a number of seconds');
  const home = homeOf(g);
  const outcome = await sendFiles({
    home, account: await accountOf(g), to: o.to, paths,
    mode: o.relay ? 'relay' : o.directOnly ? 'direct-only' : 'auto',
    directTimeoutMs: timeout * 1000, strict: g.strict,
    onStatus: (t) => r.info(t),
    onSecured: (s) => {
      if (s.pinnedNow) r.warn(`first transfer with ${o.to}: pinned key ${s.peerFingerprint}`);
      r.info(`secured (${s.transport}); verification code ${s.sas}`);
      r.event('secured', { transport: s.transport, sas: s.sas, peerFingerprint: s.peerFingerprint });
    },
    onProgress: (p) => r.progress(p),
  });
  r.endProgress();
  const total = outcome.files.reduce((n, f) => n + f.bytes, 0);
  r.success(`sent ${outcome.files.length} file(s), ${bytes(total)}, to ${o.to} over the ${outcome.transport} path; verified by the receiver`);
  r.event('done', { transport: outcome.transport, files: outcome.files, resumed: outcome.resumed, to: o.to });
}

export async function receiveCommand(r: Reporter, g: GlobalFlags, o: { dir: string; yes?: boolean; once?: boolean }): Promise<void> {
  if (!o.yes && !process.stdin.isTTY) throw new SealdropError('ERR_BAD_INPUT', 'not on a terminal, so nobody can confirm transfers: pass --yes to accept them');
  const dir = path.resolve(o.dir);
  const home = homeOf(g);
  let failures = 0;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { stop = resolve; });
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
  await receiveLoop({
    home, account: await accountOf(g), dir, once: o.once, strict: g.strict, stop: stopped,
    onReady: (s) => { r.info(`online as ${s.id}; saving to ${dir}`); r.event('ready', { id: s.id, dir }); },
    onSecured: (i) => {
      if (i.pinnedNow) r.warn(`first transfer with ${i.from}: pinned key ${i.peerFingerprint}`);
      r.info(`${i.from} connected (${i.transport}); verification code ${i.sas}`);
      r.event('secured', { from: i.from, transport: i.transport, sas: i.sas, peerFingerprint: i.peerFingerprint });
    },
    consent: async (offer, info) => {
      const what = `${offer.files} file(s), ${bytes(offer.bytes)}: ${offer.topLevel.slice(0, 5).join(', ')}${offer.topLevel.length > 5 ? ', …' : ''}`;
      r.event('offer', { from: info.from, files: offer.files, bytes: offer.bytes, names: offer.topLevel });
      if (o.yes) { r.info(`accepting ${what}`); return true; }
      return confirm({ message: `${info.from} wants to send ${what}. Accept?`, default: false });
    },
    onProgress: (p) => r.progress(p),
    onDone: (d) => {
      r.endProgress();
      r.success(`received ${d.files.length} file(s) from ${d.from} over the ${d.transport} path, all verified`);
      r.event('done', { transport: d.transport, from: d.from, files: d.files.map((f) => ({ name: path.relative(dir, f.path), bytes: f.bytes, sha256: f.sha256 })), resumed: d.resumed });
    },
    onFailed: (e, from) => { failures++; r.endProgress(); if (!o.once) r.error(new SealdropError(e.code, `transfer from ${from} failed: ${e.message}`)); },
  });
  void failures;
}

export async function peersCommand(r: Reporter, g: GlobalFlags): Promise<void> {
  const home = homeOf(g);
  const session = await connect(home, await accountOf(g));
  try {
    const peers = await session.peers();
    r.event('peers', { peers });
    if (peers.length === 0) r.print('nobody else is online');
    for (const p of peers) r.print(`${p.id}${p.receiving ? '  (receiving)' : ''}`);
  } finally {
    session.disconnect();
  }
}

export async function fingerprintCommand(r: Reporter, g: GlobalFlags): Promise<void> {
  const identity = await homeOf(g).identity();
  const fp = fingerprint(identity.publicKey);
  r.event('fingerprint', { fingerprint: fp });
  r.print(fp);
}

export async function trustCommand(r: Reporter, g: GlobalFlags, id: string, fp: string): Promise<void> {
  if (!AccountId.safeParse(id).success) throw new SealdropError('ERR_BAD_INPUT', `"${id}" is not a valid account ID`);
  const normalized = normalizeFingerprint(fp);
  await new PinnedKeys(homeOf(g)).pin(id, normalized);
  r.success(`pinned ${id} to ${normalized}`);
  r.event('trusted', { id, fingerprint: normalized });
}

/** The CLI's commands: each turns flags into one library call and reports the outcome. */
import { fingerprint, normalizeFingerprint } from '../../shared/crypto.js';
import { SealdropError } from '../../shared/errors.js';
import { AccountId } from '../../shared/schemas.js';
import { isBase32Secret } from '../../shared/totp.js';
import type { Reporter } from './cli-output.js';
import { defaultHome, Home } from '../session/home.js';
import path from 'node:path';
import { connect, normalizeSecret, resolveAccount } from '../session/login.js';
import { PinnedKeys } from '../session/pinned-keys.js';

export interface GlobalFlags { server?: string; id?: string; home?: string; code?: string; ca?: string; json?: boolean; quiet?: boolean; strict?: boolean; verify?: boolean }

export const homeOf = (g: GlobalFlags) => new Home(g.home ?? defaultHome());

/** A peer ID typed by the person, checked before anything is asked of the rendezvous. */
export function peerIdOf(id: string): string {
  if (AccountId.safeParse(id).success) return id;
  const lower = id.trim().toLowerCase();
  const guess = lower !== id && AccountId.safeParse(lower).success ? `; did you mean "${lower}"?` : '';
  throw new SealdropError('ERR_BAD_INPUT', `"${id}" is not a valid ID: IDs are 1–32 characters of a–z, 0–9, ".", "_" and "-", starting with a letter or digit${guess}`,
    { hint: 'IDs are exact: `sealdrop peers` shows who is online' });
}
export const accountOf = (g: GlobalFlags) => resolveAccount(homeOf(g), { server: g.server, id: g.id, code: g.code, ca: g.ca });

export async function loginCommand(r: Reporter, g: GlobalFlags, o: { secret?: string }): Promise<void> {
  if (!g.server || !g.id) throw new SealdropError('ERR_BAD_INPUT', 'login needs --server URL and --id ID');
  if (!AccountId.safeParse(g.id).success) throw new SealdropError('ERR_BAD_INPUT', `"${g.id}" is not a valid account ID`);
  // As authenticator apps and operators show it: any case, in groups (spaces or dashes).
  let secret = o.secret ?? process.env.SEALDROP_TOTP_SECRET;
  if (secret !== undefined) secret = normalizeSecret(secret);
  if (!secret && process.stdin.isTTY) {
    const { password } = await import('@inquirer/prompts'); // loaded only for a prompt: it is a tenth of a second of start-up
    secret = normalizeSecret(await password({ message: 'TOTP secret (from the operator; any case, spaces allowed):', mask: '*' }));
  }
  if (secret && !isBase32Secret(secret)) throw new SealdropError('ERR_BAD_INPUT', 'the secret must be base32: letters A-Z and digits 2-7 (case and spaces do not matter)');
  const home = homeOf(g);
  const stored = await home.readCredentials();
  // --ca is remembered with the rest, as an absolute path (commands may run from elsewhere).
  const ca = g.ca ? path.resolve(g.ca) : stored.ca;
  await home.writeCredentials({ ...stored, server: g.server, id: g.id, secret, ...(ca ? { ca } : {}) });
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

export async function peersCommand(r: Reporter, g: GlobalFlags): Promise<void> {
  const home = homeOf(g);
  const session = await connect(home, await accountOf(g));
  try {
    const peers = await session.peers();
    r.event('peers', { peers });
    if (peers.length === 0) r.print('nobody else is online (peers appear here while they run a sealdrop command; you can send to those running `sealdrop receive`)');
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
  peerIdOf(id);
  const normalized = normalizeFingerprint(fp);
  await new PinnedKeys(homeOf(g)).pin(id, normalized);
  r.success(`pinned ${id} to ${normalized}`);
  r.event('trusted', { id, fingerprint: normalized });
}

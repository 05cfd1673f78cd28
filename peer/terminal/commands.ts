/** The CLI's commands: each turns flags into one library call and reports the outcome. */
import { fingerprint, normalizeFingerprint } from '../../shared/crypto.js';
import { SealdropError } from '../../shared/errors.js';
import { AccountId } from '../../shared/schemas.js';
import { isBase32Secret } from '../../shared/totp.js';
import type { Reporter } from './cli-output.js';
import { defaultHome, Home } from '../session/home.js';
import { connect, resolveAccount } from '../session/login.js';
import { PinnedKeys } from '../session/pinned-keys.js';

export interface GlobalFlags { server?: string; id?: string; home?: string; code?: string; json?: boolean; quiet?: boolean; strict?: boolean; verify?: boolean }

export const homeOf = (g: GlobalFlags) => new Home(g.home ?? defaultHome());
export const accountOf = (g: GlobalFlags) => resolveAccount(homeOf(g), { server: g.server, id: g.id, code: g.code });

export async function loginCommand(r: Reporter, g: GlobalFlags, o: { secret?: string }): Promise<void> {
  if (!g.server || !g.id) throw new SealdropError('ERR_BAD_INPUT', 'login needs --server URL and --id ID');
  if (!AccountId.safeParse(g.id).success) throw new SealdropError('ERR_BAD_INPUT', `"${g.id}" is not a valid account ID`);
  let secret = o.secret ?? process.env.SEALDROP_TOTP_SECRET;
  if (!secret && process.stdin.isTTY) {
    const { password } = await import('@inquirer/prompts'); // loaded only for a prompt: it is a tenth of a second of start-up
    secret = (await password({ message: 'TOTP secret (from the operator):' })).trim().toUpperCase();
  }
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

/**
 * Who we are and how we prove it: credentials from flags, environment or the
 * home folder, and an authenticated RendezvousSession. A cached session token
 * is used first, so several commands within one TOTP step all get in.
 */
import { promises as fs } from 'node:fs';
import { SealdropError } from '../../shared/errors.js';
import { isBase32Secret, stepAt, totpCode } from '../../shared/totp.js';
import { TOTP_STEP_SECONDS } from '../../shared/constants.js';
import type { Home } from './home.js';
import { RendezvousSession } from './rendezvous-session.js';

/** `ca`: a PEM file of CA certificates to trust for an https rendezvous (`--ca FILE`, or "ca" in config.json). */
export interface CredentialInput { server?: string; id?: string; secret?: string; code?: string; ca?: string }
export interface Account { server: string; id: string; secret?: string; code?: string; strict: boolean; verify: boolean; ca?: string }

export async function resolveAccount(home: Home, input: CredentialInput): Promise<Account> {
  const stored = await home.readCredentials();
  const server = input.server ?? process.env.SEALDROP_SERVER ?? stored.server;
  const id = input.id ?? process.env.SEALDROP_ID ?? stored.id;
  const typed = input.secret ?? process.env.SEALDROP_TOTP_SECRET;
  // As authenticator apps show them: any case, in groups of four.
  const secret = typed !== undefined ? normalizeSecret(typed) : stored.secret;
  if (!server) throw new SealdropError('ERR_CONFIG', 'no rendezvous server: run `sealdrop login --server URL --id ID --secret SECRET`, or pass --server');
  if (!id) throw new SealdropError('ERR_CONFIG', 'no account ID: run `sealdrop login`, or pass --id');
  if (secret && !isBase32Secret(secret)) throw new SealdropError('ERR_CONFIG', 'the TOTP secret must be base32 (A-Z, 2-7)');
  const caFile = input.ca ?? stored.ca;
  const ca = caFile ? await readCa(caFile) : undefined;
  return { server, id, secret, code: input.code, strict: stored.strict ?? false, verify: stored.verify ?? false, ca };
}

/** A TOTP secret as people copy it: spaces and dashes dropped, letters upper-cased. */
export function normalizeSecret(text: string): string {
  return text.replace(/[\s-]+/g, '').toUpperCase();
}

async function readCa(file: string): Promise<string> {
  const pem = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new SealdropError('ERR_CONFIG', `cannot read the CA certificate ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new SealdropError('ERR_CONFIG', `${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return pem;
}

export interface ConnectOptions {
  receiving?: boolean;
  /** With `receiving`: take over from another receiving connection of this account (`receive --replace`). */
  replace?: boolean;
  now?: () => number;
  onWait?: (seconds: number) => void;
}

export async function connect(home: Home, account: Account, opts: ConnectOptions = {}): Promise<RendezvousSession> {
  const now = opts.now ?? Date.now;
  const token = await home.readToken(account.server, account.id, now());
  if (token) {
    try {
      return await remember(home, account, await RendezvousSession.connect(account.server, { id: account.id, token, receiving: opts.receiving, ...(opts.replace && { replace: true }) }, undefined, { ca: account.ca }));
    } catch (err) {
      if (!(err instanceof SealdropError) || err.code !== 'ERR_AUTH') throw err;
      await home.clearToken(); // expired or revoked: fall through to a fresh code
    }
  }
  if (account.code) return remember(home, account, await RendezvousSession.connect(account.server, { id: account.id, code: account.code, receiving: opts.receiving, ...(opts.replace && { replace: true }) }, undefined, { ca: account.ca }));
  if (!account.secret) throw new SealdropError('ERR_CONFIG', 'no TOTP secret or code: pass --code 123456 from your authenticator app, or store the secret with `sealdrop login`');
  for (let attempt = 0; ; attempt++) {
    try {
      const code = totpCode(account.secret, now());
      return remember(home, account, await RendezvousSession.connect(account.server, { id: account.id, code, receiving: opts.receiving, ...(opts.replace && { replace: true }) }, undefined, { ca: account.ca }));
    } catch (err) {
      // The code of this step was used already (another command): wait for the next step once.
      if (!(err instanceof SealdropError) || err.code !== 'ERR_AUTH_REPLAY' || attempt > 0) throw err;
      const waitMs = (stepAt(now()) + 1) * TOTP_STEP_SECONDS * 1000 - now() + 250;
      opts.onWait?.(Math.ceil(waitMs / 1000));
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
}

async function remember(home: Home, account: Account, session: RendezvousSession): Promise<RendezvousSession> {
  const w = session.welcome;
  await home.writeToken({ server: account.server, id: account.id, token: w.token, expiresAt: w.tokenExpiresAt });
  return session;
}

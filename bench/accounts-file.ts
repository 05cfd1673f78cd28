/**
 * Enrolls many accounts at once by writing the rendezvous store file in its
 * documented format (rendezvous/store/accounts.ts). AccountStore.enroll rewrites the
 * whole file per account, which is quadratic for 10,000 accounts.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { STORE_FILE } from '../rendezvous/store/accounts.js';
import { secretFromBytes } from '../shared/totp.js';

export async function writeAccounts(dataDir: string, ids: string[]): Promise<Record<string, string>> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const secrets: Record<string, string> = {};
  const accounts: Record<string, { secret: string; createdAt: string }> = {};
  const createdAt = new Date().toISOString();
  for (const id of [...ids].sort()) {
    secrets[id] = secretFromBytes(randomBytes(20));
    accounts[id] = { secret: secrets[id]!, createdAt };
  }
  const file = path.join(dataDir, STORE_FILE);
  await fs.writeFile(`${file}.tmp`, JSON.stringify({ version: 1, accounts }) + '\n', { mode: 0o600 });
  await fs.rename(`${file}.tmp`, file);
  return secrets;
}

/**
 * TOTP secrets sealed for Redis (cluster mode): AES-256-GCM under the cluster's
 * account key, a 32-byte file in the data folder (`account-key`, 0600) that every node
 * and the operator's host hold the same copy of. So Redis (its dumps, its replicas,
 * whoever can read it) never holds a secret in clear; the authenticated data binds the
 * sealed secret to its account ID and enrollment time, so a record cannot be moved to
 * another account. Redis keeps the key's fingerprint (a hash), so a node or an
 * operator with another key is told at once instead of failing every login.
 *
 * Pure apart from reading and creating the key file.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SealdropError } from '../../shared/errors.js';
import { writeFileAtomic } from '../../shared/atomic-file.js';

export const ACCOUNT_KEY_FILE = 'account-key';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class AccountSeal {
  private constructor(private readonly key: Buffer, readonly file: string) {}

  /** The key in `dataDir`; with `create`, a fresh one is made when there is none. Throws ERR_CONFIG. */
  static open(dataDir: string, create: boolean): AccountSeal {
    const file = join(dataDir, ACCOUNT_KEY_FILE);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SealdropError('ERR_CONFIG', `cannot read the account key ${file}: ${(err as NodeJS.ErrnoException).code}`);
      if (!create) {
        throw new SealdropError('ERR_CONFIG', `no account key at ${file}: copy the file ${ACCOUNT_KEY_FILE} from the data folder where \`enroll --redis\` ran (every node needs the same one)`);
      }
      text = randomBytes(KEY_BYTES).toString('hex') + '\n';
      writeFileAtomic(file, text, 0o600);
    }
    const hex = text.trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new SealdropError('ERR_CONFIG', `the account key ${file} is not 64 hex digits`);
    return new AccountSeal(Buffer.from(hex, 'hex'), file);
  }

  /** A short public name of the key (not a way to it): nodes compare theirs with the one in Redis. */
  get fingerprint(): string {
    return createHash('sha256').update('sealdrop account key\n').update(this.key).digest('hex').slice(0, 32);
  }

  seal(secret: string, id: string, createdAt: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce).setAAD(aad(id, createdAt));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
  }

  /** The secret, or undefined when the box was not sealed for this account with this key. */
  open(sealed: string, id: string, createdAt: string): string | undefined {
    const box = Buffer.from(sealed, 'base64url');
    if (box.length < NONCE_BYTES + TAG_BYTES + 1) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, box.subarray(0, NONCE_BYTES)).setAAD(aad(id, createdAt));
      decipher.setAuthTag(box.subarray(box.length - TAG_BYTES));
      return Buffer.concat([decipher.update(box.subarray(NONCE_BYTES, box.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}

const aad = (id: string, createdAt: string) => Buffer.from(`sealdrop account\n${id}\n${createdAt}`);

/**
 * An exclusive lock on one file's read-modify-write cycles across processes, so concurrent
 * changes never lose an update: the rendezvous' operator commands (enroll, revoke) on
 * accounts.json, and a peer's pins in known_peers.json (a `receive` and a `send` may pin at once).
 *
 * The lock is a file, `<file>.lock`, holding {pid, host, nonce}. It is made
 * by writing a private temp file and hard-linking it to the lock name: link() fails
 * if the name exists, and the lock is never seen half-written.
 *
 * A lock survives crashes: it is stale when its pid is dead on this host (or when it
 * is older than STALE_MS, for pid reuse and other hosts). Breaking a stale lock is
 * itself serialized: a breaker first creates `<file>.lock.break-NONCE`
 * (O_EXCL), and only then checks that the lock still holds NONCE before removing it.
 * So two waiters that both saw the same dead lock cannot remove each other's fresh one.
 *
 * Synchronous on purpose: holders keep it for the milliseconds of one read and one write.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { SealdropError } from './errors.js';

/** How long a change waits for the lock by default. */
export const LOCK_WAIT_MS = 10_000;
/** A lock older than this is stale whatever its pid (commands hold it for milliseconds). */
export const STALE_MS = 60_000;
/** A break marker older than this belongs to a breaker that crashed mid-break. */
const BREAK_STALE_MS = 5_000;

interface Holder { pid: number; host: string; nonce: string }

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

/**
 * Runs `fn` holding the lock at `lockPath`; waits at most `waitMs`, then fails with ERR_STORE.
 * `what`: the thing locked, in the words of that failure.
 */
export function withFileLock<T>(lockPath: string, fn: () => T, waitMs = LOCK_WAIT_MS, what = 'the account store'): T {
  const release = acquire(lockPath, waitMs, what);
  try {
    return fn();
  } finally {
    release();
  }
}

function acquire(lockPath: string, waitMs: number, what: string): () => void {
  const me: Holder = { pid: process.pid, host: hostname(), nonce: randomBytes(12).toString('hex') };
  const mine = `${lockPath}.${me.nonce}.tmp`;
  writeFileSync(mine, JSON.stringify(me), { mode: 0o600, flag: 'wx' });
  const deadline = Date.now() + waitMs;
  let pause = 2;
  try {
    for (;;) {
      try {
        linkSync(mine, lockPath);
        return () => releaseIfMine(lockPath, me.nonce);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(`cannot create lock ${lockPath}`, err);
      }
      const holder = readHolder(lockPath);
      if (holder && isStale(lockPath, holder)) {
        breakStale(lockPath, holder.nonce);
        continue;
      }
      if (Date.now() >= deadline) {
        const who = holder ? `process ${holder.pid} on ${holder.host}` : 'another process';
        throw new SealdropError('ERR_STORE', `${what} is locked by ${who} (${lockPath}); try again, or remove the lock file if that process is gone`);
      }
      sleep(pause + Math.random() * pause);
      pause = Math.min(pause * 2, 50);
    }
  } finally {
    try { unlinkSync(mine); } catch { /* already gone */ }
  }
}

function readHolder(lockPath: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(lockPath, 'utf8')) as Holder;
    return typeof h.pid === 'number' && typeof h.nonce === 'string' && typeof h.host === 'string' ? h : undefined;
  } catch {
    return undefined; // just released, or unreadable: try again
  }
}

function isStale(lockPath: string, holder: Holder): boolean {
  try {
    if (Date.now() - statSync(lockPath).mtimeMs > STALE_MS) return true;
  } catch {
    return false; // gone: the next link() will tell
  }
  if (holder.host !== hostname()) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function breakStale(lockPath: string, nonce: string): void {
  const marker = `${lockPath}.break-${nonce}`;
  let fd: number;
  try {
    fd = openSync(marker, 'wx', 0o600);
  } catch {
    // Another waiter is breaking this lock; if it crashed doing so, clear its marker.
    try {
      if (Date.now() - statSync(marker).mtimeMs > BREAK_STALE_MS) unlinkSync(marker);
    } catch { /* gone meanwhile */ }
    sleep(5);
    return;
  }
  closeSync(fd);
  try {
    if (readHolder(lockPath)?.nonce === nonce) unlinkSync(lockPath);
  } catch { /* removed meanwhile */ } finally {
    try { unlinkSync(marker); } catch { /* gone */ }
  }
}

function releaseIfMine(lockPath: string, nonce: string): void {
  if (readHolder(lockPath)?.nonce === nonce) {
    try { unlinkSync(lockPath); } catch { /* gone */ }
  }
}

function lockError(what: string, err: unknown): SealdropError {
  return new SealdropError('ERR_STORE', `${what}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
}

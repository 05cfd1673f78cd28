/**
 * InterruptedPushes: the pushes this receiver had accepted that the loss of the
 * rendezvous cut, each waiting (a bounded time) for its sender to come back. A
 * continuation is taken without asking the person again only when it is the same
 * files (their digest), from the same account proving the same identity key, in this
 * process; anything else is a new offer and asked as one. At most one waits per sender
 * (its latest), and each ends at its deadline, reported as the transfer's failure.
 */
import { createHash } from 'node:crypto';
import { SealdropError } from '../../shared/errors.js';
import type { Manifest } from '../link/control-messages.js';

interface Waiting { fingerprint: string; digest: string; timer: NodeJS.Timeout }

export class InterruptedPushes {
  private readonly waiting = new Map<string, Waiting>();

  /** `gaveUp`: a sender did not come back in time; what arrived stays for a later resume. */
  constructor(readonly withinMs: number, private readonly gaveUp: (err: SealdropError, from: string) => void) {}

  /** A push from `from` was cut by `cause` (a lost rendezvous): wait for it to come back. */
  expect(from: string, fingerprint: string, digest: string, cause: SealdropError): void {
    this.settle(from);
    const timer = setTimeout(() => {
      this.waiting.delete(from);
      const s = Math.round(this.withinMs / 1000);
      this.gaveUp(new SealdropError(cause.code === 'ERR_CONNECT' ? 'ERR_CONNECT' : 'ERR_PEER_GONE',
        `the transfer from ${from} was cut when the rendezvous was lost (${cause.message}), and it did not continue within ${s} s`,
        { cause, hint: `what arrived is kept: when ${from} sends the same files again, it resumes` }), from);
    }, this.withinMs);
    this.waiting.set(from, { fingerprint, digest, timer });
  }

  /** True (and no longer waiting) when this is the continuation of an interrupted push: same sender, identity and files. */
  take(from: string, fingerprint: string, digest: string): boolean {
    const w = this.waiting.get(from);
    if (!w || w.fingerprint !== fingerprint || w.digest !== digest) return false;
    this.settle(from);
    return true;
  }

  /** Whatever waited for `from` is over (it came back, or finished otherwise). */
  settle(from: string): void {
    const w = this.waiting.get(from);
    if (w) clearTimeout(w.timer);
    this.waiting.delete(from);
  }

  clear(): void {
    for (const from of [...this.waiting.keys()]) this.settle(from);
  }
}

/** Names the files of an offer exactly (names, sizes, times, folders): a continuation offers the very same. */
export function manifestDigest(m: Manifest): string {
  const files = m.files.map((f) => [f.name, f.size, f.mtime ?? null, f.text ?? false]);
  return createHash('sha256').update(JSON.stringify(['sealdrop/1 offer', files, m.dirs])).digest('hex');
}

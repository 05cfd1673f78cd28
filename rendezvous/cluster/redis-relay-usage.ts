/**
 * The daily relay quota shared by a cluster's nodes (cluster mode, `--relay-quota`):
 * bytes each account relayed today, counted in Redis (`sealdrop:relay-bytes:DAY:ID`,
 * gone two days later) by every node it sends through.
 *
 * Relay frames are far too many for a round trip each: a node adds what it relayed to
 * its own count at once, and every FLUSH_MS adds that to Redis (INCRBY) and reads back
 * the cluster's total. So an account sending through several nodes at once can overrun
 * its quota by what those nodes relay in FLUSH_MS, and no more. While Redis is away the
 * node counts on by itself and adds it all once Redis is back.
 */
import type { Logger } from '../log.js';
import { KEY_PREFIX, type RedisLink } from './redis-link.js';

export const FLUSH_MS = 1_000;
const KEEP_S = 2 * 86_400;

/** An account that relayed nothing here for this long is no longer read back every FLUSH_MS. */
const ACTIVE_MS = 60_000;

interface Count { day: number; cluster: number; unflushed: number; flushing: number; lastAt: number; loaded: boolean; loading?: Promise<void> }

export class RedisRelayUsage {
  private readonly counts = new Map<string, Count>();
  private timer: NodeJS.Timeout | undefined;
  private flushing = false;

  constructor(private readonly link: RedisLink, private readonly logger: Logger, private readonly now: () => number = Date.now) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), FLUSH_MS).unref();
  }

  /** Stops, after adding what this node counted since the last flush. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Bytes `id` relayed on `day`, as far as this node knows (the cluster's last total and its own since). */
  used(id: string, day: number): number {
    const c = this.countOf(id, day);
    return c.cluster + c.flushing + c.unflushed;
  }

  /** Whether this node has read `id`'s total for `day` from Redis (or given up trying): used() is then the cluster's count. */
  known(id: string, day: number): boolean {
    return this.countOf(id, day).loaded;
  }

  /** Reads `id`'s total for `day` (once; Redis away: this node counts on by itself). */
  load(id: string, day: number): Promise<void> {
    const c = this.countOf(id, day);
    c.loading ??= this.link.run('relay-usage', (r) => r.get(keyOf(id, day))).then((v) => {
      const total = Number(v ?? 0);
      if (Number.isSafeInteger(total) && total >= 0 && c.flushing === 0) c.cluster = Math.max(c.cluster, total);
    }, (err: Error) => this.logger.warn('relay.quota-read-failed', { error: err.message })).finally(() => { c.loaded = true; });
    return c.loading;
  }

  add(id: string, day: number, bytes: number): void {
    const c = this.countOf(id, day);
    c.unflushed += bytes;
    c.lastAt = performance.now();
  }

  private countOf(id: string, day: number): Count {
    let c = this.counts.get(id);
    if (c?.day !== day) this.counts.set(id, c = { day, cluster: 0, unflushed: 0, flushing: 0, lastAt: performance.now(), loaded: false });
    return c;
  }

  /** Adds the counts of accounts active here to Redis and reads back their totals (a count of an earlier day goes). */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    const today = Math.floor(this.now() / 86_400_000);
    const since = performance.now() - ACTIVE_MS;
    for (const [id, c] of this.counts) if (c.day < today - 1 && c.unflushed === 0) this.counts.delete(id);
    const active = [...this.counts].filter(([, c]) => c.unflushed > 0 || c.lastAt >= since);
    if (active.length === 0) return;
    this.flushing = true;
    const batch = active.map(([id, c]) => {
      c.flushing = c.unflushed;
      c.unflushed = 0;
      return { id, c, key: keyOf(id, c.day) };
    });
    try {
      const tx = this.link.commands.pipeline();
      for (const { key, c } of batch) tx.incrby(key, c.flushing).expire(key, KEEP_S);
      const results = await this.link.run('relay-usage', () => tx.exec());
      batch.forEach(({ c }, i) => {
        const [err, total] = results?.[i * 2] ?? [new Error('no reply')];
        if (err || typeof total !== 'number') { c.unflushed += c.flushing; c.flushing = 0; return; }
        c.cluster = total;
        c.flushing = 0;
      });
    } catch (err) {
      for (const { c } of batch) { c.unflushed += c.flushing; c.flushing = 0; }
      this.logger.warn('relay.quota-flush-failed', { error: (err as Error).message });
    } finally {
      this.flushing = false;
    }
  }
}

const keyOf = (id: string, day: number) => `${KEY_PREFIX}relay-bytes:${day}:${id}`;

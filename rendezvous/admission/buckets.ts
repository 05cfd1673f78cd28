/**
 * Token buckets: `burst` events at once, refilled at `perSec`. Pure: time is passed in.
 * A BucketTable keeps one bucket per key and forgets buckets that have refilled
 * completely (they hold no information), so its size follows current activity only.
 */

export interface Rate {
  /** Tokens added per second. */
  perSec: number;
  /** Largest number of tokens (and the starting count). */
  burst: number;
}

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(private readonly rate: Rate, now: number) {
    this.tokens = rate.burst;
    this.at = now;
  }

  /** Takes `n` tokens if there are that many; false (and nothing taken) otherwise. */
  take(now: number, n = 1): boolean {
    this.refill(now);
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** True once the bucket is full again: it can be dropped without losing anything. */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.rate.burst;
  }

  private refill(now: number): void {
    if (now > this.at) this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.at) / 1000) * this.rate.perSec);
    this.at = Math.max(this.at, now);
  }
}

export class BucketTable<K> {
  private readonly buckets = new Map<K, TokenBucket>();
  private sweptAt: number;

  /** `sweepMs`: how often full buckets are dropped (checked on use, so no timer). */
  constructor(private readonly rate: Rate, now: number, private readonly sweepMs = 10_000) {
    this.sweptAt = now;
  }

  take(key: K, now: number, n = 1): boolean {
    if (now - this.sweptAt >= this.sweepMs) this.sweep(now);
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, bucket = new TokenBucket(this.rate, now));
    return bucket.take(now, n);
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [key, bucket] of this.buckets) if (bucket.full(now)) this.buckets.delete(key);
  }
}

/**
 * The rendezvous's connection to Redis in cluster mode (`serve --redis URL`): one
 * client for commands, one for pub/sub (a subscribed Redis connection takes no other
 * commands) and one that publishes node-to-node messages. Commands never queue while Redis is away: they fail at once with
 * ERR_STORE, so a login answers "the store is unreachable" instead of hanging. The
 * clients reconnect by themselves (every REDIS_RETRY_MAX_MS at most), so a node
 * recovers when Redis returns, without a restart.
 *
 * Every reply is untrusted input: the stores that use this link parse it with zod.
 * The URL may carry a password: only host and port are ever logged or shown.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { SealdropError } from '../../shared/errors.js';
import type { Logger } from '../log.js';
import { NO_TELEMETRY, type RedisOp, type Telemetry } from '../telemetry.js';

/** Longest wait between reconnection attempts. */
export const REDIS_RETRY_MAX_MS = 1_000;
/** A command that takes longer than this fails (a hung Redis must not hold logins). */
export const REDIS_COMMAND_TIMEOUT_MS = 2_000;
/** Every key and channel the rendezvous uses starts with this. */
export const KEY_PREFIX = 'sealdrop:';

/** Parses a `redis://` or `rediss://` URL; throws ERR_CONFIG with the reason. Returns the host:port to show. */
export function redisTarget(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SealdropError('ERR_CONFIG', '--redis expects a URL such as redis://127.0.0.1:6379');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new SealdropError('ERR_CONFIG', `--redis expects redis:// or rediss://, not ${parsed.protocol}//`);
  }
  return `${parsed.hostname}:${parsed.port || '6379'}`;
}

export class RedisLink {
  readonly target: string;
  readonly commands: Redis;
  /** For pub/sub; absent for one-shot operator commands. */
  readonly subscriber: Redis | undefined;
  /** Publishes node-to-node messages (node-bus.ts), so relay traffic never waits behind a login's commands or delays them; with the subscriber. */
  readonly publisher: Redis | undefined;
  private down: string | undefined = 'not connected yet';
  private readonly regainedListeners = new Set<() => void>();
  /** Once closed on purpose, a closed connection is no outage. */
  private closed = false;

  constructor(url: string, private readonly logger: Logger, private readonly telemetry: Telemetry = NO_TELEMETRY, subscribe = true) {
    this.target = redisTarget(url);
    const options: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
      connectTimeout: REDIS_COMMAND_TIMEOUT_MS,
      retryStrategy: (times) => Math.min(100 * times, REDIS_RETRY_MAX_MS),
    };
    this.commands = new Redis(url, options);
    // (Re)subscribing waits for the connection rather than failing.
    this.subscriber = subscribe ? new Redis(url, { ...options, enableOfflineQueue: true }) : undefined;
    this.publisher = subscribe ? new Redis(url, options) : undefined;
    for (const client of this.clients()) {
      client.on('error', (err: Error) => this.lost(err.message));
      client.on('close', () => this.lost('connection closed'));
      client.on('ready', () => this.regained());
    }
  }

  /** Connects both clients; throws ERR_STORE when Redis cannot be reached (a node does not start without it). */
  async connect(): Promise<void> {
    try {
      await Promise.all(this.clients().map((c) => c.connect()));
    } catch (err) {
      this.close();
      throw new SealdropError('ERR_STORE', `cannot reach Redis at ${this.target}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Why logins cannot be checked now (for /readyz), or null while both clients are connected. */
  notReady(): string | null {
    if (this.connected()) return null;
    return `Redis at ${this.target} is unreachable (${this.down ?? this.commands.status}); new logins fail until it is back`;
  }

  /** Runs one Redis operation, timed for the metrics; any failure becomes ERR_STORE naming Redis. */
  async run<T>(op: RedisOp, fn: (redis: Redis) => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    try {
      const result = await fn(this.commands);
      this.telemetry.redisCommand(op, Number(process.hrtime.bigint() - started) / 1e9, true);
      return result;
    } catch (err) {
      this.telemetry.redisCommand(op, Number(process.hrtime.bigint() - started) / 1e9, false);
      if (err instanceof SealdropError) throw err;
      throw new SealdropError('ERR_STORE', `Redis at ${this.target} failed (${op}): ${(err as Error).message}`, { cause: err, peerMessage: REDIS_UNREACHABLE });
    }
  }

  /** Calls `fn` each time both clients are connected again after an outage; returns a function that stops. */
  onRegained(fn: () => void): () => void {
    this.regainedListeners.add(fn);
    return () => this.regainedListeners.delete(fn);
  }

  close(): void {
    this.closed = true;
    for (const client of this.clients()) client.disconnect();
  }

  private clients(): Redis[] {
    return this.subscriber && this.publisher ? [this.commands, this.subscriber, this.publisher] : [this.commands];
  }

  private connected(): boolean {
    return this.clients().every((c) => c.status === 'ready');
  }

  private lost(reason: string): void {
    if (this.down !== undefined || this.closed) return;
    this.down = reason;
    this.logger.error('redis.unreachable', { redis: this.target, error: reason });
  }

  private regained(): void {
    if (!this.connected()) return;
    const outage = this.down !== undefined && this.down !== 'not connected yet';
    this.down = undefined;
    if (!outage) return;
    this.logger.info('redis.recovered', { redis: this.target });
    for (const fn of this.regainedListeners) fn();
  }
}

/** Thrown for a reply that is not what this code writes: a corrupt or hostile Redis refuses the login, never admits it. */
export function corruptReply(what: string): SealdropError {
  return new SealdropError('ERR_STORE', `Redis holds a malformed ${what} (not written by sealdrop?); the login is refused`, { peerMessage: REDIS_CORRUPT });
}

/** What a client hears when Redis cannot answer (the node's log says why). */
export const REDIS_UNREACHABLE = 'the rendezvous cannot reach its shared login store (Redis); new logins fail until its operator brings it back — try again in a minute';
const REDIS_CORRUPT = 'the rendezvous found damaged login records in its shared store (Redis); tell its operator';

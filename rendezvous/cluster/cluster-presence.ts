/**
 * Presence across a cluster (cluster mode): who is online at which node, in Redis.
 *
 *   sorted set sealdrop:nodes          node ID → its last heartbeat (Redis's own clock, ms)
 *   hash       sealdrop:peers:NODE     account ID → "0" (online) or the ms its receiving
 *                                      connection started (receiving; the newest one wins)
 *
 * Each node writes only its own hash: an entry changes when one of its accounts comes,
 * goes or starts receiving. Every HEARTBEAT_MS it beats; a node whose beat is older than
 * NODE_TTL_MS is dead, and the first beat that sees it so removes it and its hash, so the
 * peers of a SIGKILLed node vanish from everyone's view within NODE_TTL_MS + HEARTBEAT_MS.
 * The beat also reports which nodes are alive (their sessions with this node end when they
 * are not) and how many entries this node's hash holds: a hash written while Redis was
 * away, or removed while this node stalled, is written again in full.
 *
 * After beats failed (Redis away), no node counts as gone for NODE_TTL_MS + HEARTBEAT_MS:
 * the other nodes could not beat either, and their sessions with this one are not ended for it.
 *
 * Every reply is untrusted: entries that are not an account ID and a number are left out.
 */
import { ACCOUNT_ID_PATTERN } from '../../shared/constants.js';
import type { Logger } from '../log.js';
import type { Presence } from '../sessions/presence.js';
import { KEY_PREFIX, type RedisLink } from './redis-link.js';

export const HEARTBEAT_MS = 1_000;
export const NODE_TTL_MS = 4_000;
const NODES_KEY = `${KEY_PREFIX}nodes`;
const PEERS_PREFIX = `${KEY_PREFIX}peers:`;

const NOW_MS = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
/** KEYS: nodes; ARGV: own node, ttl ms, peers prefix. Returns {alive nodes, entries in own hash}. */
const BEAT = `${NOW_MS}
redis.call('ZADD', KEYS[1], now, ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
for _, d in ipairs(dead) do redis.call('ZREM', KEYS[1], d) redis.call('DEL', ARGV[3] .. d) end
return {redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf'), redis.call('HLEN', ARGV[3] .. ARGV[1])}`;
/** KEYS: nodes; ARGV: own node, ttl ms, peers prefix. Returns every other live node's entries: node, id, value, … */
const LIST = `${NOW_MS}
local out = {}
for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf')) do
  if n ~= ARGV[1] then
    local h = redis.call('HGETALL', ARGV[3] .. n)
    for i = 1, #h, 2 do out[#out + 1] = n out[#out + 1] = h[i] out[#out + 1] = h[i + 1] end
  end
end
return out`;
/** KEYS: nodes; ARGV: own node, ttl ms, peers prefix, account. Returns node, value for every other live node where it receives. */
const LOCATE = `${NOW_MS}
local out = {}
for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf')) do
  if n ~= ARGV[1] then
    local v = redis.call('HGET', ARGV[3] .. n, ARGV[4])
    if v and v ~= '0' then out[#out + 1] = n out[#out + 1] = v end
  end
end
return out`;

export interface RemotePeer { node: string; id: string; receiving: boolean }

export class ClusterPresence {
  private timer: NodeJS.Timeout | undefined;
  /** Something failed to reach Redis: write the whole hash at the next beat. */
  private stale = true;
  private alive = new Set<string>();
  /** Until when (monotonic ms) nodes missing from a beat are not taken as gone: Redis was away. */
  private blindUntil = 0;
  private readonly hash: string;

  constructor(
    private readonly link: RedisLink,
    private readonly node: string,
    private readonly local: Presence,
    private readonly logger: Logger,
    /** Nodes that were alive and are not any more. */
    private readonly onNodesGone: (nodes: string[]) => void,
  ) {
    this.hash = PEERS_PREFIX + node;
  }

  /** Beats now and every HEARTBEAT_MS; resolves after the first beat. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), HEARTBEAT_MS).unref();
  }

  /** `id`'s entry at this node changed: write it (a failure leaves it to the next beat). */
  changed(id: string): void {
    if (!this.timer) return;
    const value = this.valueOf(id);
    const write = value === undefined ? this.link.commands.hdel(this.hash, id) : this.link.commands.hset(this.hash, id, value);
    write.catch(() => { this.stale = true; });
  }

  /** Every peer online at another live node. */
  async others(): Promise<RemotePeer[]> {
    const flat = await this.link.run('presence', (r) => r.eval(LIST, 1, NODES_KEY, this.node, NODE_TTL_MS, PEERS_PREFIX)) as unknown;
    const peers: RemotePeer[] = [];
    if (!Array.isArray(flat)) return peers;
    for (let i = 0; i + 2 < flat.length; i += 3) {
      const [node, id, value] = [flat[i], flat[i + 1], flat[i + 2]];
      if (typeof node === 'string' && isAccount(id) && isEntry(value)) peers.push({ node, id, receiving: value !== '0' });
    }
    return peers;
  }

  /** The other live nodes where `id` is receiving, newest receiving connection first. */
  async receiversOf(id: string): Promise<string[]> {
    const flat = await this.link.run('presence', (r) => r.eval(LOCATE, 1, NODES_KEY, this.node, NODE_TTL_MS, PEERS_PREFIX, id)) as unknown;
    const found: Array<{ node: string; since: number }> = [];
    if (Array.isArray(flat)) {
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const [node, value] = [flat[i], flat[i + 1]];
        if (typeof node === 'string' && isEntry(value) && value !== '0') found.push({ node, since: Number(value) });
      }
    }
    return found.sort((a, b) => b.since - a.since).map((f) => f.node);
  }

  /** Stops beating and takes this node and its peers out of Redis. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.link.commands.multi().zrem(NODES_KEY, this.node).del(this.hash).exec().catch(() => undefined);
  }

  private valueOf(id: string): string | undefined {
    const since = this.local.receivingSince(id);
    if (since === undefined) return this.local.socketsOf(id).length > 0 ? '0' : undefined;
    return String(since);
  }

  private async beat(): Promise<void> {
    let reply: unknown;
    try {
      if (this.stale) await this.writeAll();
      reply = await this.link.run('presence', (r) => r.eval(BEAT, 1, NODES_KEY, this.node, NODE_TTL_MS, PEERS_PREFIX));
    } catch (err) {
      this.stale = true;
      this.blindUntil = performance.now() + NODE_TTL_MS + HEARTBEAT_MS;
      this.logger.warn('presence.beat-failed', { error: (err as Error).message });
      return;
    }
    const [nodes, entries] = Array.isArray(reply) ? reply as unknown[] : [];
    if (!Array.isArray(nodes)) return;
    const alive = new Set(nodes.filter((n): n is string => typeof n === 'string'));
    if (performance.now() < this.blindUntil) for (const n of this.alive) alive.add(n);
    const gone = [...this.alive].filter((n) => !alive.has(n));
    this.alive = alive;
    if (entries !== this.local.counts().accounts) this.stale = true;
    if (gone.length) {
      this.logger.warn('node.gone', { nodes: gone.join(' ') });
      this.onNodesGone(gone);
    }
  }

  private async writeAll(): Promise<void> {
    const entries: string[] = [];
    for (const { id } of this.local.list()) entries.push(id, this.valueOf(id)!);
    const tx = this.link.commands.multi().del(this.hash);
    if (entries.length) tx.hset(this.hash, ...entries);
    await this.link.run('presence', () => tx.exec());
    this.stale = false;
  }
}

const isAccount = (v: unknown): v is string => typeof v === 'string' && ACCOUNT_ID_PATTERN.test(v);
const isEntry = (v: unknown): v is string => typeof v === 'string' && /^\d{1,16}$/.test(v);

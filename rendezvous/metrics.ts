/**
 * Prometheus metrics of one rendezvous, in its own Registry (several servers may share
 * a process, e.g. in tests). Events (logins, rate-limit hits) arrive through the
 * Telemetry interface; sizes and the relay's counts are read from the services when
 * scraped. Labels come only from fixed small sets (telemetry.ts): no account ID,
 * address, code or token is ever a label. The names and meanings are in docs/OPERATING.md.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AdmissionStats } from './admission/admission.js';
import { LIMITED_EVENTS, type LimitedEvent } from './admission/event-limits.js';
import type { RelayStats } from './sessions/relay.js';
import { AUTH_RESULTS, type AuthResult, LIMIT_SCOPES, type LimitScope, type RedisOp, type Telemetry } from './telemetry.js';
import type { BlockedCounts } from './login/throttle.js';

/** What the scrape reads from the running services. */
export interface MetricSources {
  presence(): { connections: number; accounts: number; receivers: number };
  sessions(): { pending: number; open: number };
  relay(): Readonly<RelayStats>;
  admission(): Readonly<AdmissionStats>;
  /** Absent in cluster mode: the counters live in Redis and are not walked (yet). */
  blocked?(): BlockedCounts;
  state(): ServerState;
}

/** Not listening yet, taking logins, draining (SIGTERM: no new logins or sessions), closing. */
export const SERVER_STATES = ['starting', 'ready', 'draining', 'stopping'] as const;
export type ServerState = (typeof SERVER_STATES)[number];

export class RendezvousMetrics implements Telemetry {
  readonly registry = new Registry();
  private readonly auth: Counter<'result'>;
  private readonly limited: Counter<'scope' | 'event'>;
  private readonly cut: Counter;
  private readonly redis: Histogram<'op' | 'result'>;

  constructor(src: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.auth = new Counter({ name: 'sealdrop_auth_attempts_total', help: 'Logins by result', labelNames: ['result'], registers });
    for (const result of AUTH_RESULTS) this.auth.inc({ result }, 0);
    this.limited = new Counter({ name: 'sealdrop_rate_limited_total', help: 'Events refused by a rate limit, by bucket scope and event kind', labelNames: ['scope', 'event'], registers });
    for (const scope of LIMIT_SCOPES) {
      for (const event of LIMITED_EVENTS) if (scope !== 'pair' || event === 'session:open') this.limited.inc({ scope, event }, 0); // pairs limit only session:open
    }
    this.cut = new Counter({ name: 'sealdrop_connections_cut_total', help: 'Connections disconnected for too many refused events', registers });

    // Round trips to Redis take well under a millisecond on a LAN; the buckets reach the 2 s command timeout.
    this.redis = new Histogram({
      name: 'sealdrop_redis_seconds', help: 'Redis operations (cluster mode) by purpose and result, in seconds', labelNames: ['op', 'result'], registers,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
    });

    gauge(registers, 'sealdrop_peers_online', 'Logged-in connections', (g) => g.set(src.presence().connections));
    gauge(registers, 'sealdrop_accounts_online', 'Accounts with at least one logged-in connection', (g) => g.set(src.presence().accounts));
    gauge(registers, 'sealdrop_receivers_online', 'Accounts online and receiving', (g) => g.set(src.presence().receivers));
    gauge(registers, 'sealdrop_connections_pending', 'Connections not logged in yet', (g) => g.set(src.admission().pending));
    new Gauge({
      name: 'sealdrop_sessions', help: 'Transfer sessions by state', labelNames: ['state'], registers,
      collect() { const s = src.sessions(); this.set({ state: 'pending' }, s.pending); this.set({ state: 'open' }, s.open); },
    });
    gauge(registers, 'sealdrop_relay_sessions_active', 'Sessions holding a relay slot now', (g) => g.set(src.relay().activeSessions));
    counter(registers, 'sealdrop_relay_bytes_total', 'Relay frame bytes the receiving peer took', () => src.relay().bytes);
    counter(registers, 'sealdrop_relay_frames_total', 'Relay frames the receiving peer took', () => src.relay().frames);
    counter(registers, 'sealdrop_relay_refused_total', 'Relay frames refused (operator limits, unacked window)', () => src.relay().refused);
    counter(registers, 'sealdrop_admission_refused_total', 'Connections refused or cut before login (per-address and total caps, deadline, bad packets)', () => src.admission().refused);
    if (src.blocked) new Gauge({
      name: 'sealdrop_auth_blocked', help: 'Account IDs and client addresses whose code logins are throttled or locked now', labelNames: ['subject', 'state'], registers,
      collect() {
        const b = src.blocked!();
        for (const subject of ['account', 'address'] as const) for (const state of ['throttled', 'locked'] as const) this.set({ subject, state }, b[subject][state]);
      },
    });
    new Gauge({
      name: 'sealdrop_server_state', help: 'The server\'s state: 1 for the one it is in', labelNames: ['state'], registers,
      collect() { const now = src.state(); for (const state of SERVER_STATES) this.set({ state }, state === now ? 1 : 0); },
    });
  }

  get contentType(): string { return this.registry.contentType; }
  render(): Promise<string> { return this.registry.metrics(); }

  authResult(result: AuthResult): void { this.auth.inc({ result }); }
  rateLimited(scope: LimitScope, event: LimitedEvent): void { this.limited.inc({ scope, event }); }
  connectionCut(): void { this.cut.inc(); }
  redisCommand(op: RedisOp, seconds: number, ok: boolean): void { this.redis.observe({ op, result: ok ? 'ok' : 'error' }, seconds); }
}

function gauge(registers: Registry[], name: string, help: string, collect: (g: Gauge) => void): void {
  new Gauge({ name, help, registers, collect() { collect(this); } });
}

/** A counter whose running total a service already keeps. */
function counter(registers: Registry[], name: string, help: string, total: () => number): void {
  new Counter({ name, help, registers, collect() { this.reset(); this.inc(total()); } });
}

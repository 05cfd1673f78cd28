/**
 * The one place that builds the rendezvous and wires its services together.
 * Creating it does not listen, so tests and embedders can start it on port 0.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { Server } from 'socket.io';
import { DEFAULT_HOST, MAX_SOCKET_MESSAGE } from '../shared/constants.js';
import { SealdropError } from '../shared/errors.js';
import { describeIssues, type IceServer, IceServers } from '../shared/schemas.js';
import { LARGE_BATCH_FRAMES } from '../shared/relay-batch.js';
import { AccountStore } from './store/accounts.js';
import { AccountSeal } from './cluster/account-seal.js';
import { SpentSteps } from './login/spent-steps.js';
import { Gatekeeper } from './login/auth.js';
import { pendingAcks } from './sessions/acks.js';
import { Admission, type AdmissionLimits, type AdmissionStats, DEFAULT_ADMISSION_LIMITS, type EngineConnection } from './admission/admission.js';
import { addressKey, clientAddress } from './admission/client-address.js';
import { DEFAULT_EVENT_LIMITS, EventGuard, type EventLimits } from './admission/event-limits.js';
import { LiveAccounts } from './store/live-accounts.js';
import { type AccountsInForce, type GuessBudget, LocalGuessBudget, type StepLedger, type TokenBook } from './login/login-state.js';
import { OriginPolicy } from './admission/origin.js';
import { createLogger, type Logger } from './log.js';
import { RendezvousMetrics, type ServerState } from './metrics.js';
import { ClusterNode } from './cluster/cluster-node.js';
import type { Received } from './cluster/node-messages.js';
import { Presence } from './sessions/presence.js';
import { serviceEndpoints } from './service-endpoints.js';
import { ownOrigins, webApp } from './web-app.js';
import { DEFAULT_RELAY_LIMITS, FrameRelay, type RelayStats } from './sessions/relay.js';
import { RedisAccountStore } from './cluster/redis-accounts.js';
import { RedisGuessBudget } from './cluster/redis-guess-budget.js';
import { RedisLink } from './cluster/redis-link.js';
import { RedisLiveAccounts } from './cluster/redis-live-accounts.js';
import { RedisSpentSteps } from './cluster/redis-spent-steps.js';
import { RedisTokens } from './cluster/redis-tokens.js';
import { TransferSessions } from './sessions/sessions.js';
import { AuthThrottle, FORGET_ADDRESS_MS, type LockoutPolicy } from './login/throttle.js';
import { NO_TELEMETRY } from './telemetry.js';
import { SessionTokens } from './login/tokens.js';
import type { PeerSocket, RendezvousServer } from './types.js';
import { watchInbound } from './admission/validate.js';

export interface RendezvousOptions {
  /** Folder holding accounts.json (in cluster mode: only the account key). */
  dataDir: string;
  /**
   * Cluster mode: `redis://HOST:PORT`. Accounts, spent steps, failed-login counters,
   * session tokens and presence then live in Redis, shared by every node; sessions,
   * signals and relay frames between peers at different nodes go node to node over
   * Redis pub/sub (docs/OPERATING.md, "Cluster").
   */
  redis?: string;
  /** Handed to peers in `welcome`; default none (never public STUN servers). */
  iceServers?: IceServer[];
  /** Wall clock in ms, for TOTP, throttling, token expiry and relay quotas. */
  now?: () => number;
  logger?: Logger;
  /** Relay: sessions relaying at once (default 64). */
  maxRelaySessions?: number;
  /** Relay: relaying sessions one account may be in (default maxRelaySessions / 8, at least 1). */
  maxRelaySessionsPerAccount?: number;
  /** Relay: a relaying session idle this long gives its slot back (default 30 s). */
  relayIdleMs?: number;
  /** Before login: per-address and total caps, message size, attempts, deadline (admission.ts). */
  admission?: Partial<AdmissionLimits>;
  /** After login: event rate limits per connection, account and pair (event-limits.ts). */
  eventLimits?: Partial<EventLimits>;
  /** Unanswered session requests per receiving connection (default 8) and per opener account and receiver (default 2). */
  maxPendingPerReceiver?: number;
  maxPendingPerPair?: number;
  /** Relay: bytes per account per UTC day (default unlimited). */
  relayBytesPerDay?: number;
  /** Peers may start a transfer on the relay and move to the direct path (default true); false: `welcome.relayStart: false`, the relay only as a fallback. */
  relayStart?: boolean;
  /** Relay: bytes per second per session (default unlimited). */
  relayRateBytesPerSec?: number;
  /** Relay: unacked bytes per session and direction (default 8 MiB). */
  relayWindowBytes?: number;
  /** Relay: how long a receiver has to ack a frame (default 30 s). */
  relayAckTimeoutMs?: number;
  /** How long a receiver has to answer a session request (default 30 s). */
  sessionRequestTimeoutMs?: number;
  /** Sessions per connection (default 16). */
  maxSessionsPerSocket?: number;
  /** Session token lifetime (default 1 h). */
  tokenTtlMs?: number;
  /** Browser origins allowed to connect (default none; clients without an Origin header are always allowed). */
  allowOrigins?: string[];
  /** Behind a reverse proxy: the client address is X-Forwarded-For's last hop (default off). */
  trustProxy?: boolean;
  /** Failed-login limits per account and per client address (defaults in throttle.ts). */
  accountLockout?: Partial<LockoutPolicy>;
  addressLockout?: Partial<LockoutPolicy>;
  /** PEM certificate and key: serve https/wss instead of http/ws. */
  tlsCert?: string | Buffer;
  tlsKey?: string | Buffer;
  /**
   * Serve the browser peer at `/` from this folder (dist/web, built by `npm run build`), and admit
   * the server's own origin (the URL it listens on; on loopback also localhost) to log in.
   */
  webDir?: string;
  /** Serve Prometheus metrics at /metrics (default off; the CLI turns it on for loopback). */
  metrics?: boolean;
  /** Test hook: every event any client sends (without its ack), and every handshake as event 'handshake'. */
  onInbound?: (event: string, args: unknown[]) => void;
}

export interface Rendezvous {
  readonly io: RendezvousServer;
  /** The account file (not what a cluster node enforces: that is in Redis). */
  readonly accounts: AccountStore;
  /** Frames and bytes relayed so far, sessions relaying now, frames refused. */
  readonly relayStats: Readonly<RelayStats>;
  /** Connections not logged in yet, per-address counts, upgrades and connections refused. */
  readonly admissionStats: Readonly<AdmissionStats>;
  /** Sizes of every table a peer's actions fill, now (for tests and metrics). */
  tables(): TableSizes;
  /** Set once listening, e.g. http://127.0.0.1:50000. */
  readonly url: string | undefined;
  /** Starts serving (port 0: any free port); resolves to the URL. */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stops taking logins and sessions (/readyz: 503), tells every peer `rendezvous:restarting`,
   * and resolves once no session relays any more, or after `timeoutMs`, with how many still did.
   */
  drain(timeoutMs: number): Promise<{ relaysLeft: number }>;
  /** Writes spent steps and tokens now, for an exit that cannot wait for close(). */
  flush(): void;
  /** Disconnects every peer and stops serving. */
  close(): Promise<void>;
}

export interface TableSizes {
  sockets: number;
  /** Server→client acks waiting on all sockets (Socket.IO's own tables). */
  acks: number;
  sessions: number;
  pendingSessions: number;
  relaySessions: number;
  /** Account and pair rate-limit buckets held (they go once refilled). */
  rateBuckets: number;
  unauthenticated: number;
  addresses: number;
}

export function createRendezvous(opts: RendezvousOptions): Rendezvous {
  const now = opts.now ?? Date.now;
  const logger = opts.logger ?? createLogger();
  const ice = IceServers.safeParse(opts.iceServers ?? []);
  if (!ice.success) throw new SealdropError('ERR_CONFIG', `invalid ICE servers: ${describeIssues(ice.error)}`);
  const iceServers = ice.data;
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new SealdropError('ERR_CONFIG', 'TLS needs both a certificate and a key');
  const tls = opts.tlsCert !== undefined && opts.tlsKey !== undefined;

  // A WebSocket upgrade request must arrive whole within 10 s (slow headers hold a socket and up to 16 KiB).
  const httpOptions = { headersTimeout: 10_000, requestTimeout: 10_000, connectionsCheckingInterval: 2_000 };
  let state: ServerState = 'starting';
  const metrics = opts.metrics ? new RendezvousMetrics({
    presence: () => presence.counts(),
    sessions: () => ({ pending: sessions.pendingCount, open: sessions.size - sessions.pendingCount }),
    relay: () => relay.stats,
    admission: () => admission.stats,
    ...(opts.redis === undefined && { blocked: () => throttle.blocked(now()) }), // in a cluster the counters are in Redis
    state: () => state,
  }) : undefined;
  const telemetry = metrics ?? NO_TELEMETRY;
  // Cluster mode; its clients connect in listen().
  const link = opts.redis === undefined ? undefined : new RedisLink(opts.redis, logger, telemetry);
  const web = opts.webDir === undefined ? undefined : webApp(opts.webDir, tls);
  const origins = new OriginPolicy(opts.allowOrigins);
  const endpoints = serviceEndpoints({ notReady: () => NOT_READY[state] ?? link?.notReady() ?? null, metrics, web });
  const httpServer = tls
    ? createHttpsServer({ ...httpOptions, cert: opts.tlsCert, key: opts.tlsKey }, endpoints)
    : createHttpServer(httpOptions, endpoints);
  /** Every TCP connection, upgraded ones too (closeAllConnections does not reach those). */
  const connections = new Set<Socket>();
  httpServer.on('connection', (connection: Socket) => {
    connections.add(connection);
    connection.once('close', () => connections.delete(connection));
  });
  const admissionLimits = { ...DEFAULT_ADMISSION_LIMITS, ...defined(opts.admission) };
  const admission = new Admission({
    limits: admissionLimits, logger,
    addressOf: (req) => addressKey(clientAddress({ address: req.socket.remoteAddress ?? 'unknown', headers: req.headers }, opts.trustProxy ?? false)),
  });
  const io: RendezvousServer = new Server(httpServer, {
    transports: ['websocket'],
    maxHttpBufferSize: MAX_SOCKET_MESSAGE,
    serveClient: false,
    connectTimeout: admissionLimits.connectTimeoutMs,
    allowRequest: admission.allowRequest,
  });
  io.engine.on('connection', (conn: EngineConnection) => admission.track(conn));
  const eventLimits: EventLimits = { ...DEFAULT_EVENT_LIMITS, ...defined(opts.eventLimits) };
  const guard = new EventGuard(eventLimits, logger, undefined, telemetry);

  const accounts = new AccountStore(opts.dataDir, { now });
  const throttle = new AuthThrottle({ account: opts.accountLockout, address: opts.addressLockout });
  // The login state: files and memory in one process, or Redis shared by a cluster's nodes.
  let live: AccountsInForce, tokens: TokenBook, spent: StepLedger, guesses: GuessBudget;
  let files: { spent: SpentSteps; tokens: SessionTokens } | undefined;
  if (link) {
    live = new RedisLiveAccounts(link, new RedisAccountStore(link, AccountSeal.open(opts.dataDir, false)), logger);
    tokens = new RedisTokens(link, { ttlMs: opts.tokenTtlMs });
    spent = new RedisSpentSteps(link);
    guesses = new RedisGuessBudget(link, { account: throttle.account, address: throttle.address, forgetAddressMs: FORGET_ADDRESS_MS });
  } else {
    files = {
      tokens: new SessionTokens({ dataDir: opts.dataDir, ttlMs: opts.tokenTtlMs, logger, now }),
      spent: new SpentSteps(opts.dataDir, now, logger), // a corrupt file throws: no start on it
    };
    live = new LiveAccounts(accounts, logger, now);
    ({ tokens, spent } = files);
    guesses = new LocalGuessBudget(throttle);
  }
  const gate = new Gatekeeper({
    accounts: live, tokens, spent, guesses, now, logger, telemetry,
    origins, trustProxy: opts.trustProxy,
    onHandshake: opts.onInbound && ((auth) => opts.onInbound!('handshake', [auth])),
  });
  const presence = new Presence(logger);
  // Cluster mode: presence in Redis, and the way to the other nodes.
  const cluster = link && new ClusterNode(link, presence, logger, now, (gone) => { for (const node of gone) sessions.closeNode(node); });
  /** What another node sends this one. */
  const fromNode = ({ node, msg, payload }: Received) => {
    if (msg.t === 'relay') relay.fromNode(node, msg.sid, msg.ack, msg.batch, payload);
    else if (msg.t === 'replace') presence.replacedElsewhere(msg.id);
    else sessions.fromNode(node, msg);
  };
  const sessions = new TransferSessions({
    presence, logger,
    requestTimeoutMs: opts.sessionRequestTimeoutMs,
    maxPerSocket: opts.maxSessionsPerSocket,
    maxPendingPerReceiver: opts.maxPendingPerReceiver,
    maxPendingPerPair: opts.maxPendingPerPair,
    onEnd: (sid) => relay.end(sid),
    refusing: () => (state === 'ready' ? null : RESTARTING),
    cluster,
  });
  const relay: FrameRelay = new FrameRelay({
    peerOf: (sid, socket) => sessions.peerOf(sid, socket),
    logger, now,
    localOf: (node, sid) => sessions.localOf(node, sid),
    ackNode: (node, ack, res) => cluster?.bus.tell(node, { t: 'ack', ack, res }),
    sharedUsage: cluster?.usage,
    limits: {
      maxSessions: opts.maxRelaySessions ?? DEFAULT_RELAY_LIMITS.maxSessions,
      maxSessionsPerAccount: opts.maxRelaySessionsPerAccount,
      idleMs: opts.relayIdleMs,
      bytesPerDay: opts.relayBytesPerDay ?? DEFAULT_RELAY_LIMITS.bytesPerDay,
      rateBytesPerSec: opts.relayRateBytesPerSec ?? DEFAULT_RELAY_LIMITS.rateBytesPerSec,
      windowBytes: opts.relayWindowBytes ?? DEFAULT_RELAY_LIMITS.windowBytes,
      ackTimeoutMs: opts.relayAckTimeoutMs ?? DEFAULT_RELAY_LIMITS.ackTimeoutMs,
    },
  });

  io.use((_socket, next) => {
    if (state === 'ready') return next();
    telemetry.authResult('draining');
    next(Object.assign(new Error(RESTARTING), { data: { code: 'ERR_BUSY' } }));
  });
  io.use(gate.middleware);
  io.use(presence.admitReceiver);
  io.on('connection', (socket: PeerSocket) => {
    const { id, receiving } = socket.data;
    admission.admit(socket.conn as unknown as EngineConnection);
    guard.attach(socket);
    if (!gate.stillEnrolled(socket)) return void socket.disconnect(true); // revoked while it logged in
    presence.add(socket);
    watchInbound(socket, logger, opts.onInbound);
    presence.attach(socket);
    sessions.attach(socket);
    relay.attach(socket);
    socket.on('disconnect', (reason) => {
      sessions.closeAllOf(socket, 'peer disconnected');
      presence.remove(socket);
      logger.info('disconnect', { id, socket: socket.id, reason });
    });
    logger.info('connect', { id, socket: socket.id, receiving });
    const issued = gate.tokenOf(socket)!;
    socket.emit('welcome', { id, token: issued.token, tokenExpiresAt: issued.expiresAt, iceServers, relayBatch: true,
      ...(socket.data.batchFrames === LARGE_BATCH_FRAMES ? { relayBatchFrames: LARGE_BATCH_FRAMES } : {}), ...(opts.relayStart === false ? { relayStart: false as const } : {}) });
  });

  /** Drops tokens and live connections of accounts the store lost or re-enrolled, however the change was noticed. */
  live.onChange(({ gone, reenrolled }) => {
    for (const id of [...gone, ...reenrolled]) {
      Promise.resolve(tokens.revokeAccount(id)).catch((err: Error) => logger.warn('tokens.revoke-failed', { id, error: err.message }));
    }
    for (const socket of io.of('/').sockets.values()) {
      if (gate.stillEnrolled(socket)) continue;
      logger.info('auth.revoked', { id: socket.data.id, socket: socket.id });
      socket.disconnect(true);
    }
  });

  let url: string | undefined;
  let stopWatching: (() => void) | undefined;
  return {
    io, accounts,
    relayStats: relay.stats,
    admissionStats: admission.stats,
    tables() {
      let acks = 0;
      for (const socket of io.of('/').sockets.values()) acks += pendingAcks(socket);
      return {
        sockets: io.of('/').sockets.size, acks,
        sessions: sessions.size, pendingSessions: sessions.pendingCount, relaySessions: relay.stats.activeSessions,
        rateBuckets: guard.tableSize, unauthenticated: admission.stats.pending, addresses: admission.stats.addresses,
      };
    },
    get url() { return url; },
    async listen(port = 0, host = DEFAULT_HOST) {
      // A corrupt store, a Redis out of reach or another account key fails the start, loudly.
      await Promise.resolve(live.load()).catch((err: unknown) => { link?.close(); throw err; });
      stopWatching ??= live.watch();
      await cluster?.start(fromNode);
      await new Promise<void>((resolve, reject) => {
        const failed = (err: NodeJS.ErrnoException) => {
          stopWatching?.();
          stopWatching = undefined;
          link?.close();
          reject(new SealdropError('ERR_CONFIG', `cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err }));
        };
        httpServer.once('error', failed);
        httpServer.listen(port, host, () => {
          httpServer.off('error', failed);
          resolve();
        });
      });
      const addr = httpServer.address() as AddressInfo;
      url = `${tls ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
      if (web) for (const origin of ownOrigins(url, addr, tls)) origins.allow(origin);
      state = 'ready';
      logger.info('listening', { url });
      if (cluster) logger.info('cluster.node', { redis: link!.target, node: cluster.bus.nodeId });
      return url;
    },
    async drain(timeoutMs) {
      if (state === 'ready') {
        state = 'draining';
        logger.info('drain.start', { relays: relay.stats.activeSessions, timeoutMs });
        io.emit('rendezvous:restarting');
      }
      const started = Date.now();
      while (relay.stats.activeSessions > 0 && Date.now() - started < timeoutMs) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
      const relaysLeft = relay.stats.activeSessions;
      logger.info('drain.end', { relaysLeft, ms: Date.now() - started });
      return { relaysLeft };
    },
    flush() {
      files?.spent.flush();
      files?.tokens.flush();
    },
    async close() {
      state = 'stopping';
      stopWatching?.();
      const closing = io.close();
      httpServer.closeAllConnections();
      // A peer that does not answer the WebSocket close (stopped, unreachable) would hold it for 30 s: cut it.
      const grace = new Promise<void>((r) => setTimeout(r, CLOSE_GRACE_MS).unref());
      if (await Promise.race([closing.then(() => true), grace.then(() => false)]) === false) {
        for (const connection of connections) connection.destroy();
      }
      await closing;
      await cluster?.stop();
      await files?.spent.settled(); // a login's write on its way lands first; the flush then writes the newest
      files?.spent.flush();
      files?.tokens.flush();
      link?.close();
      logger.info('closed');
    },
  };
}

/** What refused logins and sessions hear while the server drains. */
const RESTARTING = 'the rendezvous is restarting; try again in a few seconds';
/** How long close() lets peers answer the WebSocket close before it cuts their connections. */
const CLOSE_GRACE_MS = 1_000;
/** How often a drain looks whether the relays are done. */
const DRAIN_POLL_MS = 100;

/** What /readyz answers in each state (null: ready). */
const NOT_READY: Record<ServerState, string | null> = {
  starting: 'not listening yet',
  ready: null,
  draining: 'draining: the server is shutting down and takes no new logins',
  stopping: 'shutting down',
};

/** `partial` without its undefined entries, so spreading it over defaults keeps them. */
function defined<T extends object>(partial: Partial<T> | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(partial ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}


/** Library entry of the rendezvous, for embedders and tests. */
export { createRendezvous, type Rendezvous, type RendezvousOptions } from './server.js';
export { AccountStore, defaultDataDir, type Account, type AccountSummary } from './store/accounts.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './log.js';
export type { RelayLimits, RelayStats } from './sessions/relay.js';
